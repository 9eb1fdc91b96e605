"""Continuous distributions (and delta): classes plus lowercase constructors.

Each constructor's docstring states the parameterisation, the support and
the density (the contract each class keeps). Parameters
broadcast, so `gaussian(mus, 1.0)` with mus [N] has batch shape (N,).
`log_prob` is elementwise over the batch, -inf outside the support (closed
supports include their ends, where the density is the limit scipy gives) and
never NaN: out-of-support values are swapped for a harmless value before any
log, so neither the result nor its gradient sees an infinity.

Example:
    >>> d = gaussian(0.0, 2.0)
    >>> x = d.sample_n(gm.key(0), 1000)
    >>> lp = d.log_prob(x)
"""

from __future__ import annotations

import math
from typing import Any

from genmlx._backend import Array, Backend, get_backend, host_numpy
from genmlx.distributions import samplers, special
from genmlx.distributions.base import (
    INTERVAL, POINT, POSITIVE, REAL, UNIT_INTERVAL, Distribution, _is_concrete, as_param,
    broadcast_shapes, check_param, first_failure, scalar_or_param,
)
from genmlx.errors import ParameterError

__all__ = [
    "Gaussian", "Uniform", "Beta", "Gamma", "Exponential", "Laplace", "StudentT", "LogNormal",
    "Cauchy", "InvGamma", "TruncatedNormal", "PiecewiseUniform", "BetaUniformMixture",
    "BroadcastedNormal", "Delta",
    "gaussian", "normal", "uniform", "beta_dist", "gamma_dist", "exponential", "laplace",
    "student_t", "log_normal", "cauchy", "inv_gamma", "truncated_normal", "piecewise_uniform",
    "beta_uniform_mixture", "broadcasted_normal", "delta",
]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_PI = math.log(math.pi)
_NEG_INF = -math.inf
_POSITIVE = "positive (> 0)"
_PROBABILITY = "a probability in [0, 1]"


def _positive(a):
    return a > 0


def _check_less(dist: str, lo_name: str, lo: Any, hi_name: str, hi: Any) -> None:
    """ParameterError unless lo < hi elementwise (when both are concrete)."""
    if not (_is_concrete(lo) and _is_concrete(hi)):
        return
    np = host_numpy()  # only for checking user-supplied concrete values

    lo_arr, hi_arr = np.broadcast_arrays(np.asarray(lo, dtype=float),
                                         np.asarray(hi, dtype=float))
    passed = lo_arr < hi_arr
    if np.all(passed):
        return
    if passed.ndim == 0:
        got = f"got {lo_name}={lo!r}, {hi_name}={hi!r}"
    else:
        where = first_failure(passed)
        got = (f"first at index {where} (broadcast shape {passed.shape}): "
               f"{lo_name}={lo_arr[where].item()!r}, {hi_name}={hi_arr[where].item()!r}")
    raise ParameterError(f"{dist}: parameter '{hi_name}' must be greater than "
                         f"'{lo_name}'; {got}.")


def _xlogy(xp: Any, c: Array, y: Array) -> Array:
    """c log y for y >= 0, with 0 log 0 = 0 and c log 0 = -inf sign(c) as constants.

    The ends of a closed support get their limits without a gradient path through
    log 0, so masking them out later never leaves a NaN gradient behind.
    """
    c_zero, y_zero = c == 0, y == 0
    inner = c * xp.log(xp.where(xp.logical_or(c_zero, y_zero), 1.0, y))
    return xp.where(c_zero, 0.0, xp.where(y_zero, _minus_inf_times_sign(xp, c), inner))


def _xlog1my(xp: Any, c: Array, y: Array) -> Array:
    """c log(1 - y) for y <= 1, with the same conventions as `_xlogy` at y = 1."""
    c_zero, y_one = c == 0, y == 1
    inner = c * xp.log1p(-xp.where(xp.logical_or(c_zero, y_one), 0.0, y))
    return xp.where(c_zero, 0.0, xp.where(y_one, _minus_inf_times_sign(xp, c), inner))


