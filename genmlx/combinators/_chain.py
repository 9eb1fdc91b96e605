"""The engine behind Unfold and Scan: a kernel called once per step, each step's
carried state feeding the next. Step t's choices sit under address `(t, ...)`.

A subclass says how to read its arguments (`_plan`), which steps' non-carried
inputs changed between two argument tuples (`_changed_steps`), how to get the
carried state out of a kernel retval (`_carry`) and how to build its retval.

Update and regenerate visit only the steps that can change: steps named by the
constraints/selection, steps whose inputs changed, steps the chain gained; after
each visited step the next one is visited only while the carried state changed
(a new object). Every other step keeps its subtrace as it is, so its kernel
body never runs.

Batched (L0), step t's kernel gets its part of the unbatched skeleton
(`like.internal.subtraces[t]`), and the plan (length, per-step inputs) is read
with the skeleton's arguments beside the batched ones (`_plan(args, who,
like_args)`), so no input is taken for per-particle by its leading size.
"""

from __future__ import annotations

import abc

import collections
from dataclasses import dataclass
from typing import Any, Callable

from genmlx._backend import Array, get_backend
from genmlx.core.address import Path
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.diff import NO_CHANGE, UNKNOWN_CHANGE, is_no_change
from genmlx.core.selection import Selection
from genmlx.core.trace import Trace
from genmlx.combinators._common import (
    KeySource, RegenerateOp, UpdateOp, add_discard, arg_unchanged, as_choicemap, guarded,
    index_keys, indexed_choices,
    indexed_lookup, replace_indexed, run_fresh, run_simulate, sub_like, zero,
)
from genmlx.combinators._stacked import (
    NO_KEY, NotStackable, StackedInternalMixin, StepPlan, attempt, choice_segments, concat_steps,
    discards_at, extras_of, project_stacked, register_stacked_internal, run_segments,
    stacked_trace, stacking,
)
from genmlx.dsl.handlers.batching import (
    edit_skeleton, generate_hints, no_hints, run_with_skeleton, update_hints,
)
from genmlx.gfi.interface import (
    AssessResult, GenerateResult, GenerativeFunction, RegenerateResult, UpdateResult,
)


@dataclass(frozen=True)
class ChainInternal:
    """A chain trace's per-step subtraces, its batch size (None: unbatched) and, when
    batched, its unbatched skeleton `like` (see `genmlx.dsl.handlers.batching`)."""

    subtraces: tuple
    batch: int | None = None
    like: Any = None


class StackedChainInternal(StackedInternalMixin, ChainInternal):
    """A chain trace made in compiled code: its subtraces stacked (`StackedSteps`),
    rebuilt per step only when read (see `genmlx.combinators._stacked`)."""


register_stacked_internal(StackedChainInternal)


@dataclass(frozen=True)
class Plan:
    """One argument tuple read by a chain: length, initial carry, step arguments."""

    n: int
    init: Any
    step_args: Callable[[int, Any], tuple]
    extra: tuple = ()


