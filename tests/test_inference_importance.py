"""Importance sampling and resampling against conjugate posteriors and marginal likelihoods.

Tolerances come from Monte Carlo standard errors: a weighted mean's SE is about
posterior sd / sqrt(ESS) with ESS = (sum w)^2 / sum w^2 of the same run.
"""

import io
import math
import sys

import numpy as np
import pytest
from scipy import special, stats

import genmlx as gm
from genmlx import choicemap, dist, gen, trace
from genmlx.errors import AddressError
from genmlx.inference.importance import importance_resampling, importance_sampling
from genmlx.inference.diagnostics import ess_importance
from genmlx.testing import assert_close, to_numpy
from tests.models import XS, YS, line

# -- conjugate models ---------------------------------------------------------------------

NN_YS = [0.8, 1.3, 0.4]
NN_OBS = choicemap({("y", i): y for i, y in enumerate(NN_YS)})


@gen
def normal_normal():
    mu = trace("mu", dist.gaussian(0.0, 1.0))
    for i in range(len(NN_YS)):
        trace(("y", i), dist.gaussian(mu, 0.5))


def nn_posterior():
    precision = 1.0 + len(NN_YS) / 0.25
    return sum(NN_YS) / 0.25 / precision, math.sqrt(1.0 / precision)  # 0.769, 0.277


def nn_log_marginal():
    n = len(NN_YS)
    return stats.multivariate_normal(np.zeros(n), 0.25 * np.eye(n) + np.ones((n, n))).logpdf(NN_YS)


FLIPS = [1, 1, 0, 1, 1, 1, 0, 1, 0, 1]  # 7 of 10
FLIP_OBS = choicemap({("flip", i): v for i, v in enumerate(FLIPS)})


@gen
def beta_bernoulli():
    p = trace("p", dist.beta_dist(2.0, 2.0))
    for i in range(len(FLIPS)):
        trace(("flip", i), dist.bernoulli(p))


def line_posterior(prior_sd=2.0):
    x = np.stack([XS, np.ones(len(XS))], axis=1)
    cov = np.linalg.inv(x.T @ x + np.eye(2) / prior_sd ** 2)
    return cov @ x.T @ np.array(YS), cov


LINE_OBS = choicemap({("y", j): y for j, y in enumerate(YS)})


def weighted(result, address):
    w = to_numpy(result.normalized_weights())
    values = np.array([float(to_numpy(t[address])) for t in result.traces])
    return float(np.sum(w * values))


# -- tests ------------------------------------------------------------------------------

def test_prior_is_on_normal_normal_posterior_mean_and_marginal_likelihood():
    result = importance_sampling(normal_normal, (), NN_OBS, 600, key=gm.key(0))
    assert len(result.traces) == 600 and tuple(result.log_weights.shape) == (600,)
    mean, sd = nn_posterior()
    ess = ess_importance(result.log_weights)  # measured ~ 190
    assert ess > 60
    assert abs(weighted(result, "mu") - mean) < 4 * sd / math.sqrt(ess)
    # log of an average of weights: sd of the estimate ~ 1 / sqrt(ESS) ~ 0.07 at ESS 190
    assert abs(float(to_numpy(result.log_marginal_likelihood)) - nn_log_marginal()) < 0.3
    # the weights are the log likelihoods of the observations (Gen's generate weight)
    tr = result.traces[5]
    mu = float(to_numpy(tr["mu"]))
    assert_close(result.log_weights[5], sum(stats.norm(mu, 0.5).logpdf(NN_YS)), rtol=1e-5)


