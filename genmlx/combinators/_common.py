"""What the combinators share: keys per sub-call, zero weights, trace lookup,
address checks, and the per-sub-call edit operations behind update/regenerate.

A combinator that calls its kernel at addresses `0, 1, ...` (Map, Unfold, Scan)
walks its sub-calls once per GFI method. `UpdateOp` and `RegenerateOp` say, for
one sub-call, whether the edit touches it and how to edit, create or remove
it, with Gen's weights (mirroring the @gen handlers):

- update: kept and constrained sub-calls add their update weight, fresh ones
  their generate weight, removed ones subtract their old score; the discard
  holds every replaced or removed choice.
- regenerate: kept sub-calls add their regenerate weight; fresh and removed
  sub-calls add nothing.

Batched (L0) runs pass each sub-call its part of the unbatched skeleton as
`like` (e.g. `like.internal.subtraces[i]` for sub-call i; see
`genmlx.dsl.handlers.batching`), so no sub-call guesses which of its values
carry the particle axis.
"""

from __future__ import annotations

from typing import Any, Iterable

from genmlx._backend import Array, get_backend
from genmlx._keys import resolve_key
from genmlx.core.address import Path, show
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.diff import (
    NO_CHANGE, UNKNOWN_CHANGE, SequenceDiff, changed_indices, is_no_change,
)
from genmlx.core.selection import Selection
from genmlx.core.trace import Trace
from genmlx.errors import AddressError, ArgumentError


def as_choicemap(x: Any) -> ChoiceMap:
    """`x` as a ChoiceMap (None -> empty, dicts converted)."""
    if x is None:
        return EMPTY
    if isinstance(x, ChoiceMap):
        return x
    if isinstance(x, dict):
        return ChoiceMap.from_mapping(x)
    raise TypeError(f"expected a ChoiceMap (or dict), got {type(x).__name__}")


def check_args(name: str, args: Any, min_count: int = 0) -> tuple:
    """`args` when it is a tuple of at least `min_count` items, else ArgumentError."""
    if not isinstance(args, tuple):
        raise ArgumentError(f"{name}: args must be a tuple, got {type(args).__name__} "
                            f"(write ({args!r},) for one argument)")
    if len(args) < min_count:
        raise ArgumentError(f"{name}: expected at least {min_count} argument(s), got {len(args)}")
    return args


def zero(batch: int | None = None) -> Array:
    """A zero weight: 0-d, or [batch] for batched traces."""
    backend = get_backend()
    return backend.xp.zeros((batch,) if batch else (), dtype=backend.float_dtype)


def batch_sum(x: Array) -> Array:
    """Sum of a [N] vector of per-particle weights (0-d stays 0-d)."""
    xp = get_backend().xp
    return x if x.ndim == 0 else xp.sum(x)


def diff_of(new: Any, old: Any) -> Any:
    """NO_CHANGE when `new` is the same object as `old`, else UNKNOWN_CHANGE."""
    return NO_CHANGE if new is old else UNKNOWN_CHANGE


def arg_unchanged(new: Any, old: Any, argdiff: Any) -> bool:
    """True when an argument provably did not change (its diff or its identity says so)."""
    return new is old or (argdiff is not None and is_no_change(argdiff))


def sequence_length(xs: Any, who: str) -> int:
    """len(xs) for lists/tuples, the leading axis for arrays; ArgumentError otherwise."""
    if isinstance(xs, (list, tuple)):
        return len(xs)
    shape = getattr(xs, "shape", None)
    if shape is None or len(shape) == 0:
        raise ArgumentError(f"{who}: expected a sequence (list, tuple or array with a leading "
                            f"axis), got {type(xs).__name__} {xs!r}")
    return int(shape[0])


def changed_elements(old: Any, new: Any, diff: Any, length: int) -> set | None:
    """Indices < length where sequence `new` may differ from `old` (None: any may)."""
    if arg_unchanged(new, old, diff):
        return set()
    if isinstance(diff, SequenceDiff):
        return {i for i in changed_indices(diff, length) if i < length}
    if isinstance(old, (list, tuple)) and isinstance(new, (list, tuple)):
        return {i for i in range(min(length, len(old), len(new))) if new[i] is not old[i]}
    return None


