"""Discrete distributions: bernoulli (flip), categorical, poisson, geometric,
neg_binomial, binomial and discrete_uniform.

Draws are int32 (`backend.int_dtype`); `log_prob` accepts integer or float
values and gives -inf at negative, non-integer or out-of-range values (never
NaN). Parameters broadcast, so `poisson(rates)` with rates [N] has batch
shape (N,). Poisson and binomial draws are exact for any rate or count (see
`genmlx.distributions.discrete_samplers`).
"""

from __future__ import annotations

import math
from typing import Any

from genmlx._backend import Array, Backend, get_backend, host_numpy
from genmlx.distributions import discrete_samplers as ds
from genmlx.distributions.base import (
    FINITE, NONNEGATIVE_INTEGER, Distribution, _is_concrete, as_param, broadcast_shapes,
    check_param, first_failure,
)
from genmlx.distributions.samplers import log_gamma, log_open_uniform
from genmlx.distributions.special import log_softmax
from genmlx.errors import ParameterError

__all__ = ["Bernoulli", "Categorical", "Poisson", "Geometric", "NegBinomial", "Binomial",
           "DiscreteUniform", "bernoulli", "flip", "categorical", "poisson", "geometric",
           "neg_binomial", "binomial", "discrete_uniform"]

_PROBABILITY = "a probability in [0, 1]"


def _is_probability(a):
    return (a >= 0) & (a <= 1)


def _is_count(a):
    return (a >= 0) & (a == a.round())


class _Discrete(Distribution):
    """Shared helpers: float views of values, integer support masks, int32 draws."""

    support = NONNEGATIVE_INTEGER

    def _float_value(self, value: Any) -> Array:
        backend, xp = self.backend, self.xp
        if backend.is_array(value):
            if xp.isdtype(value.dtype, "real floating"):
                return value
            return xp.astype(value, backend.float_dtype)
        return backend.asarray(value, dtype=backend.float_dtype)

    def _nonnegative_integer(self, k: Array) -> Array:
        xp = self.xp
        return xp.logical_and(k >= 0, xp.floor(k) == k)

    def _as_int(self, draws: Array) -> Array:
        return self.xp.astype(draws, self.backend.int_dtype)

    def _float_param(self, name: str) -> Array:
        value = self._params[name]
        xp = self.xp
        return value if xp.isdtype(value.dtype, "real floating") else xp.astype(
            value, self.backend.float_dtype)

    def _stacked_range(self, low: int, high: int) -> Array:
        """low..high-1 on the leading axis, broadcast over the batch shape."""
        xp = self.xp
        batch = self.batch_shape
        values = xp.arange(low, high, dtype=self.backend.int_dtype)
        values = xp.reshape(values, (high - low,) + (1,) * len(batch))
        return xp.broadcast_to(values, (high - low,) + batch)

    def _homogeneous_int(self, name: str) -> int:
        """The single concrete integer value of parameter `name` (for enumeration)."""
        np = host_numpy()  # reading concrete parameter values only

        try:
            values = np.unique(self.backend.to_numpy(self._params[name]))
        except (TypeError, ValueError) as exc:  # traced (jit, compile, vmap): no values
            raise ValueError(f"{self.name}.enumerate_support: parameter '{name}' must be "
                             f"concrete, not traced ({exc}).") from exc
        if values.size != 1:
            raise ValueError(f"{self.name}.enumerate_support: parameter '{name}' must be the same "
                             f"across the batch to enumerate one support; got values "
                             f"{values[:6].tolist()}. Enumerate each batch element separately.")
        return int(values[0])


def _safe_log(xp, x: Array) -> Array:
    """log x with log 0 = -inf and finite gradients there."""
    positive = x > 0
    return xp.where(positive, xp.log(xp.where(positive, x, 1.0)), -math.inf)


def _safe_log1m(xp, p: Array) -> Array:
    """log(1 - p) via log1p (accurate for small p), -inf at p = 1, finite gradients there."""
    below = p < 1
    return xp.where(below, xp.log1p(-xp.where(below, p, 0.0)), -math.inf)


# ---------------------------------------------------------------------------

