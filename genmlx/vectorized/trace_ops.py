"""Array surgery on batched traces: slice one particle, gather, select elementwise.

A batched trace ([N] particles from one body run) stores each choice value
either with a leading particle axis or, for a value shared by all particles
(such as a scalar constraint), without one; every score carries the particle
axis. Which one a value is is recorded explicitly, never read off its leading
size: a `ChoiceRecord` has `batched`, a distribution's batched trace has
`BatchedSite.value_batched`, and a retval leaf carries the particle axis iff
it has one more axis than the same leaf of the trace's `like` (the unbatched
trace of the same call, see `genmlx.dsl.handlers.batching`).

These functions rebuild traces with every per-particle array transformed, for
the generative functions whose traces they understand (the @gen DSL,
distributions, and the indexed combinators Map/Unfold/Scan); others may provide
`map_batched_trace(trace, op)`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from genmlx._backend import get_backend
from genmlx.combinators._chain import ChainInternal
from genmlx.combinators.map import MapInternal
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.trace import Trace
from genmlx.distributions.gfi import BatchedSite
from genmlx.dsl.gen import DynamicInternal
from genmlx.dsl.handlers.base import CallRecord, ChoiceRecord
from genmlx.errors import VectorizationError


def batch_size(trace: Trace) -> int | None:
    """N for a batched trace, None for an ordinary one."""
    internal = trace.internal
    if isinstance(internal, BatchedSite):
        return internal.batch
    return getattr(internal, "batch", None)


# -- the per-array operations ------------------------------------------------------------------

class _Map:
    """Apply `fn` to every per-particle array (slicing, gathering); shared ones are kept."""

    paired = False

    def __init__(self, fn: Any, new_batch: int | None):
        self.fn, self.new_batch = fn, new_batch

    def leaf(self, x: Any, batched: bool, y: Any = None, y_batched: bool = False) -> tuple:
        """(new array, whether it carries the particle axis)."""
        if batched:
            return self.fn(x), self.new_batch is not None
        return x, False


class _Where:
    """Particle i from the first trace where mask[i], else from the second."""

    paired = True

    def __init__(self, mask: Any, n: int):
        self.mask, self.new_batch = mask, n

    def leaf(self, x: Any, batched: bool, y: Any = None, y_batched: bool = False) -> tuple:
        if not batched and not y_batched and x is y:
            return x, False
        xp = get_backend().xp
        unbatched_rank = x.ndim - int(batched)
        mask = xp.reshape(self.mask, tuple(self.mask.shape) + (1,) * unbatched_rank)
        return xp.where(mask, x, y), True


def _ndim(x: Any) -> int | None:
    if isinstance(x, (bool, int, float, complex)):
        return 0
    return getattr(x, "ndim", None)


def _walk_retval(op: Any, x: Any, like: Any, y: Any = None) -> Any:
    """`x` with `op` applied to its array leaves; a leaf is per particle iff it has one
    more axis than the same leaf of `like` (the unbatched retval)."""
    if isinstance(x, (tuple, list)):
        if not isinstance(like, (tuple, list)) or len(like) != len(x):
            return _mismatch(x, like)
        ys = y if op.paired else [None] * len(x)
        out = [_walk_retval(op, a, b, c) for a, b, c in zip(x, like, ys)]
        return type(x)(*out) if hasattr(x, "_fields") else type(x)(out)
    if isinstance(x, dict):
        if not isinstance(like, dict) or set(like) != set(x):
            return _mismatch(x, like)
        return {k: _walk_retval(op, v, like[k], y[k] if op.paired else None)
                for k, v in x.items()}
    if getattr(x, "shape", None) is None:
        return x
    base = _ndim(like)
    if base is None:
        return _mismatch(x, like)
    batched = x.ndim == base + 1
    if op.paired:
        y_batched = _ndim(y) == base + 1
        return op.leaf(x, batched, y, y_batched)[0]
    return op.leaf(x, batched)[0]


def _mismatch(x: Any, like: Any) -> Any:
    raise VectorizationError(
        f"the retval of this batched trace ({type(x).__name__}) does not have the structure "
        f"of its unbatched run's retval ({type(like).__name__}), so which of its arrays carry "
        "the particle axis is unknown")


# -- traces ---------------------------------------------------------------------------------------

def map_batched_trace(trace: Trace, op: Any, other: Trace | None = None) -> Trace:
    """Rebuild `trace` with `op` applied to its per-particle arrays (paired with the same
    arrays of `other`, a batched trace of the same structure, for `_Where`)."""
    if batch_size(trace) is None:
        raise VectorizationError(f"{trace.gen_fn.name}: not a batched trace")
    internal = trace.internal
    if isinstance(internal, BatchedSite):
        return _map_site(trace, op, other)
    if isinstance(internal, DynamicInternal):
        return _map_dynamic(trace, op, other)
    if isinstance(internal, (ChainInternal, MapInternal)):
        return _map_indexed(trace, op, other)
    custom = getattr(trace.gen_fn, "map_batched_trace", None)
    if custom is None:
        raise VectorizationError(f"{trace.gen_fn.name}: its traces cannot be sliced or gathered by "
                                 "particle (no map_batched_trace)")
    return custom(trace, op, other)


def _score(op: Any, trace: Trace, other: Trace | None) -> Any:
    return op.leaf(trace.score, True, None if other is None else other.score, True)[0]


def _like_after(op: Any, like: Any) -> Any:
    """A particle is an ordinary trace (no like); gathered/selected traces keep theirs."""
    return like if op.new_batch is not None else None


def _map_site(trace: Trace, op: Any, other: Trace | None) -> Trace:
    site: BatchedSite = trace.internal
    twin = other.internal if other is not None else None
    value, batched = op.leaf(trace.retval, site.value_batched,
                             None if other is None else other.retval,
                             twin.value_batched if twin is not None else False)
    internal = None if op.new_batch is None else BatchedSite(op.new_batch, batched, site.like)
    return Trace(trace.gen_fn, trace.args, value, ChoiceMap.leaf(value),
                 _score(op, trace, other), internal)


def _map_dynamic(trace: Trace, op: Any, other: Trace | None) -> Trace:
    records, choices = {}, EMPTY
    other_records = other.internal.records if other is not None else {}
    for path, rec in trace.internal.records.items():
        twin = other_records.get(path)
        if op.paired and (twin is None or type(twin) is not type(rec)):
            raise VectorizationError(f"{trace.gen_fn.name}: address {path} differs between the "
                                     "two batched traces; elementwise selection needs the same "
                                     "addresses in both")
        if isinstance(rec, ChoiceRecord):
            value, batched = op.leaf(rec.value, rec.batched, getattr(twin, "value", None),
                                     getattr(twin, "batched", False))
            score = op.leaf(rec.score, True, getattr(twin, "score", None), True)[0]
            records[path] = ChoiceRecord(rec.dist, value, score, batched)
            choices = choices.set_submap(path, ChoiceMap.leaf(value), merge=True)
        else:
            sub = map_batched_trace(rec.subtrace, op, twin.subtrace if op.paired else None)
            records[path] = CallRecord(sub)
            if not sub.choices.is_empty():
                choices = choices.set_submap(path, sub.choices, merge=True)
    like = trace.internal.like
    retval = _walk_retval(op, trace.retval, like.retval, other.retval if op.paired else None)
    return Trace(trace.gen_fn, trace.args, retval, choices, _score(op, trace, other),
                 replace(trace.internal, records=records, batch=op.new_batch,
                         like=_like_after(op, like)))


def _map_indexed(trace: Trace, op: Any, other: Trace | None) -> Trace:
    """Combinators whose sub-call i sits at address i (Map, Unfold, Scan)."""
    subs, choices = [], EMPTY
    for i, sub in enumerate(trace.internal.subtraces):
        sub = map_batched_trace(sub, op, other.internal.subtraces[i] if op.paired else None)
        subs.append(sub)
        if not sub.choices.is_empty():
            choices = choices.set_submap(i, sub.choices)
    like = trace.internal.like
    retval = _walk_retval(op, trace.retval, like.retval, other.retval if op.paired else None)
    return Trace(trace.gen_fn, trace.args, retval, choices, _score(op, trace, other),
                 replace(trace.internal, subtraces=tuple(subs), batch=op.new_batch,
                         like=_like_after(op, like)))


# -- the three operations --------------------------------------------------------------------------

def particle(trace: Trace, i: int) -> Trace:
    """Particle `i` of a batched trace, as an ordinary trace."""
    n = batch_size(trace)
    if not 0 <= i < (n or 0):
        raise IndexError(f"particle {i} out of range for a batch of {n}")
    return map_batched_trace(trace, _Map(lambda a: a[i], None))


def gather(trace: Trace, indices: Any) -> Trace:
    """A batched trace whose particle j is particle indices[j] of `trace`."""
    xp = get_backend().xp
    m = int(indices.shape[0])
    return map_batched_trace(trace, _Map(lambda a: xp.take(a, indices, axis=0), m))


def where(mask: Any, a: Trace, b: Trace) -> Trace:
    """Elementwise choice between two batched traces of the same structure:
    particle i is a's where mask[i] is true, else b's."""
    n = batch_size(a)
    if batch_size(b) != n:
        raise VectorizationError(f"where: batch sizes differ ({n} and {batch_size(b)})")
    return map_batched_trace(a, _Where(mask, n), b)
