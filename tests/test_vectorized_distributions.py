"""Every distribution (but the tuple-valued product) runs batched: one body run, [N] draws per site
through `sample_n`, and each particle scores like the handler path."""

import pytest

import genmlx as gm
from genmlx import dist, gen, trace
from genmlx.testing import assert_close

EYE = [[1.0, 0.3], [0.3, 2.0]]


def make_sites():
    """(address, distribution) for all 27 constructors, with fixed parameters."""
    return [
        ("gaussian", dist.gaussian(0.0, 1.0)), ("uniform", dist.uniform(-1.0, 2.0)),
        ("bernoulli", dist.bernoulli(0.3)), ("beta_dist", dist.beta_dist(2.0, 3.0)),
        ("gamma_dist", dist.gamma_dist(2.0, 1.5)), ("exponential", dist.exponential(2.0)),
        ("categorical", dist.categorical([0.0, 1.0, -1.0])), ("poisson", dist.poisson(3.0)),
        ("laplace", dist.laplace(0.0, 1.0)), ("student_t", dist.student_t(4.0, 0.0, 1.0)),
        ("log_normal", dist.log_normal(0.0, 0.5)),
        ("multivariate_normal", dist.multivariate_normal([0.0, 1.0], EYE)),
        ("dirichlet", dist.dirichlet([1.0, 2.0, 3.0])), ("delta", dist.delta(1.5)),
        ("cauchy", dist.cauchy(0.0, 1.0)), ("inv_gamma", dist.inv_gamma(3.0, 2.0)),
        ("geometric", dist.geometric(0.4)), ("neg_binomial", dist.neg_binomial(3.0, 0.5)),
        ("binomial", dist.binomial(10, 0.3)), ("discrete_uniform", dist.discrete_uniform(1, 6)),
        ("truncated_normal", dist.truncated_normal(0.0, 1.0, -1.0, 2.0)),
        ("piecewise_uniform", dist.piecewise_uniform([0.0, 1.0, 3.0], [0.25, 0.75])),
        ("beta_uniform_mixture", dist.beta_uniform_mixture(0.5, 2.0, 2.0)),
        ("wishart", dist.wishart(4.0, EYE)), ("inv_wishart", dist.inv_wishart(5.0, EYE)),
        ("broadcasted_normal", dist.broadcasted_normal([0.0, 1.0, 2.0], 1.0)),
        ("mixture", dist.mixture([dist.gaussian(-2.0, 1.0), dist.gaussian(2.0, 0.5)], [0.0, 0.0])),
        ("homogeneous_mixture", dist.homogeneous_mixture(dist.gaussian, [0.3, 0.7], [-1.0, 2.0],
                                                         [0.5, 1.0])),
        ("product_distribution", dist.product_distribution([dist.gaussian(0.0, 1.0),
                                                            dist.poisson(2.0)])),
    ]


# Tuple-valued sites have no particle axis; batched runs refuse them (tested below).
NOT_BATCHED = {"product_distribution"}


def batched_sites():
    return [(a, d) for a, d in make_sites() if a not in NOT_BATCHED]


@gen
def every_distribution():
    for address, d in batched_sites():
        trace(address, d)


def test_every_constructor_is_covered():
    assert {a for a, _ in make_sites()} == set(dist.CONSTRUCTORS)


def test_every_distribution_samples_batched_and_particles_score_like_handlers():
    n = 40
    vtr = gm.vsimulate(every_distribution, (), n=n, key=gm.key(0))
    for address, d in batched_sites():
        value = vtr[address]
        assert value.shape == (n,) + tuple(d.event_shape if address != "broadcasted_normal"
                                           else (3,)), address
    for i in (0, n - 1):
        tr = vtr.particle(i)
        assert_close(tr.score, every_distribution.assess((), tr.choices).weight,
                     rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("address,d", batched_sites(), ids=[a for a, _ in batched_sites()])
def test_batched_distribution_gfi_matches_elementwise_log_prob(address, d):
    tr = d.vsimulate((), 16, key=gm.key(1))
    for i in (0, 15):
        assert_close(tr.score[i], d.assess((), gm.ChoiceMap.leaf(tr.retval[i])).weight,
                     rtol=1e-5, atol=1e-4)


def test_tuple_valued_product_refuses_batched_runs_clearly():
    from genmlx.errors import VectorizationError

    d = dict(make_sites())["product_distribution"]
    with pytest.raises(VectorizationError, match="tuple"):
        d.vsimulate((), 8, key=gm.key(0))

    @gen
    def uses_product():
        return trace("p", d)

    with pytest.raises(VectorizationError, match="tuple"):
        gm.vsimulate(uses_product, (), n=8, key=gm.key(0))
