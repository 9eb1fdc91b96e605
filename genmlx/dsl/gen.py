"""The `@gen` decorator: a Python function becomes a generative function.

Each GFI method runs the body once under the matching handler (see
`genmlx.dsl.handlers`); the handler is set in a ContextVar for the duration of
the body and reset afterwards, so a failed call leaves nothing behind and every
trace the caller holds is untouched (traces are immutable).
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any, Callable

from genmlx._backend import get_backend
from genmlx.core.address import Path, show
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.diff import NO_CHANGE, UNKNOWN_CHANGE
from genmlx.core.selection import Selection
from genmlx.core.trace import Trace
from genmlx.dsl import runtime
from genmlx.dsl.handlers.assess import AssessHandler
from genmlx.dsl.handlers.base import (
    CallRecord, ChoiceRecord, check_all_visited, choices_from_records,
)
from genmlx.dsl.handlers.batching import (
    edit_skeleton, generate_hints, no_hints, run_with_skeleton, update_hints,
)
from genmlx.dsl.handlers.generate import GenerateHandler
from genmlx.dsl.handlers.regenerate import RegenerateHandler, sub_selection
from genmlx.dsl.handlers.simulate import SimulateHandler
from genmlx.dsl.handlers.update import UpdateHandler
from genmlx.errors import ArgumentError, VectorizationError
from genmlx.gfi.interface import (
    AssessResult, GenerateResult, GenerativeFunction, RegenerateResult, UpdateResult,
)

__all__ = ["gen", "DynamicGenFunction"]


@dataclass(frozen=True)
class DynamicInternal:
    """What a DSL trace keeps for update: per-address records, the batch size, and
    for a batched trace its `like`: the unbatched trace of the same call that says
    which arrays carry the particle axis (see `genmlx.dsl.handlers.batching`)."""

    records: dict
    batch: int | None = None
    like: Any = None


class DynamicGenFunction(GenerativeFunction):
    """A generative function defined by a Python body that calls trace/splice/param."""

    def __init__(self, body: Callable, params: dict | None = None):
        self.body = body
        self.name = getattr(body, "__name__", "gen_fn")
        self.signature = inspect.signature(body)
        self.params = dict(params or {})
        functools.update_wrapper(self, body, updated=())

    # -- arguments and parameters ------------------------------------------------
    def check_args(self, args: tuple) -> None:
        if not isinstance(args, tuple):
            raise ArgumentError(f"{self.name}: args must be a tuple, got {type(args).__name__} "
                                f"(write ({args!r},) for one argument)")
        try:
            self.signature.bind(*args)
        except TypeError as exc:
            raise ArgumentError(f"{self.name}{self.signature}: called with {len(args)} "
                                f"argument(s): {exc}") from None

    def get_param(self, name: str, init: Any) -> Any:
        value = self.params.get(name)
        if value is None:
            backend = get_backend()
            value = init if backend.is_array(init) else backend.asarray(init)
        return value

    def with_params(self, **params: Any) -> "DynamicGenFunction":
        """A copy whose trainable parameters are replaced by `params`."""
        return DynamicGenFunction(self.body, {**self.params, **params})

    # -- running a body ----------------------------------------------------------------
    def _run(self, handler: Any, args: tuple) -> Trace:
        self.check_args(args)
        token = runtime._current.set(handler)
        try:
            retval = handler.body_result = self.body(*args)
        except (TypeError, ValueError) as exc:
            if handler.batch and _is_truth_value_error(exc):
                raise VectorizationError(
                    f"{self.name}: Python control flow on a batched value near address "
                    f"{show(handler.last_path or ())}; batched execution runs the body once for "
                    "all particles, so branch with the Switch/Mask combinators or "
                    "xp.where instead of `if`.") from exc
            raise
        finally:
            runtime._current.reset(token)
        if hasattr(handler, "finish"):
            handler.finish()
        internal = DynamicInternal(handler.records, handler.batch, handler.like)
        if handler.deferrable:
            # built on first read: most traces of an inference loop are never asked
            return Trace.deferred(self, args, retval, choices_from_records, handler.records,
                                  handler.score, internal)
        # nested paths may clash (a value at a prefix of another path): build now, so the
        # AddressError comes from the run that made the clash
        return Trace(self, args, retval, handler.choices(), handler.score, internal)

    # -- GFI -----------------------------------------------------------------------------
    def simulate(self, args: tuple, key: Any = None) -> Trace:
        """Trace with score = log p(choices; args)."""
        return self._run(SimulateHandler(self, key), args)

    def generate(self, args: tuple, constraints: ChoiceMap = EMPTY,
                 key: Any = None) -> GenerateResult:
        """weight = sum of log densities of the constrained choices."""
        handler = GenerateHandler(self, _as_choicemap(constraints), key)
        trace = self._run(handler, args)
        check_all_visited(handler.constraints, handler.records, f"{self.name}.generate",
                          "a constraint")
        return GenerateResult(trace, handler.weight)

    def update(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
               argdiffs: tuple | None = None, key: Any = None) -> UpdateResult:
        """weight = log p(t') - log p(t) (fresh choices excluded); discard = replaced choices."""
        if trace.internal.batch:
            return self.vupdate(trace, constraints, args, key)
        handler = UpdateHandler(self, trace, _as_choicemap(constraints), key)
        new = self._run(handler, trace.args if args is None else args)
        check_all_visited(handler.constraints, handler.records, f"{self.name}.update",
                          "a constraint")
        return UpdateResult(new, handler.weight, _retdiff(trace, new), handler.discard)

    def regenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                   argdiffs: tuple | None = None, key: Any = None) -> RegenerateResult:
        """weight = MH acceptance log-ratio of resampling `selection` from the prior."""
        if trace.internal.batch:
            return self.vregenerate(trace, selection, args, key)
        handler = RegenerateHandler(self, trace, selection, key)
        new = self._run(handler, trace.args if args is None else args)
        return RegenerateResult(new, handler.weight, _retdiff(trace, new))

    def assess(self, args: tuple, choices: ChoiceMap) -> AssessResult:
        """weight = log p(choices; args); every choice must be given."""
        handler = AssessHandler(self, _as_choicemap(choices))
        trace = self._run(handler, args)
        check_all_visited(handler.given, handler.records, f"{self.name}.assess", "a choice")
        return AssessResult(handler.score, trace.retval)

    def project(self, trace: Trace, selection: Selection) -> Any:
        """Sum of the log densities of the selected choices."""
        total = get_backend().xp.zeros_like(trace.score)
        for path, rec in trace.internal.records.items():
            selected = sub_selection(selection, path)
            if isinstance(rec, ChoiceRecord):
                if selected.at_leaf():
                    total = total + rec.score
            elif not selected.is_none():
                total = total + rec.subtrace.gen_fn.project(rec.subtrace, selected)
        return total

    # -- batched (L0) -----------------------------------------------------------------------
    # `like`: the unbatched trace of this call (a parent's probe passes its callee
    # record down); None means `args` are the unbatched arguments and the function
    # probes itself (see `genmlx.dsl.handlers.batching`).

    def vsimulate(self, args: tuple, n: int, key: Any = None, like: Any = None) -> Trace:
        """n particles in one body run; score [n] = log p(choices_i; args)."""
        n = int(n)
        return run_with_skeleton(
            self, lambda lk: self._run(SimulateHandler(self, key, n, lk), args), like,
            args, no_hints)

    def vgenerate(self, args: tuple, constraints: ChoiceMap, n: int,
                  key: Any = None, like: Any = None) -> GenerateResult:
        """weight [n] = log density of the constraints under each particle (constraints
        are shared, or per particle with a leading [n] axis)."""
        n, constraints = int(n), _as_choicemap(constraints)

        def run(lk: Any) -> GenerateResult:
            handler = GenerateHandler(self, constraints, key, n, lk)
            trace = self._run(handler, args)
            check_all_visited(handler.constraints, handler.records, f"{self.name}.vgenerate",
                              "a constraint")
            return GenerateResult(trace, handler.weight)

        return run_with_skeleton(self, run, like, args, generate_hints(constraints))

    def vupdate(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
                key: Any = None, like: Any = None) -> UpdateResult:
        """weight [n] = log p(t'_i) - log p(t_i) per particle (fresh choices excluded)."""
        constraints = _as_choicemap(constraints)
        new_args = trace.args if args is None else args
        n = trace.internal.batch

        def run(lk: Any) -> UpdateResult:
            handler = UpdateHandler(self, trace, constraints, key, n, lk)
            new = self._run(handler, new_args)
            check_all_visited(handler.constraints, handler.records, f"{self.name}.vupdate",
                              "a constraint")
            return UpdateResult(new, handler.weight, _retdiff(trace, new), handler.discard)

        like, probe_args, first = edit_skeleton(trace, args, like, f"{self.name}.vupdate")
        return run_with_skeleton(self, run, like, probe_args,
                                 update_hints(constraints, trace.choices), first)

    def vregenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                    key: Any = None, like: Any = None) -> RegenerateResult:
        """weight [n] = per-particle MH acceptance log-ratio of resampling `selection`."""
        new_args = trace.args if args is None else args
        n = trace.internal.batch

        def run(lk: Any) -> RegenerateResult:
            handler = RegenerateHandler(self, trace, selection, key, n, lk)
            new = self._run(handler, new_args)
            return RegenerateResult(new, handler.weight, _retdiff(trace, new))

        like, probe_args, first = edit_skeleton(trace, args, like, f"{self.name}.vregenerate")
        return run_with_skeleton(self, run, like, probe_args,
                                 update_hints(EMPTY, trace.choices), first)

    # -- trace access ---------------------------------------------------------------------
    def trace_lookup(self, trace: Trace, path: Path) -> tuple[bool, Any]:
        records = trace.internal.records
        for k in range(len(path), 0, -1):
            rec = records.get(path[:k])
            if rec is None:
                continue
            if isinstance(rec, ChoiceRecord):
                return (k == len(path)), rec.value
            if k == len(path):
                return True, rec.subtrace.retval
            return True, rec.subtrace[path[k:] if len(path) - k > 1 else path[k]]
        return False, None

    def __repr__(self) -> str:
        return f"<gen {self.name}{self.signature}>"


