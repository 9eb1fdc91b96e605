"""Saving and loading results, and pickling GenMLX objects.

`save(path, obj)` writes a choicemap, trace, MCMC `Samples` / `Chains`, a
`ChainState` (checkpoint), an `ImportanceResult` or a `ResamplingResult` to
one file; `load(path)` reads it back on whatever backend is current.

File format (version 1): a NumPy `.npz` archive (no pickled objects inside, so
loading never runs code from the file) with

- `header`: UTF-8 JSON, `{"format": "genmlx", "version": 1, "kind": ...,
  "backend": ..., "dtype": ..., "genmlx_version": ..., "body": {...}}`;
- `a0`, `a1`, ...: the arrays the body refers to by name.

Arrays are stored as NumPy arrays of their own dtype; on load, floating
arrays become the current backend's float dtype and every other array keeps
its dtype (so random keys stay uint32). Python numbers, strings, lists,
tuples and dicts are stored in the JSON as they are.

A trace is stored as its generative function's import path
("module:qualname"), its arguments and its choices. Loading imports the
function and rebuilds the trace with `gen_fn.generate(args, choices)`, every
choice constrained, then checks that the rebuilt trace has exactly the saved
addresses and the saved score. So any generative function whose choices
determine its trace round-trips, and a model that changed since the file was
written is reported rather than silently used.

Pickle: `ChoiceMap`, `Trace`, `@gen` functions and the result types pickle
(registered here with `copyreg`). Backend arrays inside them travel as NumPy
arrays and come back as arrays of the backend current when unpickling. A
`@gen` function pickles by reference (its import path), like a Python
function: define models at module level.

Errors (all `GenMLXError` subclasses; nothing half-loaded is ever returned):
`FileFormatError` (not a GenMLX file, truncated or corrupted),
`FormatVersionError` (written by a newer format), `ModelImportError` (the
model's import path does not import), `ModelMismatchError` (the choices do
not fit the model), `UnsavableError` (a value GenMLX cannot store).
"""

from __future__ import annotations

import copyreg
import importlib
import io as _stdio
import json
import os
import tempfile
import zipfile
import zlib
from typing import Any

from genmlx._backend import get_backend, host_numpy
from genmlx.core.address import show
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.pytree import LazyTrace
from genmlx.core.trace import Trace
from genmlx.dsl.gen import DynamicGenFunction
from genmlx.errors import GenMLXError
from genmlx.gfi.interface import GenerativeFunction
from genmlx.inference.results import (
    ChainState, Chains, ImportanceResult, ResamplingResult, Samples, to_host_array,
)

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "FileFormatError", "FormatVersionError",
           "ModelImportError", "ModelMismatchError", "UnsavableError", "load", "save"]

FORMAT_NAME = "genmlx"
FORMAT_VERSION = 1
_HEADER = "header"


class FileFormatError(GenMLXError, ValueError):
    """The file is not a GenMLX file, or is truncated or corrupted."""


class FormatVersionError(FileFormatError):
    """The file was written by a newer GenMLX format version than this one reads."""


class ModelImportError(GenMLXError, ImportError):
    """The generative function a trace file names cannot be imported."""


class ModelMismatchError(GenMLXError, ValueError):
    """Saved choices do not fit the model (other addresses, or another score)."""


class UnsavableError(GenMLXError, TypeError):
    """A value (argument, choice, model) that GenMLX cannot store."""


# -- arrays between backends ---------------------------------------------------------------------

def _is_array(x: Any) -> bool:
    np = host_numpy()
    if isinstance(x, (np.ndarray, np.generic)):
        return True
    if get_backend().is_array(x):
        return True
    # an array of another backend: recognised by its library, without importing any
    return type(x).__module__.split(".")[0] in ("mlx", "jax", "jaxlib")


def _from_host(array: Any) -> Any:
    """A current-backend array from a NumPy array: floats in the backend's float
    dtype (so float64 files load on float32 backends), other dtypes kept."""
    backend = get_backend()
    if array.dtype.kind == "f":
        return backend.xp.asarray(array, dtype=backend.float_dtype)
    return backend.xp.asarray(array)


