"""genmlx.distributions.special against scipy.special, on every backend.

Inputs are float32 on every backend (the numpy64 tests use float64); the
reference is scipy in float64 at the very same float32-representable inputs,
so an error measures the implementation, not the rounding of its input.

Tolerances are written as multiples of EPS32 = 1.19e-7 (float32 machine
epsilon): `bound = rtol * |ref| + atol`, where atol is, where needed, EPS32
times the size of the terms a formula cancels (near the zeros of lgamma and
digamma no method keeps relative accuracy, and scipy's float64 gammaln itself
is only absolutely accurate there: 3.7e-12 relative at x = 1.99988).

MLX's float32 exp loses about 0.4 |x| ulp at argument x (measured: 8 ulp at
|x| = 20, 32 ulp at |x| = 80; NumPy and JAX stay within 1 ulp). Functions that
call exp on a large argument in their hot path (expit, softplus, log_sigmoid,
log1mexp) keep the plain exp, so their MLX tolerance adds that budget; the
tail code of ndtr and the Bessel functions reduces the argument exactly and
needs no such allowance.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.special as ss

import genmlx
from genmlx.distributions import special as sp
from genmlx.errors import CapabilityError

# NumPy evaluates both sides of every `where`; log(0) in an untaken branch warns.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

EPS32 = float(np.finfo(np.float32).eps)


def f32(*parts) -> np.ndarray:
    """Concatenate, then round to float32 (the inputs every backend sees)."""
    return np.concatenate([np.ravel(np.asarray(p, dtype=np.float64)) for p in parts]).astype(
        np.float32)


def non_integer(x: np.ndarray) -> np.ndarray:
    return x[x != np.round(x)]


PAD = 1024


def _padded(*args, dtype=np.float32) -> tuple[list[np.ndarray], int]:
    """Flatten and broadcast `args`, padded (with their last value) to a multiple of PAD.

    JAX compiles each eager primitive once per shape; one shape for every test
    keeps the JAX run to seconds instead of a minute.
    """
    flat = [np.ravel(a) for a in np.broadcast_arrays(*[np.asarray(a, dtype) for a in args])]
    n = flat[0].size
    width = -n % PAD
    return [np.pad(a, (0, width), mode="edge") for a in flat], n


def run(backend, fn, *args, dtype=np.float32) -> np.ndarray:
    """fn elementwise on backend arrays of `args` (cast to `dtype`), as float64 NumPy."""
    padded, n = _padded(*args, dtype=dtype)
    out = fn(*[backend.asarray(a) for a in padded])
    return np.asarray(backend.to_numpy(out), dtype=np.float64)[:n]


def check(actual, ref, bound, x, what: str) -> None:
    """|actual - ref| <= bound elementwise; infinities must match exactly; no NaN."""
    actual, ref = np.asarray(actual, np.float64), np.asarray(ref, np.float64)
    bound = np.broadcast_to(np.asarray(bound, np.float64), ref.shape)
    xs = (np.stack(np.broadcast_arrays(*x), -1) if isinstance(x, tuple)
          else np.broadcast_to(np.asarray(x), ref.shape))
    nan = np.isnan(actual)
    assert not np.any(nan), f"{what}: NaN at x={xs[nan][:5]}"
    finite = np.isfinite(ref)
    same_inf = np.array_equal(actual[~finite], ref[~finite])
    assert same_inf, f"{what}: infinities differ: {actual[~finite]} vs {ref[~finite]}"
    err, bound, xs = np.abs(actual - ref)[finite], bound[finite], xs[finite]
    ratio = np.where(err == 0, 0.0, err / np.where(bound > 0, bound, np.inf) + (bound <= 0))
    if ratio.size and ratio.max() > 1.0:
        i = int(np.argmax(ratio))
        pytest.fail(f"{what}: error {err[i]:.3g} exceeds bound {bound[i]:.3g} at x={xs[i]!r}: "
                    f"got {actual[finite][i]!r}, scipy {ref[finite][i]!r} "
                    f"({int((ratio > 1).sum())} points fail)")


def exp_budget(backend, x) -> np.ndarray:
    """Ulps of error the backend's float32 exp adds at argument x (see module docstring)."""
    return 1.0 + (0.5 * np.abs(np.asarray(x, np.float64)) if backend.name == "mlx" else 0.0)