def _minus_inf_times_sign(xp: Any, c: Array) -> Array:
    """-inf where c > 0, +inf elsewhere, in c's dtype (two Python scalars would not keep it)."""
    inf = xp.asarray(math.inf, dtype=c.dtype)
    return xp.where(c > 0, -inf, inf)


def _log1p_square(xp: Any, w: Array) -> Array:
    """log(1 + w^2) without overflowing w^2 (|w| > 1: 2 log|w| + log1p(w^-2))."""
    big = xp.abs(w) > 1.0
    wb, ws = xp.where(big, w, 2.0), xp.where(big, 0.0, w)
    return xp.where(big, 2.0 * xp.log(xp.abs(wb)) + xp.log1p(1.0 / (wb * wb)),
                    xp.log1p(ws * ws))


def _log1p_ratio_square(xp: Any, num: Array, den: Array) -> Array:
    """log(1 + (num / den)^2) for den > 0 without overflowing num / den or its square:
    where |num| > den it is 2 (log|num| - log den) + log1p((den / num)^2)."""
    big = xp.abs(num) > den
    nb = xp.where(big, num, 2.0 * den)  # the unused branch sees a harmless ratio
    w_small = xp.where(big, 0.0, num) / den
    return xp.where(big, 2.0 * (xp.log(xp.abs(nb)) - xp.log(den)) + xp.log1p(
        xp.square(den / nb)), xp.log1p(w_small * w_small))


def _beta_log_density(xp: Any, x: Array, a: Array, b: Array) -> Array:
    """log Beta(a, b) density at x in [0, 1] (no support mask)."""
    return _xlogy(xp, a - 1.0, x) + _xlog1my(xp, b - 1.0, x) - special.log_beta(a, b)


class _Continuous(Distribution):
    """Shared construction (parameters as float backend arrays) and value handling."""

    def __init__(self, backend: Backend | None = None, **params: Any):
        from genmlx._backend import get_backend

        backend = backend or get_backend()
        super().__init__(backend, **{k: as_param(v, backend) for k, v in params.items()})

    def _real(self, value: Any) -> Array:
        """`value` as a floating backend array."""
        backend, xp = self.backend, self.xp
        if backend.is_array(value):
            if value.dtype == backend.float_dtype:  # cheaper than isdtype; the common case
                return value
            if xp.isdtype(value.dtype, "real floating"):
                return value
            return xp.astype(value, backend.float_dtype)
        return backend.asarray(value, dtype=backend.float_dtype)

    def _masked(self, inside: Array, log_density: Array) -> Array:
        return self.xp.where(inside, log_density, _NEG_INF)

    def _normal(self, key: Array, shape: tuple) -> Array:
        return self.backend.normal(key, shape, self.backend.float_dtype)


# ---------------------------------------------------------------------------
# location-scale families on the real line

class Gaussian(_Continuous):
    """Normal N(mu, sigma^2) on the reals; density exp(-(x-mu)^2 / (2 sigma^2)) / (sigma sqrt(2 pi))."""

    name = "gaussian"
    support = REAL
    reparameterized = True

    # mu and sigma stay Python floats when given as numbers (see `scalar_or_param`):
    # a site gaussian(x, 1.0) then costs no array for its parameters, and the
    # arithmetic below skips the exact no-ops (times 1.0, plus or minus 0.0) and folds
    # log sigma into one Python constant. Array parameters (tracers included) take
    # the general expressions; nothing compares an array.

    def __init__(self, mu: Any, sigma: Any, backend: Backend | None = None):
        check_param(self.name, "sigma", sigma, _positive, _POSITIVE)
        backend = backend or get_backend()
        Distribution.__init__(self, backend, mu=scalar_or_param(mu, backend),
                              sigma=scalar_or_param(sigma, backend))

    def _draw(self, key, shape):
        return self.from_standard_normal(self._normal(key, shape))

    def from_standard_normal(self, z: Array) -> Array:
        """mu + sigma z (the draw for standard normals z)."""
        p = self._params
        mu, sigma = p["mu"], p["sigma"]
        if not (type(sigma) is float and sigma == 1.0):
            z = sigma * z
        if type(mu) is float and mu == 0.0:
            return z
        return mu + z

    def log_prob(self, value):
        p = self._params
        mu, sigma = p["mu"], p["sigma"]
        x = self._real(value)
        d = x if type(mu) is float and mu == 0.0 else x - mu
        if type(sigma) is float:
            z = d if sigma == 1.0 else d / sigma
            return -0.5 * z * z - (math.log(sigma) + _HALF_LOG_2PI)
        z = d / sigma
        return -0.5 * z * z - self.xp.log(sigma) - _HALF_LOG_2PI


