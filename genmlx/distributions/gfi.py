"""A distribution as a generative function with one choice at the root address.

Its arguments are empty (parameters are bound at construction), its trace's
choicemap is a value leaf, and its score the (summed) log density.
"""

from __future__ import annotations

from typing import Any

from genmlx._keys import resolve_key
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.diff import NO_CHANGE, UNKNOWN_CHANGE
from genmlx.core.selection import Selection
from genmlx.core.trace import Trace
from genmlx.errors import AddressError
from genmlx.gfi.interface import (
    AssessResult, GenerateResult, GenerativeFunction, RegenerateResult, UpdateResult,
)


class DistributionGFI(GenerativeFunction):
    """The GFI for distributions (mixed into `Distribution`)."""

    def _total(self, value: Any, batch: int | None = None) -> Any:
        lp = self.log_prob(value)
        xp = self.backend.xp
        if lp.ndim == 0:
            return lp
        if batch and lp.shape[0] == batch:
            return xp.sum(lp, axis=tuple(range(1, lp.ndim))) if lp.ndim > 1 else lp
        return xp.sum(lp)

    def _trace(self, value: Any, batch: int | None = None) -> Trace:
        return Trace(self, (), value, ChoiceMap.leaf(value), self._total(value, batch), batch)

    def _root_value(self, choices: ChoiceMap, who: str) -> tuple[bool, Any]:
        if choices.is_empty():
            return False, None
        if not choices.has_value():
            raise AddressError(f"{self.name}.{who}: a distribution's only address is the root; "
                               f"got choices at {choices.addresses()[:4]}")
        return True, self._value(choices.get_value())

    def _check_args(self, args: tuple) -> None:
        if args not in ((), None):
            from genmlx.errors import ArgumentError

            raise ArgumentError(f"{self.name}: a distribution's parameters are bound at "
                                f"construction; its GFI args must be (), got {args!r}")

    def simulate(self, args: tuple = (), key: Any = None) -> Trace:
        """Sample; score = log p(value)."""
        self._check_args(args)
        return self._trace(self.sample(resolve_key(key)))

    def generate(self, args: tuple = (), constraints: ChoiceMap = EMPTY,
                 key: Any = None) -> GenerateResult:
        """weight = log p(value) when constrained, else 0."""
        self._check_args(args)
        found, value = self._root_value(constraints, "generate")
        tr = self._trace(value if found else self.sample(resolve_key(key)))
        return GenerateResult(tr, tr.score if found else self.backend.xp.zeros_like(tr.score))

    def update(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
               argdiffs: tuple | None = None, key: Any = None) -> UpdateResult:
        """weight = log p(new value) - log p(old value); discard holds the old value."""
        found, value = self._root_value(constraints, "update")
        if not found:
            tr = self._trace(trace.retval, trace.internal)
            return UpdateResult(tr, tr.score - trace.score, NO_CHANGE, EMPTY)
        tr = self._trace(value, trace.internal)
        return UpdateResult(tr, tr.score - trace.score, UNKNOWN_CHANGE,
                            ChoiceMap.leaf(trace.retval))

    def regenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                   argdiffs: tuple | None = None, key: Any = None) -> RegenerateResult:
        """Resampled: weight 0 (prior proposal cancels); kept: new - old log density."""
        xp = self.backend.xp
        if selection.at_leaf():
            batch = trace.internal
            key = resolve_key(key)
            value = self.sample_n(key, batch) if batch and not self.batch_shape else \
                self.sample(key)
            tr = self._trace(value, batch)
            return RegenerateResult(tr, xp.zeros_like(tr.score), UNKNOWN_CHANGE)
        tr = self._trace(trace.retval, trace.internal)
        return RegenerateResult(tr, tr.score - trace.score, NO_CHANGE)

    def assess(self, args: tuple, choices: ChoiceMap) -> AssessResult:
        """weight = log p(value)."""
        self._check_args(args)
        found, value = self._root_value(choices, "assess")
        if not found:
            raise AddressError(f"{self.name}.assess: no value given at the root address")
        return AssessResult(self._total(value), value)

    def project(self, trace: Trace, selection: Selection) -> Any:
        """log p(value) when the root is selected, else 0."""
        return trace.score if selection.at_leaf() else self.backend.xp.zeros_like(trace.score)

    # -- batched ----------------------------------------------------------------------
    def vsimulate(self, args: tuple, n: int, key: Any = None) -> Trace:
        self._check_args(args)
        shape = self.batch_shape
        key = resolve_key(key)
        value = self.sample(key) if shape and shape[0] == n else self.sample_n(key, n)
        return self._trace(value, int(n))

    def vgenerate(self, args: tuple, constraints: ChoiceMap, n: int, key: Any = None):
        found, value = self._root_value(constraints, "vgenerate")
        if not found:
            tr = self.vsimulate(args, n, key)
            return GenerateResult(tr, self.backend.xp.zeros_like(tr.score))
        tr = self._trace(value, int(n))
        return GenerateResult(tr, tr.score)

    def vupdate(self, trace, constraints=EMPTY, args=None, key=None):
        return self.update(trace, constraints, args, None, key)

    def vregenerate(self, trace, selection, args=None, key=None):
        return self.regenerate(trace, selection, args, None, key)
