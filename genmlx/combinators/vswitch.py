"""VSwitch: Switch for [N]-batched indices, by running every branch.

`VSwitch(*branches)` takes args `(index, *args)` with `index` an integer array
[N] (or 0-d). Every branch runs on the same arguments (batched for [N] indices),
and results are selected elementwise with `where` by the index: particle i's
retval, score and weights are those of branch `index[i]`. Use it where a
Python `if` on a batched value cannot run (inside `vsimulate`, or under
`vmap_gf`).

Choices: the trace holds every branch's choices, merged at the top level; an
address that several branches share holds, per particle, the selected
branch's value. A particle's score counts only its selected branch, so it is
the score of the hand-written model `splice(branches[index[i]], *args)` on that
particle's choices.

Called through the unbatched API with an [N] index (`simulate`, `generate`,
...), the score and weights are the sums over the N particles (as `vmap_gf`);
through the batched entry points (`vsimulate`, `vgenerate`, ...) they are [N].

Update/regenerate: particles whose index is unchanged get their branch's
update/regenerate weight. A particle whose index changes gets Switch's (Gen's)
rule elementwise: its new branch runs with its old branch's values at the
addresses they share (overridden by the constraints, or minus the selection);
update weight = that generate weight minus the old score, regenerate weight =
the kept values' new minus old log density. Nothing is read on the host: when
the index argument is a new object, every branch is regrown for every possible
old branch and the old and new indices select. The discard holds the old
values of every constrained address and, when the index changed, of every
address some other branch lacks.

No host syncs under tracing (`gm.compile`, `jax.jit`): eager calls check the
index range and assess's completeness on the host (input validation); traced
ones give NaN scores/weights instead.

`Switch` and `Mask` run batched (their `vsimulate`, `vgenerate`, ...) through a
VSwitch over their branches (`BatchedByVSwitch`).

Skeleton (see `genmlx.dsl.handlers.batching`): the unbatched trace of a
VSwitch call has a 0-d index and every branch's unbatched subtrace, so a
batched run hands branch k `like.internal.subtraces[k]`. Probing on batched
arguments replaces the [N] index by a 0-d one (the index is the one argument
whose particle axis VSwitch knows by contract). A Switch or Mask skeleton
(one branch) is turned into a VSwitch one by probing the VSwitch on its
unbatched arguments.

Example (low and high as in Switch's example):
    >>> tr = VSwitch(low, high).simulate((xp.asarray([0, 1, 1, 0]),), key=gm.key(0))
    >>> tr.score.shape  # the sum over the 4 particles of their selected branch's score
    ()
"""

from __future__ import annotations

import abc

from dataclasses import dataclass
from typing import Any

from genmlx._backend import Array, get_backend, tracing_what
from genmlx.combinators._common import (
    KeySource, as_choicemap, check_args, lookup, run_fresh, run_simulate, sub_like,
)
from genmlx.core.address import Path, show
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.diff import NO_CHANGE, UNKNOWN_CHANGE
from genmlx.core.selection import Selection, select
from genmlx.core.trace import Trace
from genmlx.dsl.handlers.batching import (
    edit_skeleton, generate_hints, no_hints, probe, run_with_skeleton, update_hints,
)
from genmlx.errors import AddressError, ArgumentError
from genmlx.gfi.interface import (
    AssessResult, GenerateResult, GenerativeFunction, RegenerateResult, UpdateResult,
)

__all__ = ["VSwitch", "BatchedByVSwitch"]


@dataclass(frozen=True)
class VSwitchInternal:
    """Index, every branch's subtrace, the batch size of the runs, whether the
    score is the sum over the batch (unbatched API with an [N] index), and for a
    trace of the batched entry points its unbatched skeleton `like`."""

    index: Array
    subtraces: tuple
    batch: int | None
    summed: bool
    like: Any = None


# -- elementwise selection -------------------------------------------------------------

