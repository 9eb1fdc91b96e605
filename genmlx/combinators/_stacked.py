"""Stacked execution of the indexed combinators (Map, Unfold, Scan) in compiled code.

Eagerly a combinator calls its kernel in a Python loop, once per step. Traced for
compilation (`gm.compile`, a backend's compile) that loop would be unrolled into
T copies of the kernel, so the graph and the compile time grow with T. Inside
compiled code the combinators instead run the kernel through the backend's
`scan` (JAX: `lax.scan`, traced once whatever T; MLX: unrolled by `mx.compile`,
so MLX compile time still grows with T; NumPy never traces, so nothing changes).

What stays equal to the eager path, value for value on the same key:
- step t's key is `fold_in(key, t)`, as `KeySource.at(t)` derives it;
- scores and weights are accumulated in the carry in step order, like the eager
  running sums;
- the per-step subtraces are those the eager kernel calls would make: one step
  skeleton (`genmlx.core.pytree.flatten`) and its array leaves stacked on a new
  leading [T] axis (`StackedSteps`); leaves that are the same object at every
  step (the kernel's shared parameters) are kept once.

Steps are run in *segments*: maximal runs of steps whose static inputs agree
(the skeleton of their constraints, their sub-selection, their argdiffs). Each
segment is one scan, so a constraint at one step of a long chain costs three
kernel traces, not T. Anything that does not fit (value-dependent structure,
steps whose subtraces differ in skeleton, a carry that changes type) raises,
and the caller falls back to the unrolled path.

A stacked trace is a `LazyTrace` whose fields (choices, retval, subtraces) are
rebuilt from the stacked leaves only when read, so flattening it at the end of a
compiled function (and feeding it to the next one) never walks T steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from genmlx._backend import get_backend, tracing_what
from genmlx._keys import resolve_key
from genmlx.core.choicemap import ChoiceMap
from genmlx.core.pytree import LazyTrace, flatten, is_array, register_node, unflatten
from genmlx.errors import GenMLXError

__all__ = ["NotStackable", "StackedSteps", "StackedInternalMixin", "StepPlan", "stacking",
           "step_keys", "stacked_trace", "run_segments", "segments_of", "per_step",
           "concat_steps", "register_stacked_internal", "Segment", "NO_KEY",
           "discards_at", "extras_of", "stack_static", "attempt", "segments_by",
           "choice_segments", "project_stacked"]


class NotStackable(GenMLXError):
    """The stacked path does not apply; the caller runs the unrolled loop instead."""


def stacking(batch: Any = None, like: Any = None) -> bool:
    """True when a combinator call should take the stacked path: inside code being
    traced for compilation, unbatched (batched runs keep their own skeleton logic)."""
    return tracing_what() is not None and not batch and like is None


# -- per-step keys ---------------------------------------------------------------------------

_FOLD_IN_MODE: dict[str, str] = {}


def _fold_in_mode(backend: Any, key: Any) -> str:
    """How this backend folds a traced step index into a key: "native" (its fold_in
    takes array data, so one vmapped fold_in serves every step) or "host" (one fold_in
    per step with a Python int: the graph grows with T, as MLX's unrolled scan does
    anyway)."""
    mode = _FOLD_IN_MODE.get(backend.name)
    if mode is not None:
        return mode
    xp = backend.xp
    mode = "host"
    if backend.has("vmap"):
        try:
            backend.vmap(lambda d: backend.fold_in(key, d))(xp.arange(2, dtype=xp.uint32))
            mode = "native"
        except Exception:  # noqa: BLE001 - fold_in reads its data on the host
            mode = "host"
    _FOLD_IN_MODE[backend.name] = mode
    return mode


def step_keys(key: Any, start: int, stop: int) -> Any:
    """Keys of steps start..stop-1 stacked as [stop - start, 2]: step t's key is
    `fold_in(key, t)`, exactly the eager path's `KeySource.at(t)`."""
    backend = get_backend()
    xp = backend.xp
    if key is None:
        key = resolve_key(None)
    mode = _fold_in_mode(backend, key)
    if mode == "native":
        return backend.vmap(lambda d: backend.fold_in(key, d))(
            xp.arange(start, stop, dtype=xp.uint32))
    return xp.stack([backend.fold_in(key, t) for t in range(start, stop)])


# -- stacked per-step subtraces ----------------------------------------------------------------

