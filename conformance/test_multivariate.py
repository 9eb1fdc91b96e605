"""Multivariate distributions and mixtures against scipy.stats, on every backend.

Oracle table (NumPyro style): constructor, parameters (batched or not), the
scipy factory per batch element, points in the support and points outside it
(off the simplex, not symmetric, not positive definite: log density -inf).

Tolerances:
- float64 NumPy vs scipy: rtol 1e-9, atol 1e-9 (same closed forms; measured
  worst 3.4e-15 * max(|log p|, 1)).
- float32 backends vs scipy at the float32-rounded parameters and points:
  rtol 1e-5, atol 1e-5 * term_scale. A Cholesky factorisation or LU
  determinant of a D x D float32 matrix loses about D * cond * eps; the terms
  that cancel (quadratic forms, log-determinants, log Gamma_D) are up to
  ~term_scale in size (20 unless set per case). Measured worst on CPU:
  1.6e-7 * max(|log p|, term_scale), so the bound leaves room for GPU
  matrix products.
- sampling: sample means and second moments within 5 standard errors
  (false-failure rate ~6e-7 per check), the standard errors from the exact
  moments where closed forms are short, else estimated from the draws
  (asymptotically valid: n >= 1e5). Mixtures: a Kolmogorov-Smirnov test
  against the mixture CDF, rejecting at p < 1e-3 (false-failure rate 1e-3;
  keys are fixed, so a passing run stays passing).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import pytest
import scipy.special as sps
import scipy.stats as st

from genmlx.distributions import continuous as C
from genmlx.distributions import discrete as D
from genmlx.distributions import multivariate as M
from genmlx.distributions.mixture import mixture
from genmlx.errors import ParameterError
from genmlx.testing import assert_close, to_numpy

SEED = 20261124
INF = np.inf

MEAN = np.array([1.0, -1.0, 0.5])
COV = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]])
COV_B = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 3.0]])
ALPHA = np.array([0.5, 2.0, 3.0])


def _spd_points(seed: int, num: int, scale: np.ndarray, df: float) -> np.ndarray:
    return st.wishart(df, scale).rvs(num, random_state=np.random.default_rng(seed))


class _DirichletOracle:
    """scipy's dirichlet with the support rule scipy enforces by raising: -inf off the simplex."""

    def __init__(self, alpha):
        self.frozen = st.dirichlet(alpha)

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        if np.any(x < 0) or abs(x.sum() - 1.0) > 1e-6:
            return -INF
        return self.frozen.logpdf(x / x.sum())  # float32-rounded points miss 1 by ~1e-8


class _MatrixOracle:
    """scipy's (inverse) Wishart with -inf for non-symmetric or non-positive-definite X."""

    def __init__(self, family, df, scale):
        self.frozen = family(df, scale)

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        if not np.allclose(x, x.T) or np.any(np.linalg.eigvalsh(x) <= 0):
            return -INF
        return self.frozen.logpdf(x)


class T(NamedTuple):
    """A case: constructor(*params); oracle(*params of one batch element) has .logpdf."""

    name: str
    constructor: Callable
    params: tuple
    ranks: tuple  # event rank of each parameter (1 for a mean, 2 for a covariance)
    oracle: Callable
    points: np.ndarray  # [P, *batch-broadcastable, *event]
    term_scale: float = 20.0


_NOT_SYMMETRIC = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
_INDEFINITE = np.diag([1.0, -1.0, 2.0])
_SINGULAR = np.ones((3, 3))


def _matrix_points(seed: int, scale: np.ndarray, df: float) -> np.ndarray:
    return np.concatenate([_spd_points(seed, 3, scale, df),
                           np.stack([_NOT_SYMMETRIC, _INDEFINITE, _SINGULAR])])


