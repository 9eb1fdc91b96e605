"""The schema of a generative function: what L1 compiles and why it can or cannot.

`schema(gen_fn, args)` runs the model on the handler path and reads its trace:
every address with its record kind (choice or traced call), distribution, value
shape and dtype, and for a traced call the callee's own schema. It then says
whether the structure is *static* (the same addresses for every draw, and no
Python decision on a traced value), which is what lets every GFI operation
compile to one function: two probes on different keys must visit the same
addresses, and the model must trace under the backend's compiler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genmlx._backend import get_backend, installed_backends, use_backend
from genmlx._keys import resolve_key, split
from genmlx.compile.compiled import CompiledGenFunction, traces_code
from genmlx.core.address import Path, show
from genmlx.core.trace import Trace

__all__ = ["Site", "Schema", "schema"]


@dataclass(frozen=True)
class Site:
    """One address of a schema.

    Attributes:
        address: the path.
        kind: "choice" (a distribution) or "call" (a traced generative function).
        distribution: the distribution's name (choices) or the callee's name (calls).
        shape: the value's shape (choices).
        dtype: the value's dtype (choices).
        callee: the callee's schema (calls of @gen functions), else None.
    """

    address: Path
    kind: str
    distribution: str
    shape: tuple = ()
    dtype: str = ""
    callee: "Schema | None" = None


@dataclass(frozen=True)
class Schema:
    """Addresses, distributions and static-ness of one call of a generative function.

    Attributes:
        name: the generative function's name.
        sites: the sites in visiting order.
        static: True when every GFI operation can run as one compiled function.
        reason: why the structure is not static, naming the address or model
            line responsible (None when it is static and was checked by tracing).
    """

    name: str
    sites: tuple
    static: bool
    reason: str | None = None

    def addresses(self) -> list[Path]:
        """Every choice address, callees' addresses prefixed by the call's."""
        out = []
        for site in self.sites:
            if site.callee is not None:
                out.extend(site.address + a for a in site.callee.addresses())
            elif site.kind == "choice":
                out.append(site.address)
        return out

    def __str__(self) -> str:
        head = f"schema of {self.name}: " + ("static" if self.static else
                                              f"not static ({self.reason})")
        rows = [head] + [_row(s, "  ") for s in self.sites]
        return "\n".join(rows)


def _row(site: Site, indent: str) -> str:
    if site.kind == "choice":
        return f"{indent}{show(site.address)}: {site.distribution} {site.shape} {site.dtype}"
    text = f"{indent}{show(site.address)}: call {site.distribution}"
    if site.callee is not None:
        text += "\n" + "\n".join(_row(s, indent + "  ") for s in site.callee.sites)
    return text


def schema(gen_fn: Any, args: tuple, key: Any = None) -> Schema:
    """The schema of `gen_fn` called with `args`.

    Args:
        gen_fn: a generative function (a compiled one is read through).
        args: its arguments.
        key: the key of the first probe (the second uses a key split from it).

    Returns:
        A `Schema`; `static` says whether the model compiles as a whole, and
        `reason` why not.
    """
    inner = gen_fn.inner if isinstance(gen_fn, CompiledGenFunction) else gen_fn
    k1, k2 = split(resolve_key(key), 2)
    first = inner.simulate(args, key=k1)
    sites = _sites(first)
    second = _sites(inner.simulate(args, key=k2))
    if [s.address for s in second] != [s.address for s in sites]:
        changed = sorted({show(s.address) for s in sites} ^ {show(s.address) for s in second})
        return Schema(inner.name, sites, False,
                      f"two draws visit different addresses ({', '.join(changed[:6])}): "
                      "the structure depends on sampled values")
    tracer = _tracing_backend()
    if tracer is None:
        return Schema(inner.name, sites, True,
                      "no installed backend traces code (install mlx or jax); only the two "
                      "probes were compared")
    with use_backend(tracer):
        probe = CompiledGenFunction(inner)
        probe.simulate(args, key=get_backend().key(0))
    reason = probe.fallbacks.get("simulate")
    return Schema(inner.name, sites, reason is None, reason)


def _tracing_backend() -> Any:
    """The current backend when its compiler traces code, else another installed one
    that does (structure is the same on every backend); None when none does."""
    current = get_backend()
    for candidate in (current, *(get_backend(n) for n in installed_backends())):
        if traces_code(candidate):
            return candidate
    return None


def _sites(trace: Trace) -> tuple:
    records = getattr(getattr(trace, "internal", None), "records", None)
    if records is None:
        # not a @gen trace: one entry per choice address
        return tuple(Site(path, "choice", "?", tuple(getattr(v, "shape", ())),
                          str(getattr(v, "dtype", "")))
                     for path, v in trace.choices.leaves())
    out = []
    for path, rec in records.items():
        sub = getattr(rec, "subtrace", None)
        if sub is None:
            value = rec.value
            out.append(Site(path, "choice", rec.dist.name, tuple(value.shape),
                            str(value.dtype).rsplit(".", 1)[-1]))
        else:
            callee = Schema(sub.gen_fn.name, _sites(sub), True)
            out.append(Site(path, "call", sub.gen_fn.name, callee=callee))
    return tuple(out)