class StackedSteps:
    """T subtraces of one skeleton: per-step leaves stacked on a leading [T] axis.

    Attributes:
        skeleton: one step's subtrace skeleton (`flatten`).
        slots: per leaf of that skeleton, i >= 0 for `stacked[i][t]`, or -1-j for
            `shared[j]` (a leaf that is the same object at every step).
        stacked: arrays with a leading [T] axis.
        shared: arrays common to every step.
        length: T.
    """

    def __init__(self, skeleton: Any, slots: tuple, stacked: Sequence[Any],
                 shared: Sequence[Any], length: int):
        self.skeleton, self.slots, self.length = skeleton, tuple(slots), int(length)
        self.stacked, self.shared = tuple(stacked), tuple(shared)
        self._subs: dict[int, Any] = {}

    def leaves_at(self, t: int) -> list:
        """Step t's leaves, in the skeleton's order."""
        return [self.stacked[i][t] if i >= 0 else self.shared[-1 - i] for i in self.slots]

    def subtrace(self, t: int) -> Any:
        """Step t's subtrace (a `LazyTrace`, built once)."""
        sub = self._subs.get(t)
        if sub is None:
            sub = self._subs[t] = unflatten(self.skeleton, self.leaves_at(t))
        return sub

    def children(self) -> tuple:
        return self.stacked + self.shared

    def static(self) -> tuple:
        return (self.skeleton, self.slots, len(self.stacked), self.length)

    @staticmethod
    def rebuild(static: tuple, children: tuple) -> "StackedSteps":
        skeleton, slots, n_stacked, length = static
        return StackedSteps(skeleton, slots, children[:n_stacked], children[n_stacked:], length)


class _LazySubtraces:
    """A read-only sequence of a stacked trace's subtraces, built per index on demand."""

    def __init__(self, steps: StackedSteps):
        self._steps = steps

    def __len__(self) -> int:
        return self._steps.length

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._steps.subtrace(index)

    def __iter__(self):
        return (self._steps.subtrace(t) for t in range(len(self)))


class StackedInternalMixin:
    """The internal of a stacked trace: `subtraces` (built lazily from `steps`), no batch."""

    steps: StackedSteps
    batch = None
    like = None

    @property
    def subtraces(self) -> _LazySubtraces:
        return _LazySubtraces(self.steps)

    @classmethod
    def of(cls, steps: StackedSteps) -> Any:
        obj = object.__new__(cls)
        object.__setattr__(obj, "steps", steps)
        return obj

    def __repr__(self) -> str:
        return f"{type(self).__name__}(T={self.steps.length})"


def register_stacked_internal(cls: type) -> None:
    """Make `cls` (a StackedInternalMixin) a pytree node whose leaves are the stacked ones."""
    register_node(cls, lambda obj: (obj.steps.children(), obj.steps.static()),
                  lambda static, children: cls.of(StackedSteps.rebuild(static, children)))


class _StepsView:
    """A trace field computed from the stacked steps when read (choices or retval)."""

    def __init__(self, steps: StackedSteps, view: Any):
        self.steps, self.view = steps, view


def _materialize(static: tuple, children: tuple) -> Any:
    view, steps_static = static
    steps = StackedSteps.rebuild(steps_static, children)
    subs = [steps.subtrace(t) for t in range(steps.length)]
    if view == "choices":
        return ChoiceMap({t: s.choices for t, s in enumerate(subs) if not s.choices.is_empty()})
    return view([s.retval for s in subs])


register_node(_StepsView, lambda v: (v.steps.children(), (v.view, v.steps.static())),
              _materialize)


def stacked_trace(gen_fn: Any, args: tuple, steps: StackedSteps, score: Any, internal: Any,
                  make_retval: Callable[[list], Any]) -> LazyTrace:
    """A trace of `gen_fn` over stacked steps whose choices are `{t: step t's choices}` and
    whose retval is `make_retval([step retvals])`, both built on first read."""
    fields = (gen_fn, args, _StepsView(steps, make_retval), _StepsView(steps, "choices"),
              score, internal)
    leaves, skeleton = flatten(fields)
    return LazyTrace(skeleton[1], leaves, gen_fn)


# -- inputs ------------------------------------------------------------------------------------

def _arrayify(x: Any) -> Any:
    """Python numbers (alone or in tuples/lists) as backend arrays: a scan carry must be
    arrays, and the kernel returns arrays where the user passed a Python number."""
    if isinstance(x, (bool, int, float)):
        return get_backend().asarray(x)
    if type(x) in (tuple, list):
        return type(x)(_arrayify(v) for v in x)
    return x