CASES = [
    T("mvn", M.multivariate_normal, (MEAN, COV), (1, 2), st.multivariate_normal,
      np.array([MEAN, [0.0, 0.0, 0.0], [3.0, -2.0, 1.0], [-4.0, 5.0, -3.0],
                [1e-3, 1e3, 0.0], [0.5, 0.5, 0.5]])),
    T("mvn_batched_mean", M.multivariate_normal, (np.stack([MEAN, -MEAN]), COV), (1, 2),
      st.multivariate_normal, np.array([MEAN, -MEAN, [0.0, 1.0, 2.0]])[:, None, :],
      term_scale=60.0),
    T("mvn_batched_cov", M.multivariate_normal, (MEAN, np.stack([COV, COV_B])), (1, 2),
      st.multivariate_normal, np.array([MEAN, [0.0, 0.0, 0.0], [2.0, 2.0, -1.0]])[:, None, :],
      term_scale=60.0),
    T("mvn_1d", M.multivariate_normal, (np.array([0.5]), np.array([[4.0]])), (1, 2),
      st.multivariate_normal, np.array([[0.5], [-3.0], [10.0]])),
    T("dirichlet", M.dirichlet, (ALPHA,), (1,), _DirichletOracle,
      np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8], [0.7, 0.2, 0.1], [0.5, 0.6, -0.1],
                [0.3, 0.3, 0.3], [0.6, 0.4, 0.0]])),
    T("dirichlet_flat", M.dirichlet, (np.ones(4),), (1,), _DirichletOracle,
      np.array([[0.25, 0.25, 0.25, 0.25], [0.0, 0.5, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0],
                [0.5, 0.5, 0.5, -0.5]])),
    T("dirichlet_batched", M.dirichlet, (np.array([[1.5, 2.0, 0.7], [20.0, 0.3, 5.0]]),), (1,),
      _DirichletOracle, np.array([[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]])[:, None, :]),
    T("wishart", M.wishart, (5.0, COV), (0, 2), lambda df, s: _MatrixOracle(st.wishart, df, s),
      _matrix_points(1, COV, 5.0), term_scale=60.0),
    T("wishart_batched_df", M.wishart, (np.array([3.5, 9.0]), COV), (0, 2),
      lambda df, s: _MatrixOracle(st.wishart, df, s),
      _matrix_points(2, COV, 6.0)[:, None], term_scale=60.0),
    T("wishart_2d", M.wishart, (1.5, np.array([[1.0, -0.4], [-0.4, 0.5]])), (0, 2),
      lambda df, s: _MatrixOracle(st.wishart, df, s),
      _spd_points(3, 4, np.eye(2), 4.0)),
    T("inv_wishart", M.inv_wishart, (7.0, COV), (0, 2),
      lambda df, s: _MatrixOracle(st.invwishart, df, s),
      _matrix_points(4, np.linalg.inv(COV) / 7.0, 7.0), term_scale=60.0),
    T("inv_wishart_batched", M.inv_wishart, (4.0, np.stack([COV, COV_B])), (0, 2),
      lambda df, s: _MatrixOracle(st.invwishart, df, s),
      _matrix_points(5, np.eye(3), 5.0)[:, None], term_scale=60.0),
]


def _reference(case: T, params: tuple, points: np.ndarray, event_rank: int) -> np.ndarray:
    """The oracle's log density per point and batch element (a loop: oracles are unbatched)."""
    arrays = [np.asarray(p, dtype=float) for p in params]
    batch = np.broadcast_shapes(*(a.shape[:a.ndim - r]
                                  for a, r in zip(arrays, case.ranks, strict=True)))
    event = points.shape[points.ndim - event_rank:]
    out_shape = np.broadcast_shapes(points.shape[:points.ndim - event_rank], batch)
    points = np.broadcast_to(points, out_shape + event)
    out = np.empty(out_shape)
    for index in np.ndindex(*out_shape):
        b = index[len(out_shape) - len(batch):]
        element = [np.broadcast_to(a, batch + a.shape[a.ndim - r:])[b]
                   for a, r in zip(arrays, case.ranks, strict=True)]
        out[index] = case.oracle(*element).logpdf(points[index])
    return out


