"""Unfold: a state-space chain. `Unfold(kernel)` takes args `(n, init_state, *params)`
and calls `kernel(t, state, *params)` for t = 0..n-1, each call's retval becoming
the next state; step t's choices sit under `(t, ...)` and the retval is the list
of the n states.

It is the generative function of this hand-written model, with incremental
update/regenerate (only steps that can change are re-executed; see `_chain`):

    @gen
    def unfold(n, state, *params):
        states = []
        for t in range(n):
            state = trace(t, kernel, t, state, *params)
            states.append(state)
        return states

Example:
    >>> @gen
    ... def step(t, z, sigma):
    ...     z = trace("z", dist.gaussian(z, sigma))
    ...     trace("y", dist.gaussian(z, 1.0))
    ...     return z
    >>> hmm = Unfold(step)
    >>> tr = hmm.simulate((10, 0.0, 0.5), key=gm.key(0))
    >>> tr[3, "z"] is tr.retval[3]
    True
"""

from __future__ import annotations

from typing import Any

from genmlx._backend import get_backend
from genmlx.combinators._chain import Chain, Plan
from genmlx.combinators._common import arg_unchanged, check_args
from genmlx.combinators._stacked import StepPlan
from genmlx.core.pytree import flatten
from genmlx.core.diff import NO_CHANGE, UNKNOWN_CHANGE, SequenceDiff
from genmlx.errors import ArgumentError

__all__ = ["Unfold"]


def as_length(n: Any, who: str) -> int:
    """A non-negative Python int from an int or a 0-d integer array; ArgumentError otherwise."""
    if isinstance(n, bool):
        raise ArgumentError(f"{who}: the number of steps must be an int, got a bool ({n!r})")
    if not isinstance(n, int):
        dtype = str(getattr(n, "dtype", ""))
        if getattr(n, "shape", None) != () or "int" not in dtype:
            raise ArgumentError(f"{who}: the number of steps must be an int, got {n!r}")
        n = int(n)
    if n < 0:
        raise ArgumentError(f"{who}: the number of steps must be >= 0, got {n}")
    return n


class Unfold(Chain):
    """Chain `kernel(t, state, *params) -> state` for n steps (module docstring)."""

    def _plan(self, args: tuple, who: str, like_args: tuple | None = None) -> Plan:
        """The step count is a Python int, so batched runs read it from `args` too."""
        check_args(who, args, 2)
        params = tuple(args[2:])
        return Plan(as_length(args[0], who), args[1],
                    lambda t, state: (t, state) + params, params)

    def _carry(self, retval: Any) -> Any:
        return retval

    def _step_plan(self, plan: Plan) -> StepPlan:
        """Stacked: the step index is a per-step int array (a traced value, not a Python
        int as on the eager path), the parameters are shared by every step."""
        backend = get_backend()
        steps = backend.xp.arange(plan.n, dtype=backend.int_dtype)
        leaves, skeleton = flatten(steps)
        inputs = [("xs", skeleton, leaves)] + [("const", p) for p in plan.extra]
        return StepPlan(plan.n, inputs,
                        lambda values, state: (values[0], state) + tuple(values[1:]),
                        self._carry, plan.init)

    def _retval(self, plan: Plan, rets: list) -> list:
        return list(rets)

    def _init_diff(self, argdiffs: tuple | None) -> Any:
        return None if argdiffs is None else argdiffs[1]

    def _changed_steps(self, old_args: tuple, new_args: tuple, argdiffs: tuple | None,
                       length: int) -> set | None:
        """Every step when a parameter changed, none otherwise."""
        if len(old_args) != len(new_args):
            return None
        for j in range(2, len(new_args)):
            diff = None if argdiffs is None else argdiffs[j]
            if not arg_unchanged(new_args[j], old_args[j], diff):
                return None
        return set()

    def _step_argdiffs(self, plan: Plan, t: int, carry_same: bool,
                       changed: set | None) -> tuple:
        param_diff = NO_CHANGE if changed is not None else UNKNOWN_CHANGE
        return (NO_CHANGE, NO_CHANGE if carry_same else UNKNOWN_CHANGE) + \
            tuple(param_diff for _ in plan.extra)

    def _retdiff(self, n_old: int, n_new: int, changed: set) -> Any:
        kept = min(n_old, n_new)
        return SequenceDiff(n_new, n_old, frozenset(t for t in changed if t < kept))