def per_step(seq: Any, n: int) -> tuple:
    """How a per-step argument sequence enters the scan.

    Returns:
        ("const", value) when every element is one object (passed to every step as
        it is), else ("xs", skeleton, leaves): one element's skeleton and its leaves
        stacked on a leading [n] axis (arrays are sliced on their leading axis).

    Raises:
        NotStackable: the elements differ in structure or in a static value.
    """
    if is_array(seq):
        return ("xs",) + tuple(reversed(flatten(seq)))
    if not isinstance(seq, (list, tuple)) or len(seq) != n or n == 0:
        raise NotStackable("a per-step argument is not a sequence of the step count")
    first = seq[0]
    if all(e is first for e in seq):
        return ("const", first)
    flat = [flatten(e, floats=True) for e in seq]
    skeleton = flat[0][1]
    if any(s != skeleton for _, s in flat):
        raise NotStackable("the elements of a per-step argument differ in structure")
    backend = get_backend()
    columns = zip(*(leaves for leaves, _ in flat))
    return ("xs", skeleton, [backend.xp.stack([backend.asarray(v) for v in col])
                             for col in columns])


@dataclass
class StepPlan:
    """How a combinator feeds its kernel in the stacked path.

    Attributes:
        n: the number of steps.
        inputs: per input, `per_step`'s ("const", v) or ("xs", skeleton, leaves).
        make_args: (input values, carried state) -> the kernel's argument tuple.
        carry_of: kernel retval -> carried state (None: no state is carried).
        init: the state carried into step 0.
    """

    n: int
    inputs: list
    make_args: Callable[[list, Any], tuple]
    carry_of: Callable[[Any], Any] | None = None
    init: Any = None

    def shared_leaves(self) -> list:
        """The leaves of the "const" inputs: held once, not per step."""
        out, seen = [], set()
        for item in self.inputs:
            if item[0] == "const":
                for leaf in flatten(item[1])[0]:
                    if id(leaf) not in seen:
                        seen.add(id(leaf))
                        out.append(leaf)
        return out


def segments_of(keys: Sequence[Any], start: int) -> list[tuple[int, int]]:
    """Maximal runs [a, b) of equal consecutive `keys` (keys[i] belongs to step start+i)."""
    out, a = [], 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[a]:
            out.append((start + a, start + i))
            a = i
    return out


def stack_static(values: Sequence[Any]) -> tuple[Any, list]:
    """(skeleton, leaves stacked on a new leading axis) of same-skeleton values."""
    flat = [flatten(v, floats=True) for v in values]
    skeleton = flat[0][1]
    if any(s != skeleton for _, s in flat):
        raise NotStackable("per-step values differ in structure")
    backend = get_backend()
    return skeleton, [backend.xp.stack([backend.asarray(v) for v in col])
                      for col in zip(*(leaves for leaves, _ in flat))]


# -- the scan ---------------------------------------------------------------------------------

@dataclass
class Segment:
    """Steps [start, stop) sharing `static` (what the step function is told), with
    per-step `leaves` (e.g. stacked constraint values) rebuilt by `skeleton`."""

    start: int
    stop: int
    static: Any
    skeleton: Any = None
    leaves: list | None = None


@dataclass
class SegmentResult:
    """What one segment's scan gave: per-step subtrace leaves, the discard's
    skeleton and stacked leaves, the step function's static info, and extra ys."""

    segment: Segment
    skeleton: Any
    slots: tuple
    stacked: list
    info: Any
    discard_skeleton: Any
    discard: list
    extra_skeleton: Any = None
    extra: list | None = None


StepFn = Callable[[Segment, Any, tuple, Any, Any], tuple]
_NO_KEY = object()  # run_segments(key=NO_KEY): the steps draw nothing (assess, project)
NO_KEY = _NO_KEY