class Bernoulli(_Discrete):
    """Bernoulli(p): P(1) = p, P(0) = 1 - p; support {0, 1}.

    Example:
        >>> bernoulli(0.3).sample(gm.key(0))  # 0 or 1 (int32)
    """

    name = "bernoulli"
    support = FINITE

    def __init__(self, p: Any, backend: Backend | None = None):
        check_param(self.name, "p", p, _is_probability, _PROBABILITY)
        backend = backend or get_backend()
        super().__init__(backend, p=as_param(p, backend))

    def _draw(self, key: Array, shape: tuple) -> Array:
        return self.backend.bernoulli(key, self._params["p"], shape)

    def log_prob(self, value: Any) -> Array:
        """log p at 1, log(1 - p) at 0, -inf elsewhere."""
        xp, p = self.xp, self._params["p"]
        x = self._float_value(value)
        return xp.where(x == 1, _safe_log(xp, p),
                        xp.where(x == 0, _safe_log1m(xp, p), -math.inf))

    def enumerate_support(self) -> Array:
        """[0, 1] on the leading axis (broadcast over the batch)."""
        return self._stacked_range(0, 2)


class Categorical(_Discrete):
    """Categorical(logits): P(i) = softmax(logits)[i] for i in 0..K-1 (last axis).

    Logits need not be normalised; -inf logits give zero mass.

    Example:
        >>> categorical([0.0, 1.0, 2.0]).sample_n(gm.key(0), 5)  # values in 0..2
    """

    name = "categorical"
    support = FINITE

    def __init__(self, logits: Any, backend: Backend | None = None):
        np = host_numpy()  # shape of concrete inputs only

        shape = tuple(logits.shape) if hasattr(logits, "shape") else np.shape(logits)
        if len(shape) == 0 or shape[-1] == 0:
            raise ParameterError(f"categorical: parameter 'logits' must have a last axis of "
                                 f"K >= 1 categories; got shape {shape}.")
        check_param(self.name, "logits", logits, lambda a: ~np.isnan(a) & (a < np.inf),
                    "finite or -inf (no NaN, no +inf)")
        backend = backend or get_backend()
        super().__init__(backend, logits=as_param(logits, backend))

    @property
    def num_categories(self) -> int:
        return int(self._params["logits"].shape[-1])

    @property
    def batch_shape(self) -> tuple:
        return tuple(self._params["logits"].shape[:-1])

    def _draw(self, key: Array, shape: tuple) -> Array:
        return self.backend.categorical(key, self._params["logits"], shape)

    def log_prob(self, value: Any) -> Array:
        """log softmax(logits)[value]; -inf outside 0..K-1."""
        xp = self.xp
        k = self._float_value(value)
        log_p = log_softmax(self._params["logits"], axis=-1)
        inside = xp.logical_and(self._nonnegative_integer(k), k < self.num_categories)
        index = xp.astype(xp.where(inside, k, 0.0), self.backend.int_dtype)
        shape = broadcast_shapes(tuple(index.shape), self.batch_shape)
        log_p = xp.broadcast_to(log_p, shape + (self.num_categories,))
        index = xp.broadcast_to(index, shape)[..., None]
        picked = xp.take_along_axis(log_p, index, axis=-1)[..., 0]
        return xp.where(inside, picked, -math.inf)

    def enumerate_support(self) -> Array:
        """0..K-1 on the leading axis (broadcast over the batch)."""
        return self._stacked_range(0, self.num_categories)


class Poisson(_Discrete):
    """Poisson(rate): P(k) = rate^k e^(-rate) / k!, k = 0, 1, ...

    Example:
        >>> poisson(1e4).sample_n(gm.key(0), 3)  # exact, not a normal approximation
    """

    name = "poisson"

    def __init__(self, rate: Any, backend: Backend | None = None):
        check_param(self.name, "rate", rate, lambda a: (a >= 0) & (a < math.inf),
                    "finite and >= 0")
        backend = backend or get_backend()
        super().__init__(backend, rate=as_param(rate, backend))

    def _draw(self, key: Array, shape: tuple) -> Array:
        return self._as_int(ds.poisson(self.backend, key, self._params["rate"], shape))

    def log_prob(self, value: Any) -> Array:
        xp = self.xp
        k = self._float_value(value)
        inside = self._nonnegative_integer(k)
        mass = ds.poisson_log_mass(xp.where(inside, k, 0.0), self._params["rate"], xp)
        return xp.where(inside, mass, -math.inf)


