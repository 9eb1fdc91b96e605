"""A distribution as a generative function with one choice at the root address.

Its arguments are empty (parameters are bound at construction), its trace's
choicemap is a value leaf, and its score the (summed) log density.

Batched sites (L0). This module also holds the rules every batched choice
site follows, for the @gen handlers and for a distribution run batched as a
generative function. Batchedness is never read off an array's leading size;
it comes from the *skeleton*: the same site in an ordinary, unbatched run of
the same call (the "like" trace, see `genmlx.dsl.handlers.batching`). With u
the unbatched distribution's batch shape and N the number of particles:

- parameters are per particle iff the batched distribution's batch shape is
  (N,) + u (draw with `sample`), shared iff it is u (draw with `sample_n`);
  anything else is a VectorizationError naming the site;
- a given value (constraint) is per particle iff its shape is (N,) + the
  unbatched value shape; otherwise it is shared by all particles;
- the site's log density is per particle iff its value or its parameters are;
  its expected rank is checked against the unbatched one, and the stored site
  score is always [N] (a shared log density is broadcast, which is cheap).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genmlx._keys import resolve_key
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.diff import NO_CHANGE, UNKNOWN_CHANGE
from genmlx.core.selection import Selection
from genmlx.core.trace import Trace
from genmlx.errors import AddressError, VectorizationError
from genmlx.gfi.interface import (
    AssessResult, GenerateResult, GenerativeFunction, RegenerateResult, UpdateResult,
)

__all__ = ["DistributionGFI", "BatchedSite", "batched_draw", "batched_site_score",
           "value_is_batched"]


# -- the rules of one batched choice site ----------------------------------------------------

def batched_draw(dist: Any, key: Any, n: int, unbatched_batch_shape: tuple,
                 where: str) -> tuple[Any, bool]:
    """(value [n, ...], parameters per particle?) for one site drawn for n particles.

    Raises:
        VectorizationError: the batch shape is neither (n,) + u nor u.
    """
    return _draw_kind(dist, n, unbatched_batch_shape, where, key)


def _draw_kind(dist: Any, n: int, u: tuple, where: str, key: Any = None,
               draw: bool = True) -> tuple[Any, bool]:
    shape, u = tuple(dist.batch_shape), tuple(u)
    if shape == (n,) + u:
        return (dist.sample(key) if draw else None), True
    if shape == u:
        return (dist.sample_n(key, n) if draw else None), False
    raise SiteShapeError(
        f"{where}: {dist.name} has batch shape {shape} under {n} particles, but the "
        f"unbatched run of the same call gives batch shape {u}; batched parameters must "
        f"have shape {(n,) + u} (one set per particle) or {u} (shared by all particles).")


def params_are_batched(dist: Any, n: int, unbatched_batch_shape: tuple, where: str) -> bool:
    """True when `dist`'s parameters carry the particle axis (see the module docstring)."""
    return _draw_kind(dist, n, unbatched_batch_shape, where, draw=False)[1]


def value_is_batched(value: Any, n: int, unbatched_value_shape: tuple) -> bool:
    """True when a given value carries the particle axis: shape (n,) + unbatched shape."""
    return tuple(value.shape) == (int(n),) + tuple(unbatched_value_shape)


def batched_site_score(dist: Any, value: Any, n: int, value_batched: bool,
                       unbatched_batch_shape: tuple, where: str) -> Any:
    """The site's log density, one number per particle ([n]).

    Per particle (summed over the site's own axes) when the value or the
    parameters carry the particle axis; otherwise the shared total, broadcast.
    """
    xp = dist.backend.xp
    per_particle = params_are_batched(dist, n, unbatched_batch_shape, where) or value_batched
    lp = dist.log_prob(value)
    own = tuple(value.shape[1:] if value_batched else value.shape)
    rank = len(dist.event_shape)
    expected = max(len(tuple(unbatched_batch_shape)), len(own) - rank) + int(per_particle)
    if lp.ndim != expected:
        raise SiteShapeError(
            f"{where}: {dist.name}'s log density has shape {tuple(lp.shape)} under {n} "
            f"particles, expected rank {expected} (value {'per particle' if value_batched else 'shared'}, "
            f"parameters {'per particle' if per_particle and not value_batched else 'shared'}); "
            "a per-particle value or parameter must lead with the particle axis.")
    if per_particle:
        return xp.sum(lp, axis=tuple(range(1, lp.ndim))) if lp.ndim > 1 else lp
    return xp.broadcast_to(xp.sum(lp) if lp.ndim else lp, (int(n),))


class SiteShapeError(VectorizationError):
    """A batched site disagrees with its unbatched skeleton (raised before any
    value of the batched run is used, so a caller that owns the skeleton may
    probe again and retry)."""


@dataclass(frozen=True)
class BatchedSite:
    """The internal of a distribution's batched trace.

    Attributes:
        batch: N, the number of particles.
        value_batched: whether the value carries the particle axis (a shared
            constraint does not); the score always does.
        like: an unbatched trace of the same site (None: this distribution's own
            parameters are the unbatched ones).
    """

    batch: int
    value_batched: bool
    like: Any = None