class _HostArray:
    """A backend array on its way through pickle: NumPy inside, current backend out."""

    __slots__ = ("array",)

    def __init__(self, array: Any):
        self.array = to_host_array(array)

    def __reduce__(self) -> tuple:
        return (_restore_array, (self.array,))


def _restore_array(array: Any) -> Any:
    return _from_host(array)


def _restored(value: Any) -> Any:
    """`value` with every `_HostArray` made a current-backend array.

    Unpickling has already done this (a `_HostArray` unpickles as an array);
    `copy.copy`, which calls the reducers' rebuild functions directly, has not.
    """
    if isinstance(value, _HostArray):
        return _from_host(value.array)
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_restored(v) for v in value)
    if type(value) is list:
        return [_restored(v) for v in value]
    if type(value) is dict:
        return {k: _restored(v) for k, v in value.items()}
    return value


def _portable(value: Any) -> Any:
    """`value` with every backend array (also inside lists, tuples, dicts) made a `_HostArray`."""
    if _is_array(value):
        return _HostArray(value)
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_portable(v) for v in value)
    if isinstance(value, list) and type(value) is list:
        return [_portable(v) for v in value]
    if isinstance(value, dict) and type(value) is dict:
        return {k: _portable(v) for k, v in value.items()}
    return value


# -- generative functions by reference ---------------------------------------------------------

def _resolve(ref: str) -> Any:
    module_name, _, qualname = ref.partition(":")
    if not module_name or not qualname:
        raise ModelImportError(f"'{ref}' is not an import path of the form 'module:qualname'")
    try:
        obj = importlib.import_module(module_name)
    except Exception as exc:  # any failure to import is the file's model being unavailable
        raise ModelImportError(f"cannot import module '{module_name}' of generative function "
                               f"'{ref}' ({type(exc).__name__}: {exc}); make it importable, "
                               "or pass the model itself: load(path, model=...)") from exc
    for part in qualname.split("."):
        if not hasattr(obj, part):
            raise ModelImportError(f"module '{module_name}' has no '{qualname}' (looking for "
                                   f"the generative function '{ref}'); pass the model itself: "
                                   "load(path, model=...)")
        obj = getattr(obj, part)
    if not isinstance(obj, GenerativeFunction):
        raise ModelImportError(f"'{ref}' is a {type(obj).__name__}, not a generative function")
    return obj


def gen_fn_reference(gen_fn: Any) -> tuple[str, dict]:
    """("module:qualname", trainable params) naming a module-level generative function.

    A `with_params` copy of a module-level `@gen` function is named by the
    original plus its parameters.

    Raises:
        UnsavableError: `gen_fn` cannot be found again by import (defined inside
            a function, or not bound to a module-level name).
    """
    module = getattr(gen_fn, "__module__", None)
    qualname = getattr(gen_fn, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str) and "<locals>" not in qualname:
        ref = f"{module}:{qualname}"
        try:
            found = _resolve(ref)
        except ModelImportError:
            found = None
        if found is gen_fn:
            return ref, {}
        if (isinstance(gen_fn, DynamicGenFunction) and isinstance(found, DynamicGenFunction)
                and found.body is gen_fn.body):
            return ref, dict(gen_fn.params)
    raise UnsavableError(f"generative function {getattr(gen_fn, 'name', gen_fn)!r} cannot be "
                         "found by an import path (module:qualname); define it at module level "
                         "(not inside a function), or save with model='module:qualname'.")


def _model_ref(gen_fn: Any, model: Any) -> tuple[str, dict]:
    if model is None:
        return gen_fn_reference(gen_fn)
    if isinstance(model, str):
        if _resolve(model) is not gen_fn:
            raise UnsavableError(f"model='{model}' imports another object than the trace's "
                                 "generative function")
        return model, {}
    raise TypeError(f"save: model must be an import path 'module:qualname', got "
                    f"{type(model).__name__}")


def _import_gen_fn(ref: str, params: dict | None = None) -> Any:
    gen_fn = _resolve(ref)
    if params:
        gen_fn = gen_fn.with_params(**_restored(params))
    return gen_fn


