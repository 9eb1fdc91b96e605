"""Switch: choose one of several generative functions by an index argument.

`Switch(*branches)` takes args `(index, *args)` and runs `branches[index](*args)`;
the chosen branch's choices are inlined at the top level (as in Gen's Switch), so
the trace's choices, score and retval are the branch's. It is the generative
function of this hand-written model:

    @gen
    def switch(index, *args):
        return splice(branches[index], *args)

Changing the index in an update or regenerate follows Gen.jl (and that model):
the new branch runs with the old branch's choices as constraints where their
addresses coincide, so shared addresses keep their values.

- update: weight = log p(new choices) - log p(old choices), fresh choices of the
  new branch excluded: the new branch's generate weight on the merged
  constraints (old shared values, overridden by the update's constraints) minus
  the old branch's score. The discard holds the old values the new branch does
  not use, and those the constraints replaced.
- regenerate: shared addresses outside the selection keep their values; the
  selected and fresh choices are drawn from the prior, which cancels them:
  weight = sum over the kept choices of (new - old log density).

Two ways to run:

- a concrete Python int index runs only that branch;
- an array index (a 0-d integer or bool array, NumPy scalars included: a
  sampled choice, or a tracer
  inside `gm.compile`/`jax.jit`) runs *every* branch and selects the results
  with `where`, reading nothing on the host, so a model whose branch index is a
  sampled value compiles. The trace keeps every branch's subtrace and the index
  (`BranchesInternal`); its score, weights and retval are the selected
  branch's. Its choices are the selected branch's too: when every branch has
  the same addresses (and value shapes) they are selected value by value with
  `where`; otherwise they are a `SelectedChoices`, read on the host from the
  index the first time they are looked at (never inside compiled code: an
  address set cannot depend on a traced value). Constraints are routed to the
  branches that visit their addresses; one that only an unselected branch
  visits contributes nothing. An out-of-range array index is not checked (that
  would read it on the host): the score and weights come out NaN. Assess gives
  NaN when the selected branch lacks one of its choices.

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

from genmlx._backend import Array, get_backend, on_backend_load
from genmlx.combinators._common import (
    KeySource, as_choicemap, check_args, lookup, zero,
)
from genmlx.combinators.vswitch import (
    BatchedByVSwitch, Picker, VSwitch, is_traced, nan_outside, restrict,
)
from genmlx.core.address import Path, show
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.diff import UNKNOWN_CHANGE
from genmlx.core.pytree import flatten, register_node, tree_where, unflatten
from genmlx.core.selection import Selection, select
from genmlx.core.trace import Trace
from genmlx.errors import AddressError, ArgumentError, GenMLXError
from genmlx.gfi.interface import (
    AssessResult, GenerateResult, GenerativeFunction, RegenerateResult, UpdateResult,
)

__all__ = ["Switch", "as_index", "SelectedChoices", "BranchesInternal", "SwitchInternal"]


class TracedValueError(ValueError):
    """Something needs a traced value on the host (e.g. the address set of a choicemap
    selected by a traced index). A ValueError, not a GenMLXError, so `gm.compile`
    treats it as value-dependent structure and falls back to the handler path."""


def host_index(index: Any, who: str) -> int:
    """A concrete array index read on the host (only on demand: reading choices)."""
    if is_traced(index):
        raise TracedValueError(
            f"{who}: the branch index is a traced value, so which branch's choices (and "
            "addresses) to show is unknown inside compiled code; read the choices outside it")
    return int(get_backend().to_python(index))


# -- choices of the selected branch --------------------------------------------------------

class SelectedChoices(ChoiceMap):
    """The choicemap `options[index]`, resolved on the host when first looked at.

    Building it reads nothing, so it can be made (and flattened, and returned)
    inside compiled code; any query that needs the address set reads `index`.
    `is_empty()` answers without the index when all options agree. One built
    outside tracing flattens as the option it selects (it is going into compiled
    code as an input, whose address set must be fixed); one built while tracing
    flattens as the index and every option.
    """

    __slots__ = ("_index", "_options", "_chosen", "_traced")

    def __init__(self, index: Array, options: tuple):
        self._index = index
        self._options = tuple(options)
        self._chosen = None
        self._traced = is_traced(index)

    def resolve(self) -> ChoiceMap:
        """The selected option (reads the index on the host, once)."""
        if self._chosen is None:
            k = host_index(self._index, "choices of a Switch/Mask with an array index")
            self._chosen = self._options[k] if 0 <= k < len(self._options) else EMPTY
        return self._chosen

    # ChoiceMap's methods read these three slots; here they come from the selected option
    _is_leaf = property(lambda self: self.resolve()._is_leaf)
    _value = property(lambda self: self.resolve()._value)
    _children = property(lambda self: self.resolve()._children)

    def is_empty(self) -> bool:
        flags = {o.is_empty() for o in self._options}
        if len(flags) == 1:
            return flags.pop()
        if self._chosen is None and self._traced:
            return False  # unknown while tracing: a node that may turn out empty
        return self.resolve().is_empty()


def _children(cm: SelectedChoices) -> tuple[tuple, Any]:
    if cm._traced:
        return (cm._index,) + cm._options, len(cm._options)
    return (cm.resolve(),), "resolved"


def _rebuild(static: Any, children: tuple) -> ChoiceMap:
    return children[0] if static == "resolved" else SelectedChoices(children[0], children[1:])


register_node(SelectedChoices, _children, _rebuild)


def _register_with(backend: Any) -> None:
    backend.register_pytree_node(
        SelectedChoices, lambda cm: flatten(cm),
        lambda skeleton, leaves: unflatten(skeleton, list(leaves)))


on_backend_load(_register_with)


def static_leaves(choices: ChoiceMap) -> dict | None:
    """{path: value} of `choices` without resolving any `SelectedChoices` inside it
    (None when there is one: its address set is not known statically)."""
    out: dict = {}

    def walk(node: ChoiceMap, prefix: Path) -> bool:
        if type(node) is SelectedChoices:
            return False
        if node._is_leaf:
            out[prefix] = node._value
            return True
        return all(walk(child, prefix + (part,)) for part, child in node._children.items())

    return out if walk(choices, ()) else None


def select_choices(pick: Picker, options: list) -> ChoiceMap:
    """The choicemap of the `(k, choices)` option whose k `pick.index` names, without
    reading the index: selected value by value when every option has the same
    addresses and value shapes, else a `SelectedChoices` (k beyond the options, or
    missing: empty)."""
    maps = [m for _, m in options]
    if not any(type(m) is SelectedChoices for m in maps) and all(m.is_empty() for m in maps):
        return EMPTY
    if len(options) == 1:
        return maps[0]
    dense = [EMPTY] * (max(k for k, _ in options) + 1)
    for k, m in options:
        dense[k] = m
    lazy = SelectedChoices(pick.index, tuple(dense))
    tables = [static_leaves(m) for m in maps]
    if any(t is None for t in tables) or any(t.keys() != tables[0].keys() for t in tables):
        return lazy
    for path in tables[0]:
        kinds = {(tuple(getattr(t[path], "shape", (None,))), str(getattr(t[path], "dtype", "")))
                 for t in tables}
        if len(kinds) != 1 or not hasattr(tables[0][path], "shape"):
            return lazy
    keys = [k for k, _ in options]
    return ChoiceMap.from_mapping({path: pick(list(zip(keys, (t[path] for t in tables))))
                                   for path in tables[0]})


# -- internals ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class SwitchInternal:
    """A concrete index and the chosen branch's subtrace."""

    index: int
    subtrace: Trace