class DistributionGFI(GenerativeFunction):
    """The GFI for distributions (mixed into `Distribution`)."""

    def _total(self, value: Any) -> Any:
        lp = self.log_prob(value)
        return lp if lp.ndim == 0 else self.backend.xp.sum(lp)

    def _trace(self, value: Any) -> Trace:
        return Trace(self, (), value, ChoiceMap.leaf(value), self._total(value), None)

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
        if isinstance(trace.internal, BatchedSite):
            return self.vupdate(trace, constraints, args, key)
        found, value = self._root_value(constraints, "update")
        if not found:
            tr = self._trace(trace.retval)
            return UpdateResult(tr, tr.score - trace.score, NO_CHANGE, EMPTY)
        tr = self._trace(value)
        return UpdateResult(tr, tr.score - trace.score, UNKNOWN_CHANGE,
                            ChoiceMap.leaf(trace.retval))

    def regenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                   argdiffs: tuple | None = None, key: Any = None) -> RegenerateResult:
        """Resampled: weight 0 (prior proposal cancels); kept: new - old log density."""
        if isinstance(trace.internal, BatchedSite):
            return self.vregenerate(trace, selection, args, key)
        xp = self.backend.xp
        if selection.at_leaf():
            tr = self._trace(self.sample(resolve_key(key)))
            return RegenerateResult(tr, xp.zeros_like(tr.score), UNKNOWN_CHANGE)
        tr = self._trace(trace.retval)
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
    # `like`: an unbatched trace of the same site (e.g. the callee record of an
    # unbatched probe when this distribution was built from per-particle values
    # inside a batched body); None means this distribution's parameters are the
    # unbatched ones (it was built outside the batched run).

    def _skeleton(self, like: Any) -> tuple[tuple, tuple]:
        """(unbatched batch shape, unbatched value shape)."""
        if like is None:
            shape = tuple(self.batch_shape)
            return shape, shape + tuple(self.event_shape)
        return tuple(like.gen_fn.batch_shape), tuple(like.retval.shape)

    def _batched_trace(self, value: Any, n: int, value_batched: bool, like: Any,
                       who: str) -> Trace:
        u_batch, _ = self._skeleton(like)
        score = batched_site_score(self, value, n, value_batched, u_batch, f"{self.name}.{who}")
        return Trace(self, (), value, ChoiceMap.leaf(value), score,
                     BatchedSite(int(n), value_batched, like))

    def _draw_batched(self, n: int, key: Any, like: Any, who: str) -> Trace:
        u_batch, _ = self._skeleton(like)
        value, _ = batched_draw(self, resolve_key(key), int(n), u_batch, f"{self.name}.{who}")
        return self._batched_trace(value, n, True, like, who)

    def _given_batched(self, value: Any, n: int, like: Any, who: str) -> Trace:
        _, u_value = self._skeleton(like)
        return self._batched_trace(value, n, value_is_batched(value, n, u_value), like, who)

    def vsimulate(self, args: tuple, n: int, key: Any = None, like: Any = None) -> Trace:
        """n draws; score [n] = log p(value_i)."""
        self._check_args(args)
        return self._draw_batched(n, key, like, "vsimulate")

    def vgenerate(self, args: tuple, constraints: ChoiceMap, n: int, key: Any = None,
                  like: Any = None) -> GenerateResult:
        """weight [n] = log p(value_i) when constrained (shared or per particle), else 0."""
        self._check_args(args)
        found, value = self._root_value(constraints, "vgenerate")
        if not found:
            tr = self._draw_batched(n, key, like, "vgenerate")
            return GenerateResult(tr, self.backend.xp.zeros_like(tr.score))
        tr = self._given_batched(value, n, like, "vgenerate")
        return GenerateResult(tr, tr.score)

    def vupdate(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
                key: Any = None, like: Any = None) -> UpdateResult:
        """weight [n] = log p(new value_i) - log p(old value_i); discard = old value."""
        site: BatchedSite = trace.internal
        like = site.like if like is None else like
        found, value = self._root_value(constraints, "vupdate")
        if not found:
            tr = self._batched_trace(trace.retval, site.batch, site.value_batched, like,
                                     "vupdate")
            return UpdateResult(tr, tr.score - trace.score, NO_CHANGE, EMPTY)
        tr = self._given_batched(value, site.batch, like, "vupdate")
        return UpdateResult(tr, tr.score - trace.score, UNKNOWN_CHANGE,
                            ChoiceMap.leaf(trace.retval))

    def vregenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                    key: Any = None, like: Any = None) -> RegenerateResult:
        """Resampled: weight [n] of zeros; kept: new - old log density per particle."""
        site: BatchedSite = trace.internal
        like = site.like if like is None else like
        if selection.at_leaf():
            tr = self._draw_batched(site.batch, key, like, "vregenerate")
            return RegenerateResult(tr, self.backend.xp.zeros_like(tr.score), UNKNOWN_CHANGE)
        tr = self._batched_trace(trace.retval, site.batch, site.value_batched, like,
                                 "vregenerate")
        return RegenerateResult(tr, tr.score - trace.score, NO_CHANGE)