class BroadcastedNormal(Gaussian):
    """Independent normals N(mu, sigma^2), one per element of the broadcast mu, sigma.

    `log_prob` returns the elementwise log densities (shape of the broadcast
    parameters); the trace's score sums them.
    """

    name = "broadcasted_normal"


class Laplace(_Continuous):
    """Laplace(loc, scale) on the reals; density exp(-|x - loc| / scale) / (2 scale)."""

    name = "laplace"
    support = REAL
    reparameterized = True

    def __init__(self, loc: Any, scale: Any, backend: Backend | None = None):
        check_param(self.name, "scale", scale, _positive, _POSITIVE)
        super().__init__(backend, loc=loc, scale=scale)

    def _draw(self, key, shape):
        xp, p = self.xp, self._params
        u = samplers.open_uniform(self.backend, key, shape)
        low = u < 0.5
        # inverse CDF; each branch only sees its own half of (0, 1)
        e = xp.where(low, xp.log(2.0 * xp.where(low, u, 0.25)),
                     -xp.log(2.0 * (1.0 - xp.where(low, 0.75, u))))
        return p["loc"] + p["scale"] * e

    def log_prob(self, value):
        xp, p = self.xp, self._params
        return -xp.abs(self._real(value) - p["loc"]) / p["scale"] - xp.log(2.0 * p["scale"])


class Cauchy(_Continuous):
    """Cauchy(loc, scale) on the reals; density 1 / (pi scale (1 + ((x - loc)/scale)^2))."""

    name = "cauchy"
    support = REAL
    reparameterized = True

    def __init__(self, loc: Any, scale: Any, backend: Backend | None = None):
        check_param(self.name, "scale", scale, _positive, _POSITIVE)
        super().__init__(backend, loc=loc, scale=scale)

    def _draw(self, key, shape):
        xp, p = self.xp, self._params
        u = samplers.open_uniform(self.backend, key, shape)
        # tan(pi (u - 1/2)) = -cot(pi v) with v = u or u - 1 in (-1/2, 1/2): exact v,
        # so the sign stays right in both tails (pi/2 is not a float).
        v = xp.where(u < 0.5, u, u - 1.0)
        return p["loc"] - p["scale"] * xp.cos(math.pi * v) / xp.sin(math.pi * v)

    def log_prob(self, value):
        xp, p = self.xp, self._params
        y = (self._real(value) - p["loc"]) / p["scale"]
        return -_LOG_PI - xp.log(p["scale"]) - _log1p_square(xp, y)


class StudentT(_Continuous):
    """Location-scale Student t on the reals (see `student_t`)."""

    name = "student_t"
    support = REAL

    def __init__(self, df: Any, loc: Any = 0.0, scale: Any = 1.0,
                 backend: Backend | None = None):
        check_param(self.name, "df", df, _positive, _POSITIVE)
        check_param(self.name, "scale", scale, _positive, _POSITIVE)
        super().__init__(backend, df=df, loc=loc, scale=scale)

    def _draw(self, key, shape):
        xp, p = self.xp, self._params
        key_z, key_g = self.backend.split(key, 2)
        half_df = 0.5 * p["df"]
        log_g = samplers.log_gamma(key_g, half_df, shape, self.backend)
        # T = Z / sqrt(chi2_df / df) = Z / sqrt(G / (df/2)), G ~ Gamma(df/2); in logs
        z = self._normal(key_z, shape)
        # |t| = |z| sqrt(df / chi2) in logs: tiny df overflows the factor, and 0 * inf
        # would be NaN; the result is then kept finite (+-max) like every draw
        log_abs_t = xp.log(xp.abs(z)) + 0.5 * (xp.log(half_df) - log_g)
        cap = 88.0 if z.dtype == xp.float32 else 709.0  # exp(cap) is finite
        abs_t = xp.exp(xp.minimum(log_abs_t, cap))
        t = xp.where(z < 0, -abs_t, abs_t)  # (a where of Python scalars would be float64)
        return samplers.into_finite(self.backend, p["loc"] + p["scale"] * t)

    def log_prob(self, value):
        xp, p = self.xp, self._params
        df = p["df"]
        # log(1 + w^2), w = (x - loc) / (scale sqrt(df)), without forming w: with tiny df
        # a finite x can give an infinite w
        log_1p_w2 = _log1p_ratio_square(xp, self._real(value) - p["loc"],
                                        p["scale"] * xp.sqrt(df))
        # lgamma((df+1)/2) - lgamma(df/2) - log(pi)/2 = -log_beta(1/2, df/2): stable at large df
        return (-special.log_beta(0.5, 0.5 * df) - 0.5 * xp.log(df) - xp.log(p["scale"])
                - 0.5 * (df + 1.0) * log_1p_w2)


