"""CallAt and ChoiceAt: one call of a generative function (or one draw of a
distribution) placed under an address given as an argument.

`call_at(gen_fn, key_type)` takes args `(key, *args)` and runs `gen_fn(*args)`
with its choices under address `key`; `choice_at(dist, key_type)` takes
`(key, *params)` and draws one value at address `key`. They are the generative
functions of these hand-written models (Gen.jl's CallAt / ChoiceAt
combinators; note that GenMLX puts the key first):

    @gen
    def call_at_model(key, *args):
        return trace(key, gen_fn, *args)

    @gen
    def choice_at_model(key, *params):
        return trace(key, dist(*params))   # or trace(key, dist) for a bound one

so their scores, weights and discards are those of the hand-written models:

- simulate / propose: score = the callee's score; choices = {key: callee's}.
- generate(constraints): weight = the callee's generate weight under the
  constraints below `key`.
- update, same key: the callee's update weight, retdiff and discard (moved
  under `key`); key changed from k to k': the callee runs fresh at k'
  (weight = its generate weight - the old score) and the discard holds
  every old choice (under k).
- regenerate, same key: the callee's regenerate weight; key changed: the
  callee is simulated at k' and the weight is 0 (fresh and removed choices
  cancel against the prior proposal).
- assess: the callee's assess of the choices under `key`.
- project(selection): the callee's project of `selection` below `key`.

Choices anywhere but under `key` are an AddressError (never silently ignored).

Example:
    >>> at = call_at(model, int)
    >>> tr = at.simulate((3, 0.5), key=gm.key(0))     # choices under address 3
    >>> coin = choice_at(dist.bernoulli, str)
    >>> tr = coin.simulate(("flip", 0.3), key=gm.key(0))  # tr["flip"] is 0 or 1
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from genmlx.combinators._common import as_choicemap, check_args, lookup
from genmlx.core.address import Path, show
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.diff import UNKNOWN_CHANGE
from genmlx.core.selection import Selection
from genmlx.core.trace import Trace
from genmlx.distributions.base import Distribution
from genmlx.errors import AddressError, ArgumentError
from genmlx.gfi.interface import (
    AssessResult, GenerateResult, GenerativeFunction, RegenerateResult, UpdateResult,
)

__all__ = ["CallAt", "ChoiceAt", "call_at", "choice_at"]


@dataclass(frozen=True)
class CallAtInternal:
    """The address the callee ran under and its subtrace."""

    key: Any
    subtrace: Trace


class CallAt(GenerativeFunction):
    """`gen_fn` called with args `(key, *args)`, its choices under `key` (module docstring)."""

    def __init__(self, gen_fn: GenerativeFunction, key_type: Any = None):
        if not isinstance(gen_fn, GenerativeFunction):
            raise TypeError(f"call_at: expected a generative function, got "
                            f"{type(gen_fn).__name__}")
        self.gen_fn = gen_fn
        self.key_type = key_type
        self.name = f"call_at({getattr(gen_fn, 'name', '?')})"

    # -- argument handling --------------------------------------------------------------
    def _split(self, args: Any, who: str) -> tuple[Any, tuple]:
        """(the address key, the callee's args), checking the key."""
        check_args(who, args, 1)
        key, rest = args[0], tuple(args[1:])
        if isinstance(key, bool) or not isinstance(key, (str, int)):
            raise ArgumentError(f"{who}: the first argument is the address key and must be a "
                                f"str or an int, got {type(key).__name__} {key!r}")
        if self.key_type is not None and not isinstance(key, self.key_type):
            raise ArgumentError(f"{who}: the address key must be of type {self.key_type!r}, "
                                f"got {type(key).__name__} {key!r}")
        return key, rest

    def _callee(self, rest: tuple, who: str) -> tuple[GenerativeFunction, tuple]:
        """(the generative function to run, its args)."""
        return self.gen_fn, rest

    def _below(self, choices: ChoiceMap, key: Any, who: str, what: str) -> ChoiceMap:
        """The choices under `key`; AddressError for any choice elsewhere."""
        choices = as_choicemap(choices)
        if choices.is_empty():
            return EMPTY
        if choices.has_value():
            raise AddressError(f"{who}: got a value at the root address; {what} must sit "
                               f"under the key {key!r}")
        for head, sub in choices.children().items():
            if head != key and not sub.is_empty():
                addr = show((head,) + sub.addresses()[0])
                raise AddressError(f"{who}: {what} at address {addr}, but this call puts its "
                                   f"choices only under the key {key!r}")
        return choices.get_submap(key)

    def _trace(self, args: tuple, key: Any, sub: Trace) -> Trace:
        choices = EMPTY if sub.choices.is_empty() else ChoiceMap({key: sub.choices})
        return Trace(self, args, sub.retval, choices, sub.score, CallAtInternal(key, sub))

    # -- the GFI ----------------------------------------------------------------------------
    def simulate(self, args: tuple, key: Any = None) -> Trace:
        """Run the callee; score = its score (log p of its choices)."""
        who = f"{self.name}.simulate"
        addr, rest = self._split(args, who)
        callee, callee_args = self._callee(rest, who)
        return self._trace(args, addr, callee.simulate(callee_args, key=key))

    def generate(self, args: tuple, constraints: ChoiceMap = EMPTY,
                 key: Any = None) -> GenerateResult:
        """Math: weight = the callee's generate weight under constraints[key]."""
        who = f"{self.name}.generate"
        addr, rest = self._split(args, who)
        below = self._below(constraints, addr, who, "constraint")
        callee, callee_args = self._callee(rest, who)
        sub, weight = callee.generate(callee_args, below, key=key)
        return GenerateResult(self._trace(args, addr, sub), weight)

    def update(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
               argdiffs: tuple | None = None, key: Any = None) -> UpdateResult:
        """Math: same key: the callee's update weight; new key k': the callee's generate
        weight at k' minus the old score, with every old choice discarded."""
        who = f"{self.name}.update"
        old = trace.internal
        args = trace.args if args is None else args
        addr, rest = self._split(args, who)
        below = self._below(constraints, addr, who, "constraint")
        callee, callee_args = self._callee(rest, who)
        if addr != old.key:
            sub, weight = callee.generate(callee_args, below, key=key)
            return UpdateResult(self._trace(args, addr, sub), weight - old.subtrace.score,
                                UNKNOWN_CHANGE, trace.choices)
        diffs = None if argdiffs is None else tuple(argdiffs[1:])
        sub, weight, retdiff, discard = callee.update(old.subtrace, below, callee_args, diffs,
                                                      key=key)
        discard = EMPTY if discard.is_empty() else ChoiceMap({addr: discard})
        return UpdateResult(self._trace(args, addr, sub), weight, retdiff, discard)

    def regenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                   argdiffs: tuple | None = None, key: Any = None) -> RegenerateResult:
        """Math: same key: the callee's regenerate weight for selection[key]; new key: 0
        (the callee is simulated afresh, which the prior proposal cancels)."""
        who = f"{self.name}.regenerate"
        old = trace.internal
        args = trace.args if args is None else args
        addr, rest = self._split(args, who)
        callee, callee_args = self._callee(rest, who)
        if addr != old.key:
            sub = callee.simulate(callee_args, key=key)
            zero = sub.score - sub.score  # a zero of the score's shape and dtype
            return RegenerateResult(self._trace(args, addr, sub), zero, UNKNOWN_CHANGE)
        diffs = None if argdiffs is None else tuple(argdiffs[1:])
        sub, weight, retdiff = callee.regenerate(old.subtrace, selection.sub(addr), callee_args,
                                                 diffs, key=key)
        return RegenerateResult(self._trace(args, addr, sub), weight, retdiff)

    def assess(self, args: tuple, choices: ChoiceMap) -> AssessResult:
        """Math: weight = log p(choices[key]) under the callee."""
        who = f"{self.name}.assess"
        addr, rest = self._split(args, who)
        below = self._below(choices, addr, who, "choice")
        callee, callee_args = self._callee(rest, who)
        return AssessResult(*callee.assess(callee_args, below))

    def project(self, trace: Trace, selection: Selection) -> Any:
        """Math: the callee's project of selection[key]."""
        sub = trace.internal.subtrace
        return sub.gen_fn.project(sub, selection.sub(trace.internal.key))

    def trace_lookup(self, trace: Trace, path: Path) -> tuple[bool, Any]:
        """`trace[key]` is the callee's retval (a draw for choice_at); `trace[key, ...]`
        looks inside the callee."""
        if not path or path[0] != trace.internal.key:
            return False, None
        return lookup(trace.internal.subtrace, path[1:])

    def __repr__(self) -> str:
        return f"<{self.name}>"