def run_segments(plan: StepPlan, segments: list[Segment], key: Any, step: StepFn,
                 n_acc: int, old: StackedSteps | None = None, init: Any = None,
                 want_subtraces: bool = True) -> tuple:
    """Run `step` over every segment with the backend's scan, carrying the state.

    `step(segment, value, args, key, old_sub)` runs one kernel call: `value` is the
    segment's per-step value (rebuilt from its leaves), `old_sub` the step's old
    subtrace (edits) and it returns (subtrace or None, accumulator increments (a
    tuple of `n_acc` arrays or None), static info, discard choicemap, extra y).

    Returns:
        (results per segment, accumulators, final state).

    Raises:
        NotStackable: the carry changed skeleton, or steps disagreed in skeleton.
    """
    backend = get_backend()
    xp = backend.xp
    state0 = _arrayify(plan.init if init is None else init)
    state_leaves0, state_skel = flatten(state0) if plan.carry_of else ([], None)
    shared = plan.shared_leaves()
    shared_ids = {id(leaf): j for j, leaf in enumerate(shared)}
    zero = xp.zeros((), dtype=backend.float_dtype)
    carry = (list(state_leaves0), tuple(zero for _ in range(n_acc)))
    results, extras = [], []
    for seg in segments:
        record: dict = {}

        def body(carry: tuple, x: tuple, seg: Segment = seg, record: dict = record) -> tuple:
            state_leaves, acc = carry
            k, in_leaves, seg_leaves, old_leaves = x
            values, pos = [], 0
            for item in plan.inputs:
                if item[0] == "const":
                    values.append(item[1])
                else:
                    count = len(item[2])
                    values.append(unflatten(item[1], in_leaves[pos:pos + count]))
                    pos += count
            state = unflatten(state_skel, state_leaves) if plan.carry_of else None
            value = None if seg.skeleton is None else unflatten(seg.skeleton, seg_leaves)
            old_sub = None
            if old is not None:
                old_sub = unflatten(old.skeleton, [old_leaves[i] if i >= 0 else
                                                   old.shared[-1 - i] for i in old.slots])
            sub, incs, info, discard, extra = step(seg, value, plan.make_args(values, state),
                                                  k, old_sub)
            per, slots, skeleton = [], [], None
            if want_subtraces:
                leaves, skeleton = flatten(sub)
                for leaf in leaves:
                    j = shared_ids.get(id(leaf))
                    if j is None:
                        slots.append(len(per))
                        per.append(leaf)
                    else:
                        slots.append(-1 - j)
            disc_leaves, disc_skel = flatten(discard)
            extra_leaves, extra_skel = flatten(extra)
            seen = (skeleton, tuple(slots), disc_skel, extra_skel)
            if record.setdefault("seen", seen) != seen:
                raise NotStackable("the steps of a segment differ in skeleton")
            record.setdefault("info", info)
            if plan.carry_of:
                new_leaves, new_skel = flatten(_arrayify(plan.carry_of(
                    sub.retval if sub is not None else extra)))
                if new_skel != state_skel:
                    raise NotStackable("the carried state changed structure between steps")
            else:
                new_leaves = []
            acc = tuple(a if i is None else a + i for a, i in zip(acc, incs))
            return (list(new_leaves), acc), (per, disc_leaves, extra_leaves)

        keys = (xp.arange(seg.start, seg.stop) if key is _NO_KEY
                else step_keys(key, seg.start, seg.stop))
        xs = (keys,
              [leaf[seg.start:seg.stop] for item in plan.inputs if item[0] == "xs"
               for leaf in item[2]],
              list(seg.leaves or []),
              [] if old is None else [leaf[seg.start:seg.stop] for leaf in old.stacked])
        carry, ys = backend.scan(body, carry, xs)
        per, disc, extra = ys
        skeleton, slots, disc_skel, extra_skel = record["seen"]
        results.append(SegmentResult(seg, skeleton, slots, list(per), record["info"],
                                     disc_skel, list(disc), extra_skel, list(extra)))
    state = unflatten(state_skel, carry[0]) if plan.carry_of else None
    return results, carry[1], state


def concat_steps(results: list[SegmentResult], plan: StepPlan, n: int,
                 old: StackedSteps | None = None) -> StackedSteps:
    """One `StackedSteps` of n steps from the segments' outputs, the steps no segment
    covers taken from `old`. Every part must share one skeleton and layout.

    Raises:
        NotStackable: the parts differ in skeleton or layout.
    """
    xp = get_backend().xp
    skeleton, slots = results[0].skeleton, results[0].slots
    for r in results[1:]:
        if (r.skeleton, r.slots) != (skeleton, slots):
            raise NotStackable("segments gave subtraces of different skeletons")
    parts: list[list] = []
    cursor = 0
    for r in sorted(results, key=lambda r: r.segment.start):
        if r.segment.start > cursor:
            parts.append(_old_part(old, skeleton, slots, cursor, r.segment.start))
        parts.append(r.stacked)
        cursor = r.segment.stop
    if cursor < n:
        parts.append(_old_part(old, skeleton, slots, cursor, n))
    stacked = parts[0] if len(parts) == 1 else [xp.concat(list(col)) for col in zip(*parts)]
    return StackedSteps(skeleton, slots, stacked, plan.shared_leaves(), n)