class Uniform(_Continuous):
    """Uniform U[lo, hi]; density 1 / (hi - lo) on [lo, hi]."""

    name = "uniform"
    support = INTERVAL
    reparameterized = True

    def __init__(self, lo: Any, hi: Any, backend: Backend | None = None):
        _check_less(self.name, "lo", lo, "hi", hi)
        super().__init__(backend, lo=lo, hi=hi)

    def _draw(self, key, shape):
        p = self._params
        u = self.backend.uniform(key, shape, self.backend.float_dtype)
        # u = 0 gives lo exactly (and rounding may give hi): keep draws in (lo, hi)
        return samplers.into_open_interval(self.backend, p["lo"] + (p["hi"] - p["lo"]) * u,
                                           p["lo"], p["hi"])

    def log_prob(self, value):
        xp, p = self.xp, self._params
        x = self._real(value)
        inside = xp.logical_and(x >= p["lo"], x <= p["hi"])
        return self._masked(inside, -xp.log(p["hi"] - p["lo"]))


# ---------------------------------------------------------------------------
# positive and unit-interval families

class Exponential(_Continuous):
    """Exponential(rate) on [0, inf); density rate exp(-rate x)."""

    name = "exponential"
    support = POSITIVE
    reparameterized = True

    def __init__(self, rate: Any, backend: Backend | None = None):
        check_param(self.name, "rate", rate, _positive, _POSITIVE)
        super().__init__(backend, rate=rate)

    def _draw(self, key, shape):
        log_u = samplers.log_open_uniform(self.backend, key, shape)
        # log_u = 0 (u = 0) gives exactly 0, and a tiny rate can overflow: keep (0, inf)
        return samplers.into_positive(self.backend, -log_u / self._params["rate"])

    def log_prob(self, value):
        xp, rate = self.xp, self._params["rate"]
        x = self._real(value)
        inside = x >= 0
        return self._masked(inside, xp.log(rate) - rate * xp.where(inside, x, 0.0))


class Gamma(_Continuous):
    """Gamma(shape, rate) on [0, inf); density rate^shape x^(shape-1) e^(-rate x) / Gamma(shape)."""

    name = "gamma_dist"
    support = POSITIVE

    def __init__(self, shape: Any, rate: Any, backend: Backend | None = None):
        check_param(self.name, "shape", shape, _positive, _POSITIVE)
        check_param(self.name, "rate", rate, _positive, _POSITIVE)
        super().__init__(backend, shape=shape, rate=rate)

    def _draw(self, key, shape):
        p, xp = self._params, self.xp
        log_g = samplers.log_gamma(key, p["shape"], shape, self.backend)
        # small shapes underflow to 0 (density +inf there when shape < 1): keep (0, inf)
        return samplers.into_positive(self.backend, xp.exp(log_g - xp.log(p["rate"])))

    def log_prob(self, value):
        xp, p = self.xp, self._params
        k, rate = p["shape"], p["rate"]
        x = self._real(value)
        inside = x >= 0
        xs = xp.where(inside, x, 1.0)
        lp = _xlogy(xp, k - 1.0, xs) + k * xp.log(rate) - rate * xs - special.lgamma(k)
        return self._masked(inside, lp)


