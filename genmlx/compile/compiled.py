"""L1: a generative function whose GFI operations each run as one compiled function.

`compile_gen_fn(gen_fn)` (exported as `gm.compile`) wraps any generative
function. Each operation (simulate, generate, update, regenerate, assess,
propose, project and their batched forms) is compiled with the backend's
compiler once per *skeleton* of its inputs (the static part of the args,
constraints and trace: addresses, record kinds, distribution classes, Python
ints, shapes and dtypes of the arrays; see `genmlx.core.pytree`) and cached.
The compiled function takes the array leaves and an explicit key and returns
the leaves of the result, so Python runs only while tracing.

The handler path stays the definition: the compiled function *is* the handler
path, traced once. A call whose tracing fails because the model's structure
depends on sampled or argument values (Python `if` on an array, `int()` of a
choice) falls back to the handler path for that skeleton; the reason, with the
line of the model that caused it, is kept in `fallbacks` and shown by
`gm.schema`.

Python floats (and lists of them) in the args and constraints are turned into
backend arrays before compiling, so a new float value reuses the compiled
function; Python ints and bools stay static (they usually shape the model:
`range(n)`).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import traceback
from collections import OrderedDict
from typing import Any, Callable

from genmlx._backend import get_backend, host_numpy
from genmlx._keys import resolve_key, tracing
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.pytree import LazyTrace, flatten, unflatten
from genmlx.core.selection import Selection
from genmlx.core.trace import Trace
from genmlx.errors import ArgumentError, GenMLXError
from genmlx.gfi.interface import (
    AssessResult, GenerateResult, GenerativeFunction, ProposeResult, RegenerateResult,
    UpdateResult,
)

__all__ = ["CompiledGenFunction", "compile_gen_fn"]

_CACHE_SIZE = 64
_FLOAT = "float"  # a Python float leaf: passed packed with the call's other floats
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass
class _Entry:
    """One compiled operation for one input skeleton."""

    run: Callable | None
    out_skeleton: list  # filled while tracing
    fallback: str | None = None


class CompiledCalls:
    """A cache of compiled functions of array leaves, one per (operation, static
    options, input skeleton, leaf shapes and dtypes).

    The machinery under `gm.compile` and the fused inference sweeps: inputs are
    flattened (Python floats packed into one vector), the body is traced once
    with the backend's compiler, and its output leaves are unflattened on the
    way out. A body whose tracing fails (value-dependent structure) runs eagerly
    for that skeleton from then on, with the reason kept in `fallbacks`.
    """

    def __init__(self, name: str):
        self.name = name
        self.fallbacks: dict[str, str] = {}
        self._cache: OrderedDict = OrderedDict()

    def __len__(self) -> int:
        """How many compiled functions are cached."""
        return len(self._cache)

    def __call__(self, op: str, static: Any, inputs: tuple, key: Any,
                 body: Callable[..., Any]) -> Any:
        """`body(*inputs, key)` through the compiled function for (op, static, skeleton
        of inputs); on the eager path when tracing fails or the backend has no compiler.

        `static` is any hashable value the body closes over (it must determine the
        body's behaviour together with `op`)."""
        backend = get_backend()
        leaves, skeleton = flatten(inputs, floats=True)
        kinds = tuple(_FLOAT if type(leaf) is float else (tuple(leaf.shape), str(leaf.dtype))
                      for leaf in leaves)
        cache_key = (op, backend.name, backend.float_dtype_name, static, skeleton, kinds)
        entry = self._cache.get(cache_key)
        if entry is None:
            entry = self._cache[cache_key] = self._build(op, skeleton, kinds, body)
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(cache_key)
        if entry.fallback is None:
            floats = [leaf for leaf in leaves if type(leaf) is float]
            arrays = [leaf for leaf in leaves if type(leaf) is not float]
            if floats:
                # one host-to-device transfer for every Python float of the call
                arrays.insert(0, backend.asarray(
                    host_numpy().asarray(floats, dtype=backend.float_dtype_name)))
            try:
                out = entry.run(key, *arrays)
                return unflatten(entry.out_skeleton[0], out)
            except GenMLXError:
                raise
            except Exception as exc:  # noqa: BLE001 - any tracing failure means "not static"
                entry.fallback = _reason(exc)
        self.fallbacks[op] = entry.fallback
        return body(*unflatten(skeleton, leaves), key)

    def _build(self, op: str, skeleton: Any, kinds: tuple, body: Callable[..., Any]) -> _Entry:
        backend = get_backend()
        out_skeleton: list = [None]
        has_floats = _FLOAT in kinds

        def pure(key: Any, *arrays: Any) -> list:
            leaves, arrays = _merge(kinds, arrays[0] if has_floats else None,
                                    arrays[1:] if has_floats else arrays)
            with tracing(f"{self.name}.{op}"):
                out = body(*unflatten(skeleton, leaves), key)
            out_leaves, out_skeleton[0] = flatten(out)
            return out_leaves

        if not traces_code(backend):
            return _Entry(None, out_skeleton, fallback=f"backend '{backend.name}' has no "
                          "compiler; the handler path runs")
        return _Entry(backend.compile(pure), out_skeleton)



class CompiledGenFunction(GenerativeFunction):
    """`gen_fn` with every GFI operation compiled per input skeleton.

    Traces it returns have this object as `gen_fn`, so `trace.gen_fn.update(...)`
    stays on the compiled path. It accepts traces made by `gen_fn` itself too.

    Attributes:
        inner: the wrapped generative function (the handler path).
        fallbacks: {operation: reason} for operations that run on the handler path
            because tracing failed (value-dependent structure).
    """

    def __init__(self, gen_fn: GenerativeFunction):
        if isinstance(gen_fn, CompiledGenFunction):
            gen_fn = gen_fn.inner
        if not isinstance(gen_fn, GenerativeFunction):
            raise ArgumentError(f"gm.compile: expected a generative function (@gen, a "
                                f"combinator or a distribution), got {type(gen_fn).__name__}")
        self.inner = gen_fn
        self.name = getattr(gen_fn, "name", "gen_fn")
        self._calls = CompiledCalls(f"gm.compile({self.name})")
        self.fallbacks = self._calls.fallbacks

    def _run(self, op: str, static: Any, inputs: tuple, key: Any,
             body: Callable[..., Any]) -> Any:
        return self._calls(op, static, inputs, key, body)

    def _own(self, trace: Trace, who: str) -> Trace:
        """The trace with the inner generative function as its owner (what the handler
        path expects); a trace of another generative function is an error."""
        if trace.gen_fn is self or trace.gen_fn is self.inner:
            return _owned_by(trace, self.inner)
        raise ArgumentError(f"{self.name}.{who}: the trace was made by "
                            f"{getattr(trace.gen_fn, 'name', trace.gen_fn)}, not by {self.name}")

    def _mine(self, trace: Trace) -> Trace:
        return _owned_by(trace, self)

    # -- GFI ------------------------------------------------------------------------------
    def simulate(self, args: tuple, key: Any = None) -> Trace:
        """Compiled simulate; score = log p(choices; args)."""
        inner = self.inner
        tr = self._run("simulate", None, (_arrays(args),), resolve_key(key),
                       lambda a, k: inner.simulate(a, key=k))
        return self._mine(tr)

    def generate(self, args: tuple, constraints: ChoiceMap = EMPTY,
                 key: Any = None) -> GenerateResult:
        """Compiled generate; weight = log p(t) - log q(t; constraints)."""
        inner = self.inner
        tr, w = self._run("generate", None, (_arrays(args), _constraints(constraints)),
                          resolve_key(key), lambda a, c, k: tuple(inner.generate(a, c, key=k)))
        return GenerateResult(self._mine(tr), w)

    def update(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
               argdiffs: tuple | None = None, key: Any = None) -> UpdateResult:
        """Compiled update; weight = log p(t') - log p(t) (fresh choices excluded)."""
        inner = self.inner
        new_args = None if args is None else _arrays(args)
        tr, w, retdiff, discard = self._run(
            "update", _static_of(argdiffs),
            (self._own(trace, "update"), _constraints(constraints), new_args),
            resolve_key(key),
            lambda t, c, a, k: tuple(inner.update(t, c, a, argdiffs, key=k)))
        return UpdateResult(self._mine(tr), w, retdiff, discard)

    def regenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                   argdiffs: tuple | None = None, key: Any = None) -> RegenerateResult:
        """Compiled regenerate; weight = MH acceptance log-ratio of resampling `selection`."""
        inner = self.inner
        new_args = None if args is None else _arrays(args)
        tr, w, retdiff = self._run(
            "regenerate", (repr(selection), _static_of(argdiffs)),
            (self._own(trace, "regenerate"), new_args), resolve_key(key),
            lambda t, a, k: tuple(inner.regenerate(t, selection, a, argdiffs, key=k)))
        return RegenerateResult(self._mine(tr), w, retdiff)

    def assess(self, args: tuple, choices: ChoiceMap) -> AssessResult:
        """Compiled assess; weight = log p(choices; args)."""
        inner = self.inner
        # assess draws nothing: the key slot carries a dummy so every entry has one shape
        w, retval = self._run("assess", None, (_arrays(args), _constraints(choices)),
                              _dummy_key(), lambda a, c, k: tuple(inner.assess(a, c)))
        return AssessResult(w, retval)

    def propose(self, args: tuple, key: Any = None) -> ProposeResult:
        """Compiled propose; weight = log p(choices; args)."""
        inner = self.inner
        choices, w, retval = self._run("propose", None, (_arrays(args),), resolve_key(key),
                                       lambda a, k: tuple(inner.propose(a, key=k)))
        return ProposeResult(choices, w, retval)

    def project(self, trace: Trace, selection: Selection) -> Any:
        """Compiled project; the log density of the selected choices."""
        inner = self.inner
        return self._run("project", repr(selection), (self._own(trace, "project"),),
                         _dummy_key(), lambda t, k: inner.project(t, selection))

    # -- batched (L0) ---------------------------------------------------------------------
    def vsimulate(self, args: tuple, n: int, key: Any = None, **options: Any) -> Trace:
        """Compiled batched simulate: N particles, score [N]."""
        inner = self.inner
        tr = self._run("vsimulate", (int(n), _static_of(options)), (_arrays(args),),
                       resolve_key(key), lambda a, k: inner.vsimulate(a, int(n), key=k, **options))
        return self._mine(tr)

    def vgenerate(self, args: tuple, constraints: ChoiceMap, n: int, key: Any = None,
                  **options: Any) -> GenerateResult:
        """Compiled batched generate: weight [N] = log density of the constraints per particle."""
        inner = self.inner
        tr, w = self._run("vgenerate", (int(n), _static_of(options)),
                          (_arrays(args), _constraints(constraints)), resolve_key(key),
                          lambda a, c, k: tuple(inner.vgenerate(a, c, int(n), key=k, **options)))
        return GenerateResult(self._mine(tr), w)

    def vupdate(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
                key: Any = None, **options: Any) -> UpdateResult:
        """Compiled batched update: weight [N] = log p(t'_i) - log p(t_i)."""
        inner = self.inner
        new_args = None if args is None else _arrays(args)
        tr, w, retdiff, discard = self._run(
            "vupdate", _static_of(options),
            (self._own(trace, "vupdate"), _constraints(constraints), new_args), resolve_key(key),
            lambda t, c, a, k: tuple(inner.vupdate(t, c, a, key=k, **options)))
        return UpdateResult(self._mine(tr), w, retdiff, discard)

    def vregenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                    key: Any = None, **options: Any) -> RegenerateResult:
        """Compiled batched regenerate: weight [N] = per-particle MH acceptance log-ratio."""
        inner = self.inner
        new_args = None if args is None else _arrays(args)
        tr, w, retdiff = self._run(
            "vregenerate", (repr(selection), _static_of(options)),
            (self._own(trace, "vregenerate"), new_args), resolve_key(key),
            lambda t, a, k: tuple(inner.vregenerate(t, selection, a, key=k, **options)))
        return RegenerateResult(self._mine(tr), w, retdiff)

    # -- trace access delegates to the handler path's ---------------------------------
    def trace_lookup(self, trace: Trace, path: Any) -> tuple[bool, Any]:
        lookup = getattr(self.inner, "trace_lookup", None)
        if lookup is None:
            return False, None
        return lookup(trace, path)

    def __getattr__(self, name: str) -> Any:
        # hooks the library reads off a generative function (signature, check_args,
        # map_batched_trace, ...) are the inner one's
        if name.startswith("__") or name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"<compiled {self.inner!r}>"


