"""Mask: run a generative function only when a flag is true.

`Mask(gen_fn)` takes args `(flag, *args)`. When `flag` is true it runs
`gen_fn(*args)` with its choices inlined at the top level; when false the callee
is not run at all: no choices, score 0, retval None. It is the generative
function of this hand-written model:

    @gen
    def masked(flag, *args):
        if flag:
            return splice(gen_fn, *args)
        return None

Weights when the flag flips (Gen's Mask; the rules of `Switch(nothing, gen_fn)`
with the flag as the index): on -> off, update subtracts the old score and
discards every old choice, regenerate adds nothing; off -> on, update adds the
callee's generate weight on the constraints (0 without any: the choices are
fresh), regenerate adds nothing (fresh choices come from the prior).

A concrete Python bool (or int) flag runs the callee or not. An array flag (a
0-d bool or integer array: a sampled choice, or a tracer inside `gm.compile`)
is never read on the host: the callee always runs and the flag selects with
`where`, as `Switch` does for an array index (see there for how the choices
are exposed). Its score and weights count the callee only where the flag is
true; the retval is the callee's whatever the flag (a traced value cannot be
None or not), and constraints are accepted whatever the flag (ignored when it
is false).

Batched (`vsimulate`, `vgenerate`, ... with an [N] flag, e.g. inside a
vectorized model) the callee runs for every particle and a particle's score
and weights count it only where its flag is true (a `VSwitch` over "nothing"
and the callee); the retval of a particle whose flag is false is the callee's
value, not None, and the callee's choices are present for every particle.

Example:
    >>> tr = Mask(dist.gaussian(0.0, 1.0)).simulate((False,), key=gm.key(0))
    >>> tr.retval is None, tr.choices.is_empty()
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genmlx._backend import Array, get_backend
from genmlx.combinators._common import as_choicemap, check_args, check_no_choices, lookup, zero
from genmlx.combinators.switch import (
    BranchesInternal, Switch, SwitchInternal, RegenerateRule, UpdateRule,
)
from genmlx.combinators.vswitch import BatchedByVSwitch, VSwitch
from genmlx.core.address import Path
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.diff import NO_CHANGE, UNKNOWN_CHANGE
from genmlx.core.selection import Selection
from genmlx.core.trace import Trace
from genmlx.dsl.gen import gen
from genmlx.errors import ArgumentError
from genmlx.gfi.interface import (
    AssessResult, GenerateResult, GenerativeFunction, RegenerateResult, UpdateResult,
)

__all__ = ["Mask"]


def as_flag(flag: Any, who: str) -> bool | Array:
    """A Python bool from a bool or an int; a 0-d bool/integer array as a 0-d int index
    (1 where true; not read on the host); ArgumentError otherwise."""
    if isinstance(flag, int):  # Python ints and bools (NumPy scalars are arrays here)
        return bool(flag)
    dtype = str(getattr(flag, "dtype", ""))
    if getattr(flag, "shape", None) == () and ("int" in dtype or "bool" in dtype):
        backend = get_backend()
        flag = flag if backend.is_array(flag) else backend.asarray(flag)
        return backend.xp.astype(flag != 0, backend.int_dtype)
    raise ArgumentError(f"{who}: the flag must be a bool (or a 0-d array), got {flag!r}; "
                        "for a batched [N] flag use VSwitch")


@gen
def _nothing(*args: Any) -> None:
    """The masked-off branch: no choices, score 0."""
    return None


@dataclass(frozen=True)
class MaskInternal:
    """The callee's subtrace, or None when the flag was false."""

    subtrace: Trace | None


