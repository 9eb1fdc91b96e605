"""Exact enumeration: posteriors and marginal likelihoods by hand, control flow, bad input."""

import math

import numpy as np
import pytest

import genmlx as gm
from genmlx import EMPTY, choicemap, dist, gen, trace
from genmlx.errors import AddressError
from genmlx.inference import mcmc
from genmlx.inference.exact import enumerate_posterior
from genmlx.testing import assert_close, to_numpy
from tests.models import switchy
from tests.test_inference_kernels import sprinkler_net, sprinkler_posterior


def test_bayes_net_posterior_and_marginal_likelihood_match_hand_computation():
    post, evidence = sprinkler_posterior()
    result = enumerate_posterior(sprinkler_net, (), choicemap(wet=1), key=gm.key(0))
    assert len(result.assignments) == 8
    for assignment, p in zip(result.assignments, result.probabilities()):
        k = tuple(int(to_numpy(assignment[a])) for a in ("cloudy", "sprinkler", "rain"))
        assert abs(p - post[k]) < 1e-5, (k, p, post[k])
    assert_close(result.log_marginal_likelihood, math.log(evidence), rtol=1e-5)
    rain = result.marginal("rain")
    assert abs(rain[1] - 0.4171 / 0.6061) < 1e-5 and abs(rain[0] + rain[1] - 1.0) < 1e-6
    assert abs(result.expectation(lambda a: a["sprinkler"]) - 0.2781 / 0.6061) < 1e-5
    # the traces carry the observation, and their scores are log p(latents, wet=1)
    assert all(int(to_numpy(t["wet"])) == 1 for t in result.traces)


def test_enumeration_follows_control_flow_that_changes_addresses():
    # switchy: k ~ B(.4); x ~ B(.7) if k else z ~ B(.2); obs ~ B(.9 if x-or-z else .1)
    result = enumerate_posterior(switchy, (), choicemap(obs=1), key=gm.key(1))
    addresses = sorted(tuple(sorted(map(str, a.addresses()))) for a in result.assignments)
    assert addresses == [("('k',)", "('x',)")] * 2 + [("('k',)", "('z',)")] * 2
    evidence = 0.4 * (0.7 * 0.9 + 0.3 * 0.1) + 0.6 * (0.2 * 0.9 + 0.8 * 0.1)  # = 0.42
    assert_close(result.log_marginal_likelihood, math.log(evidence), rtol=1e-5)
    assert abs(result.marginal("k")[1] - 0.4 * 0.66 / 0.42) < 1e-5
    assert abs(result.marginal("x").get(None, 0.0) - result.marginal("k")[0]) < 1e-6


def test_no_observations_gives_the_prior_and_marginal_likelihood_one():
    @gen
    def dice():
        a = trace("a", dist.categorical(np.log([0.2, 0.3, 0.5])))
        trace("b", dist.bernoulli(0.25 if a == 2 else 0.5))

    result = enumerate_posterior(dice, (), EMPTY, key=gm.key(0))
    assert len(result.assignments) == 6
    assert abs(float(to_numpy(result.log_marginal_likelihood))) < 1e-6
    assert abs(result.marginal("a")[2] - 0.5) < 1e-6
    assert abs(result.marginal("b")[1] - (0.5 * 0.5 + 0.5 * 0.25)) < 1e-6


def test_observation_only_some_branches_visit_rules_out_the_others():
    @gen
    def gate():
        if trace("open", dist.bernoulli(0.3)):
            trace("signal", dist.bernoulli(0.9))

    result = enumerate_posterior(gate, (), choicemap(signal=1), key=gm.key(0))
    assert result.marginal("open") == {1: pytest.approx(1.0)}
    assert_close(result.log_marginal_likelihood, math.log(0.3 * 0.9), rtol=1e-5)


def test_bad_input_is_named():
    @gen
    def continuous():
        z = trace("z", dist.bernoulli(0.5))
        trace("x", dist.gaussian(float(z), 1.0))

    with pytest.raises(ValueError, match="address x .*gaussian"):
        enumerate_posterior(continuous, (), EMPTY)
    with pytest.raises(AddressError, match="wett"):
        enumerate_posterior(sprinkler_net, (), choicemap(wett=1))
    with pytest.raises(ValueError, match="max_assignments"):
        enumerate_posterior(sprinkler_net, (), choicemap(wet=1), max_assignments=5)

    @gen
    def unbounded():
        trace("n", dist.poisson(3.0))

    with pytest.raises(ValueError, match="address n .*poisson"):
        enumerate_posterior(unbounded, (), EMPTY)
    with pytest.raises(ValueError, match="probability zero"):
        enumerate_posterior(sprinkler_net, (), choicemap(wet=1, sprinkler=0, rain=0))


# -- kernels over combinator models --------------------------------------------------

from genmlx.combinators import Map  # noqa: E402


@gen
def _coin(p):
    c = trace("c", dist.bernoulli(p))
    trace("obs", dist.bernoulli(0.9 if c else 0.2))


_COINS = Map(_coin)


@gen
def _coins_model():
    return trace("coins", _COINS, [0.3, 0.6])


def test_gibbs_over_a_map_model_matches_exact_conditionals():
    obs = choicemap({("coins", 0, "obs"): 1, ("coins", 1, "obs"): 0})
    traces = mcmc.gibbs(_coins_model, (), obs, samples=600, burn=20, key=gm.key(3))
    c0 = np.mean([int(to_numpy(tr["coins", 0, "c"])) for tr in traces])
    c1 = np.mean([int(to_numpy(tr["coins", 1, "c"])) for tr in traces])
    # the coins are independent given obs, so each Gibbs sweep draws them exactly:
    # P(c0=1) = .3*.9/(.3*.9+.7*.2), P(c1=1) = .6*.1/(.6*.1+.4*.8); iid SE <= 0.02 at 600
    assert abs(c0 - 0.27 / 0.41) < 0.08 and abs(c1 - 0.06 / 0.38) < 0.08, (c0, c1)


def test_exact_enumeration_over_a_map_model():
    obs = choicemap({("coins", 0, "obs"): 1, ("coins", 1, "obs"): 0})
    post = enumerate_posterior(_coins_model, (), obs)
    assert abs(post.marginal(("coins", 0, "c"))[1] - 0.27 / 0.41) < 1e-5
    assert abs(post.marginal(("coins", 1, "c"))[1] - 0.06 / 0.38) < 1e-5
    # p(obs) = (.3*.9 + .7*.2) * (.6*.1 + .4*.8)
    assert_close(post.log_marginal_likelihood, math.log(0.41 * 0.38), rtol=1e-5)