class Geometric(_Discrete):
    """Geometric(p): failures before the first success, P(k) = (1 - p)^k p, k = 0, 1, ...

    Sampled by inversion: floor(log U / log(1 - p)).

    Example:
        >>> geometric(0.2).sample(gm.key(0))
    """

    name = "geometric"

    def __init__(self, p: Any, backend: Backend | None = None):
        check_param(self.name, "p", p, lambda a: (a > 0) & (a <= 1), "in (0, 1]")
        backend = backend or get_backend()
        super().__init__(backend, p=as_param(p, backend))

    def _draw(self, key: Array, shape: tuple) -> Array:
        xp, p = self.xp, self._params["p"]
        log_u = log_open_uniform(self.backend, key, shape, p.dtype)
        return self._as_int(xp.floor(log_u / xp.log1p(-p)))

    def log_prob(self, value: Any) -> Array:
        xp, p = self.xp, self._params["p"]
        k = self._float_value(value)
        inside = self._nonnegative_integer(k)
        # k log(1 - p), with 0 at k = 0 even when p = 1.
        below = p < 1
        log_q = xp.log1p(-xp.where(below, p, 0.0))
        failures = xp.where(k > 0, xp.where(below, k * log_q, -math.inf), 0.0)
        return xp.where(inside, failures + _safe_log(xp, p), -math.inf)


class NegBinomial(_Discrete):
    """NegBinomial(r, p): failures before the r-th success with success probability p.

    P(k) = Gamma(k + r) / (k! Gamma(r)) p^r (1 - p)^k, k = 0, 1, ...; real r > 0
    allowed. Mean r (1 - p) / p. Sampled as a gamma-Poisson mixture:
    k ~ Poisson(G (1 - p) / p) with G ~ Gamma(r).

    Example:
        >>> neg_binomial(3, 0.4).sample(gm.key(0))
    """

    name = "neg_binomial"

    def __init__(self, r: Any, p: Any, backend: Backend | None = None):
        check_param(self.name, "r", r, lambda a: (a > 0) & (a < math.inf), "finite and > 0")
        check_param(self.name, "p", p, lambda a: (a > 0) & (a <= 1), "in (0, 1]")
        backend = backend or get_backend()
        super().__init__(backend, r=as_param(r, backend), p=as_param(p, backend))

    def _draw(self, key: Array, shape: tuple) -> Array:
        xp, r, p = self.xp, self._params["r"], self._params["p"]
        key_gamma, key_poisson = self.backend.split(key, 2)
        rate = xp.exp(log_gamma(key_gamma, r, shape, self.backend)) * ((1.0 - p) / p)
        return self._as_int(ds.poisson(self.backend, key_poisson, rate, shape))

    def log_prob(self, value: Any) -> Array:
        # P(k) = r / (r + k) Binomial(r; r + k, p): Loader's accurate form, real r.
        xp, r, p = self.xp, self._params["r"], self._params["p"]
        k = self._float_value(value)
        inside = self._nonnegative_integer(k)
        ks = xp.where(inside, k, 0.0)
        mass = xp.log(r / (r + ks)) + ds.binomial_log_mass(r, r + ks, p, xp, integer=False)
        return xp.where(inside, mass, -math.inf)


class Binomial(_Discrete):
    """Binomial(n, p): successes in n trials, P(k) = C(n, k) p^k (1 - p)^(n - k), k = 0..n.

    Example:
        >>> binomial(100000, 0.3).sample(gm.key(0))  # exact (BTRS), not approximated
    """

    name = "binomial"
    support = FINITE

    def __init__(self, n: Any, p: Any, backend: Backend | None = None):
        check_param(self.name, "n", n, _is_count, "a nonnegative integer")
        check_param(self.name, "p", p, _is_probability, _PROBABILITY)
        backend = backend or get_backend()
        super().__init__(backend, n=as_param(n, backend, integer=True), p=as_param(p, backend))

    def _draw(self, key: Array, shape: tuple) -> Array:
        n, p = self._float_param("n"), self._params["p"]
        return self._as_int(ds.binomial(self.backend, key, n, p, shape))

    def log_prob(self, value: Any) -> Array:
        xp = self.xp
        n, p = self._float_param("n"), self._params["p"]
        k = self._float_value(value)
        inside = xp.logical_and(self._nonnegative_integer(k), k <= n)
        mass = ds.binomial_log_mass(xp.where(inside, k, 0.0), n, p, xp)
        return xp.where(inside, mass, -math.inf)

    def enumerate_support(self) -> Array:
        """0..n on the leading axis; n must be concrete and equal across the batch."""
        return self._stacked_range(0, self._homogeneous_int("n") + 1)