@dataclass(frozen=True)
class BranchesInternal:
    """An array index and every branch's subtrace (the unselected ones are valid
    traces of their branch, kept so the next edit has a static structure)."""

    index: Array
    subtraces: tuple


def as_index(index: Any, count: int, who: str) -> int | Array:
    """A concrete index as a Python int in 0..count-1, or a 0-d integer/bool array as
    a 0-d int array (not read: see the module docstring); ArgumentError otherwise."""
    backend = get_backend()
    if isinstance(index, int):  # Python ints and bools (NumPy scalars are arrays here)
        index = int(index)
        if not 0 <= index < count:
            raise ArgumentError(f"{who}: branch index {index} is out of range; there are "
                                f"{count} branches (valid indices 0..{count - 1})")
        return index
    dtype = str(getattr(index, "dtype", ""))
    if getattr(index, "shape", None) != () or not ("int" in dtype or "bool" in dtype):
        raise ArgumentError(f"{who}: the branch index must be an int (or a 0-d integer "
                            f"array), got {index!r}; for an [N] index of particles use "
                            "VSwitch or the batched entry points (vsimulate, ...)")
    index = index if backend.is_array(index) else backend.asarray(index)
    return index if "int" in dtype else backend.xp.astype(index, backend.int_dtype)


def select_traces(index: Array, candidates: list, who: str) -> Trace:
    """The subtrace `candidates[j][1]` whose `j` equals `index`, leaf by leaf.

    Candidates are traces of one branch; when their structures differ (a branch
    whose addresses depend on values) no leafwise selection exists: outside
    tracing the index is read on the host, inside it the call falls back.
    """
    out = candidates[0][1]
    if len(candidates) == 1:
        return out
    xp = get_backend().xp
    try:
        for j, sub in candidates[1:]:
            out = tree_where(xp, index == j, sub, out)
        return out
    except GenMLXError:
        k = host_index(index, f"{who} (branch traces of different structure)")
        return next((sub for j, sub in candidates if j == k), candidates[0][1])