@pytest.mark.slow
def test_prior_is_on_linear_regression():
    result = importance_sampling(line, (XS,), LINE_OBS, 1000, key=gm.key(1))
    mean, cov = line_posterior()
    ess = ess_importance(result.log_weights)  # measured 30-80 (the prior is broad)
    assert ess > 15
    for i, address in enumerate(["slope", "intercept"]):
        assert abs(weighted(result, address) - mean[i]) < 4 * math.sqrt(cov[i, i] / ess)
    x = np.stack([XS, np.ones(len(XS))], axis=1)
    exact = stats.multivariate_normal(np.zeros(5), 4.0 * x @ x.T + np.eye(5)).logpdf(YS)
    assert abs(float(to_numpy(result.log_marginal_likelihood)) - exact) < 4 / math.sqrt(ess)


def test_prior_is_on_beta_bernoulli():
    result = importance_sampling(beta_bernoulli, (), FLIP_OBS, 250, key=gm.key(2))
    a, b = 2 + sum(FLIPS), 2 + len(FLIPS) - sum(FLIPS)  # Beta(9, 5)
    sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    ess = ess_importance(result.log_weights)  # measured ~ 80
    assert abs(weighted(result, "p") - a / (a + b)) < 4 * sd / math.sqrt(ess)
    exact = special.betaln(a, b) - special.betaln(2, 2)
    assert abs(float(to_numpy(result.log_marginal_likelihood)) - exact) < 4 / math.sqrt(ess)


@gen
def nn_proposal(center, scale):
    trace("mu", dist.gaussian(center, scale))


def test_custom_proposal_weight_is_model_weight_minus_proposal_score():
    result = importance_sampling(normal_normal, (), NN_OBS, 300, proposal=nn_proposal,
                                 proposal_args=(0.7, 0.4), key=gm.key(3))
    mu = float(to_numpy(result.traces[0]["mu"]))
    expected = stats.norm(0, 1).logpdf(mu) + sum(stats.norm(mu, 0.5).logpdf(NN_YS)) \
        - stats.norm(0.7, 0.4).logpdf(mu)
    assert_close(result.log_weights[0], expected, rtol=1e-5)
    # a proposal close to the posterior: nearly equal weights, a sharp estimate
    ess = ess_importance(result.log_weights)
    assert ess > 200
    mean, sd = nn_posterior()
    assert abs(weighted(result, "mu") - mean) < 4 * sd / math.sqrt(ess)
    assert abs(float(to_numpy(result.log_marginal_likelihood)) - nn_log_marginal()) < 0.05


@pytest.mark.slow
def test_marginal_likelihood_estimate_is_unbiased():
    z = math.exp(nn_log_marginal())
    keys = gm.split(gm.key(4), 150)
    estimates = np.array([
        math.exp(float(to_numpy(importance_sampling(
            normal_normal, (), NN_OBS, 8, key=keys[r]).log_marginal_likelihood)))
        for r in range(150)])
    se = estimates.std(ddof=1) / math.sqrt(len(estimates))  # ~ 0.045 z
    assert abs(estimates.mean() - z) < 4 * se, (estimates.mean(), z, se)
    # log Z-hat is biased low (Jensen), visibly so with 8 particles
    assert np.mean(np.log(estimates)) < math.log(z)


def test_reproducible_with_key_and_resampling():
    a = importance_sampling(normal_normal, (), NN_OBS, 20, key=gm.key(5))
    b = importance_sampling(normal_normal, (), NN_OBS, 20, key=gm.key(5))
    assert np.array_equal(to_numpy(a.log_weights), to_numpy(b.log_weights))
    r = importance_resampling(normal_normal, (), NN_OBS, 300, key=gm.key(6), num_samples=200)
    assert len(r.traces) == 200 and r.trace is r.traces[0]
    mean, sd = nn_posterior()
    draws = np.array([float(to_numpy(t["mu"])) for t in r.traces])
    # resampled draws: ESS of the particles (~100) bounds the precision: SE ~ 0.03
    assert abs(draws.mean() - mean) < 0.15
    again = importance_resampling(normal_normal, (), NN_OBS, 300, key=gm.key(6), num_samples=200)
    assert [t.choices == u.choices for t, u in zip(r.traces, again.traces)] == [True] * 200