# -- pickle ------------------------------------------------------------------------------------

def _reduce_gen_fn(gen_fn: DynamicGenFunction) -> tuple:
    try:
        ref, params = gen_fn_reference(gen_fn)
    except UnsavableError as exc:
        import pickle

        raise pickle.PicklingError(str(exc)) from None
    return (_import_gen_fn, (ref, _portable(params)))


def _choicemap_leaf(value: Any) -> ChoiceMap:
    return ChoiceMap.leaf(_restored(value))


def _choicemap_node(children: list) -> ChoiceMap:
    return ChoiceMap(dict(children)) if children else EMPTY


def _reduce_choicemap(cm: ChoiceMap) -> tuple:
    if cm.has_value():
        return (_choicemap_leaf, (_portable(cm.get_value()),))
    # children are pickled recursively, each through this same reducer
    return (_choicemap_node, (list(cm.children().items()),))


def _unpickle_trace(gen_fn: Any, args: tuple, choices: ChoiceMap, score: Any) -> Trace:
    return _rebuild_trace(gen_fn, _restored(args), choices, _restored(score),
                          "unpickling a trace")


def _reduce_trace(trace: Trace) -> tuple:
    _check_unbatched(trace)
    return (_unpickle_trace, (trace.gen_fn, _portable(trace.args), trace.choices,
                              _HostArray(trace.score)))


def _reduce_importance(result: ImportanceResult) -> tuple:
    return (_unpickle_importance, (list(result.traces),
                                   _HostArray(result.log_unnormalized_weights)))


def _unpickle_importance(traces: list, log_weights: Any) -> ImportanceResult:
    return ImportanceResult(traces, _restored(log_weights))


def _reduce_resampling(result: ResamplingResult) -> tuple:
    return (_unpickle_resampling, (list(result.traces),
                                   _HostArray(result.log_marginal_likelihood)))


def _unpickle_resampling(traces: list, log_ml: Any) -> ResamplingResult:
    return ResamplingResult(traces, _restored(log_ml))


def _reduce_chain_state(state: ChainState) -> tuple:
    return (_unpickle_chain_state, (state.trace, _HostArray(state.key)))


def _unpickle_chain_state(trace: Trace, key: Any) -> ChainState:
    return ChainState(trace, _restored(key))


copyreg.pickle(ChoiceMap, _reduce_choicemap)
copyreg.pickle(Trace, _reduce_trace)
copyreg.pickle(LazyTrace, _reduce_trace)
copyreg.pickle(DynamicGenFunction, _reduce_gen_fn)
copyreg.pickle(ImportanceResult, _reduce_importance)
copyreg.pickle(ResamplingResult, _reduce_resampling)
copyreg.pickle(ChainState, _reduce_chain_state)
# Samples and Chains are lists with attributes: pickle's default handles them, and
# their traces and final state go through the reducers above.


# -- rebuilding traces -----------------------------------------------------------------------------

def _check_unbatched(trace: Trace) -> None:
    if getattr(trace.internal, "batch", None) is not None:
        raise UnsavableError("a batched (vectorized) trace cannot be saved or pickled; save "
                             "its particles (VectorizedTrace.particle(i)) or its draws")


def _scores_agree(rebuilt: Any, saved: Any) -> bool:
    np = host_numpy()
    a = float(to_host_array(rebuilt))
    b = float(to_host_array(saved))
    if np.isnan(a) or np.isnan(b) or np.isinf(a) or np.isinf(b):
        return (np.isnan(a) and np.isnan(b)) or a == b
    # float32 sums of log densities evaluated on another backend differ in the last
    # bits; a changed model changes the score by far more than this.
    return abs(a - b) <= 1e-4 + 1e-5 * abs(b)