class InvGamma(_Continuous):
    """Inverse gamma: 1/X with X ~ Gamma(shape, rate=scale), on (0, inf) (see `inv_gamma`)."""

    name = "inv_gamma"
    support = POSITIVE

    def __init__(self, shape: Any, scale: Any, backend: Backend | None = None):
        check_param(self.name, "shape", shape, _positive, _POSITIVE)
        check_param(self.name, "scale", scale, _positive, _POSITIVE)
        super().__init__(backend, shape=shape, scale=scale)

    def _draw(self, key, shape):
        p, xp = self._params, self.xp
        log_g = samplers.log_gamma(key, p["shape"], shape, self.backend)
        # a tiny gamma draw overflows 1/x to inf (density -inf there): keep (0, inf)
        return samplers.into_positive(self.backend, xp.exp(xp.log(p["scale"]) - log_g))

    def log_prob(self, value):
        xp, p = self.xp, self._params
        a, b = p["shape"], p["scale"]
        x = self._real(value)
        inside = x > 0
        xs = xp.where(inside, x, 1.0)
        lp = a * xp.log(b) - special.lgamma(a) - (a + 1.0) * xp.log(xs) - b / xs
        return self._masked(inside, lp)


class LogNormal(_Continuous):
    """Log-normal: log x ~ N(mu, sigma^2), on (0, inf) (see `log_normal`)."""

    name = "log_normal"
    support = POSITIVE
    reparameterized = True

    def __init__(self, mu: Any, sigma: Any, backend: Backend | None = None):
        check_param(self.name, "sigma", sigma, _positive, _POSITIVE)
        super().__init__(backend, mu=mu, sigma=sigma)

    def _draw(self, key, shape):
        p = self._params
        # exp under/overflows to 0 or inf for wide sigma: keep (0, inf)
        return samplers.into_positive(
            self.backend, self.xp.exp(p["mu"] + p["sigma"] * self._normal(key, shape)))

    def log_prob(self, value):
        xp, p = self.xp, self._params
        x = self._real(value)
        inside = x > 0
        log_x = xp.log(xp.where(inside, x, 1.0))
        z = (log_x - p["mu"]) / p["sigma"]
        return self._masked(inside, -0.5 * z * z - log_x - xp.log(p["sigma"]) - _HALF_LOG_2PI)


class Beta(_Continuous):
    """Beta(alpha, beta) on [0, 1]; density x^(alpha-1) (1-x)^(beta-1) / B(alpha, beta)."""

    name = "beta_dist"
    support = UNIT_INTERVAL

    def __init__(self, alpha: Any, beta: Any, backend: Backend | None = None):
        check_param(self.name, "alpha", alpha, _positive, _POSITIVE)
        check_param(self.name, "beta", beta, _positive, _POSITIVE)
        super().__init__(backend, alpha=alpha, beta=beta)

    def _draw(self, key, shape):
        p = self._params
        return samplers.beta(key, p["alpha"], p["beta"], shape, self.backend)

    def log_prob(self, value):
        xp, p = self.xp, self._params
        x = self._real(value)
        inside = xp.logical_and(x >= 0, x <= 1)
        xs = xp.where(inside, x, 0.5)
        return self._masked(inside, _beta_log_density(xp, xs, p["alpha"], p["beta"]))