def generate_on(branch: GenerativeFunction, args: tuple, constraints: ChoiceMap,
                key: Any) -> tuple[Trace, Array, ChoiceMap]:
    """(trace, generate weight, constraints used): `branch.generate` on the constraints
    among the addresses it visits."""
    if constraints.is_empty():
        sub = branch.simulate(args, key=key)
        return sub, get_backend().xp.zeros_like(sub.score), EMPTY
    try:
        sub, weight = branch.generate(args, constraints, key=key)
        return sub, weight, constraints
    except AddressError:
        visited = branch.simulate(args, key=key)
        used = restrict(constraints, visited.choices)
        sub, weight = branch.generate(args, used, key=key)
        return sub, weight, used


def overlay(base: ChoiceMap, top: ChoiceMap) -> ChoiceMap:
    """`base` with every value of `top` written over it."""
    for path, value in top.leaves():
        base = base.set(path, value)
    return base


# -- the all-branches edit: Gen's rules, selected by the old and new index ---------------------

class UpdateRule:
    """Update with Gen's rule for a changed index (module docstring)."""

    def __init__(self, constraints: ChoiceMap):
        self.constraints = constraints

    def stay(self, branch: Any, old: Trace, args: tuple | None, diffs: Any,
             key: Any) -> tuple[Trace, Array, ChoiceMap, Any]:
        """(subtrace, weight, discard, retdiff) of the branch's own update."""
        try:
            sub, w, retdiff, discard = branch.update(old, self.constraints, args, diffs, key=key)
        except AddressError:  # constraints meant for another branch's addresses
            sub, w, retdiff, discard = branch.update(
                old, restrict(self.constraints, old.choices), args, diffs, key=key)
        return sub, w, discard, retdiff

    def move(self, branch: Any, old: Trace, old_score: Array, args: tuple,
             key: Any) -> tuple[Trace, Array, ChoiceMap]:
        merged = overlay(old.choices, self.constraints)
        sub, weight, _ = generate_on(branch, args, merged, key)
        kept = {p for p, _ in sub.choices.leaves()}
        discard = ChoiceMap.from_mapping({
            p: v for p, v in old.choices.leaves()
            if p not in kept or self.constraints.has_value(p)})
        return sub, weight - old_score, discard