def traces_code(backend: Any) -> bool:
    """True when the backend's compile traces functions (NumPy's is the identity)."""
    if not backend.has("compile"):
        return False
    probe = _identity
    return backend.compile(probe) is not probe


def _identity(x: Any) -> Any:
    return x


def compile_gen_fn(gen_fn: GenerativeFunction) -> CompiledGenFunction:
    """A generative function with the same GFI whose operations run compiled.

    Each operation is traced once per input skeleton and cached; a model whose
    structure depends on values runs that operation on the handler path instead
    (see `CompiledGenFunction.fallbacks` and `gm.schema`).

    Example:
        >>> fast = gm.compile(model)
        >>> tr, w = fast.generate(args, observations, key=gm.key(0))
    """
    return CompiledGenFunction(gen_fn)


# ---------------------------------------------------------------------------
# inputs

def _owned_by(trace: Trace, gen_fn: Any) -> Trace:
    """`trace` with `gen_fn` as its owner; a lazy trace stays lazy."""
    if trace.gen_fn is gen_fn:
        return trace
    if isinstance(trace, LazyTrace):
        return trace.with_gen_fn(gen_fn)
    return dataclasses.replace(trace, gen_fn=gen_fn)


def _merge(kinds: tuple, packed: Any, arrays: tuple) -> tuple[list, tuple]:
    """The leaf list again: Python-float slots read from the packed vector, in order."""
    leaves, next_float, next_array = [], 0, 0
    for kind in kinds:
        if kind == _FLOAT:
            leaves.append(packed[next_float])
            next_float += 1
        else:
            leaves.append(arrays[next_array])
            next_array += 1
    return leaves, arrays