def _rebuild_trace(gen_fn: Any, args: tuple, choices: ChoiceMap, score: Any,
                   where: str) -> Trace:
    """`gen_fn.generate(args, choices)` with every choice constrained, checked against the save."""
    name = getattr(gen_fn, "name", gen_fn)
    try:
        # an explicit key: rebuilding must not draw from the caller's global key stream
        trace, _ = gen_fn.generate(tuple(args), choices, key=get_backend().key(0))
    except GenMLXError as exc:
        raise ModelMismatchError(f"{where}: the saved choices do not fit generative function "
                                 f"{name} ({type(exc).__name__}: {exc})") from exc
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        raise ModelMismatchError(f"{where}: generative function {name} fails on the saved "
                                 f"arguments and choices ({type(exc).__name__}: {exc})") from exc
    saved, rebuilt = set(choices.addresses()), set(trace.choices.addresses())
    if saved != rebuilt:
        extra = sorted(show(p) for p in rebuilt - saved)
        missing = sorted(show(p) for p in saved - rebuilt)
        raise ModelMismatchError(f"{where}: generative function {name} makes choices the file "
                                 f"lacks {extra} / lacks choices the file has {missing}")
    if not _scores_agree(trace.score, score):
        raise ModelMismatchError(f"{where}: generative function {name} scores the saved choices "
                                 f"{float(to_host_array(trace.score)):.6g}, the file says "
                                 f"{float(to_host_array(score)):.6g}; the model changed since "
                                 "the file was written")
    return trace


# -- encoding to JSON + arrays -------------------------------------------------------------

class _Writer:
    """Collects arrays (named a0, a1, ...) while values are encoded into JSON."""

    def __init__(self) -> None:
        self.arrays: dict[str, Any] = {}

    def array(self, x: Any) -> str:
        name = f"a{len(self.arrays)}"
        self.arrays[name] = to_host_array(x)
        return name

    def value(self, v: Any, where: str) -> Any:
        if _is_array(v):
            return {"t": "array", "ref": self.array(v)}
        if v is None or isinstance(v, (bool, int, float, str)):
            return {"t": "py", "v": v}
        if isinstance(v, ChoiceMap):
            return {"t": "choicemap", "v": self.choicemap(v)}
        if isinstance(v, GenerativeFunction):
            ref, params = gen_fn_reference(v)
            return {"t": "gen_fn", "ref": ref, "params": self.value(params, where)}
        if isinstance(v, tuple) and not hasattr(v, "_fields"):
            return {"t": "tuple", "v": [self.value(u, where) for u in v]}
        if type(v) is list:
            return {"t": "list", "v": [self.value(u, where) for u in v]}
        if type(v) is dict:
            return {"t": "dict", "v": [[self.value(k, where), self.value(u, where)]
                                       for k, u in v.items()]}
        raise UnsavableError(f"{where}: cannot store a value of type {type(v).__name__} "
                             "(stored: arrays, numbers, strings, None, lists, tuples, dicts, "
                             "choicemaps, module-level generative functions)")

    def choicemap(self, cm: ChoiceMap) -> Any:
        if cm.has_value():
            return {"leaf": self.value(cm.get_value(), "a choice")}
        return {"children": [[part, self.choicemap(child)]
                             for part, child in cm.children().items()]}

    def trace(self, trace: Trace, model: Any) -> dict:
        _check_unbatched(trace)
        ref, params = _model_ref(trace.gen_fn, model)
        return {"gen_fn": ref, "params": self.value(params, "model parameters"),
                "args": self.value(tuple(trace.args), "the trace's arguments"),
                "choices": self.choicemap(trace.choices), "score": self.array(trace.score)}

    def traces(self, traces: list, model: Any) -> dict:
        """Many traces of one model: each address's values stacked into one array
        when every trace has the same addresses and shapes, else trace by trace."""
        traces = list(traces)
        if not traces:
            return {"layout": "empty"}
        first = traces[0]
        if any(t.gen_fn is not first.gen_fn for t in traces):
            return {"layout": "traces", "traces": [self.trace(t, model) for t in traces]}
        for t in traces:
            _check_unbatched(t)
        columns = self._columns(traces)
        same_args = all(t.args is first.args for t in traces)
        if columns is None or not same_args:
            return {"layout": "traces", "traces": [self.trace(t, model) for t in traces]}
        np = host_numpy()
        ref, params = _model_ref(first.gen_fn, model)
        return {"layout": "columns", "n": len(traces), "gen_fn": ref,
                "params": self.value(params, "model parameters"),
                "args": self.value(tuple(first.args), "the traces' arguments"),
                "columns": [[list(path), self.array(np.stack(values))]
                            for path, values in columns],
                "scores": self.array(np.stack([to_host_array(t.score) for t in traces]))}

    @staticmethod
    def _columns(traces: list) -> list | None:
        paths = [p for p, _ in traces[0].choices.leaves()]
        columns: dict = {p: [] for p in paths}
        for t in traces:
            leaves = list(t.choices.leaves())
            if [p for p, _ in leaves] != paths:
                return None
            for p, v in leaves:
                if not _is_array(v):
                    return None
                columns[p].append(to_host_array(v))
        for p in paths:
            if len({(a.shape, a.dtype) for a in columns[p]}) != 1:
                return None
        return list(columns.items())

    def samples(self, samples: Any, model: Any) -> dict:
        state = getattr(samples, "final_state", None)
        return {"traces": self.traces(list(samples), model),
                "acceptance_rate": float(getattr(samples, "acceptance_rate", float("nan"))),
                "num_steps": int(getattr(samples, "num_steps", 0)),
                "final_state": None if state is None else self.chain_state(state, model)}

    def chain_state(self, state: ChainState, model: Any) -> dict:
        return {"trace": self.trace(state.trace, model), "key": self.array(state.key)}