class Mask(BatchedByVSwitch, GenerativeFunction):
    """Run `gen_fn` when the flag argument is true (module docstring)."""

    def __init__(self, gen_fn: GenerativeFunction):
        if not isinstance(gen_fn, GenerativeFunction):
            raise TypeError(f"Mask: expected a generative function, got {type(gen_fn).__name__}")
        self.gen_fn = gen_fn
        self.name = f"Mask({getattr(gen_fn, 'name', '?')})"
        self._vswitch = VSwitch(_nothing, gen_fn)
        self._switch = Switch(_nothing, gen_fn)  # the array-flag path

    def _batched_switch(self) -> VSwitch:
        return self._vswitch

    def _switch_args(self, args: tuple) -> tuple:
        check_args(f"{self.name} (batched)", args, 1)
        backend = get_backend()
        flag = args[0] if backend.is_array(args[0]) else backend.asarray(args[0])
        return (backend.xp.astype(flag, backend.int_dtype),) + tuple(args[1:])

    def _split(self, args: tuple, who: str) -> tuple[bool, tuple]:
        check_args(who, args, 1)
        return as_flag(args[0], who), tuple(args[1:])

    def _trace(self, args: tuple, sub: Trace | None) -> Trace:
        if sub is None:
            return Trace(self, args, None, EMPTY, zero(), MaskInternal(None))
        return Trace(self, args, sub.retval, sub.choices, sub.score, MaskInternal(sub))

    def _off(self, choices: ChoiceMap, who: str) -> None:
        check_no_choices(choices, who, "the flag is false, so the masked callee does not run")

    def _old(self, trace: Trace) -> tuple[Any, dict]:
        """(old index, {branch of the inner Switch: subtrace}) of an unbatched trace;
        a concrete off trace gets a trace of the empty branch (no choices, score 0)."""
        internal = trace.internal
        if isinstance(internal, BranchesInternal):
            return internal.index, dict(enumerate(internal.subtraces))
        if internal.subtrace is None:
            return 0, {0: _nothing.simulate(tuple(trace.args[1:]))}
        return 1, {1: internal.subtrace}

    def _as_switch(self, trace: Trace) -> Trace:
        """The trace as one of the inner Switch (what its all-branches edit reads)."""
        index, subs = self._old(trace)
        if isinstance(index, int):
            return Trace(self._switch, trace.args, trace.retval, trace.choices, trace.score,
                         SwitchInternal(index, subs[index]))
        return Trace(self._switch, trace.args, trace.retval, trace.choices, trace.score,
                     trace.internal)

    def simulate(self, args: tuple, key: Any = None) -> Trace:
        """Run the callee when the flag is true; score = its score (else 0)."""
        on, rest = self._split(args, f"{self.name}.simulate")
        if not isinstance(on, bool):
            return self._switch.all_simulate(self, args, on, rest, key)
        return self._trace(args, self.gen_fn.simulate(rest, key=key) if on else None)

    def generate(self, args: tuple, constraints: ChoiceMap = EMPTY,
                 key: Any = None) -> GenerateResult:
        """Math: weight = the callee's generate weight (0 when the flag is false)."""
        who = f"{self.name}.generate"
        on, rest = self._split(args, who)
        constraints = as_choicemap(constraints)
        if not isinstance(on, bool):
            return self._switch.all_generate(self, args, on, rest, constraints, key, who)
        if not on:
            self._off(constraints, who)
            return GenerateResult(self._trace(args, None), zero())
        sub, weight = self.gen_fn.generate(rest, constraints, key=key)
        return GenerateResult(self._trace(args, sub), weight)

    def _array_edit(self, trace: Trace, rule: Any, args: tuple | None, key: Any,
                    who: str) -> UpdateResult | None:
        """The inner Switch's all-branches edit when the old or new flag is an array
        (None when both are concrete)."""
        on = None if args is None else self._split(args, who)[0]
        if not isinstance(trace.internal, BranchesInternal) and (on is None or
                                                                 isinstance(on, bool)):
            return None
        old = self._as_switch(trace)
        if args is None:
            args, index, rest = trace.args, old.internal.index, None
        else:
            index = on if not isinstance(on, bool) else int(on)
            rest = self._split(args, who)[1]
        same = args is trace.args or args[0] is trace.args[0]
        return self._switch.all_edit(self, old, rule, args, index, rest, None, key, who, same)

    def update(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
               argdiffs: tuple | None = None, key: Any = None) -> UpdateResult:
        """Math: on -> on: the callee's update weight; off -> on: its generate weight;
        on -> off: -old score (discard = old choices); off -> off: 0."""
        who = f"{self.name}.update"
        constraints = as_choicemap(constraints)
        if self.is_batched_trace(trace):
            return self.vupdate(trace, constraints, args, key)
        edited = self._array_edit(trace, UpdateRule(constraints), args, key, who)
        if edited is not None:
            return edited
        old = trace.internal.subtrace
        on, rest = (old is not None, None) if args is None else self._split(args, who)
        args = trace.args if args is None else args
        if not on:
            self._off(constraints, who)
            if old is None:
                return UpdateResult(self._trace(args, None), zero(), NO_CHANGE, EMPTY)
            return UpdateResult(self._trace(args, None), -old.score, UNKNOWN_CHANGE, old.choices)
        if old is None:
            sub, weight = self.gen_fn.generate(rest, constraints, key=key)
            return UpdateResult(self._trace(args, sub), weight, UNKNOWN_CHANGE, EMPTY)
        diffs = None if argdiffs is None or rest is None else tuple(argdiffs[1:])
        sub, weight, retdiff, discard = self.gen_fn.update(old, constraints, rest, diffs, key=key)
        return UpdateResult(self._trace(args, sub), weight, retdiff, discard)

    def regenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                   argdiffs: tuple | None = None, key: Any = None) -> RegenerateResult:
        """Math: on -> on: the callee's regenerate weight; otherwise 0."""
        if self.is_batched_trace(trace):
            return self.vregenerate(trace, selection, args, key)
        who = f"{self.name}.regenerate"
        edited = self._array_edit(trace, RegenerateRule(selection), args, key, who)
        if edited is not None:
            return RegenerateResult(edited.trace, edited.weight, edited.retdiff)
        old = trace.internal.subtrace
        on, rest = (old is not None, None) if args is None else self._split(args, who)
        args = trace.args if args is None else args
        if not on:
            retdiff = NO_CHANGE if old is None else UNKNOWN_CHANGE
            return RegenerateResult(self._trace(args, None), zero(), retdiff)
        if old is None:
            sub = self.gen_fn.simulate(rest, key=key)
            return RegenerateResult(self._trace(args, sub), zero(), UNKNOWN_CHANGE)
        diffs = None if argdiffs is None or rest is None else tuple(argdiffs[1:])
        sub, weight, retdiff = self.gen_fn.regenerate(old, selection, rest, diffs, key=key)
        return RegenerateResult(self._trace(args, sub), weight, retdiff)

    def assess(self, args: tuple, choices: ChoiceMap) -> AssessResult:
        """Math: weight = log p(choices) under the callee, 0 when the flag is false."""
        who = f"{self.name}.assess"
        on, rest = self._split(args, who)
        choices = as_choicemap(choices)
        if not isinstance(on, bool):
            return self._switch.all_assess(on, rest, choices)
        if not on:
            self._off(choices, who)
            return AssessResult(zero(), None)
        return AssessResult(*self.gen_fn.assess(rest, choices))

    def project(self, trace: Trace, selection: Selection) -> Any:
        """Math: the callee's project, 0 when the flag was false."""
        if isinstance(trace.internal, BranchesInternal):
            return self._switch.all_project(trace.internal, selection)
        sub = trace.internal if self.is_batched_trace(trace) else trace.internal.subtrace
        return zero() if sub is None else sub.gen_fn.project(sub, selection)

    def trace_lookup(self, trace: Trace, path: Path) -> tuple[bool, Any]:
        """Addresses are the callee's (none when the flag was false)."""
        if isinstance(trace.internal, BranchesInternal):
            return self._switch.all_lookup(trace.internal, path) if path else (False, None)
        sub = trace.internal if self.is_batched_trace(trace) else trace.internal.subtrace
        return (False, None) if sub is None or not path else lookup(sub, path)

    def __repr__(self) -> str:
        return f"<{self.name}>"