class BetaUniformMixture(_Continuous):
    """theta Beta(alpha, beta) + (1 - theta) U[0, 1], on [0, 1] (see `beta_uniform_mixture`)."""

    name = "beta_uniform_mixture"
    support = UNIT_INTERVAL

    def __init__(self, theta: Any, alpha: Any, beta: Any, backend: Backend | None = None):
        check_param(self.name, "theta", theta, lambda t: (t >= 0) & (t <= 1), _PROBABILITY)
        check_param(self.name, "alpha", alpha, _positive, _POSITIVE)
        check_param(self.name, "beta", beta, _positive, _POSITIVE)
        super().__init__(backend, theta=theta, alpha=alpha, beta=beta)

    def _draw(self, key, shape):
        p, xp, backend = self._params, self.xp, self.backend
        key_pick, key_beta, key_unif = backend.split(key, 3)
        pick = backend.uniform(key_pick, shape, backend.float_dtype) < p["theta"]
        x_beta = samplers.beta(key_beta, p["alpha"], p["beta"], shape, backend)
        x_unif = samplers.open_uniform(backend, key_unif, shape, backend.float_dtype)
        return xp.where(pick, x_beta, x_unif)  # both in the open (0, 1)

    def log_prob(self, value):
        xp, p = self.xp, self._params
        theta = p["theta"]
        x = self._real(value)
        inside = xp.logical_and(x >= 0, x <= 1)
        xs = xp.where(inside, x, 0.5)
        has_beta, has_unif = theta > 0, theta < 1
        log_beta_part = xp.where(
            has_beta, xp.log(xp.where(has_beta, theta, 1.0))
            + _beta_log_density(xp, xs, p["alpha"], p["beta"]), _NEG_INF)
        log_unif_part = xp.where(has_unif, xp.log1p(-xp.where(has_unif, theta, 0.0)), _NEG_INF)
        return self._masked(inside, xp.logaddexp(log_beta_part, log_unif_part))


# ---------------------------------------------------------------------------
# truncated and piecewise families

class TruncatedNormal(_Continuous):
    """N(mu, sigma^2) restricted to [lo, hi], renormalised in log space (see
    `truncated_normal`): far-tail intervals such as [8, 9] sigmas keep full precision."""

    name = "truncated_normal"
    support = INTERVAL
    reparameterized = True

    def __init__(self, mu: Any, sigma: Any, lo: Any, hi: Any, backend: Backend | None = None):
        check_param(self.name, "sigma", sigma, _positive, _POSITIVE)
        _check_less(self.name, "lo", lo, "hi", hi)
        super().__init__(backend, mu=mu, sigma=sigma, lo=lo, hi=hi)

    def _standard_bounds(self) -> tuple[Array, Array]:
        """(lo - mu)/sigma, (hi - mu)/sigma; infinite ends skip inf/sigma (NaN gradient)."""
        p, xp = self._params, self.xp

        def standardise(end):
            finite = xp.isfinite(end)
            return xp.where(finite, (xp.where(finite, end, 0.0) - p["mu"]) / p["sigma"], end)

        return standardise(p["lo"]), standardise(p["hi"])

    def _draw(self, key, shape):
        p, xp = self._params, self.xp
        a, b = self._standard_bounds()
        z = samplers.truncated_standard_normal(key, a, b, shape, self.backend)
        # the ends can be hit exactly (z on a bound, or mu + sigma z rounding onto it):
        # keep draws in the open (lo, hi), e.g. strictly positive for lo = 0
        return samplers.into_open_interval(self.backend, p["mu"] + p["sigma"] * z,
                                           p["lo"], p["hi"])

    def log_prob(self, value):
        xp, p = self.xp, self._params
        x = self._real(value)
        inside = xp.logical_and(x >= p["lo"], x <= p["hi"])
        a, b = self._standard_bounds()
        z = (xp.where(inside, x, p["mu"]) - p["mu"]) / p["sigma"]
        log_mass = samplers.log_standard_normal_mass(a, b, self.backend)
        return self._masked(inside, -0.5 * z * z - _HALF_LOG_2PI - xp.log(p["sigma"]) - log_mass)


