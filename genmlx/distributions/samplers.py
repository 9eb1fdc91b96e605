"""Vectorised samplers built from the backends' base samplers (normal, uniform).

MLX has no gamma, beta or truncated-normal samplers, so every family draws
through the functions here, written once against the backend namespace. All
of them take an explicit key and a full output `shape` to which the
parameters broadcast; the same key on the same backend gives the same numbers.

Rejection sampling (`gamma`) runs in vectorised rounds: each round proposes
for every element and `where` keeps each element's first accepted proposal.
Round `k` always uses the `k`-th of a fixed set of keys, so stopping early
(eager backends stop as soon as every element is accepted) never changes a
draw.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from genmlx._backend import Array, Backend, get_backend
from genmlx.distributions import special
from genmlx.distributions.base import as_param

__all__ = ["gamma", "log_gamma", "beta", "truncated_standard_normal",
           "log_standard_normal_mass", "open_uniform", "log_open_uniform", "next_up",
           "next_down", "into_open_interval", "into_positive", "into_finite"]

# Marsaglia-Tsang rejects a proposal with probability at most 0.0483 (at
# alpha = 1, measured; it falls as alpha grows), so after k rounds an element
# is still unaccepted with probability <= 0.0483**k.
_MIN_ROUNDS = 3  # rounds always run before the first "all accepted?" check
_TRACED_ROUNDS = 12  # under compile/jit/vmap (no concrete check): residual <= 1.6e-16
_MAX_ROUNDS = 48  # eager bound: residual <= 0.0483**48 ~ 5e-64, i.e. never reached


def _resolve(backend: Backend | None) -> Backend:
    return backend or get_backend()


def _all_true(backend: Backend, mask: Array) -> bool | None:
    """`all(mask)` as a Python bool, or None when values are traced (jit, compile, vmap)."""
    try:
        return bool(backend.xp.all(mask))
    except (TypeError, ValueError):  # jax tracer / MLX "eval during transformation"
        return None


def open_uniform(backend: Backend, key: Array, shape: Sequence[int], dtype: Any = None) -> Array:
    """Uniform draws on the open interval (0, 1).

    The base samplers give [0, 1); the rare exact 0 is moved to the smallest
    normal float, so that logs, quantile functions and `tan` stay finite.
    """
    xp = backend.xp
    u = backend.uniform(key, tuple(shape), dtype)
    info = xp.finfo(u.dtype)
    return xp.clip(u, info.smallest_normal, 1.0 - info.eps / 2)


def log_open_uniform(backend: Backend, key: Array, shape: Sequence[int],
                     dtype: Any = None) -> Array:
    """log U for U uniform on (0, 1], accurate near both ends (via log1p(-u))."""
    xp = backend.xp
    u = backend.uniform(key, tuple(shape), dtype)
    info = xp.finfo(u.dtype)
    return xp.log1p(-xp.minimum(u, 1.0 - info.eps / 2))


# ---------------------------------------------------------------------------
# keeping draws strictly inside their support
#
# A continuous distribution puts no mass on the ends of its support, but float
# draws do land there (a uniform 0.0, a gamma draw that underflows to 0, a beta
# draw that rounds to 1, an inverse gamma that overflows to inf), and the log
# density there may be -inf or +inf, or a downstream scale parameter becomes 0.
# Every continuous sampler therefore returns values in the open support: ends
# are replaced by the nearest float inside (`next_up` / `next_down`), and
# unbounded ends by the largest finite float. Since the true probability of
# such a value is zero (or below the float resolution), this changes the
# distribution of the draws by at most one float step at the ends.

def next_up(xp: Any, x: Array) -> Array:
    """The next float above finite `x` (numpy.nextafter(x, inf)) for |x| >= 2^-100 or
    so; at and near 0 the smallest normal float (subnormals are avoided because
    some devices flush them to 0).

    x + 0.7 ulp(x) rounds to x + 1 ulp for every normal x, also when x is a
    negative power of two (whose step toward 0 is half an ulp): the added
    0.7 |x| eps lies within (0.5, 1.5) steps of the spacing above x."""
    info = xp.finfo(x.dtype)
    return x + xp.maximum(xp.abs(x) * (0.7 * float(info.eps)), float(info.smallest_normal))


def next_down(xp: Any, x: Array) -> Array:
    """The next float below finite `x` (see `next_up`)."""
    return -next_up(xp, -x)


def into_open_interval(backend: Backend, x: Array, lo: Any, hi: Any) -> Array:
    """`x` clamped into the open interval (lo, hi): an end is replaced by the float
    just inside it, an infinite end by the largest finite float. An interval with
    no float strictly inside it (hi = next_up(lo)) keeps the closed [lo, hi]."""
    xp = backend.xp
    lo = as_param(lo, backend)
    hi = as_param(hi, backend)
    big = float(xp.finfo(x.dtype).max)
    lo_f = xp.where(xp.isfinite(lo), lo, -big)
    hi_f = xp.where(xp.isfinite(hi), hi, big)
    inner_lo = xp.where(xp.isfinite(lo), next_up(xp, lo_f), -big)
    inner_hi = xp.where(xp.isfinite(hi), next_down(xp, hi_f), big)
    room = inner_lo <= inner_hi
    return xp.clip(x, xp.where(room, inner_lo, lo_f), xp.where(room, inner_hi, hi_f))


def into_positive(backend: Backend, x: Array) -> Array:
    """`x` clamped into (0, inf) as floats: [smallest normal, largest finite]."""
    xp = backend.xp
    info = xp.finfo(x.dtype)
    return xp.clip(x, float(info.smallest_normal), float(info.max))


def into_finite(backend: Backend, x: Array) -> Array:
    """`x` clamped to the finite floats (an overflow to +-inf becomes +-max)."""
    xp = backend.xp
    big = float(xp.finfo(x.dtype).max)
    return xp.clip(x, -big, big)


# ---------------------------------------------------------------------------
# gamma and beta

def log_gamma(key: Array, alpha: Any, shape: Sequence[int], backend: Backend | None = None
              ) -> Array:
    """Logarithms of standard Gamma(alpha, rate 1) draws.

    Marsaglia & Tsang (2000) for alpha >= 1; for alpha < 1 the boost
    Gamma(alpha) = Gamma(alpha + 1) * U^(1/alpha), added in log space
    (log U / alpha) so that tiny alpha gives very negative logs, not 0.
    Elements with alpha <= 0 or NaN give NaN.

    Eager calls run rounds until every element is accepted (at most 48; an
    element survives k rounds with probability <= 0.0483^k). Under compile,
    jit or vmap, where no value can be inspected, exactly 12 rounds run; an
    element unaccepted after them (probability <= 1.6e-16 each) gets
    log(alpha' - 1/3), the boosted mode, instead of a draw. Since round k
    always uses the k-th key, both paths give identical draws otherwise.

    Args:
        key: a random key.
        alpha: shape parameter(s), broadcasting to `shape`.
        shape: output shape.
        backend: the backend (default: the current one).

    Returns:
        An array of `shape` holding log Gamma(alpha) draws.

    Example:
        >>> lg = log_gamma(gm.key(0), 0.01, (1000,))
    """
    backend = _resolve(backend)
    xp = backend.xp
    shape = tuple(shape)
    alpha = xp.broadcast_to(as_param(alpha, backend), shape)
    dtype = alpha.dtype
    keys = backend.split(key, 2 * _MAX_ROUNDS + 1)

    invalid = xp.logical_not(alpha > 0)
    small = alpha < 1
    boosted = xp.where(invalid, 1.0, xp.where(small, alpha + 1.0, alpha))
    d = boosted - 1.0 / 3.0
    c = 1.0 / xp.sqrt(9.0 * d)
    log_d = xp.log(d)

    log_draw = log_d  # fallback for the (at most 1.6e-16 per element) unaccepted
    accepted = invalid
    for r in range(_MAX_ROUNDS):
        x = backend.normal(keys[2 * r], shape, dtype)
        log_u = xp.log(backend.uniform(keys[2 * r + 1], shape, dtype))
        t = c * x
        positive = t > -1.0
        t = xp.where(positive, t, 0.0)
        log1p_t = xp.log1p(t)
        # d (1 - v + log v) with v = (1 + t)^3, arranged to avoid cancelling d*v - d.
        excess = d * (3.0 * (log1p_t - t) - 3.0 * t * t - t * t * t)
        ok = xp.logical_and(positive, log_u < 0.5 * x * x + excess)
        new = xp.logical_and(ok, xp.logical_not(accepted))
        log_draw = xp.where(new, log_d + 3.0 * log1p_t, log_draw)
        accepted = xp.logical_or(accepted, ok)
        if r + 1 >= _MIN_ROUNDS:
            done = _all_true(backend, accepted)
            if done or (done is None and r + 1 >= _TRACED_ROUNDS):
                break

    boost = log_open_uniform(backend, keys[2 * _MAX_ROUNDS], shape, dtype)
    safe_alpha = xp.where(xp.logical_and(small, xp.logical_not(invalid)), alpha, 1.0)
    log_draw = xp.where(small, log_draw + boost / safe_alpha, log_draw)
    return xp.where(invalid, xp.asarray(math.nan, dtype=dtype), log_draw)


def gamma(key: Array, alpha: Any, shape: Sequence[int], backend: Backend | None = None) -> Array:
    """Standard Gamma(alpha, rate 1) draws of `shape` (alpha broadcasts to `shape`).

    See `log_gamma` for the method. Draws for tiny alpha may underflow to 0
    (their true values are below the smallest float); use `log_gamma` when
    the logarithm is what is needed.

    Example:
        >>> g = gamma(gm.key(0), 2.5, (1000,))
    """
    backend = _resolve(backend)
    return backend.xp.exp(log_gamma(key, alpha, shape, backend))


def beta(key: Array, a: Any, b: Any, shape: Sequence[int], backend: Backend | None = None
         ) -> Array:
    """Beta(a, b) draws of `shape` as G_a / (G_a + G_b) with independent gammas.

    Computed from log-gammas, x = exp(lg_a - logaddexp(lg_a, lg_b)), so small
    a and b (whose gamma draws underflow) still give draws; values that round
    to 0 or 1 are moved one float inside, so every draw lies in the open (0, 1).

    Example:
        >>> x = beta(gm.key(0), 0.5, 0.5, (1000,))
    """
    backend = _resolve(backend)
    xp = backend.xp
    key_a, key_b = backend.split(key, 2)
    log_a = log_gamma(key_a, a, shape, backend)
    log_b = log_gamma(key_b, b, shape, backend)
    # x = exp(la - logaddexp(la, lb)); 1 - x = exp(lb - logaddexp(la, lb)). Rounding
    # (or underflow) can give exactly 0 or 1, where the density may be infinite:
    # keep the draw in the open (0, 1).
    x = xp.exp(log_a - xp.logaddexp(log_a, log_b))
    return into_open_interval(backend, x, 0.0, 1.0)


# ---------------------------------------------------------------------------
# the standard normal restricted to an interval

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# Initial guess for the lower normal quantile from t = sqrt(-2 log q): Abramowitz
# & Stegun 26.2.23 (absolute error < 4.5e-4) above log q = -20, the asymptotic
# inverse of log Phi(x) ~ -x^2/2 - log(-x) - log(2 pi)/2 below it.
_AS_NUM = (2.515517, 0.802853, 0.010328)
_AS_DEN = (1.0, 1.432788, 0.189269, 0.001308)
_ASYMPTOTIC_BELOW = -20.0
# Clip standardised bounds here before log_ndtr: Phi(-1e4) is 0 and Phi(1e4) is 1
# in every dtype, and the clip keeps infinite bounds out of every gradient.
_BOUND = 1e4


def _poly(coeffs: Sequence[float], t: Array) -> Array:
    out = coeffs[-1]
    for c in reversed(coeffs[:-1]):
        out = out * t + c
    return out


def _ndtri_exp(y: Array, backend: Backend) -> Array:
    """x <= 0 with log Phi(x) = y, for y <= log(1/2), far beyond float underflow.

    A closed-form guess, then Newton steps on log_ndtr (2 in float32, 3 in
    float64: the guess is within 4.5e-4 and each step squares the error).
    Only the last step is differentiated, which gives the exact implicit
    gradient dx/dy = Phi(x) / phi(x).
    """
    xp = backend.xp
    sg = backend.stop_gradient
    s = -2.0 * xp.minimum(y, -math.log(2.0))
    t = xp.sqrt(s)
    guess_as = _poly(_AS_NUM, t) / _poly(_AS_DEN, t) - t
    far = y < _ASYMPTOTIC_BELOW
    s_far = xp.where(far, s, 2.0 * -_ASYMPTOTIC_BELOW)
    guess_far = -xp.sqrt(s_far - xp.log(s_far) - 2.0 * _HALF_LOG_2PI)
    x = sg(xp.where(far, guess_far, guess_as))
    steps = 3 if y.dtype == xp.float64 else 2
    for step in range(steps):
        log_cdf = special.log_ndtr(x)
        ratio = xp.exp(log_cdf + 0.5 * x * x + _HALF_LOG_2PI)  # Phi(x) / phi(x)
        x = x - (log_cdf - y) * ratio
        if step < steps - 1:
            x = sg(x)
    return x


def _log_cdf_pair(xp: Any, a: Array) -> tuple[Array, Array]:
    """(log Phi(a), log Phi(-a)) from one log_ndtr call, on the accurate (small) side."""
    lower = a <= 0
    small = special.log_ndtr(xp.where(lower, a, -a))  # log Phi(-|a|); no abs (grad at 0)
    other = special.log1mexp(small)
    return xp.where(lower, small, other), xp.where(lower, other, small)


def _log_mass(xp: Any, log_a: Array, log_b: Array, log_ma: Array, log_mb: Array,
              left: Array) -> Array:
    """log(Phi(b) - Phi(a)) from the four log CDFs, on the side that keeps accuracy."""
    # the unused side sees -1 (its log1mexp stays finite and so does its gradient)
    d_left = xp.where(left, xp.minimum(log_a - log_b, 0.0), -1.0)
    d_right = xp.where(left, -1.0, xp.minimum(log_mb - log_ma, 0.0))
    return xp.where(left, log_b + special.log1mexp(d_left), log_ma + special.log1mexp(d_right))


def log_standard_normal_mass(lo: Any, hi: Any, backend: Backend | None = None) -> Array:
    """log (Phi(hi) - Phi(lo)) for lo <= hi (infinite ends allowed), accurate in both tails.

    Intervals left of 0 on balance (lo + hi < 0) use
    log Phi(hi) + log1mexp(log Phi(lo) - log Phi(hi)); the others the mirror
    image log Phi(-lo) + log1mexp(log Phi(-hi) - log Phi(-lo)), so that e.g.
    [8, 9] and [-40, -39] keep full relative accuracy. -inf when lo == hi.
    """
    backend = _resolve(backend)
    xp = backend.xp
    lo = xp.clip(as_param(lo, backend), -_BOUND, _BOUND)
    hi = xp.clip(as_param(hi, backend), -_BOUND, _BOUND)
    log_a, log_ma = _log_cdf_pair(xp, lo)
    log_b, log_mb = _log_cdf_pair(xp, hi)
    return _log_mass(xp, log_a, log_b, log_ma, log_mb, lo < -hi)


def truncated_standard_normal(key: Array, lo: Any, hi: Any, shape: Sequence[int],
                              backend: Backend | None = None) -> Array:
    """Standard normal draws restricted to [lo, hi] (lo < hi; infinite ends allowed).

    Inverse CDF in log space. With U uniform on (0, 1) and Z = Phi(hi) - Phi(lo),
    the draw is x = Phi^-1(p) with p = Phi(lo) + U Z, equivalently
    x = -Phi^-1(q) with q = 1 - p = Phi(-hi) + (1 - U) Z. Each element uses
    whichever of p, q is below 1/2, and works with log p or log q, so tails
    such as [8, 9] or [-40, -39] give values inside the interval (clipped
    against rounding), never NaN or inf. A differentiable function of lo, hi.

    Example:
        >>> z = truncated_standard_normal(gm.key(0), 8.0, 9.0, (1000,))
    """
    backend = _resolve(backend)
    xp = backend.xp
    shape = tuple(shape)
    lo = xp.broadcast_to(as_param(lo, backend), shape)
    hi = xp.broadcast_to(as_param(hi, backend), shape)
    lo_c, hi_c = xp.clip(lo, -_BOUND, _BOUND), xp.clip(hi, -_BOUND, _BOUND)
    log_a, log_ma = _log_cdf_pair(xp, lo_c)
    log_b, log_mb = _log_cdf_pair(xp, hi_c)
    log_mass = _log_mass(xp, log_a, log_b, log_ma, log_mb, lo_c < -hi_c)
    u = open_uniform(backend, key, shape, lo.dtype)
    log_p = xp.logaddexp(log_a, xp.log(u) + log_mass)
    log_q = xp.logaddexp(log_mb, xp.log1p(-u) + log_mass)
    use_p = log_p <= log_q
    x = _ndtri_exp(xp.where(use_p, log_p, log_q), backend)
    return xp.clip(xp.where(use_p, x, -x), lo, hi)
