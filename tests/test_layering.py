"""The layers (backends, core, GFI, modeling, vectorized/compile, inference): nothing above the backend layer imports mlx, numpy, jax or scipy,
and lower layers never import higher ones."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "genmlx"
ARRAY_LIBRARIES = {"mlx", "numpy", "jax", "scipy"}
# The backend layer itself, and the test helpers shared with tests/ and conformance/.
ALLOWED = {"_backend.py", "testing.py"}
LAYERS = ["core", "gfi", "distributions", "dsl", "combinators", "vectorized", "inference"]


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


SOURCES = sorted(p for p in ROOT.rglob("*.py") if p.name not in ALLOWED or p.parent != ROOT)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_array_library_imports_above_backends(path):
    bad = {m for m in imported_modules(path) if m.split(".")[0] in ARRAY_LIBRARIES}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}; go through get_backend()"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_lower_layers_do_not_import_higher_ones(path):
    rel = path.relative_to(ROOT).parts
    if len(rel) < 2 or rel[0] not in LAYERS:
        return
    mine = LAYERS.index(rel[0])
    for module in imported_modules(path):
        parts = module.split(".")
        if parts[0] == "genmlx" and len(parts) > 1 and parts[1] in LAYERS:
            assert LAYERS.index(parts[1]) <= mine, \
                f"{'/'.join(rel)} (layer {rel[0]}) imports higher layer {module}"