# ---------------------------------------------------------------------------
# inputs

LGAMMA_POS = f32(np.geomspace(1e-30, 1e-3, 30), np.linspace(1e-3, 10, 300),
                 1 + np.geomspace(1e-6, 0.3, 20), 1 - np.geomspace(1e-6, 0.3, 20),
                 2 + np.geomspace(1e-6, 0.3, 20), 2 - np.geomspace(1e-6, 0.3, 20),
                 np.geomspace(10, 1e30, 60))
LGAMMA_NEG = non_integer(f32(-np.linspace(0.005, 10, 300), -np.geomspace(10, 1e6, 60) - 0.25,
                             -np.geomspace(1e-30, 1e-3, 20)))
LGAMMA_X = np.concatenate([LGAMMA_POS, LGAMMA_NEG])
BETA_GRID = np.geomspace(1e-3, 1e6, 25)
BETA_A, BETA_B = (g.ravel().astype(np.float32) for g in np.meshgrid(BETA_GRID, BETA_GRID))
NDTR_X = f32(np.linspace(-12.9, 9, 300), -np.geomspace(1e-4, 12.9, 60), np.geomspace(1e-4, 9, 60))
LOG_NDTR_X = f32(np.linspace(-40, 12, 300), -np.geomspace(1e-4, 1e4, 80),
                 np.geomspace(1e-4, 12.5, 60), [-38.0, -20.0])
NDTRI_P = f32(np.geomspace(1e-37, 0.5, 200), 1 - np.geomspace(6e-8, 0.5, 80),
              np.linspace(0.01, 0.99, 99), 0.5 + np.geomspace(1e-7, 0.1, 20))
BESSEL_X = f32(np.geomspace(1e-6, 1e6, 120), np.linspace(0, 40, 200))
BESSEL_X = np.concatenate([BESSEL_X, -BESSEL_X])
LOGISTIC_X = f32(np.linspace(-80, 80, 321), np.geomspace(1e-6, 80, 60), -np.geomspace(1e-6, 80, 60))
LOGIT_P = f32(np.geomspace(1e-30, 0.5, 150), 1 - np.geomspace(6e-8, 0.5, 80),
              np.linspace(0.01, 0.99, 99), 0.5 + np.geomspace(1e-7, 0.2, 20))
LOG1MEXP_X = f32(-np.geomspace(1e-30, 80, 200), -np.linspace(0.01, 5, 100))


def _lgamma_terms(x: np.ndarray) -> np.ndarray:
    """Size of the terms the reflection formula cancels at x < 0 (0 where x >= 0)."""
    x = np.asarray(x, np.float64)
    sin = np.abs(np.sin(np.pi * (x - np.round(x))))
    terms = np.abs(ss.gammaln(1 - x)) + np.abs(np.log(np.pi / np.maximum(sin, 1e-300)))
    return np.where(x < 0, terms, 0.0)