def _retdiff(old: Trace, new: Trace) -> Any:
    return NO_CHANGE if new.retval is old.retval else UNKNOWN_CHANGE


def _as_choicemap(x: Any) -> ChoiceMap:
    if x is None:
        return EMPTY
    if isinstance(x, ChoiceMap):
        return x
    if isinstance(x, dict):
        return ChoiceMap.from_mapping(x)
    raise TypeError(f"expected a ChoiceMap (or dict), got {type(x).__name__}")


_BATCH_CONVERSION_MESSAGES = ("truth value", "ambiguous", "length-1", "size-1",
                              "converted to python scalar", "more than one element")


def _is_truth_value_error(exc: Exception) -> bool:
    """True for the errors array libraries raise when an [N] array meets bool()/float()."""
    text = str(exc).lower()
    return any(m in text for m in _BATCH_CONVERSION_MESSAGES)


def gen(fn: Callable) -> DynamicGenFunction:
    """Decorator: make `fn` a generative function.

    Inside the body use `trace(address, dist_or_gen_fn, *args)`,
    `splice(gen_fn, *args)` and `param(name, init)`.

    Example:
        >>> @gen
        ... def model(x):
        ...     slope = trace("slope", dist.gaussian(0.0, 1.0))
        ...     return trace("y", dist.gaussian(slope * x, 1.0))
    """
    return DynamicGenFunction(fn)
