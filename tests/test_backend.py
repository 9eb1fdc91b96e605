"""The backend layer: selection, capabilities, keys, conversion, packaging."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import genmlx as gm
from genmlx.errors import BackendError, CapabilityError

ROOT = Path(__file__).resolve().parents[1]


def test_default_is_mlx_and_scoped_selection_restores():
    assert gm.get_backend().name == os.environ.get("GENMLX_BACKEND", "mlx")
    before = gm.get_backend()
    with gm.use_backend("numpy") as b:
        assert gm.get_backend() is b and b.name == "numpy"
        with gm.use_backend("jax"):
            assert gm.get_backend().name == "jax"
        assert gm.get_backend() is b
    assert gm.get_backend() is before


def test_set_backend_sets_process_default():
    before = gm.get_backend()
    try:
        assert gm.set_backend("numpy").name == "numpy"
        assert gm.get_backend().name == "numpy"
    finally:
        gm.set_backend(before)


def test_unknown_and_missing_backends_name_the_fix(monkeypatch):
    with pytest.raises(BackendError, match="unknown backend 'torch'.*mlx, numpy, jax"):
        gm.set_backend("torch")
    from genmlx import _backend

    monkeypatch.setitem(_backend._MODULES, "jax", "genmlx.backends.no_such_module")
    _backend._load.cache_clear()
    try:
        with pytest.raises(BackendError, match="pip install jax"):
            gm.get_backend("jax")
    finally:
        monkeypatch.undo()
        _backend._load.cache_clear()


def test_numpy_lacks_grad_and_says_so():
    b = gm.get_backend("numpy")
    assert not b.has("grad") and b.has("compile") and b.has("vmap")
    with pytest.raises(CapabilityError, match="value_and_grad.*'grad'.*backend 'numpy'"):
        b.value_and_grad(lambda x: x * x)
    with pytest.raises(CapabilityError, match="float64"):
        gm.get_backend("mlx:float64")


def test_requires_decorator_raises_before_running():
    @gm.requires(gm.Capability.GRAD)
    def needs_grad():
        return "ran"

    with gm.use_backend("numpy"), pytest.raises(CapabilityError, match="needs_grad.*numpy"):
        needs_grad()
    with gm.use_backend("jax"):
        assert needs_grad() == "ran"


@pytest.mark.parametrize("name", gm.installed_backends())
def test_same_key_same_numbers_and_split_keys_independent(name):
    b = gm.get_backend(name)
    k = b.key(42)
    a1, a2 = b.to_numpy(b.normal(k, (2000,))), b.to_numpy(b.normal(k, (2000,)))
    assert np.array_equal(a1, a2)
    k1, k2 = b.split(k, 2)
    x, y = b.to_numpy(b.normal(k1, (2000,))), b.to_numpy(b.normal(k2, (2000,)))
    assert not np.array_equal(x, y)
    # Independent N(0,1) streams: the sample correlation has sd 1/sqrt(2000) = 0.022; 0.1 is 4.5 sd.
    assert abs(np.corrcoef(x, y)[0, 1]) < 0.1
    f1, f2 = b.fold_in(k, 1), b.fold_in(k, 2)
    assert not np.array_equal(b.to_numpy(f1), b.to_numpy(f2))
    assert np.array_equal(b.to_numpy(b.fold_in(k, 1)), b.to_numpy(f1))


@pytest.mark.parametrize("name", gm.installed_backends())
def test_base_samplers_shapes_dtypes_and_moments(name):
    b = gm.get_backend(name)
    ks = b.split(b.key(0), 6)
    u = b.to_numpy(b.uniform(ks[0], (20000,)))
    assert u.dtype == np.float32 and u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / 20000)
    g = b.to_numpy(b.gumbel(ks[1], (20000,)))
    assert abs(g.mean() - 0.5772) < 5 * np.sqrt(np.pi**2 / 6 / 20000)
    c = b.to_numpy(b.categorical(ks[2], b.asarray([0.0, np.log(3.0)]), (20000,)))
    assert c.dtype == np.int32 and abs(c.mean() - 0.75) < 5 * np.sqrt(0.75 * 0.25 / 20000)
    r = b.to_numpy(b.randint(ks[3], 2, 5, (20000,)))
    assert set(np.unique(r)) == {2, 3, 4}
    br = b.to_numpy(b.bernoulli(ks[4], b.asarray(0.2), (20000,)))
    assert set(np.unique(br)) == {0, 1} and abs(br.mean() - 0.2) < 5 * np.sqrt(0.16 / 20000)


@pytest.mark.parametrize("name", gm.installed_backends())
def test_linalg_and_memory(name):
    b = gm.get_backend(name)
    a = b.asarray([[4.0, 2.0], [2.0, 3.0]])
    L = b.cholesky(a)
    np.testing.assert_allclose(b.to_numpy(L @ b.xp.matrix_transpose(L)), [[4, 2], [2, 3]], rtol=1e-6)
    x = b.solve_triangular(L, b.asarray([1.0, 2.0]), lower=True)
    np.testing.assert_allclose(b.to_numpy(L @ x), [1, 2], rtol=1e-6)
    sign, logdet = b.slogdet(a)
    assert float(b.to_numpy(sign)) == 1.0 and abs(float(b.to_numpy(logdet)) - np.log(8)) < 1e-5
    np.testing.assert_allclose(b.to_numpy(b.inv(a) @ a), np.eye(2), atol=1e-6)
    report = b.memory_report()
    assert set(report) == {"active_bytes", "cache_bytes", "peak_bytes"}
    b.clear_cache()


@pytest.mark.parametrize("name", [n for n in gm.installed_backends() if gm.get_backend(n).has("grad")])
def test_grad_value_and_grad_vjp_compile_vmap(name):
    b = gm.get_backend(name)
    xp = b.xp
    f = lambda x: xp.sum(x * x)
    x = b.asarray([1.0, 2.0])
    np.testing.assert_allclose(b.to_numpy(b.grad(f)(x)), [2, 4])
    v, g = b.value_and_grad(f)(x)
    assert float(b.to_numpy(v)) == 5.0
    out, (gx,) = b.vjp(lambda x: x * 3.0, (x,), b.asarray([1.0, 1.0]))
    np.testing.assert_allclose(b.to_numpy(gx), [3, 3])
    np.testing.assert_allclose(b.to_numpy(b.compile(lambda x: x + 1.0)(x)), [2, 3])
    np.testing.assert_allclose(b.to_numpy(b.vmap(lambda r: xp.sum(r))(b.asarray([[1.0, 2.0], [3.0, 4.0]]))), [3, 7])


def test_numpy_vmap_is_a_loop_with_the_same_result():
    b = gm.get_backend("numpy")
    out = b.vmap(lambda r, s: r * s, in_axes=(0, None))(np.arange(6.0).reshape(3, 2), 2.0)
    np.testing.assert_allclose(out, np.arange(6.0).reshape(3, 2) * 2)


def test_global_key_stream_reproducible_after_seed():
    gm.seed(11)
    a = gm.get_backend().to_numpy(gm.next_key())
    b = gm.get_backend().to_numpy(gm.next_key())
    gm.seed(11)
    assert np.array_equal(gm.get_backend().to_numpy(gm.next_key()), a)
    assert not np.array_equal(a, b)


def test_mlx_shim_adds_missing_standard_names():
    xp = gm.get_backend("mlx").xp
    assert xp.bool is not None
    assert np.array_equal(np.asarray(xp.copysign(xp.asarray([1.0, -2.0]), xp.asarray([-1.0, 1.0]))), [-1, 2])
    assert np.array_equal(np.asarray(xp.signbit(xp.asarray([-0.0, 0.0, -1.0]))), [True, False, True])


def test_package_list_is_complete_and_backends_not_top_level():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(("genmlx",) + p.parent.relative_to(ROOT / "genmlx").parts)
               for p in (ROOT / "genmlx").rglob("*.py") if "__pycache__" not in p.parts}
    on_disk.add("genmlx.backends")
    assert on_disk == listed, f"pyproject packages out of date: {sorted(on_disk ^ listed)}"
    import genmlx.backends

    assert Path(genmlx.backends.__file__).resolve().parent == ROOT / "backends"
    assert "backends" not in sys.modules


@pytest.mark.slow
def test_wheel_installs_genmlx_backends_not_a_top_level_backends(tmp_path):
    wheel_dir = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheel_dir), str(ROOT)], check=True)
    import zipfile

    (wheel,) = wheel_dir.glob("genmlx-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "genmlx/backends/mlx.py" in names and "genmlx/backends/jax.py" in names
    assert not any(n.startswith("backends/") for n in names)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True)
    code = "import genmlx; genmlx.set_backend('numpy'); print(genmlx.backends.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, text=True,
                         capture_output=True, env={**os.environ, "PYTHONPATH": str(target)}).stdout
    assert str(target) in out


def test_environment_variable_picks_the_default_backend():
    code = "import genmlx; print(genmlx.get_backend().name)"
    env = {**os.environ, "GENMLX_BACKEND": "numpy"}
    out = subprocess.run([sys.executable, "-c", code], env=env, text=True, check=True,
                         capture_output=True).stdout.strip()
    assert out == "numpy"


# Every method of the Backend interface. The base class leaves the library-specific
# ones abstract (NotImplementedError) and gives eager references for the rest
# (control flow among them), so a backend must override the former, and JAX, whose
# compiler cannot run Python loops over traced values, must override control flow.
BACKEND_INTERFACE = (
    "is_array", "asarray", "to_numpy", "to_python", "eval", "erf", "erfinv", "stop_gradient",
    "key", "split", "fold_in", "uniform", "normal", "gumbel", "categorical", "bernoulli",
    "randint", "compile", "grad", "value_and_grad", "vjp", "vmap", "cholesky",
    "solve_triangular", "slogdet", "inv", "memory_report", "set_cache_limit", "clear_cache",
    "scan", "fori_loop", "while_loop", "cond", "select", "is_tracer",
)
ABSTRACT_IN_BASE = ("is_array", "erf", "erfinv", "key", "split", "fold_in", "uniform", "normal",
                    "cholesky", "solve_triangular", "slogdet", "inv")
JAX_LAX_CONTROL_FLOW = ("scan", "fori_loop", "while_loop", "cond", "is_tracer")


@pytest.mark.parametrize("name", gm.installed_backends())
def test_every_backend_implements_the_whole_interface(name):
    from genmlx._backend import Backend

    b = gm.get_backend(name)
    for method in BACKEND_INTERFACE:
        assert callable(getattr(b, method, None)), f"backend '{name}' lacks {method}"
    for method in ABSTRACT_IN_BASE:
        assert getattr(type(b), method) is not getattr(Backend, method), \
            f"backend '{name}' leaves {method} abstract"
    if name == "jax":
        for method in JAX_LAX_CONTROL_FLOW:
            assert getattr(type(b), method) is not getattr(Backend, method), \
                f"the JAX backend must implement {method} with jax.lax"
    # Capability names are the enum's; a backend declares only real ones.
    assert all(isinstance(c, gm.Capability) for c in b.capabilities)


def test_control_flow_capability_is_declared_where_it_exists():
    assert gm.get_backend("numpy").has("compiled_while") and gm.get_backend("jax").has("compiled_while")
    assert not gm.get_backend("mlx").has("compiled_while")
