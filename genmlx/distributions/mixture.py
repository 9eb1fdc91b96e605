"""Finite mixtures: mixture(components, log_weights), and
homogeneous_mixture(family, weights, *params) for K members of one family.

Math: p(x) = sum_k softmax(log_weights)_k p_k(x), computed as
logsumexp_k(log_softmax(log_weights)_k + log p_k(x)).

Sampling is vectorised over draws: every component draws the full sample
shape once, a categorical draws one component index per element, and `where`
selects (a loop over the K components, never over draws).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from genmlx._backend import Array, Backend, get_backend, host_numpy
from genmlx.distributions.base import (
    Distribution, Support, _is_concrete, as_param, broadcast_shapes, check_param,
)
from genmlx.distributions.special import log_softmax, logsumexp
from genmlx.errors import ParameterError

__all__ = ["Mixture", "mixture", "HomogeneousMixture", "homogeneous_mixture"]


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


# ---------------------------------------------------------------------------
# Gen.jl's HomogeneousMixture: K components of one family, parameters stacked

class HomogeneousMixture(Distribution):
    """A mixture of K members of one distribution family (Gen.jl's HomogeneousMixture).

    Each parameter of the family carries a trailing component axis: a parameter
    whose value for one component has `dims[i]` axes is given with
    `dims[i] + 1` axes, the last of length K (e.g. means [K] for scalar
    families, means [D, K] and covariances [D, D, K] for multivariate_normal
    with dims (1, 2)); axes before those are batch axes.

    Math: p(x) = sum_k w_k p_family(x; params[..., k]), computed as
    logsumexp_k(log w_k + log p_family(x; params_k)).

    Sampling draws one component index per element from the weights, gathers
    that component's parameters and draws once from the family (no loop over
    components or draws).

    Attributes:
        family: the constructor of one component (e.g. `gaussian`).
        dims: the number of axes of one component's value of each parameter.
        components: the family with the component axis moved before the
            parameter axes (batch shape [..., K]).
    """

    name = "homogeneous_mixture"

    def __init__(self, family: Callable[..., Distribution], weights: Any, params: Sequence[Any],
                 dims: Sequence[int] | None = None, backend: Backend | None = None):
        backend = backend or get_backend()
        xp = backend.xp
        np = host_numpy()  # shapes and values of concrete inputs only
        params = list(params)
        dims = [0] * len(params) if dims is None else [int(d) for d in dims]
        if len(dims) != len(params):
            raise ParameterError(f"homogeneous_mixture: 'dims' gives {len(dims)} entries for "
                                 f"{len(params)} parameter(s); give one per parameter.")
        w_shape = tuple(weights.shape) if hasattr(weights, "shape") else np.shape(weights)
        if len(w_shape) < 1 or w_shape[-1] < 1:
            raise ParameterError(f"homogeneous_mixture: parameter 'weights' must have shape "
                                 f"[..., K] with K >= 1; got shape {w_shape}.")
        num = w_shape[-1]
        check_param(self.name, "weights", weights, lambda w: (w >= 0) & (w <= 1),
                    "probabilities in [0, 1]")
        check_param(self.name, "weights", weights,
                    lambda w: np.abs(w.sum(axis=-1) - 1.0) <= 1e-5,
                    "summing to 1 along the last axis (within 1e-5)")
        moved = []
        for i, (p, d) in enumerate(zip(params, dims)):
            shape = tuple(p.shape) if hasattr(p, "shape") else np.shape(p)
            if len(shape) < d + 1 or shape[-1] != num:
                raise ParameterError(
                    f"homogeneous_mixture: parameter {i} of {_family_name(family)} has shape "
                    f"{shape}; with dims[{i}] = {d} it needs at least {d + 1} axes, the last of "
                    f"length K = {num} (one entry per component).")
            # the component axis goes in front of the parameter's own axes, where the
            # family reads batch axes; concrete inputs stay on the host so that the
            # family's own parameter checks still run on them
            if _is_concrete(p):
                moved.append(np.moveaxis(np.asarray(p, dtype=float), -1, len(shape) - 1 - d))
            else:
                moved.append(xp.moveaxis(as_param(p, backend), -1, len(shape) - 1 - d))
        components = family(*moved)
        if not isinstance(components, Distribution):
            raise ParameterError(f"homogeneous_mixture: 'family' must build a distribution, "
                                 f"got {type(components).__name__}.")
        if not components.batch_shape or components.batch_shape[-1] != num:
            raise ParameterError(
                f"homogeneous_mixture: the {components.name} components have batch shape "
                f"{tuple(components.batch_shape)}; expected [..., K = {num}]. Check 'dims' "
                f"(the component axis must be the last axis of every parameter).")
        w = as_param(weights, backend)
        positive = w > 0
        log_weights = xp.where(positive, xp.log(xp.where(positive, w, 1.0)), -math.inf)
        super().__init__(backend, log_weights=log_weights)
        self.family, self.dims, self.components = family, tuple(dims), components
        self._moved = tuple(as_param(m, backend) for m in moved)
        self.event_rank = components.event_rank
        self.support = components.support
        self.reparameterized = False
        try:
            self._batch_shape = broadcast_shapes(tuple(w.shape[:-1]),
                                                 tuple(components.batch_shape[:-1]))
        except ValueError:
            raise ParameterError(f"homogeneous_mixture: the batch shapes of 'weights' "
                                 f"{tuple(w.shape[:-1])} and of the parameters "
                                 f"{tuple(components.batch_shape[:-1])} do not broadcast."
                                 ) from None

    @property
    def batch_shape(self) -> tuple:
        return self._batch_shape

    @property
    def event_shape(self) -> tuple:
        return tuple(self.components.event_shape)

    def _draw(self, key: Array, shape: tuple) -> Array:
        xp, backend = self.xp, self.backend
        shape = tuple(shape)
        key_index, key_draw = backend.split(key, 2)
        index = backend.categorical(key_index, self.params["log_weights"], shape)
        gathered = []
        for m, d in zip(self._moved, self.dims):
            own = tuple(m.shape[m.ndim - d:]) if d else ()
            full = xp.broadcast_to(m, shape + (int(m.shape[m.ndim - d - 1]),) + own)
            at = xp.reshape(xp.astype(index, backend.int_dtype), shape + (1,) + (1,) * d)
            picked = xp.take_along_axis(full, at, axis=len(shape))
            gathered.append(xp.squeeze(picked, axis=len(shape)))
        return self.family(*gathered)._draw(key_draw, shape)

    def log_prob(self, value: Any) -> Array:
        """logsumexp_k(log w_k + log p_family(value; params_k))."""
        xp = self.xp
        x = self._value(value)
        # a component axis in front of the value's own axes, against the components' K
        x = xp.expand_dims(x, axis=x.ndim - self.event_rank)
        per_component = self.components.log_prob(x)
        return logsumexp(per_component + self.params["log_weights"], axis=-1)


def _family_name(family: Any) -> str:
    return getattr(family, "__name__", type(family).__name__)


def homogeneous_mixture(family: Callable[..., Distribution], weights: Any, *params: Any,
                        dims: Sequence[int] | None = None) -> HomogeneousMixture:
    """The mixture sum_k weights[k] family(params[..., k]) (Gen.jl's HomogeneousMixture).

    Args:
        family: a distribution constructor, e.g. `gaussian` or `multivariate_normal`.
        weights: component probabilities [..., K], >= 0 and summing to 1.
        *params: the family's parameters, each with a trailing component axis.
        dims: per parameter, the number of axes one component's value has
            (default all 0: scalar parameters, each given as a [K] vector).

    Math: log p(x) = logsumexp_k(log weights[k] + log p_family(x; params_k)).

    Example:
        >>> homogeneous_mixture(gaussian, [0.3, 0.7], [-1.0, 2.0], [0.5, 1.0])
        >>> homogeneous_mixture(multivariate_normal, [0.5, 0.5], means_DK, covs_DDK,
        ...                     dims=(1, 2))
    """
    return HomogeneousMixture(family, weights, params, dims)