class Chain(GenerativeFunction):
    """Base class of Unfold and Scan (see the module docstring)."""

    def __init__(self, kernel: GenerativeFunction):
        if not isinstance(kernel, GenerativeFunction):
            raise TypeError(f"{type(self).__name__}: the kernel must be a generative function, "
                            f"got {type(kernel).__name__}")
        self.kernel = kernel
        self.name = f"{type(self).__name__}({getattr(kernel, 'name', 'kernel')})"

    # -- subclass hooks ---------------------------------------------------------------
    @abc.abstractmethod
    def _plan(self, args: tuple, who: str, like_args: tuple | None = None) -> Plan:
        """The plan of `args`; batched, `like_args` are the unbatched skeleton's."""

    @abc.abstractmethod
    def _carry(self, retval: Any) -> Any:
        ...

    @abc.abstractmethod
    def _retval(self, plan: Plan, rets: list) -> Any:
        ...

    @abc.abstractmethod
    def _changed_steps(self, old_args: tuple, new_args: tuple, argdiffs: tuple | None,
                       length: int) -> set | None:
        """Steps whose non-carried inputs changed (None: every step's may have)."""

    @abc.abstractmethod
    def _step_argdiffs(self, plan: Plan, t: int, carry_same: bool, changed: set | None) -> tuple:
        ...

    @abc.abstractmethod
    def _init_diff(self, argdiffs: tuple | None) -> Any:
        ...

    def _retdiff(self, n_old: int, n_new: int, changed: set) -> Any:
        return UNKNOWN_CHANGE

    @abc.abstractmethod
    def _step_plan(self, plan: Plan) -> StepPlan:
        """How the stacked path feeds the kernel (per-step inputs, carried state)."""

    def _stacked_retval(self, rets: list) -> Any:
        """The retval built from the steps' retvals (a bound method: a stable, hashable
        part of a stacked trace's skeleton)."""
        return self._retval(None, rets)

    # -- forward execution ------------------------------------------------------------
    @staticmethod
    def _like_args(like: Any) -> tuple | None:
        return None if like is None else like.args

    def _forward(self, args: tuple, constraints: ChoiceMap, batch: int | None, key: Any,
                 who: str, like: Any = None) -> GenerateResult:
        plan = self._plan(args, who, self._like_args(like))
        index_keys(constraints, plan.n, who)
        if stacking(batch, like) and plan.n:
            out = attempt(self, "generate", lambda: self._forward_stacked(
                args, plan, constraints, key))
            if out is not None:
                return out
        keys = KeySource(key)
        subs, rets = [], []
        weight, score, carry = zero(batch), zero(batch), plan.init
        for t in range(plan.n):
            step = constraints.get_submap(t)
            step_args = plan.step_args(t, carry)
            if step.is_empty():
                sub = guarded(who, "step", t, run_simulate, self.kernel, step_args, batch,
                              keys.at(t), sub_like(like, t))
            else:
                sub, w = guarded(who, "step", t, run_fresh, self.kernel, step_args, step, batch,
                                 keys.at(t), sub_like(like, t))
                weight = weight + w
            score = score + sub.score
            subs.append(sub)
            rets.append(sub.retval)
            carry = self._carry(sub.retval)
        trace = self._trace(args, plan, subs, rets, score, batch, like)
        return GenerateResult(trace, weight)

    def _forward_stacked(self, args: tuple, plan: Plan, constraints: ChoiceMap,
                         key: Any) -> GenerateResult:
        """`_forward` through the backend's scan: one scan per run of steps whose
        constraints share a skeleton (simulate where a step has none)."""
        sp = self._step_plan(plan)
        maps = [constraints.get_submap(t) for t in range(plan.n)]
        segments = choice_segments(maps, 0, ["forward"] * plan.n)
        kernel = self.kernel

        def step(seg: Any, value: Any, step_args: tuple, k: Any, old: Any) -> tuple:
            if not seg.static[1]:
                sub = kernel.simulate(step_args, key=k)
                return sub, (None, sub.score), None, EMPTY, None
            sub, w = kernel.generate(step_args, value, key=k)
            return sub, (w, sub.score), None, EMPTY, None

        results, (weight, score), _ = run_segments(sp, segments, key, step, 2)
        steps = concat_steps(results, sp, plan.n)
        trace = stacked_trace(self, args, steps, score, StackedChainInternal.of(steps),
                              self._stacked_retval)
        return GenerateResult(trace, weight)

    def _trace(self, args: tuple, plan: Plan, subs: list, rets: list, score: Array,
               batch: int | None, like: Any = None) -> Trace:
        return Trace(self, args, self._retval(plan, rets), indexed_choices(subs), score,
                     ChainInternal(tuple(subs), batch, like))

    def simulate(self, args: tuple, key: Any = None) -> Trace:
        """Run every step from the prior; score = sum of the steps' scores."""
        return self._forward(args, EMPTY, None, key, f"{self.name}.simulate").trace

    def generate(self, args: tuple, constraints: ChoiceMap = EMPTY,
                 key: Any = None) -> GenerateResult:
        """Math: weight = sum over steps of the kernel's generate weight
        (the log density of the constrained choices under the default proposal)."""
        return self._forward(args, as_choicemap(constraints), None, key,
                             f"{self.name}.generate")

    def vsimulate(self, args: tuple, n: int, key: Any = None, like: Any = None) -> Trace:
        """Batched simulate: each step's kernel runs once for `n` particles ([n] score).
        `like`: the unbatched trace of this call (None: `args` are unbatched)."""
        who, n = f"{self.name}.vsimulate", int(n)
        return run_with_skeleton(
            self, lambda lk: self._forward(args, EMPTY, n, key, who, lk).trace, like, args,
            no_hints)

    def vgenerate(self, args: tuple, constraints: ChoiceMap, n: int,
                  key: Any = None, like: Any = None) -> GenerateResult:
        """Batched generate: [n] weights, each as in `generate`."""
        who, n, constraints = f"{self.name}.vgenerate", int(n), as_choicemap(constraints)
        return run_with_skeleton(
            self, lambda lk: self._forward(args, constraints, n, key, who, lk), like, args,
            generate_hints(constraints))

    def assess(self, args: tuple, choices: ChoiceMap) -> AssessResult:
        """Math: weight = log p(choices; args) = sum over steps of the kernel's assess."""
        who = f"{self.name}.assess"
        choices = as_choicemap(choices)
        plan = self._plan(args, who)
        index_keys(choices, plan.n, who)
        if stacking() and plan.n:
            out = attempt(self, "assess", lambda: self._assess_stacked(plan, choices))
            if out is not None:
                return out
        total, carry, rets = zero(), plan.init, []
        for t in range(plan.n):
            w, ret = guarded(who, "step", t, self.kernel.assess, plan.step_args(t, carry),
                             choices.get_submap(t))
            total = total + w
            rets.append(ret)
            carry = self._carry(ret)
        return AssessResult(total, self._retval(plan, rets))

    def _assess_stacked(self, plan: Plan, choices: ChoiceMap) -> AssessResult:
        sp = self._step_plan(plan)
        maps = [choices.get_submap(t) for t in range(plan.n)]
        kernel = self.kernel

        def step(seg: Any, value: Any, step_args: tuple, k: Any, old: Any) -> tuple:
            w, ret = kernel.assess(step_args, value if seg.static[1] else EMPTY)
            return None, (w,), None, EMPTY, ret

        results, (total,), _ = run_segments(sp, choice_segments(maps, 0, ["assess"] * plan.n),
                                            NO_KEY, step, 1, want_subtraces=False)
        return AssessResult(total, self._retval(plan, extras_of(results)))

    def project(self, trace: Trace, selection: Selection) -> Array:
        """Math: sum over steps of the kernel's project on the selection under `t`."""
        if stacking() and isinstance(trace.internal, StackedInternalMixin):
            out = attempt(self, "project", lambda: project_stacked(
                trace.internal.steps, selection, trace.score))
            if out is not None:
                return out
        total = get_backend().xp.zeros_like(trace.score)
        for t, sub in enumerate(trace.internal.subtraces):
            sel = selection.sub(t)
            if not sel.is_none():
                total = total + sub.gen_fn.project(sub, sel)
        return total

    # -- incremental edits --------------------------------------------------------------
    def update(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
               argdiffs: tuple | None = None, key: Any = None) -> UpdateResult:
        """Math: weight = log p(t') - log p(t) less the density of fresh unconstrained
        choices: visited steps add their update weight, new steps their generate weight,
        removed steps subtract their old score. Unvisited steps keep their subtraces."""
        if trace.internal.batch:
            return self.vupdate(trace, constraints, args, key)
        op = UpdateOp(as_choicemap(constraints), None)
        new, weight, retdiff, discard = self._edit(trace, op, args, argdiffs, key,
                                                   f"{self.name}.update")
        return UpdateResult(new, weight, retdiff, discard)

    def regenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                   argdiffs: tuple | None = None, key: Any = None) -> RegenerateResult:
        """Math: weight = sum of the visited steps' regenerate weights (the MH
        acceptance log-ratio); new and removed steps add nothing."""
        if trace.internal.batch:
            return self.vregenerate(trace, selection, args, key)
        op = RegenerateOp(selection, None)
        new, weight, retdiff, _ = self._edit(trace, op, args, argdiffs, key,
                                             f"{self.name}.regenerate")
        return RegenerateResult(new, weight, retdiff)

    def vupdate(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
                key: Any = None, like: Any = None) -> UpdateResult:
        """Batched update ([N] weights, as in `update`); the batch size comes from the
        trace, `like` is the unbatched trace of the call on the new args."""
        who, constraints = f"{self.name}.vupdate", as_choicemap(constraints)
        op = UpdateOp(constraints, trace.internal.batch)
        like, probe_args, first = edit_skeleton(trace, args, like, who)
        return run_with_skeleton(
            self, lambda lk: UpdateResult(*self._edit(trace, op, args, None, key, who, lk)),
            like, probe_args, update_hints(constraints, trace.choices), first)

    def vregenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                    key: Any = None, like: Any = None) -> RegenerateResult:
        """Batched regenerate ([N] weights, as in `regenerate`)."""
        who = f"{self.name}.vregenerate"
        op = RegenerateOp(selection, trace.internal.batch)

        def run(lk: Any) -> RegenerateResult:
            new, weight, retdiff, _ = self._edit(trace, op, args, None, key, who, lk)
            return RegenerateResult(new, weight, retdiff)

        like, probe_args, first = edit_skeleton(trace, args, like, who)
        return run_with_skeleton(self, run, like, probe_args,
                                 update_hints(EMPTY, trace.choices), first)

    def _edit(self, trace: Trace, op: Any, args: tuple | None, argdiffs: tuple | None,
              key: Any, who: str, like: Any = None) -> tuple:
        if args is None:
            args, argdiffs = trace.args, tuple(NO_CHANGE for _ in trace.args)
        if stacking(trace.internal.batch, like) and \
                isinstance(trace.internal, StackedInternalMixin):
            out = attempt(self, op.kind, lambda: self._edit_stacked(
                trace, op, args, argdiffs, key, who))
            if out is not None:
                return out
        old_plan = self._plan(trace.args, who, self._like_args(trace.internal.like))
        plan = self._plan(args, who, self._like_args(like))
        old_subs = trace.internal.subtraces
        n_old, n_new = len(old_subs), plan.n
        kept = min(n_old, n_new)
        touched = op.touched_indices(n_new if op.kind == "update" else kept, who)
        changed_inputs = self._changed_steps(trace.args, args, argdiffs, kept)
        state = _EditState(self, op, plan, old_plan, old_subs, KeySource(key),
                           trace.internal.batch, changed_inputs, who, like)
        forced = set(range(kept)) if changed_inputs is None else set(changed_inputs)
        forced |= touched
        if kept and not arg_unchanged(plan.init, old_plan.init, self._init_diff(argdiffs)):
            forced.add(0)
        state.visit_existing(sorted(t for t in forced if t < kept))
        state.grow(n_old, n_new)
        state.shrink(n_new, n_old)
        return state.finish(trace, args)

    def _edit_stacked(self, trace: Trace, op: Any, args: tuple, argdiffs: tuple | None,
                      key: Any, who: str) -> tuple:
        """`_edit` of a stacked trace through the backend's scan, for an unchanged step
        count. Steps before the first forced one keep their leaves; from there on every
        step runs (one scan per run of equal constraints/sub-selections/argdiffs), with
        the carried state's argdiff unknown. Steps the eager path would not visit get
        the same values and a zero weight. The retdiff and the discard follow the eager
        visiting rule, replayed with what the traced step reported (did its retval and
        carried state change)."""
        old_plan, plan = self._plan(trace.args, who), self._plan(args, who)
        n, old = plan.n, trace.internal.steps
        if old_plan.n != n:
            raise NotStackable("the step count changed: the unrolled path grows or "
                                      "shrinks the chain")
        changed_inputs = self._changed_steps(trace.args, args, argdiffs, n)
        forced = set(range(n)) if changed_inputs is None else set(changed_inputs)
        forced |= op.touched_indices(n, who)
        if n and not arg_unchanged(plan.init, old_plan.init, self._init_diff(argdiffs)):
            forced.add(0)
        if not forced:
            new = stacked_trace(self, args, old, trace.score, trace.internal,
                                self._stacked_retval)
            return new, zero(), NO_CHANGE, EMPTY
        start = min(forced)
        init = plan.init if start == 0 else self._carry(old.subtrace(start - 1).retval)
        diffs = [self._step_argdiffs(plan, t, False, changed_inputs) for t in range(start, n)]
        if op.kind == "update":
            maps = [op.sub(t) for t in range(start, n)]
        else:
            sels = [op.sub(t) for t in range(start, n)]
            maps = [EMPTY] * len(sels)
            diffs = [(d, repr(sel)) for d, sel in zip(diffs, sels)]
        segments = choice_segments(maps, start, diffs)
        kernel, carry_of = self.kernel, self._carry

        def step(seg: Any, value: Any, step_args: tuple, k: Any, old_sub: Any) -> tuple:
            if op.kind == "update":
                new, w, retdiff, disc = kernel.update(old_sub, value if seg.static[1] else EMPTY,
                                                      step_args, seg.static[0], key=k)
            else:
                new, w, retdiff = kernel.regenerate(old_sub, op.sub(seg.start), step_args,
                                                    seg.static[0][0], key=k)
                disc = EMPTY
            changed = new.retval is not old_sub.retval
            onward = changed and not is_no_change(retdiff) and \
                carry_of(new.retval) is not carry_of(old_sub.retval)
            return new, (w, new.score - old_sub.score), (changed, onward), disc, None

        sp = self._step_plan(plan)
        results, (weight, delta), _ = run_segments(sp, segments, key, step, 2, old=old,
                                                   init=init)
        steps = concat_steps(results, sp, n, old)
        info = {t: r.info for r in results for t in range(r.segment.start, r.segment.stop)}
        visited, changed, last = set(), set(), -1
        for t in sorted(forced):
            while t is not None and t > last:
                last = t
                visited.add(t)
                step_changed, onward = info[t]
                if step_changed:
                    changed.add(t)
                t = t + 1 if onward and t + 1 < n else None
        discard = EMPTY
        for t, disc in discards_at(results, visited):
            discard = add_discard(discard, t, disc)
        retdiff = self._retdiff(n, n, changed) if changed else NO_CHANGE
        new = stacked_trace(self, args, steps, trace.score + delta,
                            StackedChainInternal.of(steps), self._stacked_retval)
        return new, weight, retdiff, discard

    # -- trace access --------------------------------------------------------------------
    def trace_lookup(self, trace: Trace, path: Path) -> tuple[bool, Any]:
        """`trace[t]` is step t's retval; `trace[t, addr]` looks inside step t."""
        return indexed_lookup(trace.internal.subtraces, path)

    def __repr__(self) -> str:
        return f"<{self.name}>"