def _cot_term(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return np.where(x < 0, np.abs(np.pi / np.tan(np.pi * (x - np.round(x)))), 0.0)


# ---------------------------------------------------------------------------
# float32 on every backend


def test_lgamma(backend):
    got, ref = run(backend, sp.lgamma, LGAMMA_X), ss.gammaln(LGAMMA_X.astype(np.float64))
    # x > 0: 4 eps relative (measured <= 2 eps: the Taylor series about 2 keeps relative
    # accuracy even next to the zeros at 1 and 2). x < 0: 4 eps of the cancelling terms
    # log pi - log|sin pi x| - lgamma(1 - x) (measured <= 1.9 eps), since lgamma has
    # zeros between the negative integers where only absolute accuracy is possible.
    check(got, ref, 4 * EPS32 * (np.abs(ref) + _lgamma_terms(LGAMMA_X)), LGAMMA_X, "lgamma")


def test_lgamma_special_values(backend):
    x = f32([0.0, -1.0, -2.0, -1e30, 1e30, np.inf, 1.0, 2.0, 0.5])
    ref = ss.gammaln(x.astype(np.float64)).astype(np.float32).astype(np.float64)  # 1e30 -> 6.8e31
    got = run(backend, sp.lgamma, x)
    check(got, ref, 2 * EPS32 * np.abs(ref), x, "lgamma special values")  # poles give +inf
    assert got[6] == 0.0 and got[7] == 0.0  # exact at 1 and 2


def test_digamma(backend):
    got, ref = run(backend, sp.digamma, LGAMMA_X), ss.digamma(LGAMMA_X.astype(np.float64))
    # 4 eps of |psi| + 4 (the shifted psi(x + n) <= log 20 and the shift sum, which cancel
    # near the root 1.4616) + |pi cot(pi x)| for x < 0 (the reflection term). Measured:
    # <= 2 eps of that scale.
    scale = np.abs(ref) + 4.0 + _cot_term(LGAMMA_X)
    check(got, ref, 4 * EPS32 * scale, LGAMMA_X, "digamma")


def test_log_beta(backend):
    a, b = BETA_A.astype(np.float64), BETA_B.astype(np.float64)
    got, ref = run(backend, sp.log_beta, BETA_A, BETA_B), ss.betaln(a, b)
    # 8 eps relative (float32 rounding of a + b and of the merged Stirling terms), plus
    # 4 eps of lgamma(min(a, b)) (capped at 10) absolute, for the terms that cancel where
    # log B(a, b) crosses zero (one a < 1 against each b). Measured <= 0.5 of the bound.
    atol = 4 * EPS32 * np.minimum(np.abs(ss.gammaln(np.minimum(a, b))), 10.0)
    check(got, ref, 8 * EPS32 * np.abs(ref) + atol, (a, b), "log_beta")


def test_log_factorial_and_binomial(backend):
    n = f32(np.arange(0, 200), np.geomspace(200, 1e6, 40), np.linspace(0.1, 30.7, 50))
    got, ref = run(backend, sp.log_factorial, n), ss.gammaln(n.astype(np.float64) + 1)
    # 4 eps relative plus 4 eps absolute (n + 1 rounds for non-integer n, moving the
    # result by psi(n + 1) * eps / 2); measured <= 1.5 eps
    check(got, ref, 4 * EPS32 * np.abs(ref) + 4 * EPS32, n, "log_factorial")

    nn, kk = (g.ravel() for g in np.meshgrid(np.arange(0, 61, 3.0), np.arange(0, 61, 3.0)))
    keep = kk <= nn
    nn, kk = nn[keep], kk[keep]
    ref = np.log(ss.binom(nn, kk))  # exact integers up to C(60, 30) ~ 1.2e17
    got = run(backend, sp.log_binomial, nn, kk)
    # 8 eps relative plus 8 eps absolute: log C is 0 at k = 0 and k = n, where the
    # formula subtracts terms of size log(n + 1).
    check(got, ref, 8 * EPS32 * (np.abs(ref) + np.log1p(nn)), (nn, kk), "log_binomial")

    n_big = f32(np.geomspace(100, 1e6, 30))
    k_big = f32(np.asarray(n_big, np.float64) * 0.37 + 0.5)
    n64, k64 = n_big.astype(np.float64), k_big.astype(np.float64)
    ref = -np.log1p(n64) - ss.betaln(n64 - k64 + 1, k64 + 1)
    got = run(backend, sp.log_binomial, n_big, k_big)
    # n - k + 1 rounds in float32 (half an ulp of n), moving log C by about
    # |log(k/(n-k))| * ulp(n)/2; that is < 4 eps of log C ~ n H(k/n) here.
    check(got, ref, 8 * EPS32 * np.abs(ref), (n_big, k_big), "log_binomial (large n)")


def test_logit_and_expit(backend):
    got, ref = run(backend, sp.logit, LOGIT_P), ss.logit(LOGIT_P.astype(np.float64))
    # 4 eps relative: logit(1/2 + d) keeps relative accuracy through log1p (measured <= 2 eps)
    check(got, ref, 4 * EPS32 * np.abs(ref), LOGIT_P, "logit")
    x = LOGISTIC_X.astype(np.float64)
    got, ref = run(backend, sp.expit, LOGISTIC_X), ss.expit(x)
    # 4 eps relative, plus the backend's exp error at -|x| (expit(-80) = 1.8e-35 is
    # exp(-80) itself)
    check(got, ref, 4 * EPS32 * exp_budget(backend, x) * np.abs(ref), x, "expit")


def test_softplus_and_log_sigmoid(backend):
    x = LOGISTIC_X.astype(np.float64)
    got, ref = run(backend, sp.softplus, LOGISTIC_X), np.logaddexp(0.0, x)
    # 4 eps relative (softplus(-80) = exp(-80) relies on exp: add its budget)
    check(got, ref, 4 * EPS32 * exp_budget(backend, x) * np.abs(ref), x, "softplus")
    got, ref = run(backend, sp.log_sigmoid, LOGISTIC_X), ss.log_expit(x)
    check(got, ref, 4 * EPS32 * exp_budget(backend, x) * np.abs(ref), x, "log_sigmoid")


def test_log1mexp(backend):
    x = LOG1MEXP_X.astype(np.float64)
    # float64 reference by the same two-branch formula (each branch is exact to 1 ulp
    # in float64 where it is used, e.g. log1p(-exp(-80)) = -1.8e-35)
    ref = np.where(x > -math.log(2), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))
    got = run(backend, sp.log1mexp, LOG1MEXP_X)
    check(got, ref, 4 * EPS32 * exp_budget(backend, x) * np.abs(ref), x, "log1mexp")
    edge = run(backend, sp.log1mexp, [0.0, -np.inf, 1.0])
    assert edge[0] == -np.inf and edge[1] == 0.0 and np.isnan(edge[2])


