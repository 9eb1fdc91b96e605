"""Map: one kernel call per element of its argument sequences.

`Map(kernel)` takes args `(xs, ys, ...)`, sequences of one length n (lists,
tuples, or arrays whose leading axis is the element axis), and calls
`kernel(xs[i], ys[i], ...)` for i = 0..n-1; element i's choices sit under
`(i, ...)` and the retval is the list of the kernel retvals.

It is the generative function of this hand-written model, with incremental
update/regenerate: only elements named by the constraints/selection, elements
whose arguments changed (a `SequenceDiff` argdiff names them; otherwise elements
are compared by identity) and new elements run the kernel.

Batched (`vsimulate`, ... inside a vectorized model) each element's kernel
runs once for all particles with its part of the unbatched skeleton
(`like.internal.subtraces[i]`); the element count comes from the skeleton's
arguments, and an argument array that carries the particle axis (one more axis
than in the skeleton) is indexed on its element axis, axis 1.

    @gen
    def map_model(xs, ys):
        return [trace(i, kernel, x, y) for i, (x, y) in enumerate(zip(xs, ys))]

Example:
    >>> @gen
    ... def point(x):
    ...     return trace("y", dist.gaussian(2.0 * x, 1.0))
    >>> tr = Map(point).simulate(([1.0, 2.0, 3.0],), key=gm.key(0))
    >>> len(tr.retval), tr[1, "y"] is tr.retval[1]
    (3, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genmlx._backend import Array, get_backend
from genmlx.combinators._common import (
    KeySource, RegenerateOp, UpdateOp, add_discard, as_choicemap, changed_elements, check_args,
    element, guarded, index_keys, indexed_choices, indexed_lookup, replace_indexed, run_fresh,
    run_simulate, sequence_length, sub_like, zero,
)
from genmlx.combinators._stacked import (
    NO_KEY, NotStackable, StackedInternalMixin, StepPlan, attempt, choice_segments, concat_steps,
    discards_at, extras_of, per_step, project_stacked, register_stacked_internal,
    run_segments, stacked_trace, stacking,
)
from genmlx.dsl.handlers.batching import (
    edit_skeleton, generate_hints, no_hints, run_with_skeleton, update_hints,
)
from genmlx.core.address import Path
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.diff import NO_CHANGE, UNKNOWN_CHANGE, SequenceDiff
from genmlx.core.selection import Selection
from genmlx.core.trace import Trace
from genmlx.errors import ArgumentError
from genmlx.gfi.interface import (
    AssessResult, GenerateResult, GenerativeFunction, RegenerateResult, UpdateResult,
)

__all__ = ["Map"]


@dataclass(frozen=True)
class MapInternal:
    """A Map trace's per-element subtraces, its batch size (None: unbatched) and, when
    batched, its unbatched skeleton `like` (see `genmlx.dsl.handlers.batching`)."""

    subtraces: tuple
    batch: int | None = None
    like: Any = None


class StackedMapInternal(StackedInternalMixin, MapInternal):
    """A Map trace made in compiled code: its subtraces stacked (`StackedSteps`),
    rebuilt per element only when read (see `genmlx.combinators._stacked`)."""


register_stacked_internal(StackedMapInternal)


class Map(GenerativeFunction):
    """Apply `kernel` to every element of the argument sequences (module docstring)."""

    def __init__(self, kernel: GenerativeFunction):
        if not isinstance(kernel, GenerativeFunction):
            raise TypeError(f"Map: the kernel must be a generative function, "
                            f"got {type(kernel).__name__}")
        self.kernel = kernel
        self.name = f"Map({getattr(kernel, 'name', 'kernel')})"

    # -- arguments ----------------------------------------------------------------------
    def _length(self, args: tuple, who: str) -> int:
        check_args(who, args, 1)
        lengths = [sequence_length(seq, who) for seq in args]
        if len(set(lengths)) > 1:
            raise ArgumentError(f"{who}: the argument sequences must have one length, got "
                                f"lengths {lengths}")
        return lengths[0]

    @staticmethod
    def _element(args: tuple, i: int, like: Any = None) -> tuple:
        if like is None:
            return tuple(seq[i] for seq in args)
        return tuple(element(seq, like_seq, i) for seq, like_seq in zip(args, like.args))

    def _count(self, args: tuple, like: Any, who: str) -> int:
        """The number of elements (read from the unbatched skeleton when batched)."""
        return self._length(args if like is None else like.args, who)

    # -- forward execution ------------------------------------------------------------
    def _forward(self, args: tuple, constraints: ChoiceMap, batch: int | None, key: Any,
                 who: str, like: Any = None) -> GenerateResult:
        n = self._count(args, like, who)
        index_keys(constraints, n, who, "element")
        if stacking(batch, like) and n:
            out = attempt(self, "generate", lambda: self._forward_stacked(
                args, n, constraints, key))
            if out is not None:
                return out
        keys = KeySource(key)
        subs, weight, score = [], zero(batch), zero(batch)
        for i in range(n):
            sub_constraints = constraints.get_submap(i)
            if sub_constraints.is_empty():
                sub = guarded(who, "element", i, run_simulate, self.kernel,
                              self._element(args, i, like), batch, keys.at(i), sub_like(like, i))
            else:
                sub, w = guarded(who, "element", i, run_fresh, self.kernel,
                                 self._element(args, i, like), sub_constraints, batch,
                                 keys.at(i), sub_like(like, i))
                weight = weight + w
            score = score + sub.score
            subs.append(sub)
        trace = Trace(self, args, [s.retval for s in subs], indexed_choices(subs), score,
                      MapInternal(tuple(subs), batch, like))
        return GenerateResult(trace, weight)

    # -- stacked execution (inside compiled code; see genmlx.combinators._stacked) -----
    def _step_plan(self, args: tuple, n: int) -> StepPlan:
        """Per argument: one object for every element (shared), else stacked elements."""
        return StepPlan(n, [per_step(seq, n) for seq in args],
                        lambda values, state: tuple(values))

    def _stacked_retval(self, rets: list) -> list:
        return list(rets)

    def _forward_stacked(self, args: tuple, n: int, constraints: ChoiceMap,
                         key: Any) -> GenerateResult:
        """`_forward` through the backend's scan: one scan per run of elements whose
        constraints share a skeleton."""
        sp, kernel = self._step_plan(args, n), self.kernel

        def step(seg: Any, value: Any, elem_args: tuple, k: Any, old: Any) -> tuple:
            if not seg.static[1]:
                sub = kernel.simulate(elem_args, key=k)
                return sub, (None, sub.score), None, EMPTY, None
            sub, w = kernel.generate(elem_args, value, key=k)
            return sub, (w, sub.score), None, EMPTY, None

        maps = [constraints.get_submap(i) for i in range(n)]
        results, (weight, score), _ = run_segments(
            sp, choice_segments(maps, 0, ["forward"] * n), key, step, 2)
        steps = concat_steps(results, sp, n)
        trace = stacked_trace(self, args, steps, score, StackedMapInternal.of(steps),
                              self._stacked_retval)
        return GenerateResult(trace, weight)

    def _assess_stacked(self, args: tuple, n: int, choices: ChoiceMap) -> AssessResult:
        sp, kernel = self._step_plan(args, n), self.kernel

        def step(seg: Any, value: Any, elem_args: tuple, k: Any, old: Any) -> tuple:
            w, ret = kernel.assess(elem_args, value if seg.static[1] else EMPTY)
            return None, (w,), None, EMPTY, ret

        maps = [choices.get_submap(i) for i in range(n)]
        results, (total,), _ = run_segments(sp, choice_segments(maps, 0, ["assess"] * n),
                                            NO_KEY, step, 1, want_subtraces=False)
        return AssessResult(total, extras_of(results))

    def _edit_stacked(self, trace: Trace, op: Any, args: tuple, argdiffs: tuple | None,
                      key: Any, who: str) -> tuple:
        """`_edit` of a stacked trace through the backend's scan, for an unchanged
        element count: only the elements the eager path visits run (one scan per run
        of visited elements with equal constraints/sub-selection/argdiffs); the others
        keep their leaves."""
        n = self._length(args, who)
        old = trace.internal.steps
        if n != old.length:
            raise NotStackable("the element count changed: the unrolled path grows "
                                      "or shrinks the map")
        per_arg = self._changed(trace.args, args, argdiffs, n)
        visit = op.touched_indices(n, who)
        for changed in per_arg:
            visit |= set(range(n)) if changed is None else changed
        tags = []
        for i in range(n):
            diffs = tuple(UNKNOWN_CHANGE if c is None or i in c else NO_CHANGE for c in per_arg)
            tag = diffs if op.kind == "update" else (diffs, repr(op.sub(i)))
            tags.append(tag if i in visit else None)
        maps = [op.sub(i) if op.kind == "update" else EMPTY for i in range(n)]
        segments = choice_segments(maps, 0, tags)
        if not segments:
            new = stacked_trace(self, args, old, trace.score, trace.internal,
                                self._stacked_retval)
            return new, zero(), NO_CHANGE, EMPTY
        kernel = self.kernel

        def step(seg: Any, value: Any, elem_args: tuple, k: Any, old_sub: Any) -> tuple:
            if op.kind == "update":
                new, w, _, disc = kernel.update(old_sub, value if seg.static[1] else EMPTY,
                                                elem_args, seg.static[0], key=k)
            else:
                new, w, _ = kernel.regenerate(old_sub, op.sub(seg.start), elem_args,
                                              seg.static[0][0], key=k)
                disc = EMPTY
            return new, (w, new.score - old_sub.score), new.retval is not old_sub.retval, \
                disc, None

        sp = self._step_plan(args, n)
        results, (weight, delta), _ = run_segments(sp, segments, key, step, 2, old=old)
        steps = concat_steps(results, sp, n, old)
        retchanged = {i for r in results if r.info
                      for i in range(r.segment.start, r.segment.stop)}
        discard = EMPTY
        for i, disc in discards_at(results, visit):
            discard = add_discard(discard, i, disc)
        retdiff = SequenceDiff(n, n, frozenset(retchanged)) if retchanged else NO_CHANGE
        new = stacked_trace(self, args, steps, trace.score + delta,
                            StackedMapInternal.of(steps), self._stacked_retval)
        return new, weight, retdiff, discard

    def simulate(self, args: tuple, key: Any = None) -> Trace:
        """Run the kernel on every element; score = sum of the elements' scores."""
        return self._forward(args, EMPTY, None, key, f"{self.name}.simulate").trace

    def generate(self, args: tuple, constraints: ChoiceMap = EMPTY,
                 key: Any = None) -> GenerateResult:
        """Math: weight = sum over elements of the kernel's generate weight."""
        return self._forward(args, as_choicemap(constraints), None, key,
                             f"{self.name}.generate")

    def vsimulate(self, args: tuple, n: int, key: Any = None, like: Any = None) -> Trace:
        """Batched simulate: each element's kernel runs once for `n` particles ([n] score).
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
        """Math: weight = log p(choices; args) = sum over elements of the kernel's assess."""
        who = f"{self.name}.assess"
        choices = as_choicemap(choices)
        n = self._length(args, who)
        index_keys(choices, n, who, "element")
        if stacking() and n:
            out = attempt(self, "assess", lambda: self._assess_stacked(args, n, choices))
            if out is not None:
                return out
        total, rets = zero(), []
        for i in range(n):
            w, ret = guarded(who, "element", i, self.kernel.assess, self._element(args, i),
                             choices.get_submap(i))
            total = total + w
            rets.append(ret)
        return AssessResult(total, rets)

    def project(self, trace: Trace, selection: Selection) -> Array:
        """Math: sum over elements of the kernel's project on the selection under `i`."""
        if stacking() and isinstance(trace.internal, StackedInternalMixin):
            out = attempt(self, "project", lambda: project_stacked(
                trace.internal.steps, selection, trace.score))
            if out is not None:
                return out
        total = get_backend().xp.zeros_like(trace.score)
        for i, sub in enumerate(trace.internal.subtraces):
            sel = selection.sub(i)
            if not sel.is_none():
                total = total + sub.gen_fn.project(sub, sel)
        return total

    # -- incremental edits --------------------------------------------------------------
    def update(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
               argdiffs: tuple | None = None, key: Any = None) -> UpdateResult:
        """Math: weight = log p(t') - log p(t) less the density of fresh unconstrained
        choices: edited elements add their update weight, new elements their generate
        weight, removed elements subtract their old score; the rest are kept as they are."""
        if trace.internal.batch:
            return self.vupdate(trace, constraints, args, key)
        op = UpdateOp(as_choicemap(constraints), None)
        return UpdateResult(*self._edit(trace, op, args, argdiffs, key, f"{self.name}.update"))

    def regenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                   argdiffs: tuple | None = None, key: Any = None) -> RegenerateResult:
        """Math: weight = sum of the edited elements' regenerate weights (MH acceptance
        log-ratio); new and removed elements add nothing."""
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

    def _changed(self, old_args: tuple, args: tuple, argdiffs: tuple | None,
                 kept: int) -> list:
        """Per argument: the set of changed element indices (None: all may have changed)."""
        if len(old_args) != len(args):
            return [None] * len(args)
        return [changed_elements(old, new, None if argdiffs is None else argdiffs[j], kept)
                for j, (old, new) in enumerate(zip(old_args, args))]

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
        old_subs, n_new = trace.internal.subtraces, self._count(args, like, who)
        n_old = len(old_subs)
        kept = min(n_old, n_new)
        per_arg = self._changed(trace.args, args, argdiffs, kept)
        visit = op.touched_indices(n_new if op.kind == "update" else kept, who)
        for changed in per_arg:
            visit |= set(range(kept)) if changed is None else changed
        keys, batch = KeySource(key), trace.internal.batch
        subs = list(old_subs[:kept])
        weight, delta, discard, retchanged = zero(batch), zero(batch), EMPTY, set()
        for i in sorted(t for t in visit if t < kept):
            diffs = tuple(UNKNOWN_CHANGE if c is None or i in c else NO_CHANGE for c in per_arg)
            new, w, _, disc = guarded(who, "element", i, op.edit, self.kernel, old_subs[i], i,
                                      self._element(args, i, like), diffs, keys.at(i),
                                      sub_like(like, i))
            subs[i] = new
            weight, delta = weight + w, delta + (new.score - old_subs[i].score)
            discard = add_discard(discard, i, disc)
            if new.retval is not old_subs[i].retval:
                retchanged.add(i)
        for i in range(n_old, n_new):
            new, w = guarded(who, "element", i, op.fresh, self.kernel, i,
                             self._element(args, i, like), keys.at(i), sub_like(like, i))
            subs.append(new)
            weight, delta = weight + w, delta + new.score
        for i in range(n_new, n_old):
            w, disc = op.remove(old_subs[i])
            weight, delta = weight + w, delta - old_subs[i].score
            discard = add_discard(discard, i, disc)
        if not retchanged and n_old == n_new:
            retval, retdiff = trace.retval, NO_CHANGE
        else:
            retval = [s.retval for s in subs]
            retdiff = SequenceDiff(n_new, n_old, frozenset(retchanged))
        choices = replace_indexed(trace.choices, subs,
                                  {i for i in visit if i < kept} | set(range(n_old, n_new)),
                                  range(n_new, n_old))
        new_trace = Trace(self, args, retval, choices, trace.score + delta,
                          MapInternal(tuple(subs), batch, like))
        return new_trace, weight, retdiff, discard

    # -- trace access --------------------------------------------------------------------
    def trace_lookup(self, trace: Trace, path: Path) -> tuple[bool, Any]:
        """`trace[i]` is element i's retval; `trace[i, addr]` looks inside element i."""
        return indexed_lookup(trace.internal.subtraces, path)

    def __repr__(self) -> str:
        return f"<{self.name}>"
