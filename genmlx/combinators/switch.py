"""Switch: choose one of several generative functions by an index argument.

`Switch(*branches)` takes args `(index, *args)` and runs `branches[index](*args)`;
the chosen branch's choices are inlined at the top level (as in Gen's Switch), so
the trace's choices, score and retval are the branch's.

It is the generative function of this hand-written model, with one difference
(Gen's): when an update or regenerate changes the index, the new branch runs
from scratch even where branches share addresses.

    @gen
    def switch(index, *args):
        return splice(branches[index], *args)

Weights when the index changes: update adds the new branch's generate weight
(its constrained choices' log density) and subtracts the old branch's score,
and discards all old choices; regenerate adds nothing (fresh and removed choices
cancel against the prior proposal).

Batched (`vsimulate`, `vgenerate`, ... with an [N] index, e.g. inside a
vectorized model) every branch runs and results are selected per particle:
see `VSwitch`.

Example:
    >>> @gen
    ... def low():
    ...     return trace("x", dist.gaussian(-1.0, 1.0))
    >>> @gen
    ... def high():
    ...     return trace("y", dist.gaussian(1.0, 1.0))
    >>> tr = Switch(low, high).simulate((1,), key=gm.key(0))
    >>> "y" in tr.choices
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genmlx.combinators._common import as_choicemap, check_args, lookup, zero
from genmlx.combinators.vswitch import BatchedByVSwitch, VSwitch
from genmlx.core.address import Path
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.diff import UNKNOWN_CHANGE
from genmlx.core.selection import Selection
from genmlx.core.trace import Trace
from genmlx.errors import ArgumentError
from genmlx.gfi.interface import (
    AssessResult, GenerateResult, GenerativeFunction, RegenerateResult, UpdateResult,
)

__all__ = ["Switch", "as_index"]


def as_index(index: Any, count: int, who: str) -> int:
    """A branch index as a Python int in 0..count-1; ArgumentError otherwise."""
    if not isinstance(index, int):
        dtype = str(getattr(index, "dtype", ""))
        if getattr(index, "shape", None) != () or not ("int" in dtype or "bool" in dtype):
            raise ArgumentError(f"{who}: the branch index must be an int (or a 0-d integer "
                                f"array), got {index!r}; for an [N] index of particles use "
                                "VSwitch or the batched entry points (vsimulate, ...)")
        index = int(index)
    if not 0 <= index < count:
        raise ArgumentError(f"{who}: branch index {index} is out of range; there are {count} "
                            f"branches (valid indices 0..{count - 1})")
    return index


@dataclass(frozen=True)
class SwitchInternal:
    """The chosen branch index and its subtrace."""

    index: int
    subtrace: Trace


class Switch(BatchedByVSwitch, GenerativeFunction):
    """Run the branch named by the first argument (module docstring)."""

    def __init__(self, *branches: GenerativeFunction):
        if not branches:
            raise ArgumentError("Switch: give at least one branch")
        for k, branch in enumerate(branches):
            if not isinstance(branch, GenerativeFunction):
                raise TypeError(f"Switch: branch {k} must be a generative function, "
                                f"got {type(branch).__name__}")
        self.branches = tuple(branches)
        self.name = "Switch(" + ", ".join(getattr(b, "name", "?") for b in branches) + ")"
        self._vswitch = VSwitch(*branches)

    def _batched_switch(self) -> VSwitch:
        return self._vswitch

    def _split(self, args: tuple, who: str) -> tuple[int, tuple]:
        check_args(who, args, 1)
        return as_index(args[0], len(self.branches), who), tuple(args[1:])

    def _trace(self, args: tuple, index: int, sub: Trace) -> Trace:
        return Trace(self, args, sub.retval, sub.choices, sub.score, SwitchInternal(index, sub))

    def simulate(self, args: tuple, key: Any = None) -> Trace:
        """Run the chosen branch; score = its score."""
        index, rest = self._split(args, f"{self.name}.simulate")
        return self._trace(args, index, self.branches[index].simulate(rest, key=key))

    def generate(self, args: tuple, constraints: ChoiceMap = EMPTY,
                 key: Any = None) -> GenerateResult:
        """Math: weight = the chosen branch's generate weight."""
        index, rest = self._split(args, f"{self.name}.generate")
        sub, weight = self.branches[index].generate(rest, as_choicemap(constraints), key=key)
        return GenerateResult(self._trace(args, index, sub), weight)

    def update(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
               argdiffs: tuple | None = None, key: Any = None) -> UpdateResult:
        """Math: same index: the branch's update weight; new index: generate weight of the
        new branch minus the old branch's score (discard = every old choice)."""
        constraints = as_choicemap(constraints)
        if self.is_batched_trace(trace):
            return self.vupdate(trace, constraints, args, key)
        old: SwitchInternal = trace.internal
        if args is None:
            args, index, rest, branch_diffs = trace.args, old.index, None, None
        else:
            index, rest = self._split(args, f"{self.name}.update")
            branch_diffs = None if argdiffs is None else tuple(argdiffs[1:])
        if index == old.index:
            sub, weight, retdiff, discard = self.branches[index].update(
                old.subtrace, constraints, rest, branch_diffs, key=key)
        else:
            sub, weight = self.branches[index].generate(rest, constraints, key=key)
            weight, retdiff, discard = weight - old.subtrace.score, UNKNOWN_CHANGE, \
                old.subtrace.choices
        return UpdateResult(self._trace(args, index, sub), weight, retdiff, discard)

    def regenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                   argdiffs: tuple | None = None, key: Any = None) -> RegenerateResult:
        """Math: same index: the branch's regenerate weight; new index: 0 (the new branch
        is simulated from its prior, the old one dropped)."""
        if self.is_batched_trace(trace):
            return self.vregenerate(trace, selection, args, key)
        old: SwitchInternal = trace.internal
        if args is None:
            args, index, rest, branch_diffs = trace.args, old.index, None, None
        else:
            index, rest = self._split(args, f"{self.name}.regenerate")
            branch_diffs = None if argdiffs is None else tuple(argdiffs[1:])
        if index == old.index:
            sub, weight, retdiff = self.branches[index].regenerate(
                old.subtrace, selection, rest, branch_diffs, key=key)
        else:
            sub = self.branches[index].simulate(rest, key=key)
            weight, retdiff = zero(), UNKNOWN_CHANGE
        return RegenerateResult(self._trace(args, index, sub), weight, retdiff)

    def assess(self, args: tuple, choices: ChoiceMap) -> AssessResult:
        """Math: weight = log p(choices) under the chosen branch."""
        index, rest = self._split(args, f"{self.name}.assess")
        return AssessResult(*self.branches[index].assess(rest, as_choicemap(choices)))

    def project(self, trace: Trace, selection: Selection) -> Any:
        """Math: the chosen branch's project."""
        sub = trace.internal if self.is_batched_trace(trace) else trace.internal.subtrace
        return sub.gen_fn.project(sub, selection)

    def trace_lookup(self, trace: Trace, path: Path) -> tuple[bool, Any]:
        """Addresses are the chosen branch's."""
        sub = trace.internal if self.is_batched_trace(trace) else trace.internal.subtrace
        return lookup(sub, path) if path else (False, None)

    def __repr__(self) -> str:
        return f"<{self.name}>"