class PiecewiseUniform(_Continuous):
    """Mass probs[i] uniformly on [bounds[i], bounds[i+1]] (see `piecewise_uniform`);
    leading axes of bounds [..., K+1] and probs [..., K] are batch axes."""

    name = "piecewise_uniform"
    support = INTERVAL

    def __init__(self, bounds: Any, probs: Any, backend: Backend | None = None):
        _check_piecewise(self.name, bounds, probs)
        super().__init__(backend, bounds=bounds, probs=probs)
        b_shape, p_shape = tuple(self._params["bounds"].shape), tuple(self._params["probs"].shape)
        if not b_shape or not p_shape or b_shape[-1] != p_shape[-1] + 1:
            raise ParameterError(f"{self.name}: 'bounds' must have one more entry than 'probs' "
                                 f"on the last axis; got shapes {b_shape} and {p_shape}.")

    @property
    def batch_shape(self) -> tuple[int, ...]:
        p = self._params
        return broadcast_shapes(tuple(p["bounds"].shape[:-1]), tuple(p["probs"].shape[:-1]))

    def _bins(self) -> tuple[Array, Array, Array]:
        """(left edges, widths, probs), each [..., K]."""
        bounds = self._params["bounds"]
        return bounds[..., :-1], bounds[..., 1:] - bounds[..., :-1], self._params["probs"]

    def _draw(self, key, shape):
        xp, backend = self.xp, self.backend
        key_bin, key_pos = backend.split(key, 2)
        left, width, probs = self._bins()
        positive = probs > 0
        logits = xp.where(positive, xp.log(xp.where(positive, probs, 1.0)), _NEG_INF)
        index = backend.categorical(key_bin, logits, shape)
        k = probs.shape[-1]
        onehot = xp.arange(k, dtype=backend.int_dtype) == xp.expand_dims(index, axis=-1)
        lo = xp.sum(xp.where(onehot, left, 0.0), axis=-1)
        w = xp.sum(xp.where(onehot, width, 0.0), axis=-1)
        x = lo + w * backend.uniform(key_pos, shape, backend.float_dtype)
        # inside the chosen bin's open interval: rounding could otherwise land on its
        # right end, the left end of a neighbour that may have no mass
        return samplers.into_open_interval(backend, x, lo, lo + w)

    def log_prob(self, value):
        xp = self.xp
        left, width, probs = self._bins()
        x = xp.expand_dims(self._real(value), axis=-1)
        right = left + width
        last = xp.arange(probs.shape[-1]) == probs.shape[-1] - 1
        in_bin = xp.logical_and(x >= left, xp.logical_or(x < right,
                                                         xp.logical_and(last, x == right)))
        density = xp.sum(xp.where(in_bin, probs / width, 0.0), axis=-1)
        positive = density > 0
        return self._masked(positive, xp.log(xp.where(positive, density, 1.0)))


def _check_piecewise(name: str, bounds: Any, probs: Any) -> None:
    """Concrete checks: bounds strictly increasing, probs >= 0 summing to 1 (+-1e-5)."""
    if _is_concrete(bounds):
        check_param(name, "bounds", bounds, lambda b: b.ndim >= 1 and (b[..., 1:] > b[..., :-1]),
                    "strictly increasing along the last axis")
    if _is_concrete(probs):
        check_param(name, "probs", probs, lambda p: p >= 0, "non-negative")
        check_param(name, "probs", probs,
                    lambda p: p.ndim >= 1 and abs(p.sum(axis=-1) - 1.0) <= 1e-5,
                    "summing to 1 along the last axis (within 1e-5)")


# ---------------------------------------------------------------------------
# point mass

class Delta(_Continuous):
    """Point mass at v: log density 0 at v, -inf elsewhere (support "point")."""

    name = "delta"
    support = POINT

    def __init__(self, v: Any, backend: Backend | None = None):
        super().__init__(backend, v=v)

    def _draw(self, key, shape):
        return self.xp.broadcast_to(self._params["v"], shape)

    def log_prob(self, value):
        equal = self._real(value) == self._params["v"]
        return self._masked(equal, self.xp.zeros(equal.shape, dtype=self.backend.float_dtype))


# ---------------------------------------------------------------------------
# constructors

def gaussian(mu: Any, sigma: Any) -> Gaussian:
    """Normal N(mu, sigma^2), sigma > 0; support the reals.

    Math: log p(x) = -(x - mu)^2 / (2 sigma^2) - log sigma - log(2 pi) / 2.

    Example:
        >>> dist.gaussian(0.0, 1.0).log_prob(0.0)  # -0.9189...
    """
    return Gaussian(mu, sigma)


normal = gaussian


def uniform(lo: Any, hi: Any) -> Uniform:
    """Uniform on [lo, hi], lo < hi. Math: log p(x) = -log(hi - lo) on [lo, hi]."""
    return Uniform(lo, hi)