class _EditState:
    """The bookkeeping of one update/regenerate of a chain trace."""

    def __init__(self, chain: Chain, op: Any, plan: Plan, old_plan: Plan, old_subs: tuple,
                 keys: KeySource, batch: int | None, changed_inputs: set | None, who: str,
                 like: Any = None):
        self.chain, self.op, self.plan, self.old_plan = chain, op, plan, old_plan
        self.like = like
        self.old_subs, self.keys, self.batch = old_subs, keys, batch
        self.subs = list(old_subs[:min(len(old_subs), plan.n)])
        self.weight, self.delta, self.discard = zero(batch), zero(batch), EMPTY
        self.changed: set[int] = set()
        self.visited: set[int] = set()
        self.changed_inputs = changed_inputs
        self.who = who

    def _carry_in(self, subs: Any, plan: Plan, t: int) -> Any:
        return plan.init if t == 0 else self.chain._carry(subs[t - 1].retval)

    def visit_existing(self, forced: list) -> None:
        """Edit the forced steps, following each while its carried state changes."""
        kept, queue, last = len(self.subs), collections.deque(forced), -1
        while True:
            while queue and queue[0] <= last:
                queue.popleft()
            if not queue:
                return
            t = queue.popleft()
            while t is not None:
                last = t
                carry_changed = self._edit_step(t)
                t = t + 1 if carry_changed and t + 1 < kept else None

    def _edit_step(self, t: int) -> bool:
        chain, old = self.chain, self.old_subs[t]
        carry = self._carry_in(self.subs, self.plan, t)
        carry_same = carry is self._carry_in(self.old_subs, self.old_plan, t)
        argdiffs = chain._step_argdiffs(self.plan, t, carry_same, self.changed_inputs)
        new, w, retdiff, disc = guarded(self.who, "step", t, self.op.edit, chain.kernel, old, t,
                                        self.plan.step_args(t, carry), argdiffs, self.keys.at(t),
                                        sub_like(self.like, t))
        self.subs[t] = new
        self.visited.add(t)
        self.weight = self.weight + w
        self.delta = self.delta + (new.score - old.score)
        self.discard = add_discard(self.discard, t, disc)
        if new.retval is old.retval:
            return False
        self.changed.add(t)
        if is_no_change(retdiff):
            return False
        return chain._carry(new.retval) is not chain._carry(old.retval)

    def grow(self, n_old: int, n_new: int) -> None:
        """Create the steps the chain gained (generate/simulate with their constraints)."""
        for t in range(n_old, n_new):
            carry = self._carry_in(self.subs, self.plan, t)
            new, w = guarded(self.who, "step", t, self.op.fresh, self.chain.kernel, t,
                             self.plan.step_args(t, carry), self.keys.at(t),
                             sub_like(self.like, t))
            self.subs.append(new)
            self.weight = self.weight + w
            self.delta = self.delta + new.score
            self.changed.add(t)

    def shrink(self, n_new: int, n_old: int) -> None:
        """Drop the steps the chain lost (update: -old score, discard their choices)."""
        for t in range(n_new, n_old):
            old = self.old_subs[t]
            w, disc = self.op.remove(old)
            self.weight = self.weight + w
            self.delta = self.delta - old.score
            self.discard = add_discard(self.discard, t, disc)

    def finish(self, trace: Trace, args: tuple) -> tuple:
        n_old, n_new = len(self.old_subs), len(self.subs)
        if not self.changed and n_old == n_new:
            retval, retdiff = trace.retval, NO_CHANGE
        else:
            retval = self.chain._retval(self.plan, [s.retval for s in self.subs])
            retdiff = self.chain._retdiff(n_old, n_new, self.changed)
        choices = replace_indexed(trace.choices, self.subs,
                                  self.visited | set(range(n_old, n_new)), range(n_new, n_old))
        new = Trace(self.chain, args, retval, choices, trace.score + self.delta,
                    ChainInternal(tuple(self.subs), self.batch, self.like))
        return new, self.weight, retdiff, self.discard
