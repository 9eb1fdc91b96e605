"""Special functions, written once against the current backend's array namespace.

MLX has no lgamma, digamma, log_ndtr or Bessel functions, so every function
here is built from elementwise array-API operations (exp, log, log1p, where,
sin, round, ...); of the backend's own special primitives only `erfinv` is
used (as ndtri's starting point: MLX's float32 `erf` is only absolutely
accurate near 0, so the normal CDF uses its own series and Mills-ratio fit).
Nothing here imports an array library: each call asks `get_backend()` for its
namespace, so the same code runs eagerly, compiled and under `grad` on MLX,
NumPy and JAX.

Conventions:
- Inputs may be backend arrays or Python numbers; floating arrays keep their
  dtype, everything else becomes the backend's `float_dtype`. Functions are
  elementwise and broadcast.
- Branches are chosen with `where`. Each branch is fed a harmless input where it
  is not taken ("safe where"), so an infinity or NaN in an unused branch never
  reaches a gradient (0 * inf would be NaN).
- No Python loop runs over elements; the loops below unroll a fixed number of
  series terms or Newton steps.

Accuracy (measured against scipy in conformance/test_special.py): float32
results are within a few ulp (relative 1e-6 or better) away from the zeros of
each function, with an absolute error of a few ulp of the terms that cancel
near those zeros; in float64 every function is within ~1e-14 relative (the
series and fits below were sized for float64).

Example:
    >>> import genmlx.distributions.special as sp
    >>> float(sp.lgamma(0.5))  # log sqrt(pi)
    0.5723649...
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from genmlx._backend import Array, get_backend

__all__ = [
    "digamma",
    "expit",
    "i0e",
    "i1e",
    "lgamma",
    "log1mexp",
    "log_beta",
    "log_binomial",
    "log_factorial",
    "log_ndtr",
    "log_sigmoid",
    "log_softmax",
    "logit",
    "logsumexp",
    "ndtr",
    "ndtri",
    "softplus",
]

_LOG_PI = math.log(math.pi)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2 = math.sqrt(2.0)
_LOG_2 = math.log(2.0)
_LOG2_E = 1.0 / math.log(2.0)
_LN2_HI = 0.693145751953125  # log 2 rounded to 16 bits
_LN2_LO = 1.4286068203094172321e-06  # log 2 - _LN2_HI (mpmath; math.log(2) - HI is 2e-17 off)
_INF = float("inf")
_NAN = float("nan")

# lgamma(2 + z) = sum_k _LGAMMA2[k-1] z^k for |z| <= 1/2: the Taylor series
# (1 - euler_gamma) z + sum_{k>=2} (-1)^k (zeta(k) - 1) / k z^k, whose terms
# shrink like 4^-k / k on |z| <= 1/2; 27 terms leave < 3e-18. Values computed
# with mpmath at 50 digits.
_LGAMMA2 = (
    0.42278433509846713, 0.3224670334241132, -0.0673523010531981, 0.020580808427784546,
    -0.007385551028673986, 0.0028905103307415234, -0.001192753911703261,
    0.0005096695247430425, -0.00022315475845357939, 9.945751278180853e-05,
    -4.492623673813314e-05, 2.050721277567069e-05, -9.439488275268397e-06,
    4.374866789907488e-06, -2.039215753801366e-06, 9.55141213040742e-07,
    -4.492469198764566e-07, 2.1207184805554665e-07, -1.0043224823968099e-07,
    4.7698101693639804e-08, -2.2711094608943164e-08, 1.0838659214896955e-08,
    -5.183475041970047e-09, 2.4836745438024785e-09, -1.1921401405860912e-09,
    5.731367241678862e-10, -2.7595228851242334e-10,
)

# Stirling: lgamma(x) = (x - 1/2) log x - x + log(2 pi)/2 + sum_k B_2k / (2k (2k-1) x^(2k-1)).
# Eight terms; from x >= 7.5 the first omitted term is < 3e-17.
_STIRLING_MIN = 7.5
_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156,
             -3617 / 122400)

# digamma(x) = log x - 1/(2x) - sum_k B_2k / (2k x^2k); from x >= 10 the first
# omitted term is < 4e-18.
_DIGAMMA_MIN = 10
_DIGAMMA = (1 / 12, -1 / 120, 1 / 252, -1 / 240, 1 / 132, -691 / 32760, 1 / 12, -3617 / 8160)

# Mills ratio M(u) = Phi(-u) / phi(u) on u >= 0, as (u + K) M(u) = sum_j c_j T_j(t)
# with t = (u - K) / (u + K) in [-1, 1): Chebyshev interpolation (80 nodes, mpmath
# at 50 digits) truncated to 26 terms; the dropped terms sum to < 1e-16 relative.
_MILLS_K = 3.5
_MILLS_CHEB = (
    2.2754519240318216, -1.6262235755327978, 0.41385197358791387, -0.06797372120677146,
    0.004178700146848022, 0.0009105434156357809, -0.0001890598792425105,
    -1.3310261064332105e-05, 6.428329098397909e-06, 3.404224108500272e-07,
    -2.3462221971172036e-07, -1.8347372427889058e-08, 9.024444345091693e-09,
    1.291263675407285e-09, -3.2440903832657767e-10, -8.856962581439781e-11,
    7.684626946585499e-12, 5.399199884800951e-12, 2.3262032537607774e-13,
    -2.674185064379492e-13, -5.072660300936378e-14, 8.001217901738467e-15,
    4.3176468592842295e-15, 2.357802445146769e-16, -2.2994118137165096e-16,
    -5.780267652963492e-17,
)

# Initial guess for the lower normal quantile, Abramowitz & Stegun 26.2.23
# (absolute error < 4.5e-4 on 0 < q <= 1/2); Newton steps on log_ndtr refine it.
_NDTRI_NUM = (2.515517, 0.802853, 0.010328)
_NDTRI_DEN = (1.0, 1.432788, 0.189269, 0.001308)

# Phi(x) - 1/2 by its series (see _ndtr_centered): 20 terms reach 1e-17 relative
# for |x| <= 1.3 (ndtr uses it up to 1, the central branch of ndtri up to 1.29).
_NDTR_SERIES_TERMS = 20

# Bessel I0e / I1e: power series (all terms positive, so no cancellation) up to
# |x| = 20 with 36 terms, the Hankel asymptotic series beyond with 22 terms;
# each is < 1e-15 relative on its range in float64. In float32 the asymptotic
# series already reaches 1e-9 at |x| = 10, and switching there avoids the ~6 ulp
# the power series accumulates near 20.
_BESSEL_SWITCH = {"float64": 20.0, "float32": 10.0}
_BESSEL_SERIES_TERMS = 36
_BESSEL_ASYMPTOTIC_TERMS = 22


# ---------------------------------------------------------------------------
# helpers

def _float(x: Any) -> tuple[Any, Array]:
    """(xp, x as a floating backend array)."""
    backend = get_backend()
    xp = backend.xp
    if backend.is_array(x):
        if not xp.isdtype(x.dtype, "real floating"):
            x = xp.astype(x, backend.float_dtype)
        return xp, x
    return xp, backend.asarray(x, dtype=backend.float_dtype)


def _horner(coeffs: Sequence[float], z: Array) -> Array:
    """sum_k coeffs[k] z^k."""
    out = coeffs[-1]
    for c in reversed(coeffs[:-1]):
        out = out * z + c
    return out


def _exp(xp: Any, x: Array) -> Array:
    """exp(x) with the argument reduction done exactly: 2^n exp(x - n log 2).

    MLX's float32 exp loses about 0.4 |x| ulp (30 ulp at x = -80); reducing to
    |r| <= log(2)/2 first keeps about 1 ulp everywhere. LN2_HI has 16 significant
    bits, so n * LN2_HI is exact for |n| < 256 in float32 (its whole exponent
    range) and for any reachable n in float64.
    """
    n = xp.round(x * _LOG2_E)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    return 2.0 ** n * xp.exp(r)


def _stirling_tail(x: Array) -> Array:
    """lgamma(x) - [(x - 1/2) log x - x + log(2 pi)/2], for x >= 7.5."""
    r = 1.0 / x
    return _horner(_STIRLING, r * r) * r


def _mills(xp: Any, u: Array) -> Array:
    """Phi(-u) / phi(u) for u >= 0 (Clenshaw sum of the Chebyshev fit)."""
    t = 1.0 - (2.0 * _MILLS_K) / (u + _MILLS_K)  # (u - K)/(u + K), and 1 at u = inf
    b1, b2 = 0.0, 0.0
    for c in reversed(_MILLS_CHEB[1:]):
        b1, b2 = c + 2.0 * t * b1 - b2, b1
    return (_MILLS_CHEB[0] + t * b1 - b2) / (u + _MILLS_K)


# ---------------------------------------------------------------------------
# gamma family

def _lgamma_nonneg(xp: Any, y: Array) -> Array:
    """log Gamma(y) for y >= 0."""
    small = y < _STIRLING_MIN
    ys = xp.where(small, y, 2.0)
    m = xp.round(ys)  # 0..7
    z = ys - m  # in [-1/2, 1/2], exact
    # lgamma(m + z) from lgamma(2 + z) by the recurrence, in closed form per m:
    # m = 0: - log z - log1p z;  m = 1: - log1p z;  m >= 3: + log prod_{k=2}^{m-1} (k + z)
    prod = 1.0
    for k in range(2, 7):
        prod = prod * xp.where(m > k, z + k, 1.0)
    z_le1 = xp.where(m <= 1, z, 0.0)
    z_eq0 = xp.where(m == 0, z, 1.0)
    small_val = _horner(_LGAMMA2, z) * z + xp.log(prod) - xp.log1p(z_le1) - xp.log(z_eq0)
    yl = xp.where(small, 8.0, y)
    large_val = (yl - 0.5) * xp.log(yl) - yl + _HALF_LOG_2PI + _stirling_tail(yl)
    large_val = xp.where(yl == _INF, _INF, large_val)  # inf - inf above
    return xp.where(small, small_val, large_val)


def _reflect(xp: Any, x: Array, neg: Array, safe: float) -> Array:
    """pi * r with r = x - round(x) in [-1/2, 1/2] (where `neg`, else pi * safe).

    sin and tan of pi x equal (up to sign) those of pi r, and r is exact for
    every float x, so the reflection formulas keep full accuracy at large |x|.
    """
    xn = xp.where(neg, x, safe)
    return math.pi * (xn - xp.round(xn))


def lgamma(x: Array) -> Array:
    """log |Gamma(x)| for real x (+inf at 0 and the negative integers).

    Uses the Taylor series of lgamma about 2 with the recurrence for x < 7.5,
    Stirling's series above, and the reflection formula
    lgamma(x) = log pi - log|sin(pi x)| - lgamma(1 - x) for x < 0.
    """
    xp, x = _float(x)
    neg = x < 0
    ly = _lgamma_nonneg(xp, xp.where(neg, 1.0 - x, x))
    pr = _reflect(xp, x, neg, -0.5)
    return xp.where(neg, _LOG_PI - xp.log(xp.abs(xp.sin(pr))) - ly, ly)


def _digamma_pos(xp: Any, y: Array) -> Array:
    """digamma(y) for y >= 0: shift to y + n >= 10, then the asymptotic series."""
    n = xp.maximum(xp.ceil(_DIGAMMA_MIN - y), 0.0)  # 0..10 shifts
    shift = 0.0
    for k in range(_DIGAMMA_MIN):
        shift = shift + xp.where(n > k, 1.0 / (y + k), 0.0)
    z = y + n
    r2 = 1.0 / (z * z)
    return xp.log(z) - 0.5 / z - _horner(_DIGAMMA, r2) * r2 - shift


def digamma(x: Array) -> Array:
    """The digamma function psi(x) = d/dx log Gamma(x), for real non-integer or positive x.

    For x < 0 uses psi(x) = psi(1 - x) - pi / tan(pi x); the poles (0 and the
    negative integers) give an infinity.
    """
    xp, x = _float(x)
    neg = x < 0
    py = _digamma_pos(xp, xp.where(neg, 1.0 - x, x))
    pr = _reflect(xp, x, neg, -0.25)
    return xp.where(neg, py - math.pi * xp.cos(pr) / xp.sin(pr), py)


def log_beta(a: Array, b: Array) -> Array:
    """log |B(a, b)| = lgamma(a) + lgamma(b) - lgamma(a + b).

    When the larger argument is >= 7.5 (and the smaller positive) the large
    Stirling terms are cancelled analytically, so e.g. log_beta(0.5, 1e6) keeps
    full relative accuracy instead of losing it to lgamma(1e6) ~ 1.3e7.
    """
    xp, a = _float(a)
    _, b = _float(b)
    swap = a > b
    lo, hi = xp.where(swap, b, a), xp.where(swap, a, b)  # where, not min/max: ties keep both grads
    big_hi = (lo > 0) & (hi >= _STIRLING_MIN)
    both_big = big_hi & (lo >= _STIRLING_MIN)
    one_big = big_hi & (lo < _STIRLING_MIN)

    lo_d, hi_d = xp.where(big_hi, 1.0, lo), xp.where(big_hi, 1.0, hi)
    direct = lgamma(lo_d) + lgamma(hi_d) - lgamma(lo_d + hi_d)

    # lo < 7.5 <= hi: lgamma(lo) + [lgamma(hi) - lgamma(lo + hi)] with Stirling's
    # (x - 1/2) log x - x terms of the bracket merged into log1p form.
    lo1, hi1 = xp.where(one_big, lo, 1.0), xp.where(one_big, hi, 8.0)
    s1 = lo1 + hi1
    mixed = (lgamma(lo1) - (hi1 - 0.5) * xp.log1p(lo1 / hi1) - lo1 * xp.log(s1) + lo1
             + _stirling_tail(hi1) - _stirling_tail(s1))

    # both >= 7.5: every large term is negative, so nothing cancels.
    lo2, hi2 = xp.where(both_big, lo, 8.0), xp.where(both_big, hi, 8.0)
    s2 = lo2 + hi2
    large = (-(lo2 - 0.5) * xp.log1p(hi2 / lo2) - (hi2 - 0.5) * xp.log1p(lo2 / hi2)
             - 0.5 * xp.log(s2) + _HALF_LOG_2PI
             + _stirling_tail(lo2) + _stirling_tail(hi2) - _stirling_tail(s2))
    return xp.where(both_big, large, xp.where(one_big, mixed, direct))


def log_factorial(n: Array) -> Array:
    """log n! = lgamma(n + 1) (real n allowed)."""
    _, n = _float(n)
    return lgamma(n + 1.0)


def log_binomial(n: Array, k: Array) -> Array:
    """log of the binomial coefficient C(n, k), for real n and k.

    Computed as -log(n + 1) - log_beta(n - k + 1, k + 1), which stays accurate
    for large n (-inf for integer k outside [0, n]).
    """
    xp, n = _float(n)
    _, k = _float(k)
    return -xp.log1p(n) - log_beta(n - k + 1.0, k + 1.0)


# ---------------------------------------------------------------------------
# logistic family and log-space reductions

def logit(p: Array) -> Array:
    """log(p / (1 - p)); accurate near p = 1/2 and in both tails."""
    xp, p = _float(p)
    mid = (p >= 0.25) & (p <= 0.75)
    pm = xp.where(mid, p, 0.5)
    # 2p - 1 is exact on [1/4, 3/4], so log1p keeps relative accuracy near p = 1/2.
    mid_val = xp.log1p((2.0 * pm - 1.0) / (1.0 - pm))
    return xp.where(mid, mid_val, xp.log(p) - xp.log1p(-p))


def expit(x: Array) -> Array:
    """The logistic sigmoid 1 / (1 + exp(-x)), without overflow."""
    xp, x = _float(x)
    pos = x >= 0
    e = xp.exp(xp.where(pos, -x, x))  # exp(-|x|), without abs: its gradient at 0 is 0
    return xp.where(pos, 1.0 / (1.0 + e), e / (1.0 + e))


def softplus(x: Array) -> Array:
    """log(1 + exp(x)), exact to float precision for large |x| of either sign."""
    xp, x = _float(x)
    pos = x > 0
    xpos, xneg = xp.where(pos, x, 0.0), xp.where(pos, 0.0, x)
    return xp.where(pos, xpos + xp.log1p(xp.exp(-xpos)), xp.log1p(xp.exp(xneg)))


def log_sigmoid(x: Array) -> Array:
    """log expit(x) = -softplus(-x)."""
    _, x = _float(x)
    return -softplus(-x)


def log1mexp(x: Array) -> Array:
    """log(1 - exp(x)) for x <= 0 (NaN for x > 0), accurate near 0 and far below it."""
    xp, x = _float(x)
    near = x > -_LOG_2
    xa, xb = xp.where(near, x, -1.0), xp.where(near, -1.0, x)
    return xp.where(near, xp.log(-xp.expm1(xa)), xp.log1p(-xp.exp(xb)))


def logsumexp(x: Array, axis: int | tuple | None = None, keepdims: bool = False) -> Array:
    """log sum exp(x) over `axis` (all axes when None); -inf for an all -inf slice."""
    backend = get_backend()
    xp, x = _float(x)
    m = backend.stop_gradient(xp.max(x, axis=axis, keepdims=True))
    m = xp.where(xp.isfinite(m), m, 0.0)  # an all -inf slice sums to 0 -> log 0 = -inf
    s = xp.sum(xp.exp(x - m), axis=axis, keepdims=keepdims)
    return xp.log(s) + xp.reshape(m, s.shape)


def log_softmax(x: Array, axis: int = -1) -> Array:
    """x - logsumexp(x, axis) (NaN for an all -inf slice, as scipy)."""
    backend = get_backend()
    xp, x = _float(x)
    m = backend.stop_gradient(xp.max(x, axis=axis, keepdims=True))
    shifted = x - xp.where(xp.isfinite(m), m, 0.0)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))


# ---------------------------------------------------------------------------
# normal distribution

def _gauss(xp: Any, u: Array) -> Array:
    """exp(-u^2/2) for u >= 0, to about 1 ulp.

    Split as exp(-h^2/2) exp(-(u-h)(u+h)/2) with h = u rounded to 1/16: h^2 is
    exact, so the rounding of u^2 (which would cost u^2/2 ulp) is avoided.
    """
    u = xp.minimum(u, 40.0)  # exp(-800) underflows in every dtype
    h = xp.round(u * 16.0) / 16.0
    return _exp(xp, -0.5 * h * h) * xp.exp(-0.5 * (u - h) * (u + h))


def _ndtr_lower(xp: Any, x: Array) -> Array:
    """Phi(x) for x <= 0 as phi(x) M(-x), with relative accuracy."""
    return _gauss(xp, -x) * _INV_SQRT_2PI * _mills(xp, -x)


def _log_ndtr_lower(xp: Any, x: Array) -> tuple[Array, Array]:
    """(log Phi(x), Phi(x)/phi(x)) for x <= 0, via the Mills ratio."""
    mills = _mills(xp, -x)
    return -0.5 * x * x - _HALF_LOG_2PI + xp.log(mills), mills


def _ndtr_centered(xp: Any, x: Array) -> Array:
    """Phi(x) - 1/2 = phi(x) (x + x^3/3 + x^5/15 + ...), relative accuracy for |x| <= 1.5.

    The series has terms of one sign, so it keeps relative accuracy at small |x|
    where 0.5 * erf(x / sqrt 2) from a backend may not (MLX's float32 erf has
    absolute, not relative, error there).
    """
    x2 = x * x
    series = 1.0
    for k in range(_NDTR_SERIES_TERMS, 0, -1):
        series = 1.0 + x2 / (2 * k + 1) * series
    return _INV_SQRT_2PI * xp.exp(-0.5 * x2) * x * series


def ndtr(x: Array) -> Array:
    """The standard normal CDF Phi(x), with relative accuracy in the lower tail.

    1/2 + (Phi(x) - 1/2) by its series for |x| <= 1; phi(x) M(-x) with the
    Mills-ratio fit M below -1, and 1 - Phi(-x) above 1.
    """
    xp, x = _float(x)
    central = (x >= -1.0) & (x <= 1.0)
    center = 0.5 + _ndtr_centered(xp, xp.where(central, x, 0.0))
    pos = x > 0
    # Phi(-|x|) without abs, so the gradient at 0 is right
    lower = _ndtr_lower(xp, xp.where(central, -2.0, xp.where(pos, -x, x)))
    return xp.where(central, center, xp.where(pos, 1.0 - lower, lower))


def log_ndtr(x: Array) -> Array:
    """log Phi(x), accurate in the far lower tail (x = -40: about -804.6) and
    for large x, where it is -Phi(-x) (computed as log1p(-Phi(-x)))."""
    xp, x = _float(x)
    pos = x > 0
    u = xp.where(pos, x, -x)  # |x|, without abs: its gradient at 0 is 0
    mills = _mills(xp, u)  # one fit serves both sides
    lower = -0.5 * x * x - _HALF_LOG_2PI + xp.log(mills)
    upper = xp.log1p(-_gauss(xp, u) * _INV_SQRT_2PI * mills)
    return xp.where(pos, upper, lower)


def ndtri(p: Array) -> Array:
    """The standard normal quantile Phi^-1(p); -inf at 0, inf at 1, NaN outside [0, 1].

    Central p (|p - 1/2| <= 0.4): sqrt(2) erfinv(2p - 1) and one Newton step on
    Phi(x) - 1/2 = p - 1/2. Tails: the A&S 26.2.23 guess and three Newton steps
    on log Phi(x) = log q, whose residual keeps relative accuracy down to the
    smallest normal float. Only the last step is differentiated (earlier ones
    sit under stop_gradient), which gives the exact implicit gradient 1 / phi(x).
    """
    backend = get_backend()
    xp, p = _float(p)
    sg = backend.stop_gradient
    central = xp.abs(p - 0.5) <= 0.4

    pc = xp.where(central, p, 0.5)
    xc = sg(_SQRT_2 * backend.erfinv(2.0 * pc - 1.0))
    resid = _ndtr_centered(xp, xc) - (pc - 0.5)
    xc = xc - resid / (_INV_SQRT_2PI * xp.exp(-0.5 * xc * xc))

    q = xp.where(p > 0.5, 1.0 - p, p)  # exact for p >= 1/2
    qt = xp.where(central | ~(q > 0), 0.05, q)
    log_q = xp.log(qt)
    t = xp.sqrt(-2.0 * log_q)
    xt = sg(_horner(_NDTRI_NUM, t) / _horner(_NDTRI_DEN, t) - t)
    for step in range(3):
        log_phi, mills = _log_ndtr_lower(xp, xt)
        xt = xt - (log_phi - log_q) * mills  # Newton on log Phi(x) = log q
        xt = xt if step == 2 else sg(xt)
    xt = xp.where(p > 0.5, -xt, xt)

    out = xp.where(central, xc, xt)
    out = xp.where(p == 0, -_INF, xp.where(p == 1, _INF, out))
    return xp.where((p >= 0) & (p <= 1), out, _NAN)


# ---------------------------------------------------------------------------
# modified Bessel functions (exponentially scaled)

def _bessel_ie(x: Array, nu: int) -> Array:
    """exp(-|x|) I_nu(x) for nu in {0, 1}."""
    xp, x = _float(x)
    ax = xp.abs(x)
    switch = _BESSEL_SWITCH["float64" if xp.finfo(x.dtype).eps < 1e-10 else "float32"]
    small = ax <= switch
    xs = xp.where(small, x, 0.0)
    # power series: I_nu(x) = (x/2)^nu sum_k (x^2/4)^k / (k! (k + nu)!), nested.
    quarter_sq = 0.25 * xs * xs
    series = 1.0
    for k in range(_BESSEL_SERIES_TERMS, 0, -1):
        series = 1.0 + quarter_sq / (k * (k + nu)) * series
    prefactor = _exp(xp, -xp.abs(xs)) * (0.5 * xs if nu else 1.0)
    # Hankel: I_nu(x) e^-x ~ (2 pi x)^-1/2 sum_k prod_{j<=k} ((2j-1)^2 - 4 nu^2) / (8 j x)
    xl = xp.where(small, 2.0 * switch, ax)
    asym = 1.0
    for k in range(_BESSEL_ASYMPTOTIC_TERMS, 0, -1):
        asym = 1.0 + ((2 * k - 1) ** 2 - 4 * nu * nu) / (8.0 * k) / xl * asym
    asym = asym / xp.sqrt(2.0 * math.pi * xl)
    if nu:
        asym = xp.where(x < 0, -asym, asym)
    return xp.where(small, prefactor * series, asym)


def i0e(x: Array) -> Array:
    """exp(-|x|) I_0(x), the exponentially scaled modified Bessel function of order 0 (even)."""
    return _bessel_ie(x, 0)


def i1e(x: Array) -> Array:
    """exp(-|x|) I_1(x), the exponentially scaled modified Bessel function of order 1 (odd)."""
    return _bessel_ie(x, 1)