@pytest.mark.parametrize("axis, keepdims",
                         [(None, False), (None, True), (0, True), (1, False), (-1, True),
                          ((0, 1), False)])
def test_logsumexp(backend, axis, keepdims):
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(6, 9)) * 30).astype(np.float32)
    x[0] += 1e4  # a large offset: naive exp overflows
    x[1, :4] = -np.inf
    x[2, :] = -np.inf  # an all -inf row gives -inf, not NaN
    x[:, 3] = -np.inf  # an all -inf column
    ref = ss.logsumexp(x.astype(np.float64), axis=axis, keepdims=keepdims)
    got = np.asarray(backend.to_numpy(sp.logsumexp(backend.asarray(x), axis=axis,
                                                  keepdims=keepdims)), np.float64)
    assert got.shape == np.shape(ref)
    # 4 eps relative of the max plus log of a sum of <= 54 terms (1 eps each in float32)
    check(got, ref, 4 * EPS32 * (np.abs(ref) + 4.0), x.size, f"logsumexp axis={axis}")


def test_log_softmax(backend):
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(5, 7)) * 20).astype(np.float32)
    x[0] += 1e3
    x[1, :3] = -np.inf
    ref = ss.log_softmax(x.astype(np.float64), axis=-1)
    got = np.asarray(backend.to_numpy(sp.log_softmax(backend.asarray(x))), np.float64)
    # x - max is exact; the log of the sum adds a few eps of its (<= 4) magnitude
    check(got, ref, 4 * EPS32 * (np.abs(ref) + 4.0), x, "log_softmax")
    ref0 = ss.log_softmax(x.astype(np.float64), axis=0)
    got0 = np.asarray(backend.to_numpy(sp.log_softmax(backend.asarray(x), axis=0)), np.float64)
    check(got0, ref0, 4 * EPS32 * (np.abs(ref0) + 4.0), x, "log_softmax axis=0")