def _old_part(old: StackedSteps | None, skeleton: Any, slots: tuple, a: int, b: int) -> list:
    if old is None or (old.skeleton, old.slots) != (skeleton, slots):
        raise NotStackable("the edited steps changed skeleton")
    return [leaf[a:b] for leaf in old.stacked]


def extras_of(results: list[SegmentResult]) -> list:
    """The steps' extra ys (e.g. assess retvals), in step order."""
    out = []
    for r in sorted(results, key=lambda r: r.segment.start):
        out.extend(unstack(r.extra_skeleton, r.extra, r.segment.stop - r.segment.start))
    return out


def discards_at(results: list[SegmentResult], steps: set) -> list[tuple[int, ChoiceMap]]:
    """(t, discard of step t) for the steps in `steps` whose segment discarded anything."""
    out = []
    for r in results:
        if not r.discard:
            continue
        for t in range(r.segment.start, r.segment.stop):
            if t in steps:
                i = t - r.segment.start
                out.append((t, unflatten(r.discard_skeleton, [leaf[i] for leaf in r.discard])))
    return out


def unstack(skeleton: Any, stacked: Sequence[Any], count: int) -> list:
    """The `count` per-step values of same-skeleton values stacked leafwise."""
    return [unflatten(skeleton, [leaf[i] for leaf in stacked]) for i in range(count)]


def attempt(owner: Any, op: str, fn: Callable[[], Any]) -> Any:
    """`fn()` (a stacked run), or None when it does not apply: the reason is kept in
    `owner.stacked_fallbacks[op]` and the caller runs the unrolled loop, which raises
    the user's errors (bad addresses, a missing key) itself."""
    try:
        out = fn()
    except Exception as exc:  # noqa: BLE001 - any failure means "run the loop instead"
        reasons = owner.__dict__.setdefault("stacked_fallbacks", {})
        reasons[op] = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
        return None
    owner.__dict__.setdefault("stacked_fallbacks", {}).pop(op, None)
    return out


def segments_by(keys: Sequence[Any], start: int, make: Callable[[int, int], Segment | None]
                ) -> list[Segment]:
    """Segments of the runs of equal `keys` (steps start, start+1, ...); `make(a, b)`
    builds one (None: the run is skipped)."""
    out = []
    for a, b in segments_of(keys, start):
        seg = make(a, b)
        if seg is not None:
            out.append(seg)
    return out


def choice_segments(maps: Sequence[ChoiceMap], start: int, tags: Sequence[Any]) -> list[Segment]:
    """Segments of steps start, start+1, ... by (tag, skeleton of the step's choicemap);
    a tag of None skips the run. `Segment.static` is (tag, has choices); the
    choicemaps' values are stacked into the segment's leaves."""
    keys = [(tag, flatten(m, floats=True)[1]) for m, tag in zip(maps, tags)]

    def make(a: int, b: int) -> Segment | None:
        tag, first = tags[a - start], maps[a - start]
        if tag is None:
            return None
        if first.is_empty():
            return Segment(a, b, (tag, False))
        skeleton, leaves = stack_static(maps[a - start:b - start])
        return Segment(a, b, (tag, True), skeleton, leaves)

    return segments_by(keys, start, make)


def project_stacked(steps: StackedSteps, selection: Any, score: Any) -> Any:
    """Sum over steps of the kernel's project on `selection.sub(t)`, selected steps only
    (as the eager loop adds them), one scan per run of equal sub-selections."""
    xp = get_backend().xp
    sels = [selection.sub(t) for t in range(steps.length)]
    keys = [None if s.is_none() else repr(s) for s in sels]
    segments = segments_by(keys, 0, lambda a, b: None if keys[a] is None
                           else Segment(a, b, sels[a]))
    if not segments:
        return xp.zeros_like(score)
    plan = StepPlan(steps.length, [], lambda values, state: ())

    def step(seg: Segment, value: Any, args: tuple, key: Any, old: Any) -> tuple:
        return None, (old.gen_fn.project(old, seg.static),), None, ChoiceMap(), None

    _, (total,), _ = run_segments(plan, segments, NO_KEY, step, 1, old=steps,
                                  want_subtraces=False)
    return xp.zeros_like(score) + total
