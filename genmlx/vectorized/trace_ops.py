"""Array surgery on batched traces: slice one particle, gather, select elementwise.

A batched trace ([N] particles from one body run) stores per-site values with a
leading [N] axis (values shared by all particles, such as scalar constraints,
have no such axis). These functions rebuild traces with every batched array
transformed, for the generative functions whose traces they understand (the
@gen DSL and distributions); others may provide `map_batched_trace`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from genmlx._backend import get_backend
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.combinators._chain import ChainInternal
from genmlx.combinators.map import MapInternal
from genmlx.core.trace import Trace
from genmlx.distributions.base import Distribution
from genmlx.dsl.gen import DynamicGenFunction, DynamicInternal
from genmlx.dsl.handlers.base import CallRecord, ChoiceRecord
from genmlx.errors import VectorizationError


def batch_size(trace: Trace) -> int | None:
    """N for a batched trace, None for an ordinary one."""
    internal = trace.internal
    if isinstance(internal, DynamicInternal):
        return internal.batch
    if isinstance(trace.gen_fn, Distribution):
        return internal
    return getattr(internal, "batch", None)


def _is_batched(x: Any, n: int) -> bool:
    shape = getattr(x, "shape", None)
    return shape is not None and len(shape) >= 1 and shape[0] == n


def map_tree(fn: Callable[[Any], Any], tree: Any, n: int) -> Any:
    """Apply `fn` to every array with a leading [n] axis in a tuple/list/dict tree."""
    if isinstance(tree, (tuple, list)):
        out = [map_tree(fn, t, n) for t in tree]
        return type(tree)(out) if not hasattr(tree, "_fields") else type(tree)(*out)
    if isinstance(tree, dict):
        return {k: map_tree(fn, v, n) for k, v in tree.items()}
    return fn(tree) if _is_batched(tree, n) else tree


def map_batched_trace(trace: Trace, fn: Callable[[Any], Any], new_batch: int | None,
                      other: Trace | None = None,
                      fn2: Callable[[Any, Any], Any] | None = None) -> Trace:
    """Rebuild `trace` with `fn` applied to each batched array (or `fn2(a, b)` pairing
    it with the same array of `other`, a trace of the same structure)."""
    n = batch_size(trace)
    if n is None:
        raise VectorizationError(f"{trace.gen_fn.name}: not a batched trace")

    def f(a: Any, b: Any = None) -> Any:
        if fn2 is not None:
            return fn2(a, b) if _is_batched(a, n) or _is_batched(b, n) else a
        return fn(a) if _is_batched(a, n) else a

    gen_fn = trace.gen_fn
    if isinstance(gen_fn, Distribution):
        value = f(trace.retval, None if other is None else other.retval)
        score = f(trace.score, None if other is None else other.score)
        return Trace(gen_fn, trace.args, value, ChoiceMap.leaf(value), score, new_batch)
    if isinstance(gen_fn, DynamicGenFunction):
        return _map_dynamic(trace, f, new_batch, other, fn2 is not None)
    if isinstance(trace.internal, (ChainInternal, MapInternal)):
        return _map_indexed(trace, f, new_batch, other, fn2 is not None)
    custom = getattr(gen_fn, "map_batched_trace", None)
    if custom is None:
        raise VectorizationError(f"{gen_fn.name}: its traces cannot be sliced or gathered by "
                                 "particle (no map_batched_trace)")
    return custom(trace, fn, new_batch, other, fn2)


def _map_dynamic(trace: Trace, f: Callable, new_batch: int | None, other: Trace | None,
                 paired: bool) -> Trace:
    records, choices = {}, EMPTY
    other_records = other.internal.records if other is not None else {}
    for path, rec in trace.internal.records.items():
        twin = other_records.get(path)
        if paired and (twin is None or type(twin) is not type(rec)):
            raise VectorizationError(f"{trace.gen_fn.name}: address {path} differs between the "
                                     "two batched traces; elementwise selection needs the same "
                                     "addresses in both")
        if isinstance(rec, ChoiceRecord):
            value = f(rec.value, twin.value if paired else None)
            score = f(rec.score, twin.score if paired else None)
            records[path] = ChoiceRecord(rec.dist, value, score)
            choices = choices.set_submap(path, ChoiceMap.leaf(value), merge=True)
        else:
            sub = rec.subtrace
            if paired:
                sub = map_batched_trace(sub, None, new_batch, twin.subtrace, f)
            else:
                sub = map_batched_trace(sub, f, new_batch)
            records[path] = CallRecord(sub)
            if not sub.choices.is_empty():
                choices = choices.set_submap(path, sub.choices, merge=True)
    retval = trace.retval
    if not paired:
        retval = map_tree(f, retval, batch_size(trace))
    score = f(trace.score, other.score if paired else None)
    return Trace(trace.gen_fn, trace.args, retval, choices, score,
                 replace(trace.internal, records=records, batch=new_batch))


def _map_indexed(trace: Trace, f: Callable, new_batch: int | None, other: Trace | None,
                 paired: bool) -> Trace:
    """Combinators whose sub-call i sits at address i (Map, Unfold, Scan)."""
    subs, choices = [], EMPTY
    for i, sub in enumerate(trace.internal.subtraces):
        if paired:
            sub = map_batched_trace(sub, None, new_batch, other.internal.subtraces[i], f)
        else:
            sub = map_batched_trace(sub, f, new_batch)
        subs.append(sub)
        if not sub.choices.is_empty():
            choices = choices.set_submap(i, sub.choices)
    retval = trace.retval if paired else map_tree(f, trace.retval, batch_size(trace))
    score = f(trace.score, other.score if paired else None)
    return Trace(trace.gen_fn, trace.args, retval, choices, score,
                 replace(trace.internal, subtraces=tuple(subs), batch=new_batch))


def particle(trace: Trace, i: int) -> Trace:
    """Particle `i` of a batched trace, as an ordinary trace."""
    n = batch_size(trace)
    if not 0 <= i < (n or 0):
        raise IndexError(f"particle {i} out of range for a batch of {n}")
    return map_batched_trace(trace, lambda a: a[i], None)


def gather(trace: Trace, indices: Any) -> Trace:
    """A batched trace whose particle j is particle indices[j] of `trace`."""
    xp = get_backend().xp
    m = int(indices.shape[0])
    return map_batched_trace(trace, lambda a: xp.take(a, indices, axis=0), m)


def where(mask: Any, a: Trace, b: Trace) -> Trace:
    """Elementwise choice between two batched traces of the same structure:
    particle i is a's where mask[i] is true, else b's."""
    xp = get_backend().xp

    def pick(x: Any, y: Any) -> Any:
        m = mask
        extra = max(getattr(x, "ndim", 0), getattr(y, "ndim", 0)) - 1
        if extra > 0:
            m = xp.reshape(mask, mask.shape + (1,) * extra)
        return xp.where(m, x, y)

    return map_batched_trace(a, None, batch_size(a), b, pick)