def _float32(params: tuple) -> tuple:
    return tuple(np.asarray(p, dtype=np.float32).astype(float) for p in params)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_log_prob_float64_matches_scipy(numpy64, case):
    dist = case.constructor(*case.params)
    actual = dist.log_prob(numpy64.asarray(case.points))
    expected = _reference(case, case.params, case.points, dist.event_rank)
    assert_close(actual, expected, rtol=1e-9, atol=1e-9, msg=case.name)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_log_prob_float32_matches_reference(backend, case):
    # float32 arrays: the NumPy backend keeps a float64 array's dtype
    dist = case.constructor(*(np.asarray(p, dtype=np.float32) for p in case.params))
    points = case.points.astype(np.float32)
    actual = dist.log_prob(backend.asarray(points))
    expected = _reference(case, _float32(case.params), points.astype(float), dist.event_rank)
    assert_close(actual, expected, rtol=1e-5, atol=1e-5 * case.term_scale, msg=case.name)


def test_dirichlet_boundary(backend):
    """At a zero coordinate the density is infinite for alpha < 1 and zero for alpha > 1."""
    x = np.array([0.0, 0.5, 0.5])
    assert to_numpy(M.dirichlet([0.5, 2.0, 3.0]).log_prob(x)) == INF
    assert to_numpy(M.dirichlet([2.0, 2.0, 3.0]).log_prob(x)) == -INF


def test_shapes(backend):
    # Every gamma draw below has shape (6, 2, 3), so JAX compiles the gamma sampler once.
    key = backend.key(0)
    mvn = M.multivariate_normal(np.zeros((2, 3)), COV)
    assert (mvn.batch_shape, mvn.event_shape) == ((2,), (3,))
    assert tuple(mvn.sample_n(key, 6).shape) == (6, 2, 3)
    assert tuple(mvn.sample(key).shape) == (2, 3)
    d = M.dirichlet(np.ones((2, 3)))
    assert (d.batch_shape, d.event_shape) == ((2,), (3,))
    assert tuple(d.sample_n(key, 6).shape) == (6, 2, 3)
    w = M.wishart(np.array([4.0, 5.0]), COV)
    assert (w.batch_shape, w.event_shape) == ((2,), (3, 3))
    assert tuple(w.sample_n(key, 6).shape) == (6, 2, 3, 3)
    iw = M.inv_wishart(5.0, np.stack([COV, COV_B]))
    assert (iw.batch_shape, iw.event_shape) == ((2,), (3, 3))
    assert tuple(iw.sample_n(key, 6).shape) == (6, 2, 3, 3)


# ---------------------------------------------------------------------------
# sampling

def _within(actual, expected, se, what):
    actual, expected, se = (np.asarray(a, dtype=float) for a in (actual, expected, se))
    bad = np.abs(actual - expected) > 5 * se
    assert not np.any(bad), f"{what}: {actual} vs {expected} (5 se = {5 * se})"


def _second_moment_se(x: np.ndarray) -> np.ndarray:
    """Standard errors of the sample covariance entries, estimated from the draws."""
    d = x - x.mean(axis=0)
    products = d[:, :, None] * d[:, None, :]
    return products.std(axis=0) / np.sqrt(x.shape[0])


@pytest.mark.slow
def test_mvn_sampling_moments(backend):
    n = 200_000
    x = to_numpy(M.multivariate_normal(MEAN, COV).sample_n(backend.key(SEED), n))
    assert x.shape == (n, 3)
    _within(x.mean(0), MEAN, np.sqrt(np.diag(COV) / n), "mvn mean")
    var_cov = (COV ** 2 + np.outer(np.diag(COV), np.diag(COV))) / n  # Gaussian: exact
    _within(np.cov(x.T, bias=True), COV, np.sqrt(var_cov), "mvn covariance")
    batched = to_numpy(M.multivariate_normal(np.stack([MEAN, -MEAN]), COV_B).sample_n(
        backend.key(SEED + 1), 20_000))
    assert batched.shape == (20_000, 2, 3)
    _within(batched.mean(0), np.stack([MEAN, -MEAN]), np.sqrt(np.diag(COV_B) / 20_000),
            "batched mvn mean")