def _cond(mask: Array, value: Array) -> Array:
    """`mask` ([N] or 0-d) shaped to broadcast against `value` ([N, ...])."""
    xp = get_backend().xp
    if mask.ndim == 0 or value.ndim <= 1:
        return mask
    return xp.reshape(mask, tuple(mask.shape) + (1,) * (value.ndim - 1))


def _where(mask: Array, a: Any, b: Any) -> Array:
    backend = get_backend()
    a = a if backend.is_array(a) else backend.asarray(a)
    b = b if backend.is_array(b) else backend.asarray(b)
    # the mask lines up with the leading (particle) axis of the operand that has one
    return backend.xp.where(_cond(mask, a if a.ndim >= b.ndim else b), a, b)


class Picker:
    """Elementwise choice among `(branch, value)` options by `index` (pytrees allowed).

    A None value (a branch with nothing to return, like Mask's off branch) is no
    option: indices selecting it get another branch's value. One picker selects
    each distinct set of operands once, so a value that is both a retval and a
    choice comes out as one object (as a branch's own trace has it).
    """

    def __init__(self, index: Array):
        self.index = index
        self._memo: dict = {}

    def __call__(self, options: list) -> Any:
        options = [(k, v) for k, v in options if v is not None]
        if not options:
            return None
        first = options[0][1]
        if all(v is first for _, v in options[1:]):
            return first
        if isinstance(first, (tuple, list)):
            if any(not isinstance(v, (tuple, list)) or len(v) != len(first) for _, v in options):
                raise ArgumentError("VSwitch: branch retvals must have the same structure")
            return type(first)(self([(k, v[j]) for k, v in options]) for j in range(len(first)))
        memo_key = tuple((k, id(v)) for k, v in options)
        hit = self._memo.get(memo_key)
        if hit is not None:
            return hit[1]
        out = first
        for k, value in options[1:]:
            out = _where(self.index == k, value, out)
        self._memo[memo_key] = (options, out)  # the options keep their ids alive
        return out


def select_available(index: Array, options: list) -> Any:
    """`Picker(index)(options)`: elementwise choice among `(branch, value)` options."""
    return Picker(index)(options)


def is_traced(x: Any) -> bool:
    """True while `x` is being traced for compilation (no host reads allowed)."""
    return tracing_what() is not None or get_backend().is_tracer(x)


def nan_outside(index: Array, count: int, value: Array) -> Array:
    """`value` where `index` names one of `count` branches, NaN elsewhere: what a traced
    index that cannot be range-checked on the host gives."""
    xp = get_backend().xp
    ok = (index >= 0) & (index < count)
    return xp.where(_cond(ok, value), value, xp.asarray(float("nan"), dtype=value.dtype))


def merge_choices(index: Array, subs: Any, pick: Picker | None = None) -> ChoiceMap:
    """Every branch's choices at the top level; shared addresses selected by `index`."""
    pick = Picker(index) if pick is None else pick
    table: dict[Path, list] = {}
    for k, sub in enumerate(subs):
        for path, value in sub.choices.leaves():
            table.setdefault(path, []).append((k, value))
    out = EMPTY
    for path, options in table.items():
        out = out.set(path, pick(options))
    return out


def restrict(choices: ChoiceMap, keep: ChoiceMap) -> ChoiceMap:
    """The leaves of `choices` whose addresses hold a value in `keep`."""
    out = EMPTY
    for path, value in choices.leaves():
        if keep.has_value(path):
            out = out.set(path, value)
    return out


def where_choices(mask: Array, a: ChoiceMap, b: ChoiceMap) -> ChoiceMap:
    """Leafwise `where(mask, a, b)` of two choicemaps with the same addresses."""
    out = EMPTY
    for path, value in b.leaves():
        out = out.set(path, _where(mask, a.get_value(path), value) if a.has_value(path)
                      else value)
    return out