def test_ndtr(backend):
    x = NDTR_X.astype(np.float64)
    got, ref = run(backend, sp.ndtr, NDTR_X), ss.ndtr(x)
    # 8 eps relative down to Phi(-12.9) = 2.3e-38 (float32's normal range ends at 1.2e-38,
    # and JAX flushes subnormals to 0): phi(x) M(-x) with the exp argument split exactly
    # (measured <= 3 eps; a plain exp(-x^2/2) would cost x^2/2 ulp = 83 ulp at x = -12.9).
    check(got, ref, 8 * EPS32 * np.abs(ref), x, "ndtr")
    edge = run(backend, sp.ndtr, [-np.inf, np.inf, 0.0, -40.0])
    assert list(edge) == [0.0, 1.0, 0.5, 0.0]


def test_log_ndtr(backend):
    x = LOG_NDTR_X.astype(np.float64)
    got, ref = run(backend, sp.log_ndtr, LOG_NDTR_X), ss.log_ndtr(x)
    # 8 eps relative: for x <= 0, -x^2/2 - log(2 pi)/2 + log M(-x) with M to 1e-15
    # (measured <= 4.5 eps, at x = -1e4, -38, -20 too); for x > 0, log1p(-Phi(-x)) with
    # Phi(-x) relatively accurate, so log_ndtr(12.5) = -1.8e-36 keeps its digits.
    check(got, ref, 8 * EPS32 * np.abs(ref), x, "log_ndtr")
    edge = run(backend, sp.log_ndtr, [-np.inf, np.inf, 30.0])
    assert edge[0] == -np.inf and edge[1] == 0.0 and edge[2] == 0.0


def test_ndtri(backend):
    p = NDTRI_P.astype(np.float64)
    got, ref = run(backend, sp.ndtri, NDTRI_P), ss.ndtri(p)
    # 8 eps relative: Newton on log Phi in the tails (p down to 1e-37) and on Phi - 1/2
    # in the middle keep relative accuracy (measured <= 2.2 eps), including near
    # p = 1/2, where ndtri(p) ~ 2.5 (p - 1/2) is small.
    check(got, ref, 8 * EPS32 * np.abs(ref), p, "ndtri")
    edge = run(backend, sp.ndtri, [0.0, 1.0, -0.1, 1.1, 0.5])
    assert edge[0] == -np.inf and edge[1] == np.inf
    assert np.isnan(edge[2]) and np.isnan(edge[3]) and edge[4] == 0.0


@pytest.mark.parametrize("name", ["i0e", "i1e"])
def test_bessel(backend, name):
    x = BESSEL_X.astype(np.float64)
    got, ref = run(backend, getattr(sp, name), BESSEL_X), getattr(ss, name)(x)
    # 8 eps relative: power series (terms of one sign) to |x| = 10, Hankel series above
    # (measured <= 2.6 eps; A&S 9.8.1-9.8.4 polynomials would give only ~2e-7 absolute).
    check(got, ref, 8 * EPS32 * np.abs(ref), x, name)


def test_python_numbers_and_dtypes(backend):
    """Python numbers become the backend's float dtype; integer arrays become floats."""
    out = sp.expit(0.5)
    assert backend.is_array(out) and out.dtype == backend.float_dtype
    assert abs(float(backend.to_numpy(out)) - 1 / (1 + math.exp(-0.5))) < 4 * EPS32
    (ints,), _ = _padded(np.arange(PAD) % 6, dtype=np.int32)
    got = backend.to_numpy(sp.log_factorial(backend.asarray(ints)))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got[:6], ss.gammaln(np.arange(6) + 1.0), rtol=4 * EPS32, atol=0)


# ---------------------------------------------------------------------------
# gradients (backends with autodiff)


def _elementwise_grad(backend, fn, x):
    """d fn / dx elementwise (the gradient of sum fn(x))."""
    xp = backend.xp
    (padded,), n = _padded(x)
    g = backend.grad(lambda v: xp.sum(fn(v)))(backend.asarray(padded))
    return np.asarray(backend.to_numpy(g), np.float64)[:n]