@pytest.mark.slow
@pytest.mark.parametrize("alpha", [ALPHA, np.array([0.01, 0.02, 0.05])], ids=["alpha", "tiny"])
def test_dirichlet_sampling_moments(backend, alpha):
    n = 200_000
    dist = M.dirichlet(alpha)
    draws = dist.sample_n(backend.key(SEED), n)
    x = to_numpy(draws)
    assert np.all(np.isfinite(x)) and np.all(x > 0)  # tiny alpha: floored, never 0
    assert np.all(np.isfinite(to_numpy(dist.log_prob(draws[:1000]))))
    np.testing.assert_allclose(x.sum(-1), 1.0, atol=1e-5)
    a0 = alpha.sum()
    mean = alpha / a0
    cov = (np.diag(mean) - np.outer(mean, mean)) / (a0 + 1)
    _within(x.mean(0), mean, np.sqrt(np.diag(cov) / n), "dirichlet mean")
    _within(np.cov(x.T, bias=True), cov, _second_moment_se(x), "dirichlet covariance")


def _wishart_moments(df, s):
    return df * s, df * (s ** 2 + np.outer(np.diag(s), np.diag(s)))


def _inv_wishart_moments(df, s):
    p = s.shape[0]
    mean = s / (df - p - 1)
    var = ((df - p + 1) * s ** 2 + (df - p - 1) * np.outer(np.diag(s), np.diag(s))) / (
        (df - p) * (df - p - 1) ** 2 * (df - p - 3))
    return mean, var


@pytest.mark.slow
@pytest.mark.parametrize("make, moments, df", [
    (M.wishart, _wishart_moments, 6.0),
    (M.inv_wishart, _inv_wishart_moments, 15.0),  # df > D + 7: finite 4th moments for the SEs
], ids=["wishart", "inv_wishart"])
def test_matrix_sampling_moments(backend, make, moments, df):
    n = 100_000
    dist = make(df, COV)
    draws = dist.sample_n(backend.key(SEED), n)
    x = to_numpy(draws)
    assert x.shape == (n, 3, 3)
    np.testing.assert_allclose(x, np.swapaxes(x, -1, -2), rtol=1e-4, atol=1e-6)
    assert np.all(np.linalg.eigvalsh(x) > 0)
    assert np.all(np.isfinite(to_numpy(dist.log_prob(draws[:1000]))))
    mean, var = moments(df, COV)
    _within(x.mean(0), mean, np.sqrt(var / n), f"{dist.name} mean")
    flat = x.reshape(n, 9)
    entry_var_se = ((flat - flat.mean(0)) ** 2).std(0).reshape(3, 3) / np.sqrt(n)
    _within(x.var(0), var, entry_var_se, f"{dist.name} entry variances")


# ---------------------------------------------------------------------------
# gradients

