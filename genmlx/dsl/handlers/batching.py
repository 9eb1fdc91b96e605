"""Explicit batchedness for L0 batched execution: the skeleton from an unbatched probe.

A batched run (`vsimulate`, `vgenerate`, `vupdate`, `vregenerate`) executes a
generative function once for N particles. Whether a value carries the particle
axis is never guessed from its leading size (a site of size N would be
mistaken for a batched one). Instead every batched run is paired with a
*like* trace: an ordinary, unbatched trace of the same call on the unbatched
counterpart of its arguments. Per address it gives the unbatched batch shape
of the distribution, the unbatched value shape and, for a traced call, the
callee's own unbatched trace, which is passed down to the callee's batched
method as its `like`. The site rules that use it are in
`genmlx.distributions.gfi` (per-particle iff the shape is (N,) + the unbatched
one; shared iff it is the unbatched one).

Where the like comes from:

- given by the caller (`like=` keyword): a parent's probe holds its callees'
  unbatched traces, and a combinator hands each kernel call its part
  (`like.internal.subtraces[i]`, ...). A like of another generative function
  (e.g. the unbatched `Switch` behind a batched `VSwitch`) is probed again on
  its own arguments, which are unbatched.
- otherwise the arguments are the unbatched ones (the public batched entry
  points take arguments shared by all particles) and the generative function
  probes itself: one `simulate` on a fixed key, cached on the generative
  function by a signature of the arguments (types, shapes, dtypes, and the
  values of Python ints, bools and strings). The cache is small and bounded.

Batched traces keep their like (`DynamicInternal.like`, `MapInternal.like`,
...), so batched update/regenerate with unchanged arguments and the trace
surgery in `genmlx.vectorized.trace_ops` know exactly which arrays carry the
particle axis.

When the batched run reaches an address the probe lacks (or a site whose
shape disagrees with it) the structure depends on values that the probe did
not share: typically a constraint shared by all particles (`coin=1`) that
Python control flow reads, or a float argument that sizes an array. A run
that probed for itself then probes once more, uncached, with `generate` on
the constraints (and previous choices) that are certainly shared (Python
numbers and 0-d arrays; a per-particle value has at least one axis), and
runs again with the same key. Otherwise the error (a `VectorizationError`
naming the address and why) propagates to a caller that can.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

from genmlx._backend import get_backend, tracing_what
from genmlx.core.address import Path, show
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.distributions.gfi import SiteShapeError
from genmlx.errors import AddressError, VectorizationError

__all__ = ["SkeletonMiss", "args_signature", "probe", "resolve_like", "run_with_skeleton",
           "shared_leaves", "edit_skeleton", "generate_hints", "update_hints",
           "no_hints"]

_CACHE_SIZE = 8
_CACHE_ATTR = "_genmlx_probe_cache"


class SkeletonMiss(SiteShapeError):
    """A batched run visited an address its unbatched probe did not visit."""


def miss(who: str, path: Path, found: str) -> SkeletonMiss:
    """The error for an address the probe lacks (`found`: what the probe had there)."""
    return SkeletonMiss(
        f"{who}: address {show(path)} is {found} in the unbatched run of the same call "
        "(its probe), so which arrays carry the particle axis is unknown there; the "
        "model's structure depends on values that differ between the probe and the "
        "batched run (every particle of a batched run must visit the same addresses, "
        "and what they visit may depend only on the arguments and on values shared by "
        "all particles).")


# -- the probe and its cache -------------------------------------------------------------

_UNCACHEABLE = object()


def args_signature(args: Any) -> Any:
    """A hashable summary of `args` that fixes the probe's structure, or `_UNCACHEABLE`.

    Arrays count by type, shape and dtype, Python ints/bools/strs by value, floats by
    type; other objects by identity (the cached trace keeps them alive). Tracers
    (inside jit) are not cached.
    """
    backend = get_backend()
    out = []

    def walk(x: Any) -> bool:
        if x is None or isinstance(x, (bool, int, str)):
            out.append((type(x), x))
        elif isinstance(x, float):
            out.append(float)
        elif isinstance(x, (tuple, list)):
            out.append((type(x), len(x)))
            return all(walk(e) for e in x)
        elif isinstance(x, dict):
            out.append((dict, tuple(x)))
            return all(walk(v) for v in x.values())
        elif hasattr(x, "shape") and hasattr(x, "dtype"):
            if backend.is_tracer(x):
                return False
            out.append((type(x), tuple(x.shape), str(x.dtype)))
        else:
            out.append(("id", id(x)))
        return True

    if not walk(args):
        return _UNCACHEABLE
    return (backend.name, backend.float_dtype_name, tuple(out))


def _probe_key() -> Any:
    """A fixed key: probing never consumes the global key stream."""
    return get_backend().key(0)


def _run_probe(gen_fn: Any, args: tuple, hints: ChoiceMap) -> Any:
    if hints.is_empty():
        return gen_fn.simulate(args, key=_probe_key())
    return gen_fn.generate(args, hints, key=_probe_key()).trace


def probe(gen_fn: Any, args: tuple) -> Any:
    """An unbatched trace of `gen_fn` on `args` (cached by `args_signature`)."""
    sig = args_signature(args)
    cache = gen_fn.__dict__.get(_CACHE_ATTR) if hasattr(gen_fn, "__dict__") else None
    if sig is not _UNCACHEABLE and cache is not None and sig in cache:
        cache.move_to_end(sig)
        return cache[sig]
    like = _run_probe(gen_fn, args, EMPTY)
    # a probe made while tracing holds abstract values (MLX cannot tell them apart):
    # never keep it past the trace
    if sig is not _UNCACHEABLE and hasattr(gen_fn, "__dict__") and \
            tracing_what() is None and not get_backend().is_tracer(like.score):
        cache = gen_fn.__dict__.setdefault(_CACHE_ATTR, OrderedDict())
        cache[sig] = like
        while len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)
    return like


def reprobe(gen_fn: Any, args: tuple, hint_candidates: list) -> Any:
    """An uncached probe with the first candidate set of shared values that the
    model accepts as constraints (a plain simulate when none does)."""
    for hints in hint_candidates:
        try:
            return _run_probe(gen_fn, args, hints)
        except AddressError:
            continue
    return _run_probe(gen_fn, args, EMPTY)


def resolve_like(gen_fn: Any, args: tuple, like: Any) -> Any:
    """The like trace for a batched run of `gen_fn`: `like` when it is a trace of
    `gen_fn`, a probe on its (unbatched) arguments when it is another function's,
    a probe on `args` (unbatched) when there is none."""
    if like is None:
        return probe(gen_fn, args)
    if like.gen_fn is gen_fn:
        return like
    return probe(gen_fn, like.args)


def run_with_skeleton(gen_fn: Any, run: Callable[[Any], Any], like: Any,
                      probe_args: tuple | None, hints: Callable[[], list],
                      first: Any = None) -> Any:
    """`run(like)` for a batched run of `gen_fn`.

    With `like` None, `probe_args` are the unbatched arguments: the like is `first`
    (a batched trace's own like, for an edit with unchanged arguments) or the
    (cached) probe on them, and a skeleton mismatch (SiteShapeError, including
    SkeletonMiss) probes again with `hints()` (candidate sets of shared values)
    and runs once more. With a given like, a mismatch propagates to the caller.
    """
    if like is not None:
        return run(resolve_like(gen_fn, probe_args, like))
    if first is None:
        first = probe(gen_fn, probe_args)
    try:
        return run(first)
    except SiteShapeError:
        second = reprobe(gen_fn, probe_args, hints())
    return run(second)


# -- shared values ----------------------------------------------------------------------------

def _certainly_shared(value: Any) -> bool:
    """Python numbers and 0-d arrays cannot carry a particle axis."""
    if isinstance(value, (bool, int, float)):
        return True
    return getattr(value, "ndim", None) == 0


def shared_leaves(choices: ChoiceMap) -> ChoiceMap:
    """The leaves of `choices` that are certainly shared by all particles."""
    out = EMPTY
    for path, value in choices.leaves():
        if _certainly_shared(value):
            out = out.set(path, value)
    return out


def update_hints(constraints: ChoiceMap, previous: ChoiceMap) -> Callable[[], list]:
    """Candidates for an update's re-probe: the shared previous choices overridden by
    the shared constraints, then the shared constraints alone."""
    def hints() -> list:
        new = shared_leaves(constraints)
        both = shared_leaves(previous)
        for path, value in new.leaves():
            both = both.set(path, value)
        return [both, new]
    return hints


def generate_hints(constraints: ChoiceMap) -> Callable[[], list]:
    """Candidates for a generate's re-probe: its shared constraints."""
    return lambda: [shared_leaves(constraints)]


def no_hints() -> list:
    return []


def edit_skeleton(trace: Any, args: tuple | None, like: Any,
                  who: str) -> tuple[Any, tuple | None, Any]:
    """(like, unbatched args to probe with, first like to try) for `run_with_skeleton`
    in an edit (update/regenerate) of the batched `trace`: the given like; else,
    for unchanged args, the trace's own like (re-probed on its arguments only on a
    mismatch); else a probe on the new args, which are then the unbatched ones."""
    if like is not None:
        return like, None, None
    if args is None:
        own = getattr(trace.internal, "like", None)
        if own is None:
            raise VectorizationError(f"{who}: this batched trace has no unbatched skeleton "
                                     "(it was not made by a batched entry point)")
        return None, own.args, own
    return None, args, None