def beta_dist(alpha: Any, beta: Any) -> Beta:
    """Beta(alpha, beta), alpha, beta > 0; support [0, 1].

    Math: log p(x) = (alpha-1) log x + (beta-1) log(1-x) - log B(alpha, beta).
    """
    return Beta(alpha, beta)


def gamma_dist(shape: Any, rate: Any) -> Gamma:
    """Gamma(shape, rate), both > 0; support [0, inf); mean shape / rate.

    Math: log p(x) = shape log rate + (shape-1) log x - rate x - lgamma(shape).
    """
    return Gamma(shape, rate)


def exponential(rate: Any) -> Exponential:
    """Exponential(rate), rate > 0; support [0, inf). Math: log p(x) = log rate - rate x."""
    return Exponential(rate)


def laplace(loc: Any, scale: Any) -> Laplace:
    """Laplace(loc, scale), scale > 0; support the reals.

    Math: log p(x) = -|x - loc| / scale - log(2 scale).
    """
    return Laplace(loc, scale)


def student_t(df: Any, loc: Any = 0.0, scale: Any = 1.0) -> StudentT:
    """Location-scale Student t with df > 0 degrees of freedom, scale > 0; the reals.

    Math: log p(x) = -log B(1/2, df/2) - log(df)/2 - log scale
    - (df+1)/2 log(1 + ((x - loc)/scale)^2 / df).
    """
    return StudentT(df, loc, scale)


def log_normal(mu: Any, sigma: Any) -> LogNormal:
    """Log-normal: log x ~ N(mu, sigma^2), sigma > 0; support (0, inf).

    Math: log p(x) = -(log x - mu)^2 / (2 sigma^2) - log x - log sigma - log(2 pi)/2.
    """
    return LogNormal(mu, sigma)


def cauchy(loc: Any, scale: Any) -> Cauchy:
    """Cauchy(loc, scale), scale > 0; support the reals (no mean or variance).

    Math: log p(x) = -log pi - log scale - log(1 + ((x - loc)/scale)^2).
    """
    return Cauchy(loc, scale)


def inv_gamma(shape: Any, scale: Any) -> InvGamma:
    """Inverse gamma(shape, scale), both > 0; support (0, inf).

    Math: log p(x) = shape log scale - lgamma(shape) - (shape+1) log x - scale / x.
    """
    return InvGamma(shape, scale)


def truncated_normal(mu: Any, sigma: Any, lo: Any, hi: Any) -> TruncatedNormal:
    """N(mu, sigma^2) restricted to [lo, hi] (lo < hi, either may be infinite), renormalised.

    Math: log p(x) = log N(x; mu, sigma^2) - log(Phi(b) - Phi(a)), a, b = (lo, hi - mu)/sigma.
    """
    return TruncatedNormal(mu, sigma, lo, hi)


def piecewise_uniform(bounds: Any, probs: Any) -> PiecewiseUniform:
    """Mass probs[i] uniformly on [bounds[i], bounds[i+1]]; support [bounds[0], bounds[K]].

    bounds [K+1] strictly increasing, probs [K] >= 0 summing to 1 (leading axes
    batch). Bins are closed on the left, the last one also on the right.
    Math: log p(x) = log probs[i] - log(bounds[i+1] - bounds[i]) for x in bin i.
    """
    return PiecewiseUniform(bounds, probs)


def beta_uniform_mixture(theta: Any, alpha: Any, beta: Any) -> BetaUniformMixture:
    """theta Beta(alpha, beta) + (1 - theta) U[0, 1]; theta in [0, 1]; support [0, 1].

    Math: p(x) = theta Beta(x; alpha, beta) + 1 - theta.
    """
    return BetaUniformMixture(theta, alpha, beta)


def broadcasted_normal(mu: Any, sigma: Any) -> BroadcastedNormal:
    """Independent normals N(mu, sigma^2) over the broadcast of the arrays mu, sigma.

    `log_prob` returns the elementwise log densities; a trace's score sums them.
    """
    return BroadcastedNormal(mu, sigma)


def delta(v: Any) -> Delta:
    """Point mass at v. Math: log p(x) = 0 if x == v else -inf."""
    return Delta(v)
