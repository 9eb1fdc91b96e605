"""Finite mixtures: mixture(components, log_weights).

Math: p(x) = sum_k softmax(log_weights)_k p_k(x), computed as
logsumexp_k(log_softmax(log_weights)_k + log p_k(x)).

Sampling is vectorised over draws: every component draws the full sample
shape once, a categorical draws one component index per element, and `where`
selects (a loop over the K components, never over draws).
"""

from __future__ import annotations

from typing import Any, Sequence

from genmlx._backend import Array, Backend, get_backend, host_numpy
from genmlx.distributions.base import (
    Distribution, Support, _is_concrete, as_param, broadcast_shapes, check_param,
)
from genmlx.distributions.special import log_softmax, logsumexp
from genmlx.errors import ParameterError

__all__ = ["Mixture", "mixture"]


class Mixture(Distribution):
    """A mixture of K distributions that share an event shape.

    Attributes:
        components: the K component distributions.

    Example:
        >>> m = mixture([gaussian(-2.0, 1.0), gaussian(2.0, 0.5)], [0.0, 0.0])
        >>> m.log_prob(0.0)
    """

    name = "mixture"

    def __init__(self, components: Sequence[Distribution], log_weights: Any,
                 backend: Backend | None = None):
        components = list(components) if isinstance(components, (list, tuple)) else None
        if not components or not all(isinstance(c, Distribution) for c in components):
            raise ParameterError("mixture: parameter 'components' must be a non-empty list of "
                                 "distributions, e.g. [gaussian(0, 1), gaussian(3, 1)].")
        shapes = {(c.event_rank, tuple(c.event_shape)) for c in components}
        if len(shapes) > 1:
            shown = ", ".join(f"{c.name}: {tuple(c.event_shape)}" for c in components)
            raise ParameterError(f"mixture: parameter 'components' must share one event shape; "
                                 f"got {shown}.")
        self._check_log_weights(log_weights, len(components))
        backend = backend or get_backend()
        super().__init__(backend, log_weights=as_param(log_weights, backend))
        self.components = tuple(components)
        first = components[0]
        self.event_rank = first.event_rank
        supports = {c.support for c in components}
        self.support = first.support if len(supports) == 1 else Support(
            "union", discrete=all(s.discrete for s in supports))
        try:
            self._batch_shape = broadcast_shapes(
                tuple(self.params["log_weights"].shape[:-1]),
                *(tuple(c.batch_shape) for c in components))
        except ValueError:
            shown = ", ".join(str(tuple(c.batch_shape)) for c in components)
            raise ParameterError(f"mixture: the batch shapes of 'log_weights' "
                                 f"{tuple(self.params['log_weights'].shape[:-1])} and of the "
                                 f"components ({shown}) do not broadcast.") from None

    def _check_log_weights(self, log_weights: Any, num: int) -> None:
        np = host_numpy()  # shapes and values of concrete inputs only

        shape = tuple(log_weights.shape) if hasattr(log_weights, "shape") else np.shape(
            log_weights)
        if len(shape) < 1 or shape[-1] != num:
            raise ParameterError(f"mixture: parameter 'log_weights' must have shape [..., {num}] "
                                 f"(one per component); got shape {shape}.")
        if _is_concrete(log_weights):
            check_param(self.name, "log_weights", log_weights,
                        lambda a: ~np.isnan(a) & (a < np.inf),
                        "finite or -inf (no NaN, no +inf)")
            if np.any(np.all(np.asarray(log_weights, dtype=float) == -np.inf, axis=-1)):
                raise ParameterError("mixture: parameter 'log_weights' must give some component "
                                     f"positive weight; got all -inf in {log_weights!r}.")

    @property
    def batch_shape(self) -> tuple:
        return self._batch_shape

    @property
    def event_shape(self) -> tuple:
        return tuple(self.components[0].event_shape)

    def _draw(self, key: Array, shape: tuple) -> Array:
        xp, backend = self.xp, self.backend
        num = len(self.components)
        keys = backend.split(key, num + 1)
        index = backend.categorical(keys[num], self.params["log_weights"], tuple(shape))
        index = xp.reshape(index, tuple(index.shape) + (1,) * self.event_rank)
        out = self.components[0]._draw(keys[0], tuple(shape))
        for k in range(1, num):
            out = xp.where(index == k, self.components[k]._draw(keys[k], tuple(shape)), out)
        return out

    def log_prob(self, value: Any) -> Array:
        """logsumexp_k(log_softmax(log_weights)_k + log p_k(value))."""
        xp = self.xp
        per_component = xp.stack([c.log_prob(value) for c in self.components], axis=-1)
        return logsumexp(per_component + log_softmax(self.params["log_weights"], axis=-1),
                         axis=-1)


def mixture(components: Sequence[Distribution], log_weights: Any) -> Mixture:
    """The mixture sum_k softmax(log_weights)_k p_k of `components` (shared event shape)."""
    return Mixture(components, log_weights)