def test_bad_input_is_named():
    with pytest.raises(AddressError, match="yy"):
        importance_sampling(normal_normal, (), choicemap(yy=1.0), 3)

    @gen
    def bad_proposal():
        trace(("y", 0), dist.gaussian(0.0, 1.0))

    with pytest.raises(AddressError, match="observed address"):
        importance_sampling(normal_normal, (), NN_OBS, 3, proposal=bad_proposal)
    with pytest.raises(ValueError, match="num_particles"):
        importance_sampling(normal_normal, (), NN_OBS, 0)

    @gen
    def impossible():
        trace("x", dist.uniform(0.0, 1.0))

    with pytest.raises(ValueError, match="weight zero"):
        importance_resampling(impossible, (), choicemap(x=2.0), 5)


def test_result_unpacks_as_gen_with_normalized_weights():
    """Gen's (traces, log normalised weights, log-ML estimate), so ported code cannot read
    the unnormalised weights by position; logsumexp(normalised) = 0, log-ML = logmeanexp."""
    result = importance_sampling(normal_normal, (), NN_OBS, 50, key=gm.key(7))
    traces, log_norm_w, log_ml = result
    assert traces is result.traces and len(traces) == 50 and len(result) == 3
    assert log_norm_w is result.log_normalized_weights is result[1]
    assert log_ml is result.log_ml_estimate is result.log_marginal_likelihood
    raw = to_numpy(result.log_unnormalized_weights)
    assert np.array_equal(raw, to_numpy(result.log_weights))
    # the raw weights vary (they are log likelihoods), so normalising changes them
    assert raw.std() > 0.1 and not np.allclose(to_numpy(log_norm_w), raw)
    assert abs(special.logsumexp(to_numpy(log_norm_w))) < 1e-5
    assert_close(log_ml, special.logsumexp(raw) - math.log(50), rtol=1e-6)
    assert_close(log_norm_w, raw - special.logsumexp(raw), atol=1e-5)
    assert_close(result.normalized_weights(), np.exp(raw - special.logsumexp(raw)), atol=1e-6)
    with pytest.raises(AttributeError, match="immutable"):
        result.traces = []


def test_weighted_draws_are_the_particles_values():
    result = importance_sampling(normal_normal, (), NN_OBS, 30, key=gm.key(8))
    values, log_w = result.weighted_draws("mu")
    assert values.shape == (30,) and log_w.shape == (30,)
    assert values.tolist() == [float(to_numpy(t["mu"])) for t in result.traces]
    assert np.array_equal(log_w, np.asarray(gm.get_backend().to_numpy(
        result.log_normalized_weights)))
    assert np.array_equal(result.draws(("y", 1)), np.full(30, NN_YS[1], dtype=np.float32))
    resampled = importance_resampling(normal_normal, (), NN_OBS, 30, key=gm.key(9),
                                      num_samples=7)
    assert resampled.draws("mu").shape == (7,)
    assert resampled.log_ml_estimate is resampled.log_marginal_likelihood


def test_progress_bar_only_when_asked_or_on_a_terminal(capsys, monkeypatch):
    importance_sampling(normal_normal, (), NN_OBS, 6, key=gm.key(0))
    assert capsys.readouterr().err == ""  # stderr is not a terminal under pytest
    importance_sampling(normal_normal, (), NN_OBS, 6, key=gm.key(0), progress=True)
    assert "6/6" in capsys.readouterr().err

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    importance_sampling(normal_normal, (), NN_OBS, 6, key=gm.key(0))
    assert "importance" in sys.stderr.getvalue() and "6/6" in sys.stderr.getvalue()
    monkeypatch.setattr(sys, "stderr", Terminal())
    importance_sampling(normal_normal, (), NN_OBS, 6, key=gm.key(0), progress=False)
    assert sys.stderr.getvalue() == ""