def test_grad_lgamma_is_digamma(grad_backend):
    b = grad_backend
    x = non_integer(f32(np.geomspace(1e-3, 1e4, 60), np.linspace(0.05, 12, 120),
                        -np.linspace(0.05, 9.95, 120), -np.geomspace(10, 1e3, 20) - 0.3))
    got, ref = _elementwise_grad(b, sp.lgamma, x), ss.digamma(x.astype(np.float64))
    # As test_digamma: 4 eps of |psi| + 4 + |pi cot(pi x)|; differentiating the truncated
    # series (Taylor about 2, Stirling) costs little more (measured <= 1.3 eps of that).
    scale = np.abs(ref) + 4.0 + _cot_term(x)
    check(got, ref, 4 * EPS32 * scale, x, f"grad lgamma ({b.name})")


def test_grad_log_ndtr_far_tail(grad_backend):
    b = grad_backend
    x = f32([-1e4, -40.0, -38.0, -20.0, -10.0, -5.0, -1.0, 0.0, 1.0, 5.0, 10.0, 20.0])
    x64 = x.astype(np.float64)
    got = _elementwise_grad(b, sp.log_ndtr, x)
    ref = np.exp(-0.5 * x64 * x64 - 0.5 * math.log(2 * math.pi) - ss.log_ndtr(x64))
    # phi/Phi ~ |x| in the tail (and -Phi(-x)-sized above): 8 eps relative, measured
    # <= 2 eps; plus a floor at the float32 normal limit for x = 20 (phi/Phi = 5e-88).
    check(got, ref, 8 * EPS32 * np.abs(ref) + 1.2e-38, x, f"grad log_ndtr ({b.name})")


def test_grad_ndtri_is_inverse_density(grad_backend):
    b = grad_backend
    p = f32(np.geomspace(1e-30, 0.5, 40), 1 - np.geomspace(1e-6, 0.5, 20))
    got = _elementwise_grad(b, sp.ndtri, p)
    x = ss.ndtri(p.astype(np.float64))
    ref = np.sqrt(2 * np.pi) * np.exp(0.5 * x * x)
    # the implicit gradient 1/phi(x) at the float32 root x: an eps-relative error in x
    # moves phi(x) by x^2 eps, so (x^2 + 8) eps relative (measured <= 0.13 of that)
    check(got, ref, EPS32 * (x * x + 8) * np.abs(ref), p, f"grad ndtri ({b.name})")


EDGE_INPUTS = {
    "lgamma": [1e-30, 1e30, -0.5, -1e6 - 0.25, 1.0, 2.0, 7.5],
    "digamma": [1e-3, 1e30, -0.5, -1e3 - 0.25, 1.0, 10.0],  # trigamma(1e-30) overflows
    "logit": [1e-30, 0.5, 1 - 6e-8, 0.25, 0.75],
    "expit": [-1e4, 0.0, 1e4],
    "softplus": [-1e4, 0.0, 1e4],
    "log_sigmoid": [-1e4, 0.0, 1e4],
    "log1mexp": [-1e-30, -math.log(2), -1e4],
    "ndtr": [-1e4, -40.0, 0.0, 40.0, 1e4],
    "log_ndtr": [-1e4, -40.0, 0.0, 40.0, 1e4],
    "ndtri": [1e-37, 0.1, 0.5, 0.9, 1 - 6e-8],
    "i0e": [-1e6, -10.0, 0.0, 10.0, 20.0, 1e6],
    "i1e": [-1e6, -10.0, 0.0, 10.0, 20.0, 1e6],
}


@pytest.mark.parametrize("name", sorted(EDGE_INPUTS))
def test_grad_finite_at_extremes(grad_backend, name):
    """Safe where: no branch leaks inf/NaN into the gradient at range extremes."""
    got = _elementwise_grad(grad_backend, getattr(sp, name), EDGE_INPUTS[name])
    assert np.all(np.isfinite(got)), f"{name} grad on {grad_backend.name}: {got}"