class VSwitch(GenerativeFunction):
    """Run every branch, select results elementwise by an index array (module docstring)."""

    def __init__(self, *branches: GenerativeFunction):
        if not branches:
            raise ArgumentError("VSwitch: give at least one branch")
        for k, branch in enumerate(branches):
            if not isinstance(branch, GenerativeFunction):
                raise TypeError(f"VSwitch: branch {k} must be a generative function, "
                                f"got {type(branch).__name__}")
        self.branches = tuple(branches)
        self.name = "VSwitch(" + ", ".join(getattr(b, "name", "?") for b in branches) + ")"

    # -- arguments ------------------------------------------------------------------------
    def _index(self, index: Any, who: str) -> Array:
        backend = get_backend()
        xp = backend.xp
        idx = index if backend.is_array(index) else backend.asarray(index)
        if not xp.isdtype(idx.dtype, "integral") or idx.ndim > 1:
            raise ArgumentError(f"{who}: the index must be an integer array [N] (or 0-d), got "
                                f"dtype {idx.dtype} with shape {tuple(idx.shape)}")
        # Input validation on the host, outside tracing only (the results do not depend
        # on it); a traced out-of-range index gives NaN scores and weights instead.
        if not is_traced(idx) and bool(xp.any((idx < 0) | (idx >= len(self.branches)))):
            raise ArgumentError(f"{who}: branch index out of range; there are "
                                f"{len(self.branches)} branches (valid indices 0.."
                                f"{len(self.branches) - 1})")
        return idx

    def _split(self, args: tuple, batch: int | None, who: str) -> tuple:
        """(index, branch args, run batch size, summed)."""
        check_args(who, args, 1)
        index = self._index(args[0], who)
        if batch:
            if index.ndim == 1 and int(index.shape[0]) != batch:
                raise ArgumentError(f"{who}: index has {index.shape[0]} entries for a batch "
                                    f"of {batch}")
            return index, tuple(args[1:]), batch, False
        if index.ndim == 1:
            return index, tuple(args[1:]), int(index.shape[0]), True
        return index, tuple(args[1:]), None, False

    def _trace(self, args: tuple, index: Array, subs: list, batch: int | None,
               summed: bool, like: Any = None) -> Trace:
        pick = Picker(index)
        score = self._total(self._guard(index, pick([(k, s.score) for k, s in enumerate(subs)])),
                            summed)
        retval = pick([(k, s.retval) for k, s in enumerate(subs)])
        return Trace(self, args, retval, merge_choices(index, subs, pick), score,
                     VSwitchInternal(index, tuple(subs), batch, summed, like))

    @staticmethod
    def probe_args(args: tuple) -> tuple:
        """`args` with a 0-d index: the unbatched arguments to probe with."""
        backend = get_backend()
        return (backend.xp.zeros((), dtype=backend.int_dtype),) + tuple(args[1:])

    @staticmethod
    def _total(x: Array, summed: bool) -> Array:
        return get_backend().xp.sum(x) if summed else x

    def _guard(self, index: Array, value: Array) -> Array:
        """NaN where a traced index is out of range (an eager one was checked)."""
        return nan_outside(index, len(self.branches), value) if is_traced(index) else value

    def _select(self, index: Array, values: list, summed: bool) -> Array:
        return self._total(self._guard(index, Picker(index)(list(enumerate(values)))), summed)

    # -- forward -------------------------------------------------------------------------
    def _generate_branch(self, k: int, args: tuple, constraints: ChoiceMap,
                         batch: int | None, key: Any, like: Any = None) -> tuple[Trace, Array]:
        """The branch's generate on the constraints among its own addresses (`like`: the
        branch's unbatched skeleton in a batched run)."""
        branch = self.branches[k]
        if constraints.is_empty():
            sub = run_simulate(branch, args, batch, key, like)
            return sub, get_backend().xp.zeros_like(sub.score)
        try:
            return run_fresh(branch, args, constraints, batch, key, like)
        except AddressError:
            visited = run_simulate(branch, args, batch, key, like)
            return run_fresh(branch, args, restrict(constraints, visited.choices), batch, key,
                             like)

    def _check_used(self, constraints: ChoiceMap, subs: list, who: str) -> None:
        for path, _ in constraints.leaves():
            if not any(s.choices.has_value(path) for s in subs):
                raise AddressError(f"{who}: constraint at address {show(path)}, which no "
                                   "branch visits")

    def _forward(self, args: tuple, constraints: ChoiceMap, batch: int | None, key: Any,
                 who: str, like: Any = None) -> GenerateResult:
        index, rest, run_batch, summed = self._split(args, batch, who)
        keys = KeySource(key)
        results = [self._generate_branch(k, rest, constraints, run_batch, keys.at(k),
                                         sub_like(like, k))
                   for k in range(len(self.branches))]
        subs = [r[0] for r in results]
        self._check_used(constraints, subs, who)
        weight = self._select(index, [r[1] for r in results], summed)
        return GenerateResult(self._trace(args, index, subs, run_batch, summed, like), weight)

    def simulate(self, args: tuple, key: Any = None) -> Trace:
        """Run every branch; score = the selected branch's score (summed over [N])."""
        return self._forward(args, EMPTY, None, key, f"{self.name}.simulate").trace

    def generate(self, args: tuple, constraints: ChoiceMap = EMPTY,
                 key: Any = None) -> GenerateResult:
        """Math: weight = the selected branch's generate weight (summed over [N])."""
        return self._forward(args, as_choicemap(constraints), None, key,
                             f"{self.name}.generate")

    def vsimulate(self, args: tuple, n: int, key: Any = None, like: Any = None) -> Trace:
        """Batched simulate: [n] scores, each the selected branch's. `like`: the
        unbatched trace of this call (None: the branch args are unbatched)."""
        who, n = f"{self.name}.vsimulate", int(n)
        check_args(who, args, 1)
        return run_with_skeleton(
            self, lambda lk: self._forward(args, EMPTY, n, key, who, lk).trace, like,
            self.probe_args(args), no_hints)

    def vgenerate(self, args: tuple, constraints: ChoiceMap, n: int,
                  key: Any = None, like: Any = None) -> GenerateResult:
        """Batched generate: [n] weights, each the selected branch's generate weight."""
        who, n, constraints = f"{self.name}.vgenerate", int(n), as_choicemap(constraints)
        check_args(who, args, 1)
        return run_with_skeleton(
            self, lambda lk: self._forward(args, constraints, n, key, who, lk), like,
            self.probe_args(args), generate_hints(constraints))

    def assess(self, args: tuple, choices: ChoiceMap) -> AssessResult:
        """Math: weight = the selected branch's log p(choices) (summed over [N]).

        Every branch is run with all its choices constrained (a fixed key, so
        nothing is drawn); a branch selected by some particle must find all its
        choices in `choices`.
        """
        who = f"{self.name}.assess"
        choices = as_choicemap(choices)
        index, rest, run_batch, summed = self._split(args, None, who)
        xp, key = get_backend().xp, get_backend().key(0)
        subs, weights = [], []
        for k in range(len(self.branches)):
            sub, weight = self._generate_branch(k, rest, choices, run_batch, key)
            missing = [p for p, _ in sub.choices.leaves() if not choices.has_value(p)]
            if missing and is_traced(index):
                # no host read inside compiled code: particles selecting k get NaN
                weight = xp.full_like(weight, float("nan"))
            elif missing and bool(xp.any(index == k)):  # eager input validation
                raise AddressError(f"{who}: no choice at address {show(missing[0])} of "
                                   f"branch {k}; assess needs every random choice")
            subs.append(sub)
            weights.append(weight)
        self._check_used(choices, subs, who)
        retval = select_available(index, [(k, s.retval) for k, s in enumerate(subs)])
        return AssessResult(self._select(index, weights, summed), retval)

    def project(self, trace: Trace, selection: Selection) -> Array:
        """Math: the selected branch's project (summed over [N])."""
        internal: VSwitchInternal = trace.internal
        values = [s.gen_fn.project(s, selection) for s in internal.subtraces]
        return self._select(internal.index, values, internal.summed)

    # -- edits ---------------------------------------------------------------------------
    def _edit_setup(self, trace: Trace, args: tuple | None, who: str) -> tuple:
        """(args, index, branch args or None to keep each branch's)."""
        old: VSwitchInternal = trace.internal
        if args is None:
            return trace.args, old.index, None
        index, rest, run_batch, _ = self._split(args, None if old.summed else old.batch, who)
        if run_batch != old.batch:
            raise ArgumentError(f"{who}: the batch size changed from {old.batch} to "
                                f"{run_batch}; run generate for a new batch size")
        return args, index, rest

    @staticmethod
    def _moved(old_index: Array, index: Array) -> Array | None:
        """Mask of the particles whose branch may have changed (None: the index is the
        same object, so none did). Not read on the host: every branch is regrown and
        the mask selects."""
        return None if index is old_index else index != old_index

    def _regrow(self, k: int, kept: Trace, kept_weight: Array, to_k: Array, old: Trace,
                edit: Any, batch: int | None, key: Any, like: Any = None) -> tuple[Trace, Array]:
        """Branch k's subtrace with the particles `to_k` that moved to it run by Gen's
        rule: for each old branch j, branch k generated on j's values at the addresses
        they share (overridden by the constraints, or minus the selection), selected
        per particle by its old index; the others keep `kept`.

        `edit` is ("update", constraints) or ("regenerate", selection). Weights of the
        moved particles: update, the generate weight minus the old score; regenerate,
        the generate weight minus the kept values' old log density."""
        internal: VSwitchInternal = old.internal
        kind, what = edit
        keys = KeySource(key)
        old_score = Picker(internal.index)([(j, s.score)
                                            for j, s in enumerate(internal.subtraces)])
        choices, weight = kept.choices, kept_weight
        for j, source in enumerate(internal.subtraces):
            if j == k:
                continue
            shared = restrict(source.choices, kept.choices)
            if kind == "update":
                given = shared
                for path, value in what.leaves():
                    given = given.set(path, value)
            else:
                given = ChoiceMap.from_mapping({p: v for p, v in shared.leaves()
                                                if p not in what})
            fresh, fresh_weight = self._generate_branch(k, kept.args, given, batch,
                                                        keys.at(j), like)
            if kind == "update":
                fresh_weight = fresh_weight - old_score
            elif not given.is_empty():
                fresh_weight = fresh_weight - source.gen_fn.project(
                    source, select(*given.addresses()))
            from_j = to_k & (internal.index == j)
            choices = where_choices(from_j, fresh.choices, choices)
            weight = _where(from_j, fresh_weight, weight)
        rebuilt, _ = run_fresh(self.branches[k], kept.args, choices, batch, keys.at(len(
            self.branches)), like)
        return rebuilt, weight

    def _discard(self, trace: Trace, discards: list, moved: Array | None,
                 index: Array) -> ChoiceMap:
        """Old values at the constrained addresses and, when particles may have moved,
        at every address of an old branch that another branch lacks (Gen's rule keeps
        shared addresses; which particles moved is not read on the host)."""
        old: VSwitchInternal = trace.internal
        paths = {p for d in discards for p, _ in d.leaves()}
        if moved is not None:
            sets = [set(sub.choices.addresses()) for sub in old.subtraces]
            for j, own in enumerate(sets):
                for k, other in enumerate(sets):
                    if k != j:
                        paths |= own - other
        out = EMPTY
        for path, value in trace.choices.leaves():
            if path in paths:
                out = out.set(path, value)
        return out

    def _edit(self, trace: Trace, edit_branch: Any, constraints: ChoiceMap | None,
              args: tuple | None, key: Any, who: str, like: Any = None,
              edit: Any = None) -> tuple:
        old: VSwitchInternal = trace.internal
        args, index, rest = self._edit_setup(trace, args, who)
        keys, count = KeySource(key), len(self.branches)
        moved = self._moved(old.index, index)
        subs, weights, discards = [], [], []
        for k, sub in enumerate(old.subtraces):
            routed = EMPTY if constraints is None else restrict(constraints, sub.choices)
            new, weight, discard = edit_branch(k, sub, routed, rest, keys.at(k),
                                               sub_like(like, k))
            if moved is not None:
                new, weight = self._regrow(k, new, weight, moved & (index == k), trace,
                                           edit if constraints is None else
                                           ("update", routed), old.batch,
                                           keys.at(count + k), sub_like(like, k))
            subs.append(new)
            weights.append(weight)
            discards.append(discard)
        new_trace = self._trace(args, index, subs, old.batch, old.summed, like)
        retdiff = NO_CHANGE if new_trace.retval is trace.retval else UNKNOWN_CHANGE
        weight = self._select(index, weights, old.summed)
        return new_trace, weight, retdiff, self._discard(trace, discards, moved, index)

    def update(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
               argdiffs: tuple | None = None, key: Any = None) -> UpdateResult:
        """Math: per particle, the selected branch's update weight; for a particle whose
        branch changed (Gen's rule), the new branch's generate weight on the old shared
        values and the constraints, minus the old branch's score."""
        if self._batched_api(trace):
            return self.vupdate(trace, constraints, args, key)
        return self._update(trace, as_choicemap(constraints), args, key, None,
                            f"{self.name}.update")

    def _update(self, trace: Trace, constraints: ChoiceMap, args: tuple | None, key: Any,
                like: Any, who: str) -> UpdateResult:
        self._check_used(constraints, trace.internal.subtraces, who)
        batch = trace.internal.batch

        def edit_branch(k, sub, routed, rest, key, branch_like):
            if batch:
                new, w, _, discard = self.branches[k].vupdate(sub, routed, rest, key=key,
                                                              like=branch_like)
            else:
                new, w, _, discard = self.branches[k].update(sub, routed, rest, None, key=key)
            return new, w, discard

        return UpdateResult(*self._edit(trace, edit_branch, constraints, args, key, who, like))

    def regenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                   argdiffs: tuple | None = None, key: Any = None) -> RegenerateResult:
        """Math: per particle, the selected branch's regenerate weight; for a particle
        whose branch changed (Gen's rule), the new minus old log density of the
        unselected values the branches share (the rest is drawn from the prior)."""
        if self._batched_api(trace):
            return self.vregenerate(trace, selection, args, key)
        return self._regenerate(trace, selection, args, key, None, f"{self.name}.regenerate")

    def _regenerate(self, trace: Trace, selection: Selection, args: tuple | None, key: Any,
                    like: Any, who: str) -> RegenerateResult:
        batch = trace.internal.batch

        def edit_branch(k, sub, routed, rest, key, branch_like):
            if batch:
                new, w, _ = self.branches[k].vregenerate(sub, selection, rest, key=key,
                                                         like=branch_like)
            else:
                new, w, _ = self.branches[k].regenerate(sub, selection, rest, None, key=key)
            return new, w, EMPTY

        new, weight, retdiff, _ = self._edit(trace, edit_branch, None, args, key, who, like,
                                             ("regenerate", selection))
        return RegenerateResult(new, weight, retdiff)

    @staticmethod
    def _batched_api(trace: Trace) -> bool:
        """True for a trace of the batched entry points (per-particle scores, a skeleton)."""
        internal: VSwitchInternal = trace.internal
        return bool(internal.batch) and not internal.summed

    def _edit_skeleton(self, trace: Trace, args: tuple | None, like: Any, who: str) -> tuple:
        like, probe_args, first = edit_skeleton(trace, args, like, who)
        if probe_args is not None and args is not None:
            probe_args = self.probe_args(probe_args)
        return like, probe_args, first

    def vupdate(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
                key: Any = None, like: Any = None) -> UpdateResult:
        """Batched update ([N] weights, as in `update`)."""
        if not self._batched_api(trace):
            return self.update(trace, constraints, args, None, key)
        who, constraints = f"{self.name}.vupdate", as_choicemap(constraints)
        like, probe_args, first = self._edit_skeleton(trace, args, like, who)
        return run_with_skeleton(
            self, lambda lk: self._update(trace, constraints, args, key, lk, who), like,
            probe_args, update_hints(constraints, trace.choices), first)

    def vregenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                    key: Any = None, like: Any = None) -> RegenerateResult:
        """Batched regenerate ([N] weights, as in `regenerate`)."""
        if not self._batched_api(trace):
            return self.regenerate(trace, selection, args, None, key)
        who = f"{self.name}.vregenerate"
        like, probe_args, first = self._edit_skeleton(trace, args, like, who)
        return run_with_skeleton(
            self, lambda lk: self._regenerate(trace, selection, args, key, lk, who), like,
            probe_args, update_hints(EMPTY, trace.choices), first)

    def trace_lookup(self, trace: Trace, path: Path) -> tuple[bool, Any]:
        """A merged choice, or a value found in the branches, selected by the index."""
        if not path:
            return False, None
        if trace.choices.has_value(path):
            return True, trace.choices.get_value(path)
        options = []
        for k, sub in enumerate(trace.internal.subtraces):
            found, value = lookup(sub, path)
            if found:
                options.append((k, value))
        if not options:
            return False, None
        return True, select_available(trace.internal.index, options)

    def __repr__(self) -> str:
        return f"<{self.name}>"