def indexed_choices(subs: Any) -> ChoiceMap:
    """The choicemap with `subs[i].choices` under address i (empty ones left out),
    built in one pass rather than by T copying inserts."""
    return ChoiceMap({i: s.choices for i, s in enumerate(subs) if not s.choices.is_empty()})


def replace_indexed(choices: ChoiceMap, subs: Any, indices: Iterable[int],
                    removed: Iterable[int]) -> ChoiceMap:
    """`choices` with the submaps at `indices` replaced by `subs[i].choices` and the
    submaps at `removed` dropped (the choicemap of an edited indexed trace)."""
    for i in removed:
        choices = choices.without(i)
    for i in sorted(indices):
        sub = subs[i].choices
        choices = choices.without(i) if sub.is_empty() else choices.set_submap(i, sub)
    return choices


def guarded(who: str, what: str, index: int, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """`fn(*args, **kwargs)`, with an AddressError from inside the sub-call at `index`
    re-raised naming the combinator and the index the failing address sits under."""
    try:
        return fn(*args, **kwargs)
    except AddressError as exc:
        raise AddressError(f"{who}: in {what} {index} (addresses {index}/...): {exc}") from exc


class KeySource:
    """Independent keys per sub-call, derived lazily from one key.

    The global key stream is consumed only when some sub-call needs randomness.
    """

    def __init__(self, key: Any):
        self._key = key

    def at(self, index: int) -> Any:
        if self._key is None:
            self._key = resolve_key(None)
        return get_backend().fold_in(self._key, index)


def lookup(sub: Trace, path: Path) -> tuple[bool, Any]:
    """(found, value) for `path` inside a subtrace: a choice, or a traced call's retval."""
    if not path:
        return True, sub.retval
    fn = getattr(sub.gen_fn, "trace_lookup", None)
    if fn is not None:
        found, value = fn(sub, path)
        if found:
            return True, value
    if sub.choices.has_value(path):
        return True, sub.choices.get_value(path)
    return False, None


def indexed_lookup(subtraces: Any, path: Path) -> tuple[bool, Any]:
    """Lookup for combinators whose sub-call i sits at address i: `(i, ...)`."""
    if not path:
        return False, None
    head = path[0]
    if isinstance(head, bool) or not isinstance(head, int) or not 0 <= head < len(subtraces):
        return False, None
    return lookup(subtraces[head], path[1:])


def index_keys(choices: ChoiceMap, length: int, who: str, what: str = "step") -> set[int]:
    """The first-level indices addressed by `choices`, checked to lie in 0..length-1.

    Raises:
        AddressError: a value sits at the root, or a first-level address is not
            an int in range (the message names `who` and the address).
    """
    if choices.is_empty():
        return set()
    if choices.has_value():
        raise AddressError(f"{who}: got a value at the root address; this combinator's "
                           f"choices live under {what} indices (0, ...), (1, ...)")
    out = set()
    for head in choices.children():
        if isinstance(head, bool) or not isinstance(head, int) or not 0 <= head < length:
            sub = choices.get_submap(head)
            addr = show((head,) + (sub.addresses()[0] if not sub.is_empty() else ()))
            raise AddressError(
                f"{who}: choice at address {addr}, but there is no {what} {head!r}; "
                f"valid {what} addresses are the ints 0..{length - 1} ({length} {what}s)")
        out.add(head)
    return out


def check_no_choices(choices: ChoiceMap, who: str, reason: str) -> None:
    """AddressError when `choices` holds anything (e.g. constraints on a skipped call)."""
    if not choices.is_empty():
        raise AddressError(f"{who}: choice at address {show(choices.addresses()[0])}, "
                           f"but {reason}")


def sum_scores(traces: Iterable[Trace], batch: int | None) -> Array:
    """Sum of subtrace scores, starting from a zero of the right shape."""
    total = zero(batch)
    for tr in traces:
        total = total + tr.score
    return total


# -- per-sub-call edit operations ---------------------------------------------------------

class UpdateOp:
    """Update semantics for one sub-call under address `index` (see module docstring)."""

    kind = "update"

    def __init__(self, constraints: ChoiceMap, batch: int | None):
        self.constraints = constraints
        self.batch = batch

    def sub(self, index: Any) -> ChoiceMap:
        return self.constraints.get_submap(index)

    def touched(self, index: Any) -> bool:
        return not self.constraints.get_submap(index).is_empty()

    def touched_indices(self, length: int, who: str) -> set[int]:
        return index_keys(self.constraints, length, who)

    def edit(self, gen_fn: Any, old: Trace, index: Any, args: tuple, argdiffs: tuple | None,
             key: Any, like: Any = None) -> tuple[Trace, Array, Any, ChoiceMap]:
        """(new subtrace, update weight, retdiff, discard)."""
        if self.batch:
            return tuple(gen_fn.vupdate(old, self.sub(index), args, key=key, like=like))
        return tuple(gen_fn.update(old, self.sub(index), args, argdiffs, key=key))

    def fresh(self, gen_fn: Any, index: Any, args: tuple, key: Any,
              like: Any = None) -> tuple[Trace, Array]:
        """(new subtrace, generate weight) for a sub-call the old trace lacks."""
        if self.batch:
            return tuple(gen_fn.vgenerate(args, self.sub(index), self.batch, key=key,
                                          like=like))
        return tuple(gen_fn.generate(args, self.sub(index), key=key))

    def remove(self, old: Trace) -> tuple[Array, ChoiceMap]:
        """(weight, discard) of a sub-call the new trace drops: -old score, its choices."""
        return -old.score, old.choices


class RegenerateOp:
    """Regenerate semantics for one sub-call (see module docstring)."""

    kind = "regenerate"

    def __init__(self, selection: Selection, batch: int | None):
        self.selection = selection
        self.batch = batch

    def sub(self, index: Any) -> Selection:
        return self.selection.sub(index)

    def touched(self, index: Any) -> bool:
        return not self.selection.sub(index).is_none()

    def touched_indices(self, length: int, who: str) -> set[int]:
        return {i for i in range(length) if self.touched(i)}

    def edit(self, gen_fn: Any, old: Trace, index: Any, args: tuple, argdiffs: tuple | None,
             key: Any, like: Any = None) -> tuple[Trace, Array, Any, ChoiceMap]:
        if self.batch:
            new, weight, retdiff = gen_fn.vregenerate(old, self.sub(index), args, key=key,
                                                      like=like)
        else:
            new, weight, retdiff = gen_fn.regenerate(old, self.sub(index), args, argdiffs,
                                                     key=key)
        return new, weight, retdiff, EMPTY

    def fresh(self, gen_fn: Any, index: Any, args: tuple, key: Any,
              like: Any = None) -> tuple[Trace, Array]:
        return run_simulate(gen_fn, args, self.batch, key, like), zero(self.batch)

    def remove(self, old: Trace) -> tuple[Array, ChoiceMap]:
        return zero(self.batch), EMPTY


def run_fresh(gen_fn: Any, args: tuple, constraints: ChoiceMap, batch: int | None,
              key: Any, like: Any = None) -> tuple[Trace, Array]:
    """generate (or vgenerate when batched, with the sub-call's skeleton `like`):
    (subtrace, weight)."""
    if batch:
        return tuple(gen_fn.vgenerate(args, constraints, batch, key=key, like=like))
    return tuple(gen_fn.generate(args, constraints, key=key))


def run_simulate(gen_fn: Any, args: tuple, batch: int | None, key: Any,
                 like: Any = None) -> Trace:
    """simulate (or vsimulate when batched, with the sub-call's skeleton `like`)."""
    if batch:
        return gen_fn.vsimulate(args, batch, key=key, like=like)
    return gen_fn.simulate(args, key=key)


def sub_like(like: Any, index: int) -> Any:
    """Sub-call `index` of an indexed combinator's unbatched skeleton (None without one)."""
    return None if like is None else like.internal.subtraces[index]


def element(seq: Any, like_seq: Any, index: int) -> Any:
    """Element `index` of an argument sequence in a batched run.

    A per-particle array (one more axis than the same argument in the unbatched
    skeleton `like_seq`) has the particle axis first, so its elements sit on axis 1;
    lists, tuples and shared arrays are indexed on their first axis.
    """
    like_ndim = getattr(like_seq, "ndim", None)
    if like_ndim is not None and getattr(seq, "ndim", None) == like_ndim + 1:
        return seq[:, index]
    return seq[index]


def add_discard(discard: ChoiceMap, index: Any, sub: ChoiceMap) -> ChoiceMap:
    """`discard` with `sub` placed under `index` (nothing added for an empty `sub`)."""
    return discard if sub.is_empty() else discard.set_submap(index, sub)