class RegenerateRule:
    """Regenerate with Gen's rule for a changed index (module docstring)."""

    def __init__(self, selection: Selection):
        self.selection = selection

    def stay(self, branch: Any, old: Trace, args: tuple | None, diffs: Any,
             key: Any) -> tuple[Trace, Array, ChoiceMap, Any]:
        sub, w, retdiff = branch.regenerate(old, self.selection, args, diffs, key=key)
        return sub, w, EMPTY, retdiff

    def move(self, branch: Any, old: Trace, old_score: Array, args: tuple,
             key: Any) -> tuple[Trace, Array, ChoiceMap]:
        unselected = ChoiceMap.from_mapping({p: v for p, v in old.choices.leaves()
                                             if p not in self.selection})
        sub, weight, kept = generate_on(branch, args, unselected, key)
        if not kept.is_empty():
            # the kept values' old log density leaves the weight; fresh and selected
            # choices cancel against the prior proposal
            weight = weight - old.gen_fn.project(old, select(*kept.addresses()))
        return sub, weight, EMPTY


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

    def _split(self, args: tuple, who: str) -> tuple[int | Array, tuple]:
        check_args(who, args, 1)
        return as_index(args[0], len(self.branches), who), tuple(args[1:])

    def _trace(self, args: tuple, index: int, sub: Trace) -> Trace:
        return Trace(self, args, sub.retval, sub.choices, sub.score, SwitchInternal(index, sub))

    def _old(self, trace: Trace) -> tuple[int | Array, dict]:
        """(old index, {branch: subtrace}) of an unbatched Switch trace."""
        internal = trace.internal
        if isinstance(internal, BranchesInternal):
            return internal.index, dict(enumerate(internal.subtraces))
        return internal.index, {internal.index: internal.subtrace}

    # -- GFI ----------------------------------------------------------------------------
    def simulate(self, args: tuple, key: Any = None) -> Trace:
        """Run the chosen branch (every branch for an array index); score = its score."""
        index, rest = self._split(args, f"{self.name}.simulate")
        if isinstance(index, int):
            return self._trace(args, index, self.branches[index].simulate(rest, key=key))
        return self.all_simulate(self, args, index, rest, key)

    def generate(self, args: tuple, constraints: ChoiceMap = EMPTY,
                 key: Any = None) -> GenerateResult:
        """Math: weight = the chosen branch's generate weight."""
        index, rest = self._split(args, f"{self.name}.generate")
        constraints = as_choicemap(constraints)
        if isinstance(index, int):
            sub, weight = self.branches[index].generate(rest, constraints, key=key)
            return GenerateResult(self._trace(args, index, sub), weight)
        return self.all_generate(self, args, index, rest, constraints, key,
                                 f"{self.name}.generate")

    def update(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
               argdiffs: tuple | None = None, key: Any = None) -> UpdateResult:
        """Math: same index: the branch's update weight; new index (Gen's rule): the new
        branch's generate weight on the old shared values and the constraints, minus
        the old score; discard = old values unused by the new branch or constrained."""
        constraints = as_choicemap(constraints)
        if self.is_batched_trace(trace):
            return self.vupdate(trace, constraints, args, key)
        return self._edit(trace, UpdateRule(constraints), args, argdiffs, key, "update")

    def regenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                   argdiffs: tuple | None = None, key: Any = None) -> RegenerateResult:
        """Math: same index: the branch's regenerate weight; new index (Gen's rule): the
        unselected shared values are kept, weight = their new minus old log density."""
        if self.is_batched_trace(trace):
            return self.vregenerate(trace, selection, args, key)
        new, weight, retdiff, _ = self._edit(trace, RegenerateRule(selection), args, argdiffs,
                                             key, "regenerate")
        return RegenerateResult(new, weight, retdiff)

    def _edit(self, trace: Trace, rule: Any, args: tuple | None, argdiffs: tuple | None,
              key: Any, op: str) -> UpdateResult:
        who = f"{self.name}.{op}"
        old_index, old_subs = self._old(trace)
        if args is None:
            args, index, rest, diffs = trace.args, old_index, None, None
        else:
            index, rest = self._split(args, who)
            diffs = None if argdiffs is None else tuple(argdiffs[1:])
        if isinstance(index, int) and isinstance(old_index, int):
            return self._concrete_edit(trace, rule, args, index, rest, diffs, key)
        same = args is trace.args or args[0] is trace.args[0]
        return self.all_edit(self, trace, rule, args, index, rest, diffs, key, who, same)

    def _concrete_edit(self, trace: Trace, rule: Any, args: tuple, index: int,
                       rest: tuple | None, diffs: Any, key: Any) -> UpdateResult:
        old: SwitchInternal = trace.internal
        if index == old.index:
            sub, weight, discard, retdiff = rule.stay(self.branches[index], old.subtrace, rest,
                                                      diffs, key)
        else:
            sub, weight, discard = rule.move(self.branches[index], old.subtrace,
                                             old.subtrace.score, rest, key)
            retdiff = UNKNOWN_CHANGE
        return UpdateResult(self._trace(args, index, sub), weight, retdiff, discard)

    def assess(self, args: tuple, choices: ChoiceMap) -> AssessResult:
        """Math: weight = log p(choices) under the chosen branch."""
        index, rest = self._split(args, f"{self.name}.assess")
        choices = as_choicemap(choices)
        if isinstance(index, int):
            return AssessResult(*self.branches[index].assess(rest, choices))
        return self.all_assess(index, rest, choices)

    def project(self, trace: Trace, selection: Selection) -> Any:
        """Math: the chosen branch's project."""
        if self.is_batched_trace(trace):
            return trace.internal.gen_fn.project(trace.internal, selection)
        if isinstance(trace.internal, BranchesInternal):
            return self.all_project(trace.internal, selection)
        sub = trace.internal.subtrace
        return sub.gen_fn.project(sub, selection)

    def trace_lookup(self, trace: Trace, path: Path) -> tuple[bool, Any]:
        """Addresses are the chosen branch's."""
        if not path:
            return False, None
        if self.is_batched_trace(trace):
            return lookup(trace.internal, path)
        if isinstance(trace.internal, BranchesInternal):
            return self.all_lookup(trace.internal, path)
        return lookup(trace.internal.subtrace, path)

    # -- every branch, selected by an array index (also Mask's path) ----------------------
    def all_trace(self, owner: Any, args: tuple, index: Array, subs: list) -> Trace:
        """The trace of `owner` holding every branch's subtrace, selected by `index`."""
        pick = Picker(index)
        score = nan_outside(index, len(self.branches),
                            pick([(k, s.score) for k, s in enumerate(subs)]))
        retval = pick([(k, s.retval) for k, s in enumerate(subs)])
        choices = select_choices(pick, [(k, s.choices) for k, s in enumerate(subs)])
        return Trace(owner, args, retval, choices, score, BranchesInternal(index, tuple(subs)))

    def all_simulate(self, owner: Any, args: tuple, index: Array, rest: tuple,
                     key: Any) -> Trace:
        """Every branch simulated on its own key."""
        keys = KeySource(key)
        subs = [b.simulate(rest, key=keys.at(k)) for k, b in enumerate(self.branches)]
        return self.all_trace(owner, args, index, subs)

    def all_generate(self, owner: Any, args: tuple, index: Array, rest: tuple,
                     constraints: ChoiceMap, key: Any, who: str) -> GenerateResult:
        """Every branch generated on the constraints among its addresses; weight = the
        selected branch's generate weight."""
        keys = KeySource(key)
        runs = [generate_on(b, rest, constraints, keys.at(k))
                for k, b in enumerate(self.branches)]
        self._check_used(constraints, [r[2] for r in runs], who)
        weight = nan_outside(index, len(self.branches),
                             Picker(index)([(k, r[1]) for k, r in enumerate(runs)]))
        return GenerateResult(self.all_trace(owner, args, index, [r[0] for r in runs]), weight)

    @staticmethod
    def _check_used(constraints: ChoiceMap, used: list, who: str) -> None:
        for path, _ in constraints.leaves():
            if not any(u.has_value(path) for u in used):
                raise AddressError(f"{who}: constraint at address {show(path)}, which no "
                                   "branch visits")

    def all_edit(self, owner: Any, trace: Trace, rule: Any, args: tuple, index: Any,
                 rest: tuple | None, diffs: Any, key: Any, who: str,
                 same_index: bool) -> UpdateResult:
        """Update/regenerate where the old or the new index is an array.

        For every branch k the candidates are: the old subtrace of k edited in place
        (right when the old index was k) and, for each other old branch j, branch k
        run with Gen's rule from j's choices (right when the old index was j). The old
        index selects among them leaf by leaf, the new index selects the branch. When
        the index argument is the same object as before (`same_index`), nobody moved:
        no candidates from other branches are built.
        """
        old_index, old_subs = self._old(trace)
        count, xp = len(self.branches), get_backend().xp
        if isinstance(index, int):
            index = xp.asarray(index, dtype=get_backend().int_dtype)
        moved_possible = not same_index
        old_pick = old_index if not isinstance(old_index, int) else \
            xp.asarray(old_index, dtype=get_backend().int_dtype)
        keys, subs, weights, discards = KeySource(key), [], [], []
        for k, branch in enumerate(self.branches):
            candidates = []
            if k in old_subs:
                candidates.append((k,) + rule.stay(branch, old_subs[k], rest, diffs,
                                                   keys.at(k))[:3])
            if moved_possible:
                for j, old in old_subs.items():
                    if j != k:
                        branch_args = rest if rest is not None else old.args
                        candidates.append((j,) + rule.move(branch, old, trace.score,
                                                           branch_args,
                                                           keys.at(count + k * count + j)))
            pick = Picker(old_pick)
            subs.append(select_traces(old_pick, [(j, s) for j, s, _, _ in candidates], who))
            weights.append(pick([(j, w) for j, _, w, _ in candidates]))
            discards.append(select_choices(pick, [(j, d) for j, _, _, d in candidates]))
        new = self.all_trace(owner, args, index, subs)
        pick = Picker(index)
        weight = nan_outside(index, count, pick(list(enumerate(weights))))
        return UpdateResult(new, weight, UNKNOWN_CHANGE,
                            select_choices(pick, list(enumerate(discards))))

    def all_assess(self, index: Array, rest: tuple, choices: ChoiceMap) -> AssessResult:
        """Every branch generated on the choices among its addresses (a fixed key: a
        complete branch draws nothing); a branch missing one of its choices gives NaN."""
        xp, key = get_backend().xp, get_backend().key(0)
        weights, retvals, used = [], [], []
        for k, branch in enumerate(self.branches):
            sub, weight, given = generate_on(branch, rest, choices, key)
            complete = all(given.has_value(p) for p, _ in sub.choices.leaves())
            weights.append(weight if complete else xp.full_like(weight, float("nan")))
            retvals.append(sub.retval)
            used.append(given)
        self._check_used(choices, used, f"{self.name}.assess")
        pick = Picker(index)
        return AssessResult(nan_outside(index, len(self.branches),
                                        pick(list(enumerate(weights)))),
                            pick(list(enumerate(retvals))))

    def all_project(self, internal: BranchesInternal, selection: Selection) -> Array:
        """The selected branch's project."""
        values = [s.gen_fn.project(s, selection) for s in internal.subtraces]
        return Picker(internal.index)(list(enumerate(values)))

    def all_lookup(self, internal: BranchesInternal, path: Path) -> tuple[bool, Any]:
        """The selected branch's value at `path` (read on the host outside tracing;
        selected with `where` among the branches that have it inside)."""
        if not is_traced(internal.index):
            k = host_index(internal.index, f"{self.name} lookup")
            return lookup(internal.subtraces[k], path)
        found = [(k, v) for k, (ok, v) in enumerate(lookup(s, path)
                                                      for s in internal.subtraces) if ok]
        return (True, Picker(internal.index)(found)) if found else (False, None)

    def __repr__(self) -> str:
        return f"<{self.name}>"