def _arrays(x: Any) -> Any:
    """NumPy arrays (alone or in lists/tuples/dicts) as backend arrays; everything else
    unchanged (Python floats become packed leaves, ints and bools stay static)."""
    if type(x) is tuple or type(x) is list:
        return type(x)(_arrays(v) for v in x)
    if type(x) is dict:
        return {k: _arrays(v) for k, v in x.items()}
    if type(x).__module__ == "numpy" and hasattr(x, "dtype"):
        return get_backend().asarray(x)
    return x


def _constraints(x: Any) -> ChoiceMap:
    """A choicemap whose values are backend arrays or Python floats (other values,
    such as ints of discrete observations, converted to arrays)."""
    if x is None:
        return EMPTY
    if isinstance(x, dict):
        x = ChoiceMap.from_mapping(x)
    if not isinstance(x, ChoiceMap):
        raise TypeError(f"expected a ChoiceMap (or dict), got {type(x).__name__}")
    backend = get_backend()

    def ok(v: Any) -> bool:
        return type(v) is float or backend.is_array(v)

    if all(ok(v) for _, v in x.leaves()):
        return x
    return ChoiceMap.from_mapping({path: v if ok(v) else backend.asarray(v)
                                   for path, v in x.leaves()})


def _static_of(x: Any) -> Any:
    """A hashable stand-in for static options (argdiffs, keyword options)."""
    if x is None:
        return None
    leaves, skeleton = flatten(x)
    if leaves:
        raise ArgumentError("gm.compile: static options (argdiffs, keyword options) must not "
                            "hold arrays")
    return skeleton


def _dummy_key() -> Any:
    return get_backend().key(0)


def _reason(exc: BaseException) -> str:
    """Why tracing failed, with the model line that did it (the deepest frame outside
    GenMLX and the array libraries)."""
    where = None
    for frame in traceback.extract_tb(exc.__traceback__):
        name = os.path.abspath(frame.filename)
        if name.startswith(_PACKAGE_DIR) or "site-packages" in name or name.startswith(
                sys.prefix):
            continue
        where = f"{os.path.basename(frame.filename)}:{frame.lineno} `{(frame.line or '').strip()}`"
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {message}"[:300]
    return f"the structure depends on a value at {where} ({text})" if where else text