class _Reader:
    """Decodes a body written by `_Writer`, with the model override of `load`."""

    def __init__(self, arrays: dict, model: Any) -> None:
        self.arrays = arrays
        self.model = model

    def array(self, name: Any) -> Any:
        if not isinstance(name, str) or name not in self.arrays:
            raise FileFormatError(f"the file refers to array {name!r}, which it does not hold")
        return _from_host(self.arrays[name])

    def value(self, enc: Any) -> Any:
        tag = _field(enc, "t")
        if tag == "array":
            return self.array(_field(enc, "ref"))
        if tag == "py":
            return _field(enc, "v")
        if tag == "choicemap":
            return self.choicemap(_field(enc, "v"))
        if tag == "gen_fn":
            return _import_gen_fn(_field(enc, "ref"), self.value(_field(enc, "params")))
        if tag == "tuple":
            return tuple(self.value(u) for u in _field(enc, "v"))
        if tag == "list":
            return [self.value(u) for u in _field(enc, "v")]
        if tag == "dict":
            return {self.value(k): self.value(u) for k, u in _field(enc, "v")}
        raise FileFormatError(f"unknown value tag {tag!r} in the file")

    def choicemap(self, enc: Any) -> ChoiceMap:
        if isinstance(enc, dict) and "leaf" in enc:
            return ChoiceMap.leaf(self.value(enc["leaf"]))
        children = _field(enc, "children")
        if not children:
            return EMPTY
        out = {}
        for pair in children:
            part, child = pair
            if isinstance(part, bool) or not isinstance(part, (str, int)):
                raise FileFormatError(f"bad address component {part!r} in the file")
            out[part] = self.choicemap(child)
        return ChoiceMap(out)

    def gen_fn(self, enc: dict) -> Any:
        if self.model is not None:
            return self.model
        return _import_gen_fn(_field(enc, "gen_fn"), self.value(_field(enc, "params")))

    def trace(self, enc: dict, where: str) -> Trace:
        gen_fn = self.gen_fn(enc)
        return _rebuild_trace(gen_fn, self.value(_field(enc, "args")),
                              self.choicemap(_field(enc, "choices")),
                              self.array(_field(enc, "score")), where)

    def traces(self, enc: dict, where: str) -> list:
        layout = _field(enc, "layout")
        if layout == "empty":
            return []
        if layout == "traces":
            return [self.trace(t, f"{where}, trace {i}")
                    for i, t in enumerate(_field(enc, "traces"))]
        if layout != "columns":
            raise FileFormatError(f"unknown trace layout {layout!r} in the file")
        n = _field(enc, "n")
        gen_fn = self.gen_fn(enc)
        args = self.value(_field(enc, "args"))
        columns = [(tuple(path), self.array(name)) for path, name in _field(enc, "columns")]
        scores = self.array(_field(enc, "scores"))
        if any(int(col.shape[0]) != n for _, col in columns) or int(scores.shape[0]) != n:
            raise FileFormatError("the file's trace columns do not all hold the stated number "
                                  "of traces")
        out = []
        for i in range(n):
            choices = ChoiceMap.from_mapping({path: col[i] for path, col in columns})
            out.append(_rebuild_trace(gen_fn, args, choices, scores[i], f"{where}, trace {i}"))
        return out

    def samples(self, enc: dict, where: str) -> Samples:
        out = Samples(self.traces(_field(enc, "traces"), where))
        out.acceptance_rate = float(_field(enc, "acceptance_rate"))
        out.num_steps = int(_field(enc, "num_steps"))
        state = _field(enc, "final_state")
        out.final_state = None if state is None else self.chain_state(state, where)
        return out

    def chain_state(self, enc: dict, where: str) -> ChainState:
        return ChainState(self.trace(_field(enc, "trace"), f"{where}, chain state"),
                          self.array(_field(enc, "key")))