def test_mvn_reparameterised_gradient_wrt_mean(grad_backend):
    """d/d mean of sum(w * draws) with a fixed key, against central differences."""
    xp = grad_backend.xp
    key = grad_backend.key(SEED)
    w = xp.asarray(np.array([1.0, -2.0, 0.5], dtype=np.float32))
    cov = xp.asarray(COV.astype(np.float32))

    def f(mean):
        return xp.sum(w * M.multivariate_normal(mean, cov).sample_n(key, 16))

    mean0 = MEAN.astype(np.float32)
    grad = to_numpy(grad_backend.grad(f)(xp.asarray(mean0)))
    h = 1e-2
    fd = []
    for i in range(3):
        e = np.eye(3, dtype=np.float32)[i] * h
        fd.append((to_numpy(f(xp.asarray(mean0 + e))) - to_numpy(f(xp.asarray(mean0 - e))))
                  / (2 * h))
    # f is linear in the mean: differences are exact up to float32 rounding of f (~1e-5 |f| / h)
    np.testing.assert_allclose(grad, fd, rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose(grad, 16 * np.array([1.0, -2.0, 0.5]), rtol=1e-6)


def test_mvn_log_prob_gradient_wrt_mean(grad_backend):
    xp = grad_backend.xp
    x = np.array([[0.0, 0.0, 0.0], [2.0, -1.5, 1.0]], dtype=np.float32)
    cov = xp.asarray(COV.astype(np.float32))
    g = grad_backend.grad(lambda m: xp.sum(M.multivariate_normal(m, cov).log_prob(
        xp.asarray(x))))(xp.asarray(MEAN.astype(np.float32)))
    expected = np.linalg.solve(COV, (x - MEAN).sum(0))
    assert_close(g, expected, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------
# mixtures

GAUSS_PARAMS = [(-2.0, 1.0), (1.5, 0.5), (4.0, 2.0)]
GAUSS_LOG_WEIGHTS = np.array([0.0, 1.0, 0.4])  # unnormalised on purpose


def _gauss_mixture():
    return mixture([C.gaussian(m, s) for m, s in GAUSS_PARAMS], GAUSS_LOG_WEIGHTS)


def _gauss_mixture_logpdf(x):
    log_w = GAUSS_LOG_WEIGHTS - sps.logsumexp(GAUSS_LOG_WEIGHTS)
    parts = [lw + st.norm(m, s).logpdf(x) for lw, (m, s) in zip(log_w, GAUSS_PARAMS, strict=True)]
    return sps.logsumexp(np.stack(parts), axis=0)


def _gauss_mixture_cdf(x):
    w = sps.softmax(GAUSS_LOG_WEIGHTS)
    return sum(wk * st.norm(m, s).cdf(x) for wk, (m, s) in zip(w, GAUSS_PARAMS, strict=True))


GAUSS_POINTS = np.array([-40.0, -3.0, -2.0, 0.0, 1.5, 2.2, 6.0, 50.0])


def test_mixture_log_prob_float64(numpy64):
    assert_close(_gauss_mixture().log_prob(numpy64.asarray(GAUSS_POINTS)),
                 _gauss_mixture_logpdf(GAUSS_POINTS), rtol=1e-9, atol=1e-9)


def test_mixture_log_prob(backend):
    points = GAUSS_POINTS.astype(np.float32)
    assert_close(_gauss_mixture().log_prob(backend.asarray(points)),
                 _gauss_mixture_logpdf(points.astype(float)), rtol=1e-5, atol=1e-5)


def test_discrete_mixture_log_prob(backend):
    m = mixture([D.poisson(3.0), D.geometric(0.4)], np.log([0.3, 0.7]))
    k = np.array([0, 1, 4, 15, -1, 2.5])
    with np.errstate(divide="ignore"):
        expected = np.log(0.3 * st.poisson(3.0).pmf(k) + 0.7 * st.geom(0.4, loc=-1).pmf(k))
    actual = m.log_prob(backend.asarray(k.astype(np.float32)))
    assert_close(actual, expected, rtol=1e-5, atol=1e-6)  # -inf (not NaN) at -1 and 2.5


def test_mvn_mixture_log_prob_and_shapes(backend):
    log_w = np.log([0.25, 0.75])
    m = mixture([M.multivariate_normal(MEAN, COV), M.multivariate_normal(-MEAN, COV_B)], log_w)
    x = np.array([[0.0, 0.0, 0.0], [1.0, -1.0, 0.5], [-1.0, 1.0, -0.5]], dtype=np.float32)
    expected = sps.logsumexp(np.stack([
        log_w[0] + st.multivariate_normal(MEAN, COV).logpdf(x),
        log_w[1] + st.multivariate_normal(-MEAN, COV_B).logpdf(x)]), axis=0)
    assert_close(m.log_prob(backend.asarray(x)), expected, rtol=1e-5, atol=1e-5)
    assert m.event_shape == (3,)
    assert tuple(m.sample_n(backend.key(0), 7).shape) == (7, 3)
    batched = mixture([C.gaussian(0.0, 1.0), C.gaussian(np.zeros(4), 2.0)], np.zeros((4, 2)))
    assert batched.batch_shape == (4,)
    assert tuple(batched.sample_n(backend.key(0), 5).shape) == (5, 4)


@pytest.mark.slow
def test_mixture_sampling_ks(backend):
    n = 100_000
    x = to_numpy(_gauss_mixture().sample_n(backend.key(SEED), n))
    assert x.shape == (n,)
    p = st.kstest(x, _gauss_mixture_cdf).pvalue
    assert p >= 1e-3, f"KS p = {p:.2e}"


@pytest.mark.slow
def test_discrete_mixture_sampling_moments(backend):
    n = 100_000
    m = mixture([D.poisson(3.0), D.geometric(0.4)], np.log([0.3, 0.7]))
    draws = m.sample_n(backend.key(SEED), n)
    assert backend.to_numpy(draws).dtype == np.int32
    x = to_numpy(draws)
    means = np.array([3.0, 0.6 / 0.4])
    second = np.array([3.0 + 9.0, 0.6 / 0.16 + (0.6 / 0.4) ** 2])
    w = np.array([0.3, 0.7])
    mean = w @ means
    var = w @ second - mean ** 2
    _within(x.mean(), mean, np.sqrt(var / n), "mixture mean")
    _within(x.var(), var, ((x - x.mean()) ** 2).std() / np.sqrt(n), "mixture variance")


# ---------------------------------------------------------------------------
# invalid parameters

@pytest.mark.parametrize("make, dist, param", [
    (lambda: M.multivariate_normal([0.0, 0.0], [[1.0, 2.0], [2.0, 1.0]]), "multivariate_normal",
     "cov"),
    (lambda: M.multivariate_normal([0.0, 0.0], [[1.0, 0.5], [0.0, 1.0]]), "multivariate_normal",
     "cov"),
    (lambda: M.multivariate_normal([0.0, 0.0, 0.0], np.eye(2)), "multivariate_normal", "cov"),
    (lambda: M.multivariate_normal([0.0, 0.0], [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
     "multivariate_normal", "cov"),
    (lambda: M.multivariate_normal(0.0, np.eye(1)), "multivariate_normal", "mean"),
    (lambda: M.multivariate_normal(np.zeros((2, 3)), np.stack([np.eye(3)] * 3)),
     "multivariate_normal", "mean"),
    (lambda: M.dirichlet([1.0, 0.0]), "dirichlet", "alpha"),
    (lambda: M.dirichlet(2.0), "dirichlet", "alpha"),
    (lambda: M.wishart(1.5, np.eye(3)), "wishart", "df"),
    (lambda: M.wishart(5.0, np.diag([1.0, -1.0])), "wishart", "scale"),
    (lambda: M.inv_wishart(0.5, np.eye(2)), "inv_wishart", "df"),
    (lambda: M.inv_wishart(5.0, [[1.0, 2.0], [2.0, 1.0]]), "inv_wishart", "scale"),
    (lambda: mixture([], [0.0]), "mixture", "components"),
    (lambda: mixture([C.gaussian(0.0, 1.0), M.dirichlet([1.0, 1.0])], [0.0, 0.0]), "mixture",
     "components"),
    (lambda: mixture([C.gaussian(0.0, 1.0), C.gaussian(1.0, 1.0)], [0.0, 0.0, 0.0]), "mixture",
     "log_weights"),
    (lambda: mixture([C.gaussian(0.0, 1.0)], [float("nan")]), "mixture", "log_weights"),
])
def test_invalid_parameters_raise(backend, make, dist, param):
    with pytest.raises(ParameterError, match=rf"{dist}.*'{param}'"):
        make()
