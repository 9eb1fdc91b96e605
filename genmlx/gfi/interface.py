"""The Generative Function Interface: the contract every generative function keeps.

Math (Gen's definitions; p is the model's density, q the internal proposal):
- simulate: t ~ p(.; x); trace.score = log p(t; x).
- generate(x, u): t ~ q(.; x, u) with t agreeing with constraints u;
  weight = log p(t; x) - log q(t; x, u). With the default proposal (unconstrained
  choices from their priors) it is the log density of the constrained choices.
- update(t, x', u): t' keeps t's choices except those in u (and those that
  appear/disappear with control flow); weight = log p(t'; x') - log p(t; x)
  - log q(new unconstrained choices); discard holds replaced/removed choices.
- regenerate(t, x', s): resample the selection s from the prior; weight is the
  MH acceptance log-ratio of that move.
- assess(x, c): weight = log p(c; x) for a complete choicemap c.
- propose(x): (c, log p(c; x), retval) with c ~ p.
- project(t, s): log density of the selected choices of t.
- edit(t, request): constraint, selection and proposal edits, each returning
  the backward request that undoes it (GenJAX's edit interface).
"""

from __future__ import annotations

import abc

from typing import Any, NamedTuple

from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.selection import Selection
from genmlx.core.trace import Trace
from genmlx.errors import VectorizationError

__all__ = ["GenerativeFunction", "GenerateResult", "UpdateResult", "RegenerateResult",
           "AssessResult", "ProposeResult", "EditResult"]


class GenerateResult(NamedTuple):
    trace: Trace
    weight: Any


class UpdateResult(NamedTuple):
    trace: Trace
    weight: Any
    retdiff: Any
    discard: ChoiceMap


class RegenerateResult(NamedTuple):
    trace: Trace
    weight: Any
    retdiff: Any


class AssessResult(NamedTuple):
    weight: Any
    retval: Any


class ProposeResult(NamedTuple):
    choices: ChoiceMap
    weight: Any
    retval: Any


class EditResult(NamedTuple):
    trace: Trace
    weight: Any
    retdiff: Any
    backward: Any  # the edit request that maps the new trace back


class GenerativeFunction(abc.ABC):
    """Base class. Subclasses implement simulate, generate, update, regenerate,
    assess and project; propose and edit are derived here."""

    name: str = "generative_function"

    @abc.abstractmethod
    def simulate(self, args: tuple, key: Any = None) -> Trace:
        """Run forward; the trace's score is log p(choices; args)."""

    @abc.abstractmethod
    def generate(self, args: tuple, constraints: ChoiceMap = EMPTY,
                 key: Any = None) -> GenerateResult:
        """Run with constraints; weight = log p(t) - log q(t; constraints)."""

    @abc.abstractmethod
    def update(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
               argdiffs: tuple | None = None, key: Any = None) -> UpdateResult:
        """New trace with `constraints` and `args`; weight = log p(t') - log p(t)."""

    @abc.abstractmethod
    def regenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                   argdiffs: tuple | None = None, key: Any = None) -> RegenerateResult:
        """Resample `selection` from the prior; weight = MH acceptance log-ratio."""

    @abc.abstractmethod
    def assess(self, args: tuple, choices: ChoiceMap) -> AssessResult:
        """weight = log p(choices; args) for a complete choicemap."""

    @abc.abstractmethod
    def project(self, trace: Trace, selection: Selection) -> Any:
        """Log density of the selected choices of `trace`."""

    def propose(self, args: tuple, key: Any = None) -> ProposeResult:
        """Sample choices; weight = log p(choices; args)."""
        tr = self.simulate(args, key=key)
        return ProposeResult(tr.choices, tr.score, tr.retval)

    def edit(self, trace: Trace, request: Any, key: Any = None) -> EditResult:
        """Apply an edit request (see genmlx.gfi.edit) and return its backward request."""
        return request.apply(self, trace, key)

    # -- batched (L0) entry points; generative functions that batch override ----------
    # `like` is an unbatched trace of the same call: it says which values carry the
    # particle axis (see genmlx.dsl.handlers.batching); callers pass it to callees.
    def vsimulate(self, args: tuple, n: int, key: Any = None, like: Any = None) -> Trace:
        raise VectorizationError(f"{self.name}: no batched execution (vsimulate)")

    def vgenerate(self, args: tuple, constraints: ChoiceMap, n: int, key: Any = None,
                  like: Any = None):
        raise VectorizationError(f"{self.name}: no batched execution (vgenerate)")

    def vupdate(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
                key: Any = None, like: Any = None):
        raise VectorizationError(f"{self.name}: no batched execution (vupdate)")

    def vregenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                    key: Any = None, like: Any = None):
        raise VectorizationError(f"{self.name}: no batched execution (vregenerate)")

    def __call__(self, *args: Any) -> Any:
        """Calling a generative function simulates it and returns the retval."""
        return self.simulate(args).retval