class BatchedByVSwitch:
    """Mixin: batched entry points of a branching combinator through a VSwitch.

    The subclass gives `_batched_switch()` (a VSwitch over its branches) and
    `_switch_args(args)` (its args as the VSwitch's `(index, *args)`). A batched
    trace keeps the combinator as `gen_fn` and the VSwitch trace as `internal`.
    """

    @abc.abstractmethod
    def _batched_switch(self) -> VSwitch:
        ...

    def _switch_args(self, args: tuple) -> tuple:
        return args

    def _lift(self, args: tuple, sub: Trace) -> Trace:
        return Trace(self, args, sub.retval, sub.choices, sub.score, sub)

    @staticmethod
    def is_batched_trace(trace: Trace) -> bool:
        return isinstance(trace.internal, Trace)

    def _switch_like(self, like: Any) -> Any:
        """The VSwitch skeleton for this combinator's unbatched trace `like` (which holds
        one branch at most): a probe of the VSwitch on its unbatched arguments."""
        if like is None:
            return None
        return probe(self._batched_switch(), self._switch_args(like.args))

    def vsimulate(self, args: tuple, n: int, key: Any = None, like: Any = None) -> Trace:
        """Every branch runs batched; [n] scores, each the selected branch's."""
        return self._lift(args, self._batched_switch().vsimulate(
            self._switch_args(args), n, key=key, like=self._switch_like(like)))

    def vgenerate(self, args: tuple, constraints: ChoiceMap, n: int,
                  key: Any = None, like: Any = None) -> GenerateResult:
        """Batched generate: [n] weights, each the selected branch's."""
        sub, weight = self._batched_switch().vgenerate(self._switch_args(args), constraints, n,
                                                       key=key, like=self._switch_like(like))
        return GenerateResult(self._lift(args, sub), weight)

    def vupdate(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
                key: Any = None, like: Any = None) -> UpdateResult:
        """Batched update: VSwitch's per-particle weights."""
        switch_args = None if args is None else self._switch_args(args)
        sub, weight, retdiff, discard = self._batched_switch().vupdate(
            trace.internal, constraints, switch_args, key=key, like=self._switch_like(like))
        return UpdateResult(self._lift(trace.args if args is None else args, sub), weight,
                            retdiff, discard)

    def vregenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                    key: Any = None, like: Any = None) -> RegenerateResult:
        """Batched regenerate: VSwitch's per-particle weights."""
        switch_args = None if args is None else self._switch_args(args)
        sub, weight, retdiff = self._batched_switch().vregenerate(
            trace.internal, selection, switch_args, key=key, like=self._switch_like(like))
        return RegenerateResult(self._lift(trace.args if args is None else args, sub), weight,
                                retdiff)
