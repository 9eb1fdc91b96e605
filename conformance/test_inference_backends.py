"""Inference on every backend: IS log marginal likelihood on a conjugate model, one MH
chain, Gibbs/enumeration on a finite model, and key reproducibility.

Tolerances: multiples of the Monte Carlo SE of each run (ESS-based), as in tests/.
"""

import math

import numpy as np
from scipy import stats

import genmlx as gm
from genmlx import choicemap, dist, gen, select, trace
from genmlx.inference import diagnostics, mcmc
from genmlx.inference.exact import enumerate_posterior
from genmlx.inference.importance import importance_sampling
from genmlx.testing import assert_close, to_numpy

YS = [0.8, 1.3, 0.4]
OBS = choicemap({("y", i): y for i, y in enumerate(YS)})


@gen
def normal_normal():
    mu = trace("mu", dist.gaussian(0.0, 1.0))
    for i in range(len(YS)):
        trace(("y", i), dist.gaussian(mu, 0.5))


def exact_log_marginal():
    n = len(YS)
    return stats.multivariate_normal(np.zeros(n), 0.25 * np.eye(n) + np.ones((n, n))).logpdf(YS)


POST_MEAN, POST_SD = 10.0 / 13.0, math.sqrt(1.0 / 13.0)


def test_importance_log_marginal_likelihood(backend):
    result = importance_sampling(normal_normal, (), OBS, 150, key=gm.key(0))
    assert backend.is_array(result.log_weights) and backend.is_array(result.log_marginal_likelihood)
    ess = diagnostics.ess_importance(result.log_weights)  # ~ 45
    assert ess > 20
    # the log estimate's sd is about 1/sqrt(ESS)
    assert abs(float(to_numpy(result.log_marginal_likelihood)) - exact_log_marginal()) \
        < 4 / math.sqrt(ess)
    again = importance_sampling(normal_normal, (), OBS, 150, key=gm.key(0))
    assert np.array_equal(to_numpy(again.log_weights), to_numpy(result.log_weights))


def test_mh_chain(backend):
    traces = mcmc.mh(normal_normal, (), OBS, selection=select("mu"), samples=300, burn=30,
                     key=gm.key(1))
    draws = np.array([float(to_numpy(t["mu"])) for t in traces])
    assert backend.is_array(traces[0]["mu"])
    ess = diagnostics.ess(draws, method="mean")  # ~ 60
    assert ess > 25
    assert abs(draws.mean() - POST_MEAN) < 4 * POST_SD / math.sqrt(ess)
    again = mcmc.mh(normal_normal, (), OBS, selection=select("mu"), samples=300, burn=30,
                    key=gm.key(1))
    assert np.array_equal(draws, [float(to_numpy(t["mu"])) for t in again])


@gen
def coins():
    a = trace("a", dist.bernoulli(0.3))
    b = trace("b", dist.bernoulli(0.8 if a else 0.4))
    trace("c", dist.bernoulli(0.9 if a + b == 2 else 0.2))


def test_enumeration_and_gibbs_step(backend):
    result = enumerate_posterior(coins, (), choicemap(c=1), key=gm.key(0))
    joint = {(a, b): (0.3 if a else 0.7) * ((0.8 if a else 0.4) if b else (0.2 if a else 0.6))
             * (0.9 if a + b == 2 else 0.2) for a in (0, 1) for b in (0, 1)}
    evidence = sum(joint.values())
    assert_close(result.log_marginal_likelihood, math.log(evidence), rtol=1e-5)
    assert abs(result.marginal("a")[1] - (joint[1, 0] + joint[1, 1]) / evidence) < 1e-5
    tr, _ = coins.generate((), choicemap(c=1, a=1, b=1), key=gm.key(2))
    new, _ = mcmc.gibbs_step(tr, ["a", "b"], gm.key(3))
    assert backend.is_array(new["a"]) and new.choices.has_value("c")


def test_importance_result_unpacks_to_normalized_weights_and_draws(backend):
    from scipy import special

    traces, log_norm_w, log_ml = importance_sampling(normal_normal, (), OBS, 40, key=gm.key(3))
    assert backend.is_array(log_norm_w) and backend.is_array(log_ml) and len(traces) == 40
    raw = to_numpy(importance_sampling(normal_normal, (), OBS, 40,
                                       key=gm.key(3)).log_unnormalized_weights)
    assert abs(special.logsumexp(to_numpy(log_norm_w))) < 1e-5
    assert abs(float(to_numpy(log_ml)) - (special.logsumexp(raw) - math.log(40))) < 1e-5
    chain = mcmc.mh(normal_normal, (), OBS, samples=6, burn=1, key=gm.key(4))
    draws = gm.draws(chain, "mu")
    assert draws.shape == (1, 6) and draws.dtype == np.float32
    assert draws[0].tolist() == [float(to_numpy(t["mu"])) for t in chain]
