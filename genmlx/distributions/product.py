"""Independent products of distributions (Gen.jl's ProductDistribution).

`product_distribution([d_1, ..., d_M])` draws one value from each component,
independently; its value is the tuple (x_1, ..., x_M) and its log density
the sum of the components' log densities. The components may differ in family,
event shape and dtype (a gaussian, a poisson and a dirichlet together); their
batch shapes broadcast.

Batched runs (vsimulate, vectorized models) are refused with a
VectorizationError: the batched machinery stores one array per choice, and
a tuple value has no particle axis to slice. Trace a product site in ordinary
runs, or trace its components at separate addresses in batched ones.
"""

from __future__ import annotations

from typing import Any, Sequence

from genmlx._backend import Array, Backend, get_backend
from genmlx.distributions.base import Distribution, Support, broadcast_shapes
from genmlx.errors import ParameterError, ShapeError, VectorizationError

__all__ = ["ProductDistribution", "product_distribution"]


class ProductDistribution(Distribution):
    """The independent product of M distributions; values are M-tuples.

    Math: log p((x_1, ..., x_M)) = sum_i log p_i(x_i), elementwise over the
    broadcast batch shape of the components (each component's event axes summed).

    Attributes:
        components: the M component distributions.
    """

    name = "product_distribution"
    event_rank = 0

    def __init__(self, components: Sequence[Distribution], backend: Backend | None = None):
        components = list(components) if isinstance(components, (list, tuple)) else None
        if not components or not all(isinstance(c, Distribution) for c in components):
            raise ParameterError("product_distribution: parameter 'components' must be a "
                                 "non-empty list of distributions, e.g. [gaussian(0, 1), "
                                 "poisson(3.0)].")
        super().__init__(backend or get_backend())
        self.components = tuple(components)
        self.support = Support("product", discrete=all(c.support.discrete for c in components))
        self.reparameterized = all(c.reparameterized for c in components)
        try:
            self._batch_shape = broadcast_shapes(*(tuple(c.batch_shape) for c in components))
        except ValueError:
            shown = ", ".join(f"{c.name}: {tuple(c.batch_shape)}" for c in components)
            raise ParameterError(f"product_distribution: the components' batch shapes do not "
                                 f"broadcast ({shown}).") from None

    @property
    def batch_shape(self) -> tuple:
        return self._batch_shape

    def _draw(self, key: Array, shape: tuple) -> tuple:
        keys = self.backend.split(key, len(self.components))
        return tuple(c._draw(keys[i], tuple(shape)) for i, c in enumerate(self.components))

    def sample_n(self, key: Array | None, n: int) -> tuple:
        """Refused: batched draws of a tuple-valued site are not supported (module docstring)."""
        raise VectorizationError(
            "product_distribution: batched draws (sample_n, vsimulate, vectorized models) are "
            "not supported, since its value is a tuple with no particle axis; trace the "
            f"{len(self.components)} components at separate addresses in batched runs.")

    def vsimulate(self, args: tuple, n: int, key: Any = None, like: Any = None) -> Any:
        return self.sample_n(key, n)

    def vgenerate(self, args: tuple, constraints: Any, n: int, key: Any = None,
                  like: Any = None) -> Any:
        return self.sample_n(key, n)

    def _value(self, value: Any, integer: bool | None = None) -> tuple:
        """Each component's value in its own dtype."""
        parts = self._parts(value)
        return tuple(c._value(v) for c, v in zip(self.components, parts))

    def _parts(self, value: Any) -> Sequence[Any]:
        if not isinstance(value, (tuple, list)) or len(value) != len(self.components):
            got = f"a {type(value).__name__} of length {len(value)}" if isinstance(
                value, (tuple, list)) else f"{type(value).__name__} {value!r}"
            raise ShapeError(f"product_distribution: a value is a tuple of "
                             f"{len(self.components)} component values "
                             f"({', '.join(c.name for c in self.components)}); got {got}.")
        return value

    def log_prob(self, value: Any) -> Array:
        """sum_i log p_i(value[i]), elementwise over the batch."""
        parts = self._parts(value)
        total = None
        for c, v in zip(self.components, parts):
            lp = c.log_prob(v)
            total = lp if total is None else total + lp
        return total

    def __repr__(self) -> str:
        return f"product_distribution([{', '.join(repr(c) for c in self.components)}])"


def product_distribution(components: Sequence[Distribution]) -> ProductDistribution:
    """The independent product of `components`; a value is the tuple of their values.

    Math: log p((x_1, ..., x_M)) = sum_i log p_i(x_i).

    Example:
        >>> d = product_distribution([gaussian(0.0, 1.0), poisson(3.0)])
        >>> x, k = d.sample(gm.key(0))
        >>> d.log_prob((x, k))  # gaussian(0, 1).log_prob(x) + poisson(3).log_prob(k)
    """
    return ProductDistribution(components)
