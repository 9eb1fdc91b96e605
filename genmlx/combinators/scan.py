"""Scan: `jax.lax.scan` as a generative function.

`Scan(kernel)` takes args `(init_carry, xs)` and calls `kernel(carry, xs[t])` for
each t, which returns `(carry, y)`; step t's choices sit under `(t, ...)` and the
retval is `(final_carry, ys)` with `ys` the Python list of the steps' y (stack it
yourself, e.g. with `Dimap`, when the ys are arrays). `xs` is a list, a tuple or
an array whose leading axis is the step axis.

It is the generative function of this hand-written model, with incremental
update/regenerate (only steps that can change are re-executed; a `SequenceDiff`
argdiff on xs names the changed steps):

    @gen
    def scan(carry, xs):
        ys = []
        for t, x in enumerate(xs):
            carry, y = trace(t, kernel, carry, x)
            ys.append(y)
        return carry, ys

Example:
    >>> @gen
    ... def step(level, x):
    ...     level = trace("level", dist.gaussian(level + x, 1.0))
    ...     return level, trace("obs", dist.gaussian(level, 0.5))
    >>> tr = Scan(step).simulate((0.0, [0.1, 0.2, 0.3]), key=gm.key(0))
    >>> final_level, observations = tr.retval
"""

from __future__ import annotations

from typing import Any

from genmlx.combinators._chain import Chain, Plan
from genmlx.combinators._common import changed_elements, check_args, element, sequence_length
from genmlx.combinators._stacked import StepPlan, per_step
from genmlx.core.diff import NO_CHANGE, UNKNOWN_CHANGE
from genmlx.errors import ArgumentError

__all__ = ["Scan"]


class Scan(Chain):
    """`kernel(carry, x) -> (carry, y)` over the steps of xs (module docstring)."""

    def _plan(self, args: tuple, who: str, like_args: tuple | None = None) -> Plan:
        """Batched (`like_args`: the unbatched skeleton's args), the length is the
        skeleton's and per-particle xs ([N, T, ...]) are read on their step axis."""
        check_args(who, args, 2)
        if len(args) != 2:
            raise ArgumentError(f"{who}: args are (init_carry, xs), got {len(args)} arguments")
        init, xs = args
        if like_args is None:
            return Plan(sequence_length(xs, who), init, lambda t, carry: (carry, xs[t]), (xs,))
        like_xs = like_args[1]
        return Plan(sequence_length(like_xs, who), init,
                    lambda t, carry: (carry, element(xs, like_xs, t)), (xs,))

    def _carry(self, retval: Any) -> Any:
        if not isinstance(retval, (tuple, list)) or len(retval) != 2:
            raise ArgumentError(f"{self.name}: the kernel must return a (carry, y) pair, "
                                f"got {type(retval).__name__}")
        return retval[0]

    def _step_plan(self, plan: Plan) -> StepPlan:
        """Stacked: xs enters the scan sliced on its step axis (a list of one-skeleton
        elements is stacked first; a list of one object is passed to every step)."""
        return StepPlan(plan.n, [per_step(plan.extra[0], plan.n)],
                        lambda values, carry: (carry, values[0]), self._carry, plan.init)

    def _retval(self, plan: Plan, rets: list) -> tuple:
        final = self._carry(rets[-1]) if rets else plan.init
        return final, [r[1] for r in rets]

    def _init_diff(self, argdiffs: tuple | None) -> Any:
        return None if argdiffs is None else argdiffs[0]

    def _changed_steps(self, old_args: tuple, new_args: tuple, argdiffs: tuple | None,
                       length: int) -> set | None:
        diff = None if argdiffs is None else argdiffs[1]
        return changed_elements(old_args[1], new_args[1], diff, length)

    def _step_argdiffs(self, plan: Plan, t: int, carry_same: bool,
                       changed: set | None) -> tuple:
        x_same = changed is not None and t not in changed
        return (NO_CHANGE if carry_same else UNKNOWN_CHANGE,
                NO_CHANGE if x_same else UNKNOWN_CHANGE)