def _field(enc: Any, name: str) -> Any:
    if not isinstance(enc, dict) or name not in enc:
        raise FileFormatError(f"the file's contents lack the field {name!r}; it is corrupted "
                              "or was not written by genmlx.save")
    return enc[name]


# -- save / load ---------------------------------------------------------------------------

def _kind_of(obj: Any) -> str:
    for kind, cls in (("choicemap", ChoiceMap), ("trace", Trace), ("chain_state", ChainState),
                      ("chains", Chains), ("samples", Samples),
                      ("importance", ImportanceResult), ("resampling", ResamplingResult)):
        if isinstance(obj, cls):
            return kind
    if isinstance(obj, list) and obj and all(isinstance(t, Trace) for t in obj):
        return "samples"
    raise UnsavableError(f"save: cannot save a {type(obj).__name__}; save a ChoiceMap, Trace, "
                         "Samples, Chains, ChainState, ImportanceResult, ResamplingResult or a "
                         "list of traces")


def save(path: str | os.PathLike, obj: Any, *, model: str | None = None) -> None:
    """Write `obj` to `path` (a versioned `.npz` file; any backend loads it).

    The file is written to a temporary name and renamed into place, so an
    interrupted save never leaves a truncated file under `path`.

    Args:
        path: the file to write (the name is used as given; `.npz` is customary).
        obj: a `ChoiceMap`, `Trace`, `Samples` (or a list of traces), `Chains`,
            `ChainState`, `ImportanceResult` or `ResamplingResult`.
        model: the traces' generative function as "module:qualname", for one
            that is not found under its own `__module__`/`__qualname__` (e.g. a
            combinator bound to a module-level name).

    Raises:
        UnsavableError: an object or value GenMLX cannot store (named), or a
            generative function defined inside a function.

    Example:
        >>> traces = mcmc.mh(model, (xs,), obs, samples=1000, key=gm.key(0))
        >>> gm.save("chain.npz", traces)
        >>> gm.load("chain.npz").draws("slope").shape
        (1, 1000)
    """
    kind = _kind_of(obj)
    writer = _Writer()
    if kind == "choicemap":
        body = writer.choicemap(obj)
    elif kind == "trace":
        body = writer.trace(obj, model)
    elif kind == "chain_state":
        body = writer.chain_state(obj, model)
    elif kind == "samples":
        body = writer.samples(obj, model)
    elif kind == "chains":
        body = {"chains": [writer.samples(c, model) for c in obj]}
    elif kind == "importance":
        body = {"traces": writer.traces(obj.traces, model),
                "log_unnormalized_weights": writer.array(obj.log_unnormalized_weights)}
    else:  # resampling
        body = {"traces": writer.traces(obj.traces, model),
                "log_ml_estimate": writer.array(obj.log_ml_estimate)}
    backend = get_backend()
    header = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "kind": kind,
              "backend": backend.name, "dtype": backend.float_dtype_name,
              "genmlx_version": _genmlx_version(), "body": body}
    np = host_numpy()
    encoded = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".genmlx-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{_HEADER: encoded}, **writer.arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _genmlx_version() -> str:
    try:
        from importlib.metadata import version

        return version("genmlx")
    except Exception:  # not installed as a distribution (a source checkout): still saveable
        return "unknown"


