"""Discrete distributions against scipy.stats, on every backend.

The oracle is a table (NumPyro's `test_distributions.py` style): each case
names a constructor, its parameters, a factory for the matching frozen
`scipy.stats` object and points that include boundaries and values outside
the support (negative, non-integer, above n or K).

Tolerances:
- float64 NumPy vs scipy: rtol 1e-9, atol 1e-12. Both evaluate Loader's
  saddle-point form for the binomial (scipy's binom uses it too); measured
  worst 1.3e-11 relative (n = 1e5 binomial), 3e-12 elsewhere.
- float32 backends vs scipy at the float32-rounded parameters (the values
  the backend holds): rtol 2e-6, atol 2e-6. Measured worst: 1.3e-6 relative
  (Poisson rate 1e4 at k = 9000, where the deviance term carries about
  eps |k - rate| absolute error), 1.7e-6 absolute for log masses near 0; the
  n = 1e5 binomial case states its own, looser bound.
- Sampling: chi-square goodness of fit with bins of expected count >= 5
  (tails pooled), rejecting at p < 1e-3, i.e. a false-failure rate of 1e-3
  per (case, backend); keys are fixed, so a passing run stays passing.
  Means and variances must lie within 5 Monte Carlo standard errors
  (false-failure rate 6e-7 per check).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np
import pytest
import scipy.special as sps
import scipy.stats as st

from genmlx.distributions import discrete as D
from genmlx.errors import ParameterError
from genmlx.testing import assert_close, to_numpy

SEED = 20261124
F32_RTOL = 2e-6
F32_ATOL = 2e-6


class T(NamedTuple):
    """One oracle case: constructor(*params) against scipy(*params) at `points`."""

    constructor: Callable
    params: tuple
    scipy: Callable[..., Any]
    points: list
    rtol32: float = F32_RTOL

    def id(self) -> str:
        shown = ",".join(_short(p) for p in self.params)
        return f"{self.constructor.__name__}({shown})"


def _short(p: Any) -> str:
    return f"[{len(p)}]" if np.ndim(p) else f"{p:g}"


def _categorical_scipy(logits):
    probs = sps.softmax(np.asarray(logits, dtype=float))
    return st.rv_discrete(values=(np.arange(probs.size), probs))


CASES = [
    T(D.bernoulli, (0.3,), st.bernoulli, [0, 1, 2, -1, 0.5]),
    T(D.bernoulli, (0.0,), st.bernoulli, [0, 1, 2]),
    T(D.bernoulli, (1.0,), st.bernoulli, [0, 1]),
    T(D.bernoulli, (np.array([0.1, 0.5, 0.99]),), st.bernoulli, [0, 1, 3]),
    T(D.categorical, (np.log([0.2, 0.3, 0.5]),), _categorical_scipy, [0, 1, 2, 3, -1, 1.5]),
    T(D.categorical, (np.array([-50.0, 0.0, 3.0, 7.5]),), _categorical_scipy, [0, 1, 2, 3, 4]),
    T(D.poisson, (3.5,), st.poisson, [0, 1, 3, 12, 40, -1, 2.5]),
    T(D.poisson, (0.1,), st.poisson, [0, 1, 2, 10, -3]),
    T(D.poisson, (1e4,), st.poisson, [0, 9000, 9999, 10000, 10350, 20000, -1, 10000.5]),
    T(D.poisson, (0.0,), st.poisson, [0, 1, -1]),
    T(D.poisson, (np.array([0.5, 10.0, 300.0]),), st.poisson, [0, 5, 300, -2]),
    T(D.geometric, (0.2,), lambda p: st.geom(p, loc=-1), [0, 1, 7, 60, -1, 1.5]),
    T(D.geometric, (1.0,), lambda p: st.geom(p, loc=-1), [0, 1, 2]),
    T(D.geometric, (np.array([1e-3, 0.5, 0.999]),), lambda p: st.geom(p, loc=-1), [0, 3, 2000]),
    T(D.neg_binomial, (2.5, 0.3), st.nbinom, [0, 1, 5, 30, 200, -1, 2.5]),
    T(D.neg_binomial, (0.05, 0.01), st.nbinom, [0, 1, 10, 1000]),
    T(D.neg_binomial, (500.0, 0.9), st.nbinom, [0, 40, 55, 200]),
    T(D.neg_binomial, (3.0, 1.0), st.nbinom, [0, 1]),
    T(D.binomial, (20, 0.01), st.binom, [0, 1, 3, 20, 21, -1, 0.5]),
    # At k = 29000 the mass is ill-conditioned in p (|p dlogP/dp / logP| ~ 50): float32's
    # rounding of n p alone moves logP by 3e-6 relative, so this case allows 1e-5.
    T(D.binomial, (100000, 0.3), st.binom, [0, 29000, 30000, 31000, 100000, 100001, 2.5],
      rtol32=1e-5),
    T(D.binomial, (10, 0.0), st.binom, [0, 1, 10]),
    T(D.binomial, (10, 1.0), st.binom, [0, 9, 10]),
    T(D.binomial, (0, 0.4), st.binom, [0, 1]),
    T(D.binomial, (np.array([5, 50, 500]), np.array([0.9, 0.5, 0.02])), st.binom,
      [0, 4, 5, 10, 25, 51]),
    T(D.discrete_uniform, (-2, 5), lambda lo, hi: st.randint(lo, hi + 1),
      [-3, -2, 0, 5, 6, 0.5]),
    T(D.discrete_uniform, (7, 7), lambda lo, hi: st.randint(lo, hi + 1), [6, 7, 8]),
]


def _log_mass(frozen, points: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(frozen.logpmf(points), dtype=float)


NUM_POINTS = 8


def _batch_points(case: T, dist) -> np.ndarray:
    """The case's points as a column that broadcasts against the batch shape.

    Padded (repeating the last point) to NUM_POINTS: one array shape for every
    case keeps JAX's per-shape cache of eager operations warm (a new shape
    costs each of the ~100 operations of a log mass a compilation).
    """
    points = list(case.points) + [case.points[-1]] * (NUM_POINTS - len(case.points))
    return np.asarray(points, dtype=float).reshape((-1,) + (1,) * len(dist.batch_shape))


def _float32_params(params: tuple) -> tuple:
    """Parameters as a float32 backend holds them (integers unchanged)."""
    out = []
    for p in params:
        a = np.asarray(p)
        out.append(a.astype(np.float32).astype(float) if a.dtype.kind == "f" else p)
    return tuple(out)


@pytest.mark.parametrize("case", CASES, ids=T.id)
def test_log_prob_float64_matches_scipy(numpy64, case):
    dist = case.constructor(*case.params)
    points = _batch_points(case, dist)
    actual = dist.log_prob(numpy64.asarray(points))
    expected = _log_mass(case.scipy(*case.params), points)
    assert_close(actual, np.broadcast_to(expected, actual.shape), rtol=1e-9, atol=1e-12,
                 msg=case.id())


def _as_float32(params: tuple) -> tuple:
    """Float arrays as float32 (the NumPy backend keeps a float64 array's dtype)."""
    return tuple(p.astype(np.float32) if np.ndim(p) and np.asarray(p).dtype.kind == "f" else p
                 for p in params)


@pytest.mark.parametrize("case", CASES, ids=T.id)
def test_log_prob_float32_matches_reference(backend, case):
    dist = case.constructor(*_as_float32(case.params))
    points = _batch_points(case, dist)
    actual = dist.log_prob(backend.asarray(points.astype(np.float32)))
    expected = _log_mass(case.scipy(*_float32_params(case.params)), points)
    assert_close(actual, np.broadcast_to(expected, actual.shape), rtol=case.rtol32,
                 atol=F32_ATOL, msg=case.id())


@pytest.mark.parametrize("case", CASES, ids=T.id)
def test_log_prob_of_int32_values(backend, case):
    """Integer values (what sampling returns) give the same masses as float ones."""
    dist = case.constructor(*case.params)
    points = _batch_points(case, dist)
    points = np.where(points == np.round(points), points, 0.0)
    from_int = dist.log_prob(backend.asarray(points.astype(np.int32)))
    from_float = dist.log_prob(backend.asarray(points.astype(np.float32)))
    assert_close(from_int, from_float, rtol=0, atol=0, msg=case.id())


@pytest.mark.parametrize("make, value", [
    (lambda: D.bernoulli(0.3), 2), (lambda: D.bernoulli(0.3), -1),
    (lambda: D.bernoulli(0.3), 0.5), (lambda: D.poisson(3.0), -1),
    (lambda: D.poisson(3.0), 2.5), (lambda: D.poisson(0.0), 1),
    (lambda: D.geometric(0.3), -1), (lambda: D.geometric(1.0), 1),
    (lambda: D.neg_binomial(2.0, 0.5), -2), (lambda: D.binomial(10, 0.3), 11),
    (lambda: D.binomial(10, 0.3), -1), (lambda: D.binomial(10, 1.0), 3),
    (lambda: D.categorical([0.0, 0.0]), 2), (lambda: D.categorical([0.0, -np.inf]), 1),
    (lambda: D.discrete_uniform(1, 6), 7), (lambda: D.discrete_uniform(1, 6), 3.5),
])
def test_outside_support_is_minus_infinity(backend, make, value):
    lp = to_numpy(make().log_prob(value))
    assert lp == -np.inf, f"expected -inf, got {lp}"


@pytest.mark.parametrize("make, expected", [
    (lambda: D.bernoulli(0.3), [0, 1]),
    (lambda: D.bernoulli([0.1, 0.5, 0.9]), [[0, 0, 0], [1, 1, 1]]),
    (lambda: D.categorical([0.0, 1.0, 2.0]), [0, 1, 2]),
    (lambda: D.categorical([[0.0, 1.0], [5.0, -np.inf]]), [[0, 0], [1, 1]]),
    # Supports of 8 values and batches of 3 reuse the shapes of the table above (JAX).
    (lambda: D.binomial(7, 0.3), list(range(8))),
    (lambda: D.binomial([7, 7, 7], [0.2, 0.7, 1.0]), [[k, k, k] for k in range(8)]),
    (lambda: D.discrete_uniform(-2, 3), list(range(-2, 4))),
])
def test_enumerate_support(backend, make, expected):
    dist = make()
    support = dist.enumerate_support()
    assert backend.to_numpy(support).dtype == np.int32
    np.testing.assert_array_equal(backend.to_numpy(support), np.asarray(expected))
    total = sps.logsumexp(to_numpy(dist.log_prob(support)), axis=0)
    assert_close(total, np.zeros(dist.batch_shape), atol=1e-6, msg=dist.name)


@pytest.mark.parametrize("make", [lambda: D.poisson(2.0), lambda: D.geometric(0.5),
                                  lambda: D.binomial([3, 4], 0.5)])
def test_enumerate_support_refuses(backend, make):
    with pytest.raises(ValueError, match="enumerat"):
        make().enumerate_support()


# ---------------------------------------------------------------------------
# sampling

class S(NamedTuple):
    """A sampling case: draws of constructor(*params) vs one frozen scipy per batch element."""

    constructor: Callable
    params: tuple
    references: list
    num_samples: int = 200_000  # one size for all: JAX compiles each new shape

    def id(self) -> str:
        return T(self.constructor, self.params, None, []).id()


SAMPLING = [
    S(D.bernoulli, (0.3,), [st.bernoulli(0.3)]),
    S(D.categorical, (np.log([0.1, 0.2, 0.3, 0.4]),),
      [_categorical_scipy(np.log([0.1, 0.2, 0.3, 0.4]))]),
    S(D.poisson, (0.1,), [st.poisson(0.1)]),
    S(D.poisson, (9.99,), [st.poisson(9.99)]),  # just below the inversion/rejection switch
    S(D.poisson, (10.0,), [st.poisson(10.0)]),  # just above it
    S(D.poisson, (1e4,), [st.poisson(1e4)]),
    S(D.poisson, (np.array([0.5, 50.0]),), [st.poisson(0.5), st.poisson(50.0)], 100_000),
    S(D.geometric, (0.2,), [st.geom(0.2, loc=-1)]),
    S(D.geometric, (0.9,), [st.geom(0.9, loc=-1)]),
    S(D.neg_binomial, (2.5, 0.3), [st.nbinom(2.5, 0.3)]),
    S(D.neg_binomial, (0.5, 0.02), [st.nbinom(0.5, 0.02)]),
    S(D.binomial, (20, 0.01), [st.binom(20, 0.01)]),
    S(D.binomial, (100000, 0.3), [st.binom(100000, 0.3)]),
    S(D.binomial, (30, 0.5), [st.binom(30, 0.5)]),
    S(D.binomial, (50, 0.9), [st.binom(50, 0.9)]),  # reflected: draws for 1 - p
    S(D.binomial, (np.array([10, 1000]), np.array([0.5, 0.2])),
      [st.binom(10, 0.5), st.binom(1000, 0.2)], 100_000),
    S(D.discrete_uniform, (-2, 5), [st.randint(-2, 6)]),
]


def chi_square_pvalue(samples: np.ndarray, ref) -> float:
    """Chi-square goodness-of-fit p-value; bins of expected count >= 5, tails pooled."""
    n = samples.size
    lo = int(min(samples.min(), ref.ppf(1e-12)))
    hi = int(max(samples.max(), ref.ppf(1.0 - 1e-12)))
    ks = np.arange(lo, hi + 1)
    expected = n * ref.pmf(ks)
    big = np.nonzero(expected >= 5)[0]
    first, last = ks[big[0]], ks[big[-1]]
    core = (ks >= first) & (ks <= last)
    observed = np.bincount((samples - lo).astype(np.int64), minlength=ks.size)
    obs, exp = list(observed[core]), list(expected[core])
    # Pool each tail; a tail with expected count < 5 joins its neighbouring bin.
    left = (observed[ks < first].sum(), n * ref.cdf(first - 1))
    right = (observed[ks > last].sum(), n * ref.sf(last))
    for (o, e), at in ((left, 0), (right, -1)):
        if e >= 5:
            obs.insert(len(obs) if at == -1 else 0, o)
            exp.insert(len(exp) if at == -1 else 0, e)
        else:
            obs[at] += o
            exp[at] += e
    obs, exp = np.asarray(obs, dtype=float), np.asarray(exp)
    if obs.size < 2:
        return 1.0
    stat = np.sum((obs - exp) ** 2 / exp)
    return float(st.chi2.sf(stat, obs.size - 1))


def assert_moments(samples: np.ndarray, ref, what: str) -> None:
    """Sample mean and variance within 5 Monte Carlo standard errors of the truth."""
    n = samples.size
    mean, var, _, kurt = (float(m) for m in ref.stats(moments="mvsk"))
    se_mean = np.sqrt(var / n)
    assert abs(samples.mean() - mean) <= 5 * se_mean, (what, samples.mean(), mean, se_mean)
    se_var = var * np.sqrt((kurt + 2.0) / n)  # Var(s^2) ~ (mu4 - sigma^4) / n
    assert abs(samples.var() - var) <= 5 * se_var + 1e-12, (what, samples.var(), var, se_var)


@pytest.mark.slow
@pytest.mark.parametrize("case", SAMPLING, ids=S.id)
def test_sampling_matches_scipy(backend, case):
    dist = case.constructor(*case.params)
    draws = dist.sample_n(backend.key(SEED), case.num_samples)
    raw = backend.to_numpy(draws)
    assert raw.dtype == np.int32
    assert raw.shape == (case.num_samples,) + dist.batch_shape
    columns = raw.reshape(case.num_samples, -1).astype(np.int64)
    for j, ref in enumerate(case.references):
        samples = columns[:, j]
        assert np.all(ref.pmf(samples) > 0), f"{case.id()}: draws outside the support"
        p = chi_square_pvalue(samples, ref)
        assert p >= 1e-3, f"{case.id()}[{j}] chi-square p = {p:.2e}"
        assert_moments(samples, ref, f"{case.id()}[{j}]")


@pytest.mark.slow
def test_same_key_same_draws(backend):
    # Sizes and parameters of sampling cases above, so JAX reuses their compilations.
    key = backend.key(3)
    for dist in (D.poisson(1e4), D.binomial(30, 0.5), D.neg_binomial(2.5, 0.3)):
        a, b = dist.sample_n(key, 200_000), dist.sample_n(key, 200_000)
        np.testing.assert_array_equal(backend.to_numpy(a), backend.to_numpy(b))


def test_sample_shapes(backend):
    key = backend.key(0)
    assert tuple(D.geometric([0.1, 0.2, 0.3]).sample(key).shape) == (3,)
    assert tuple(D.categorical(np.zeros((2, 5))).sample_n(key, 7).shape) == (7, 2)
    assert tuple(D.discrete_uniform(np.array([[0], [1]]), [3, 4, 5]).sample_n(key, 5).shape) \
        == (5, 2, 3)
    assert tuple(D.flip(0.5).sample(key).shape) == ()


# ---------------------------------------------------------------------------
# gradients

# Each gradient is taken at several p at once: a batch of p (shape [3]) against
# values on a leading axis, summed, has d/dp_j = the gradient at p_j alone.
PS = np.array([0.05, 0.3, 0.9], dtype=np.float32)


def test_grad_bernoulli_log_prob(grad_backend):
    xp = grad_backend.xp
    ks = np.array([0, 1, 1, 0, 1])
    values = xp.asarray(ks[:, None], dtype=xp.int32)
    grad = grad_backend.grad(lambda p: xp.sum(D.bernoulli(p).log_prob(values)))
    expected = [3 / p - 2 / (1 - p) for p in PS.astype(float)]
    assert_close(grad(xp.asarray(PS)), expected, rtol=1e-5)


@pytest.mark.parametrize("n, ks", [(20, [0, 3, 7, 20]), (100000, [29500, 30000, 30600])])
def test_grad_binomial_log_prob(grad_backend, n, ks):
    xp = grad_backend.xp
    values = xp.asarray(np.array(ks)[:, None], dtype=xp.int32)
    grad = grad_backend.grad(lambda p: xp.sum(D.binomial(n, p).log_prob(values)))
    ps = PS.astype(float)
    expected = np.array([sum(k / p - (n - k) / (1 - p) for k in ks) for p in ps])
    # float32 sums terms as large as this; the gradient is good to a few ulp of it
    scale = np.array([sum(k / p + (n - k) / (1 - p) for k in ks) for p in ps])
    actual = to_numpy(grad(xp.asarray(PS)))
    assert np.all(np.abs(actual - expected) <= 1e-5 * scale), (actual, expected)


def test_grad_poisson_and_categorical_log_prob(grad_backend):
    xp = grad_backend.xp
    values = xp.asarray([0, 2, 9], dtype=xp.int32)
    g = grad_backend.grad(lambda r: xp.sum(D.poisson(r).log_prob(values)))(xp.asarray(4.0))
    assert_close(g, 11 / 4 - 3, rtol=1e-5)
    logits = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    g = grad_backend.grad(lambda z: D.categorical(z).log_prob(2))(xp.asarray(logits))
    assert_close(g, np.eye(3)[2] - sps.softmax(logits.astype(float)), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# invalid parameters

@pytest.mark.parametrize("make, dist, param", [
    (lambda: D.bernoulli(1.5), "bernoulli", "p"),
    (lambda: D.bernoulli([0.2, -0.1]), "bernoulli", "p"),
    (lambda: D.flip(float("nan")), "bernoulli", "p"),
    (lambda: D.categorical(1.0), "categorical", "logits"),
    (lambda: D.categorical([0.0, float("nan")]), "categorical", "logits"),
    (lambda: D.categorical([0.0, float("inf")]), "categorical", "logits"),
    (lambda: D.poisson(-1.0), "poisson", "rate"),
    (lambda: D.poisson(float("inf")), "poisson", "rate"),
    (lambda: D.geometric(0.0), "geometric", "p"),
    (lambda: D.geometric(1.2), "geometric", "p"),
    (lambda: D.neg_binomial(0.0, 0.5), "neg_binomial", "r"),
    (lambda: D.neg_binomial(2.0, 0.0), "neg_binomial", "p"),
    (lambda: D.binomial(-1, 0.5), "binomial", "n"),
    (lambda: D.binomial(2.5, 0.5), "binomial", "n"),
    (lambda: D.binomial(10, 1.2), "binomial", "p"),
    (lambda: D.discrete_uniform(5, 2), "discrete_uniform", "hi"),
    (lambda: D.discrete_uniform(0.5, 3), "discrete_uniform", "lo"),
])
def test_invalid_parameters_raise(backend, make, dist, param):
    with pytest.raises(ParameterError, match=rf"{dist}.*'{param}'"):
        make()


@pytest.mark.slow
def test_compiled_draws_equal_eager(backend):
    """Under compile the samplers run a fixed number of steps; eager ones stop early.
    Both give the same draws for the same key (stopping early skips no-op steps).
    Rates 0.5 and 50 cover both loops (inversion and PTRS rejection); the size and
    rates of a sampling case above let JAX reuse its eager compilations."""
    def draw(key):
        return D.poisson(backend.asarray([0.5, 50.0])).sample_n(key, 100_000)

    key = backend.key(SEED)
    eager, compiled = draw(key), backend.compile(draw)(key)
    np.testing.assert_array_equal(backend.to_numpy(eager), backend.to_numpy(compiled))