def test_grad_log_beta_and_logsumexp_finite(grad_backend):
    b, xp = grad_backend, grad_backend.xp
    (a, c), n = _padded([1e-3, 0.5, 3.0, 8.0, 1e6, 2.0], [1e6, 1e6, 3.0, 8.0, 1e6, 2.0])
    ga, gc = b.grad(lambda u, v: xp.sum(sp.log_beta(u, v)), argnums=(0, 1))(
        b.asarray(a), b.asarray(c))
    a64, c64 = a[:n].astype(np.float64), c[:n].astype(np.float64)
    ref_a = ss.digamma(a64) - ss.digamma(a64 + c64)
    # ties (a == b) must give each argument its own derivative, not 0 or twice it;
    # 8 eps of the psi terms that cancel (measured <= 0.3 eps)
    got_a = np.asarray(b.to_numpy(ga), np.float64)[:n]
    check(got_a, ref_a, 8 * EPS32 * (np.abs(ref_a) + np.abs(ss.digamma(a64 + c64))), a64,
          "grad log_beta a")
    assert np.all(np.isfinite(b.to_numpy(gc)))
    # a -inf entry gets gradient 0, not NaN; the others get the softmax
    x = b.asarray(np.array([-np.inf, 1.0, 2.0], np.float32))
    g = np.asarray(b.to_numpy(b.grad(sp.logsumexp)(x)))
    np.testing.assert_allclose(g, [0.0, *ss.softmax([1.0, 2.0])], rtol=8 * EPS32, atol=0)


def test_grad_logistic_family(grad_backend):
    """Derivatives in closed form, including at 0 where a naive |x| would give 0."""
    b = grad_backend
    x = f32([-30.0, -3.0, -0.5, 0.0, 0.5, 3.0, 30.0])
    s, s_neg = ss.expit(x.astype(np.float64)), ss.expit(-x.astype(np.float64))
    for fn, ref in [(sp.expit, s * s_neg), (sp.softplus, s), (sp.log_sigmoid, s_neg)]:
        # 4 eps relative, with the exp budget for MLX (measured <= 0.7 eps of that)
        check(_elementwise_grad(b, fn, x), ref, 4 * EPS32 * exp_budget(b, x) * np.abs(ref), x,
              f"grad {fn.__name__} ({b.name})")
    got = _elementwise_grad(b, sp.i1e, f32([0.0]))
    assert abs(got[0] - 0.5) < 4 * EPS32  # i1e(x) = x/2 + O(x^2) near 0


def test_grad_raises_on_numpy():
    with genmlx.use_backend("numpy") as b:
        with pytest.raises(CapabilityError) as info:
            b.grad(lambda v: b.xp.sum(sp.lgamma(v)))(b.asarray([1.5]))
    message = str(info.value)
    assert "numpy" in message and "grad" in message


# ---------------------------------------------------------------------------
# compiled == eager (backends with a compiler)


@pytest.mark.parametrize("name", [
    "jax",
    # MLX compiles CPU kernels with a C++ compiler on first use (~7 s per function,
    # up to ~75 s cold for this graph; cached on disk afterwards): slow tier.
    pytest.param("mlx", marks=pytest.mark.slow),
])
def test_compiled_matches_eager(name):
    # NumPy's compile is the identity, so only real compilers are checked.
    if name not in genmlx.installed_backends():
        pytest.fail(f"backend '{name}' is not installed; the test extras install it")
    with genmlx.use_backend(name) as backend:
        _check_compiled_matches_eager(backend)


def _check_compiled_matches_eager(backend):
    (x, p), _ = _padded([-2.5, 0.3, 1.5, 12.0] * 4, [1e-20, 0.2, 0.5, 0.99] * 4)
    x, p = backend.asarray(x), backend.asarray(p)

    def many(x, p):
        return (sp.lgamma(x) + sp.digamma(x) + sp.log_ndtr(x) + sp.ndtr(x) + sp.i0e(x)
                + sp.i1e(x) + sp.softplus(x) + sp.expit(x) + sp.ndtri(p) + sp.logit(p))

    eager = np.asarray(backend.to_numpy(many(x, p)))
    compiled = np.asarray(backend.to_numpy(backend.compile(many)(x, p)))
    # the compiler may fuse and reassociate: allow 16 eps of the ~20-sized sum
    np.testing.assert_allclose(compiled, eager, rtol=0, atol=16 * EPS32 * 20)


