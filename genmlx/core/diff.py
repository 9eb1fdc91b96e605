"""Argdiffs and retdiffs: what changed between two executions, used to skip work.

`NO_CHANGE` and `UNKNOWN_CHANGE` cover any value. `SequenceDiff` says which
indices of a sequence changed (and its new length); `DictDiff` which keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, FrozenSet, Hashable, Sequence

__all__ = ["Diff", "NoChange", "UnknownChange", "SequenceDiff", "DictDiff", "NO_CHANGE",
           "UNKNOWN_CHANGE", "is_no_change", "changed_indices"]


class Diff:
    """Base class of change descriptions."""


@dataclass(frozen=True)
class NoChange(Diff):
    """The value is the same as before."""


@dataclass(frozen=True)
class UnknownChange(Diff):
    """The value may have changed in any way."""


@dataclass(frozen=True)
class SequenceDiff(Diff):
    """A sequence whose elements at `changed` may differ; `new_length` may differ too."""

    new_length: int
    prev_length: int
    changed: FrozenSet[int] = field(default_factory=frozenset)


@dataclass(frozen=True)
class DictDiff(Diff):
    """A mapping: keys added, removed, and keys whose values may have changed."""

    added: FrozenSet[Hashable] = frozenset()
    removed: FrozenSet[Hashable] = frozenset()
    changed: FrozenSet[Hashable] = frozenset()


NO_CHANGE = NoChange()
UNKNOWN_CHANGE = UnknownChange()


def is_no_change(diff: Any) -> bool:
    """True when `diff` promises the value is unchanged."""
    if isinstance(diff, NoChange):
        return True
    if isinstance(diff, SequenceDiff):
        return diff.new_length == diff.prev_length and not diff.changed
    if isinstance(diff, DictDiff):
        return not (diff.added or diff.removed or diff.changed)
    return False


def changed_indices(diff: Any, length: int) -> set[int] | None:
    """Indices of a sequence argument that may have changed (None: all may have)."""
    if isinstance(diff, NoChange):
        return set()
    if isinstance(diff, SequenceDiff):
        grown = set(range(min(diff.prev_length, diff.new_length), diff.new_length))
        return set(diff.changed) | grown
    return None


def default_argdiffs(args: Sequence[Any]) -> tuple:
    """UnknownChange for every argument."""
    return tuple(UNKNOWN_CHANGE for _ in args)