def _read_file(path: str) -> tuple[dict, dict]:
    """(header, arrays) of a GenMLX file, every array read (and CRC-checked) now."""
    np = host_numpy()
    try:
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError as exc:
        raise FileFormatError(f"{path} is a directory, not a GenMLX file") from exc
    try:
        archive = np.load(_stdio.BytesIO(data), allow_pickle=False)
        if not hasattr(archive, "files"):  # a bare .npy array
            raise FileFormatError(f"{path} is not a GenMLX file (a single NumPy array)")
        with archive:
            if _HEADER not in archive.files:
                raise FileFormatError(f"{path} is not a GenMLX file (no header)")
            arrays = {name: archive[name] for name in archive.files}
    except FileFormatError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError,
            TypeError) as exc:
        raise FileFormatError(f"{path} is not a readable GenMLX file (truncated or corrupted: "
                              f"{type(exc).__name__}: {exc})") from exc
    try:
        header = json.loads(arrays.pop(_HEADER).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FileFormatError(f"{path}: the header is corrupted ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise FileFormatError(f"{path} is not a GenMLX file (format "
                              f"{header.get('format') if isinstance(header, dict) else None!r})")
    version = header.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise FileFormatError(f"{path}: bad format version {version!r}")
    if version > FORMAT_VERSION:
        raise FormatVersionError(f"{path} was written in GenMLX file format version {version}; "
                                 f"this GenMLX reads versions up to {FORMAT_VERSION}. Upgrade "
                                 "GenMLX to load it.")
    return header, arrays


def load(path: str | os.PathLike, *, model: Any = None) -> Any:
    """Read an object written by `save`, with arrays of the current backend.

    Traces are rebuilt with `model.generate(args, choices)` (every choice
    constrained) and checked: same addresses, same score. A `ChainState`
    loaded on the backend that saved it resumes the chain bit for bit.

    Args:
        path: the file.
        model: the generative function to rebuild traces with, instead of
            importing the one the file names (for models defined in `__main__`
            or renamed since).

    Returns:
        The saved object: `ChoiceMap`, `Trace`, `Samples`, `Chains`,
        `ChainState`, `ImportanceResult` or `ResamplingResult`.

    Raises:
        FileNotFoundError: no file at `path`.
        FileFormatError: not a GenMLX file, truncated or corrupted.
        FormatVersionError: written by a newer format version.
        ModelImportError: the model's import path does not import.
        ModelMismatchError: the saved choices do not fit the model.
    """
    path = os.fspath(path)
    header, arrays = _read_file(path)
    kind = header.get("kind")
    body = _field(header, "body")
    reader = _Reader(arrays, model)
    where = f"loading {path}"
    try:
        if kind == "choicemap":
            return reader.choicemap(body)
        if kind == "trace":
            return reader.trace(body, where)
        if kind == "chain_state":
            return reader.chain_state(body, where)
        if kind == "samples":
            return reader.samples(body, where)
        if kind == "chains":
            return Chains(reader.samples(c, f"{where}, chain {i}")
                          for i, c in enumerate(_field(body, "chains")))
        if kind == "importance":
            return ImportanceResult(reader.traces(_field(body, "traces"), where),
                                    reader.array(_field(body, "log_unnormalized_weights")))
        if kind == "resampling":
            return ResamplingResult(reader.traces(_field(body, "traces"), where),
                                    reader.array(_field(body, "log_ml_estimate")))
    except (TypeError, ValueError, IndexError, AttributeError) as exc:
        if isinstance(exc, GenMLXError):
            raise
        raise FileFormatError(f"{path}: the contents are corrupted ({type(exc).__name__}: "
                              f"{exc})") from exc
    raise FileFormatError(f"{path}: unknown kind {kind!r}")
