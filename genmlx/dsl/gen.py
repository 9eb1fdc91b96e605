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
from genmlx.dsl.handlers.base import CallRecord, ChoiceRecord, check_all_visited
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
    """What a DSL trace keeps for update: per-address records, and the batch size."""

    records: dict
    batch: int | None = None


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
        return Trace(self, args, retval, handler.choices(), handler.score,
                     DynamicInternal(handler.records, handler.batch))

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
        handler = UpdateHandler(self, trace, _as_choicemap(constraints), key,
                                trace.internal.batch)
        new = self._run(handler, trace.args if args is None else args)
        check_all_visited(handler.constraints, handler.records, f"{self.name}.update",
                          "a constraint")
        return UpdateResult(new, handler.weight, _retdiff(trace, new), handler.discard)

    def regenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                   argdiffs: tuple | None = None, key: Any = None) -> RegenerateResult:
        """weight = MH acceptance log-ratio of resampling `selection` from the prior."""
        handler = RegenerateHandler(self, trace, selection, key, trace.internal.batch)
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
    def vsimulate(self, args: tuple, n: int, key: Any = None) -> Trace:
        return self._run(SimulateHandler(self, key, int(n)), args)

    def vgenerate(self, args: tuple, constraints: ChoiceMap, n: int,
                  key: Any = None) -> GenerateResult:
        handler = GenerateHandler(self, _as_choicemap(constraints), key, int(n))
        trace = self._run(handler, args)
        check_all_visited(handler.constraints, handler.records, f"{self.name}.vgenerate",
                          "a constraint")
        return GenerateResult(trace, handler.weight)

    def vupdate(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
                key: Any = None) -> UpdateResult:
        return self.update(trace, constraints, args, None, key)

    def vregenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                    key: Any = None) -> RegenerateResult:
        return self.regenerate(trace, selection, args, None, key)

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
