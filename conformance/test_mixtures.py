"""homogeneous_mixture and product_distribution (Gen.jl's HomogeneousMixture and
ProductDistribution) against scipy, on every backend.

Gen.jl's rules:
- HomogeneousMixture(family, dims)(weights, params...): K components of one family;
  every parameter carries a trailing component axis (its k-th slice is component
  k's parameter, which has dims[i] axes of its own); the density is
  sum_k weights[k] p_family(x; params_k).
- ProductDistribution(d_1, ..., d_M): independent components; a value is the
  collection (x_1, ..., x_M) and the log density is sum_i log p_i(x_i).

Tolerances: float64 NumPy vs scipy rtol 1e-9 (both float64); float32 backends vs
the float64 result rtol 2e-5, atol 2e-5 (a logsumexp of a few float32 terms of
size <= 50). Sampling: fixed keys, so each statistical check is decided once; a
Kolmogorov-Smirnov test on 20000 draws fails at p < 1e-3 (false-failure rate
1e-3 for a correct sampler), means and frequencies within 5 Monte Carlo standard
errors (false-failure rate ~6e-7 each).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sc
import scipy.stats as st

import genmlx as gm
from genmlx import dist
from genmlx.errors import ParameterError, ShapeError
from genmlx.testing import to_numpy

W = np.array([0.2, 0.5, 0.3])
MUS = np.array([-2.0, 0.5, 3.0])
SIGMAS = np.array([0.5, 1.0, 2.0])
MEANS_DK = np.array([[0.0, 3.0], [1.0, -2.0]])  # [D=2, K=2]
COVS_DDK = np.stack([np.array([[1.0, 0.3], [0.3, 2.0]]), np.array([[0.5, 0.0], [0.0, 0.25]])],
                    axis=-1)  # [2, 2, K=2]


def _normal_mixture_ref(x):
    return sc.logsumexp(np.log(W) + st.norm.logpdf(np.asarray(x)[..., None], MUS, SIGMAS), axis=-1)


def _mvn_mixture_ref(x):
    parts = [np.log(0.4) + st.multivariate_normal(MEANS_DK[:, 0], COVS_DDK[..., 0]).logpdf(x),
             np.log(0.6) + st.multivariate_normal(MEANS_DK[:, 1], COVS_DDK[..., 1]).logpdf(x)]
    return np.logaddexp(*parts)


def _gamma_mixture_ref(x):
    return np.logaddexp(np.log(0.5) + st.gamma(2.0, scale=1 / 3.0).logpdf(x),
                        np.log(0.5) + st.gamma(0.5, scale=1 / 1.0).logpdf(x))


CASES = {
    "normal": (lambda: dist.homogeneous_mixture(dist.gaussian, W, MUS, SIGMAS),
               np.array([-2.0, 0.0, 0.7, 3.0, 9.0, -7.5]), _normal_mixture_ref),
    "mvn": (lambda: dist.homogeneous_mixture(dist.multivariate_normal, [0.4, 0.6], MEANS_DK,
                                             COVS_DDK, dims=(1, 2)),
            np.array([[0.0, 1.0], [3.0, -2.0], [1.5, 0.0], [-3.0, 4.0]]), _mvn_mixture_ref),
    "gamma": (lambda: dist.homogeneous_mixture(dist.gamma_dist, [0.5, 0.5], [2.0, 0.5],
                                               [3.0, 1.0]),
              np.array([0.01, 0.3, 1.0, 4.0, 12.0]), _gamma_mixture_ref),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_homogeneous_mixture_log_prob_matches_scipy_in_float64(case, numpy64):
    make, points, ref = CASES[case]
    np.testing.assert_allclose(to_numpy(make().log_prob(points)), ref(points), rtol=1e-9,
                               atol=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_homogeneous_mixture_log_prob_on_every_backend(case, backend):
    make, points, ref = CASES[case]
    pts32 = points.astype(np.float32).astype(np.float64)
    got = to_numpy(make().log_prob(backend.asarray(points.astype(np.float32))))
    np.testing.assert_allclose(got, ref(pts32), rtol=2e-5, atol=2e-5)


def test_homogeneous_mixture_equals_the_general_mixture(backend):
    """The same mixture written component by component (dist.mixture) has the same density."""
    hm = dist.homogeneous_mixture(dist.gaussian, W, MUS, SIGMAS)
    general = dist.mixture([dist.gaussian(m, s) for m, s in zip(MUS, SIGMAS)], np.log(W))
    x = backend.asarray([-3.0, 0.0, 1.0, 5.0])
    np.testing.assert_allclose(to_numpy(hm.log_prob(x)), to_numpy(general.log_prob(x)),
                               rtol=1e-5, atol=1e-5)


def test_homogeneous_mixture_sampling_is_the_mixture(backend):
    d = dist.homogeneous_mixture(dist.gaussian, W, MUS, SIGMAS)
    x = to_numpy(d.sample_n(gm.key(0), 20000)).astype(np.float64)
    cdf = lambda t: np.sum(W * st.norm.cdf(np.asarray(t)[..., None], MUS, SIGMAS), axis=-1)
    assert st.kstest(x, cdf).pvalue > 1e-3
    # the multivariate mixture: component frequencies through the first coordinate's mean
    mv = dist.homogeneous_mixture(dist.multivariate_normal, [0.4, 0.6], MEANS_DK, COVS_DDK,
                                  dims=(1, 2))
    v = to_numpy(mv.sample_n(gm.key(1), 20000)).astype(np.float64)
    assert v.shape == (20000, 2)
    mean = 0.4 * MEANS_DK[:, 0] + 0.6 * MEANS_DK[:, 1]
    second = 0.4 * (COVS_DDK[..., 0].diagonal() + MEANS_DK[:, 0] ** 2) + \
        0.6 * (COVS_DDK[..., 1].diagonal() + MEANS_DK[:, 1] ** 2)
    se = np.sqrt((second - mean ** 2) / len(v))
    assert np.all(np.abs(v.mean(axis=0) - mean) < 5 * se)


def test_homogeneous_mixture_batch_axes_and_discrete_family(backend):
    """Axes before the component axis are batch axes; discrete families keep int values."""
    mus = np.array([[-5.0, 5.0], [100.0, 200.0]])  # batch 2, K = 2
    d = dist.homogeneous_mixture(dist.gaussian, [[1.0, 0.0], [0.0, 1.0]], mus, [1.0, 1.0])
    assert d.batch_shape == (2,)
    x = to_numpy(d.sample_n(gm.key(2), 2000))
    assert x.shape == (2000, 2)
    assert abs(x[:, 0].mean() + 5.0) < 0.2 and abs(x[:, 1].mean() - 200.0) < 0.2
    logits = np.log(np.array([[0.9, 0.1], [0.1, 0.9]])).T  # [C=2, K=2]
    cat = dist.homogeneous_mixture(dist.categorical, [0.25, 0.75], logits, dims=(1,))
    raw = cat.sample_n(gm.key(3), 20000)
    assert backend.xp.isdtype(raw.dtype, "integral")
    k = to_numpy(raw)
    p1 = 0.25 * 0.1 + 0.75 * 0.9
    assert abs(k.mean() - p1) < 5 * np.sqrt(p1 * (1 - p1) / len(k))
    np.testing.assert_allclose(to_numpy(cat.log_prob(1)), np.log(p1), rtol=1e-5)


def test_homogeneous_mixture_rejects_bad_shapes_and_weights():
    with pytest.raises(ParameterError, match="last of length K = 3"):
        dist.homogeneous_mixture(dist.gaussian, W, MUS[:2], SIGMAS)
    with pytest.raises(ParameterError, match="summing to 1"):
        dist.homogeneous_mixture(dist.gaussian, [0.5, 0.6, 0.2], MUS, SIGMAS)
    with pytest.raises(ParameterError, match="needs at least 2 axes"):
        dist.homogeneous_mixture(dist.multivariate_normal, [0.5, 0.5], [0.0, 1.0], COVS_DDK,
                                 dims=(1, 2))
    with pytest.raises(ParameterError, match="sigma"):  # the family's own checks still run
        dist.homogeneous_mixture(dist.gaussian, [0.5, 0.5], [0.0, 1.0], [1.0, -1.0])


# ---------------------------------------------------------------------------------------
# ProductDistribution

def _product():
    return dist.product_distribution([dist.gaussian(1.0, 2.0), dist.poisson(3.0),
                                      dist.dirichlet([1.0, 2.0, 3.0])])


def _product_ref(x, k, p):
    return (st.norm(1.0, 2.0).logpdf(x) + st.poisson(3.0).logpmf(k)
            + st.dirichlet([1.0, 2.0, 3.0]).logpdf(p))


VALUES = [(0.5, 2, [0.2, 0.3, 0.5]), (-4.0, 0, [0.6, 0.3, 0.1]), (8.0, 11, [0.05, 0.05, 0.9])]


def test_product_log_prob_is_the_sum_in_float64(numpy64):
    d = _product()
    for x, k, p in VALUES:
        np.testing.assert_allclose(to_numpy(d.log_prob((x, k, p))), _product_ref(x, k, p),
                                   rtol=1e-9)
    assert to_numpy(d.log_prob((0.0, -1, [0.2, 0.3, 0.5]))) == -np.inf


def test_product_log_prob_and_gfi_on_every_backend(backend):
    d = _product()
    for x, k, p in VALUES:
        got = to_numpy(d.log_prob((x, k, backend.asarray(p))))
        want = _product_ref(np.float32(x), k, p)
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)
    tr = d.simulate((), key=gm.key(0))
    x, k, p = tr.retval
    assert backend.xp.isdtype(k.dtype, "integral") and tuple(p.shape) == (3,)
    np.testing.assert_allclose(to_numpy(tr.score), to_numpy(
        dist.gaussian(1.0, 2.0).log_prob(x) + dist.poisson(3.0).log_prob(k)
        + dist.dirichlet([1.0, 2.0, 3.0]).log_prob(p)), rtol=1e-6)
    assert tr.choices == gm.ChoiceMap.leaf(tr.retval)
    w = d.assess((), gm.ChoiceMap.leaf((0.5, 2, [0.2, 0.3, 0.5]))).weight
    np.testing.assert_allclose(to_numpy(w), _product_ref(0.5, 2, [0.2, 0.3, 0.5]), rtol=2e-5)

    @gm.gen
    def model():
        x, k, _ = gm.trace("xkp", d)
        gm.trace("y", dist.gaussian(x + k, 1.0))

    obs = gm.choicemap({"xkp": (0.5, 2, backend.asarray([0.2, 0.3, 0.5])), "y": 3.0})
    _, weight = model.generate((), obs, key=gm.key(1))
    np.testing.assert_allclose(to_numpy(weight), _product_ref(0.5, 2, [0.2, 0.3, 0.5])
                               + st.norm(2.5, 1.0).logpdf(3.0), rtol=2e-5)


def test_product_sampling_is_independent_with_the_right_marginals(backend):
    d = dist.product_distribution([dist.gaussian(1.0, 2.0), dist.exponential(0.5)])
    x, e = d._draw(gm.key(4), (20000,))
    x, e = to_numpy(x).astype(float), to_numpy(e).astype(float)
    assert st.kstest(x, st.norm(1.0, 2.0).cdf).pvalue > 1e-3
    assert st.kstest(e, st.expon(scale=2.0).cdf).pvalue > 1e-3
    # independence: the sample correlation of independent draws has sd 1/sqrt(n)
    assert abs(np.corrcoef(x, e)[0, 1]) < 5 / np.sqrt(len(x))


def test_product_value_errors_and_batch_shapes():
    d = _product()
    with pytest.raises(ShapeError, match="tuple of 3 component values"):
        d.log_prob((0.5, 2))
    with pytest.raises(ShapeError, match="tuple of 3"):
        d.log_prob(0.5)
    b = dist.product_distribution([dist.gaussian([0.0, 1.0], 1.0), dist.exponential(1.0)])
    assert b.batch_shape == (2,)
    x, e = b.sample(gm.key(0))
    assert tuple(x.shape) == (2,) and tuple(e.shape) == (2,)
    assert tuple(b.log_prob((x, e)).shape) == (2,)
    with pytest.raises(ParameterError, match="broadcast"):
        dist.product_distribution([dist.gaussian([0.0, 1.0], 1.0), dist.exponential([1.0] * 3)])
    with pytest.raises(ParameterError, match="non-empty list"):
        dist.product_distribution([])