class DiscreteUniform(_Discrete):
    """DiscreteUniform(lo, hi): the integers lo..hi inclusive, each with mass 1 / (hi - lo + 1).

    Example:
        >>> discrete_uniform(1, 6).sample(gm.key(0))  # a die roll
    """

    name = "discrete_uniform"
    support = FINITE

    def __init__(self, lo: Any, hi: Any, backend: Backend | None = None):
        np = host_numpy()  # checking concrete parameters only

        for pname, value in (("lo", lo), ("hi", hi)):
            check_param(self.name, pname, value, lambda a: np.isfinite(a) & (a == a.round()),
                        "an integer")
        if _is_concrete(lo) and _is_concrete(hi):
            lo_arr, hi_arr = np.broadcast_arrays(np.asarray(lo, dtype=float),
                                                 np.asarray(hi, dtype=float))
            if np.any(lo_arr > hi_arr):
                where = first_failure(lo_arr <= hi_arr)
                at = f" at index {where}" if lo_arr.ndim else ""
                raise ParameterError(
                    f"discrete_uniform: parameter 'hi' must be >= 'lo' (the range lo..hi is "
                    f"inclusive); got{at} lo={lo_arr[where].item()!r}, "
                    f"hi={hi_arr[where].item()!r}.")
        backend = backend or get_backend()
        super().__init__(backend, lo=as_param(lo, backend, integer=True),
                         hi=as_param(hi, backend, integer=True))

    def _draw(self, key: Array, shape: tuple) -> Array:
        lo, hi = self._float_param("lo"), self._float_param("hi")
        return self.backend.randint(key, lo, hi + 1.0, shape)

    def log_prob(self, value: Any) -> Array:
        xp = self.xp
        lo, hi = self._float_param("lo"), self._float_param("hi")
        k = self._float_value(value)
        inside = xp.logical_and(xp.logical_and(k >= lo, k <= hi), xp.floor(k) == k)
        return xp.where(inside, -xp.log(hi - lo + 1.0), -math.inf)

    def enumerate_support(self) -> Array:
        """lo..hi on the leading axis; lo and hi must be concrete and equal across the batch."""
        lo, hi = self._homogeneous_int("lo"), self._homogeneous_int("hi")
        xp = self.xp
        return self._stacked_range(0, hi - lo + 1) + xp.asarray(lo, dtype=self.backend.int_dtype)


# ---------------------------------------------------------------------------
# constructors

def bernoulli(p: Any) -> Bernoulli:
    """Bernoulli(p) on {0, 1} with P(1) = p. Raises ParameterError unless 0 <= p <= 1."""
    return Bernoulli(p)


flip = bernoulli


def categorical(logits: Any) -> Categorical:
    """Categorical over 0..K-1 with P(i) = softmax(logits)[i] (logits on the last axis)."""
    return Categorical(logits)


def poisson(rate: Any) -> Poisson:
    """Poisson(rate) on 0, 1, ...; rate >= 0."""
    return Poisson(rate)


def geometric(p: Any) -> Geometric:
    """Failures before the first success: P(k) = (1 - p)^k p; p in (0, 1]."""
    return Geometric(p)


def neg_binomial(r: Any, p: Any) -> NegBinomial:
    """Failures before the r-th success (success probability p); real r > 0, p in (0, 1]."""
    return NegBinomial(r, p)


def binomial(n: Any, p: Any) -> Binomial:
    """Binomial(n, p) on 0..n; n a nonnegative integer, p in [0, 1]."""
    return Binomial(n, p)


def discrete_uniform(lo: Any, hi: Any) -> DiscreteUniform:
    """Uniform on the integers lo..hi inclusive; lo <= hi."""
    return DiscreteUniform(lo, hi)