class ChoiceAt(CallAt):
    """One draw of a distribution at the address given as the first argument.

    `dist` is either a distribution constructor such as `dist.gaussian` (args
    `(key, *params)`, the distribution built from the params on each call) or a
    distribution with bound parameters (args `(key,)`).
    """

    def __init__(self, dist: Distribution | Callable[..., Distribution], key_type: Any = None):
        if not (isinstance(dist, Distribution) or callable(dist)):
            raise TypeError(f"choice_at: expected a distribution or a distribution constructor "
                            f"(e.g. dist.gaussian), got {type(dist).__name__}")
        self.dist = dist
        self.key_type = key_type
        name = dist.name if isinstance(dist, Distribution) else getattr(dist, "__name__", "?")
        self.gen_fn = dist if isinstance(dist, Distribution) else None
        self.name = f"choice_at({name})"

    def _callee(self, rest: tuple, who: str) -> tuple[GenerativeFunction, tuple]:
        if isinstance(self.dist, Distribution):
            if rest:
                raise ArgumentError(f"{who}: {self.dist.name} has its parameters bound, so "
                                    f"the args are (key,); got {len(rest)} extra argument(s)")
            return self.dist, ()
        made = self.dist(*rest)
        if not isinstance(made, Distribution):
            raise TypeError(f"{who}: the constructor returned {type(made).__name__}, "
                            "not a distribution")
        return made, ()


def call_at(gen_fn: GenerativeFunction, key_type: Any = None) -> CallAt:
    """A generative function with args `(key, *args)` running `gen_fn(*args)` under `key`.

    Args:
        gen_fn: the callee.
        key_type: a type (or tuple of types), e.g. `int`; keys of another type
            are an ArgumentError. None accepts any str or int key.

    Math: identical to `@gen def m(key, *args): return trace(key, gen_fn, *args)`.
    """
    return CallAt(gen_fn, key_type)


def choice_at(dist: Distribution | Callable[..., Distribution], key_type: Any = None
              ) -> ChoiceAt:
    """A generative function with args `(key, *params)` drawing `dist(*params)` at `key`.

    Args:
        dist: a distribution constructor (`dist.gaussian`), or a distribution
            with bound parameters (then the args are just `(key,)`).
        key_type: as for `call_at`.

    Math: identical to `@gen def m(key, *params): return trace(key, dist(*params))`;
    the retval is the drawn value.
    """
    return ChoiceAt(dist, key_type)