# ---------------------------------------------------------------------------
# NumPy float64: the reference backend agrees with scipy to ~1e-13


def _run64(b, fn, *args):
    return run(b, fn, *args, dtype=np.float64)


def test_numpy64_matches_scipy(numpy64):
    b = numpy64
    eps = float(np.finfo(np.float64).eps)
    # Relative 1e-13 (~450 ulp) plus absolute terms where the function crosses zero, as
    # in float32; measured <= 0.1 of that for lgamma, digamma, ndtri, Bessel, logistic.
    # Near those zeros scipy's own gammaln/digamma are only absolutely accurate (3.7e-12
    # relative at x = 1.99988; ours matches mpmath there to 1 ulp), so a relative test
    # would measure scipy.
    rtol = 1e-13
    x = LGAMMA_X.astype(np.float64)
    ref = ss.gammaln(x)
    check(_run64(b, sp.lgamma, x), ref,
          rtol * np.abs(ref) + 16 * eps * (_lgamma_terms(x) + 1), x, "lgamma f64")
    ref = ss.digamma(x)
    check(_run64(b, sp.digamma, x), ref,
          rtol * np.abs(ref) + 16 * eps * (4 + _cot_term(x)), x, "digamma f64")
    for name, fn, xs in [("ndtr", ss.ndtr, np.linspace(-37, 9, 400)),
                         ("log_ndtr", ss.log_ndtr, np.concatenate(
                             [np.linspace(-40, 37, 400), -np.geomspace(1, 1e8, 50)])),
                         ("ndtri", ss.ndtri, np.concatenate(
                             [np.geomspace(1e-300, 0.5, 200), 1 - np.geomspace(1e-15, 0.5, 50),
                              np.linspace(0.01, 0.99, 99)])),
                         ("i0e", ss.i0e, np.concatenate([np.geomspace(1e-8, 1e8, 200),
                                                         np.linspace(-40, 40, 401)])),
                         ("i1e", ss.i1e, np.concatenate([np.geomspace(1e-8, 1e8, 200),
                                                         np.linspace(-40, 40, 401)])),
                         ("expit", ss.expit, np.linspace(-700, 700, 401)),
                         ("softplus", lambda v: np.logaddexp(0.0, v), np.linspace(-700, 700, 401)),
                         ("log_sigmoid", ss.log_expit, np.linspace(-700, 700, 401)),
                         ("logit", ss.logit, np.geomspace(1e-300, 1, 300))]:
        ref = fn(xs)
        # scipy's ndtr/log_ndtr round x^2 and so carry ~x^2/2 ulp themselves (2.2e-13
        # relative at x = -36.8 against mpmath, where ours is 2e-14): allow that, plus one
        # subnormal step below Phi = 2.2e-308.
        scipy_err = 0.5 * xs * xs * eps if name in ("ndtr", "log_ndtr") else 0.0
        check(_run64(b, getattr(sp, name), xs), ref, (rtol + scipy_err) * np.abs(ref) + 5e-324,
              xs, f"{name} f64")


def test_numpy64_log_beta_matches_mpmath(numpy64):
    # scipy's betaln loses digits when one argument is large (1.7e-9 relative at
    # (1e6, 0.178)), so the float64 reference here is mpmath at 30 digits.
    mpmath = pytest.importorskip("mpmath")
    grid = np.geomspace(1e-3, 1e6, 12)
    a, c = (g.ravel() for g in np.meshgrid(grid, grid))
    with mpmath.workdps(30):
        ref = np.array([float(mpmath.log(mpmath.beta(u, v))) for u, v in zip(a, c)])
    got = _run64(numpy64, sp.log_beta, a, c)
    # 1e-13 relative plus 1e-14 absolute where log B crosses 0 (measured <= 0.004 of it)
    check(got, ref, 1e-13 * np.abs(ref) + 1e-14, (a, c), "log_beta f64")
