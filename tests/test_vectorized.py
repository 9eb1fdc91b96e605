"""L0 vectorized execution: one body run serves N particles, consistent with the
handler path particle by particle."""

import numpy as np
import pytest
from scipy import stats

import genmlx as gm
from genmlx import choicemap, dist, gen, select, trace
from genmlx.errors import VectorizationError
from genmlx.inference.vectorized import (
    smc_init, vectorized_importance_resampling, vectorized_importance_sampling, vectorized_mh,
)
from genmlx.testing import assert_close, to_numpy
from tests.models import XS, YS, branching, line

OBS = choicemap({("y", j): y for j, y in enumerate(YS)})
RTOL = 1e-5


@gen
def hierarchical(groups):
    mu = trace("mu", dist.gaussian(0.0, 3.0))
    tau = trace("tau", dist.gamma_dist(2.0, 2.0))
    for g, ys in enumerate(groups):
        theta = trace(("theta", g), dist.gaussian(mu, 1.0 / tau))
        for j in range(len(ys)):
            trace(("y", g, j), dist.gaussian(theta, 0.5))
    return mu


GROUPS = [[0.5, 1.0], [2.0, 2.5, 3.0]]
H_OBS = choicemap({("y", g, j): y for g, ys in enumerate(GROUPS) for j, y in enumerate(ys)})


@pytest.mark.parametrize("model,args", [(line, (XS,)), (hierarchical, (GROUPS,))])
def test_each_particle_is_a_consistent_ordinary_trace(model, args):
    vtr = gm.vsimulate(model, args, n=64, key=gm.key(0))
    assert vtr.score.shape == (64,)
    for i in (0, 17, 63):
        tr = vtr.particle(i)
        assert tr.score.shape == ()
        # the particle's score is the handler path's score of its choices
        assert_close(tr.score, model.assess(args, tr.choices).weight, rtol=RTOL, atol=1e-4)
        assert_close(tr.retval, vtr.retval[i], rtol=0)


def test_vgenerate_weights_equal_handler_generate_per_particle():
    vtr, log_w = gm.vgenerate(line, (XS,), OBS, n=32, key=gm.key(1))
    assert log_w.shape == (32,)
    for i in (0, 31):
        tr = vtr.particle(i)
        constrained = tr.choices.without("slope").without("intercept")
        latents = choicemap(slope=tr["slope"], intercept=tr["intercept"])
        _, w = line.generate((XS,), constrained.merge(latents))
        prior = line.project(tr, select("slope", "intercept"))
        assert_close(log_w[i], w - prior, rtol=RTOL, atol=1e-4)


def test_prior_moments_match_sequential_simulation():
    # Batched and sequential draws cannot share keys, so compare estimators:
    # slope ~ N(0, 2): the mean of 4000 batched draws has SE 2/sqrt(4000) = 0.032.
    vtr = gm.vsimulate(line, (XS,), n=4000, key=gm.key(2))
    slopes = to_numpy(vtr["slope"])
    assert abs(slopes.mean()) < 5 * 2 / np.sqrt(4000)
    assert abs(slopes.std() - 2.0) < 5 * 2 / np.sqrt(2 * 4000)
    seq = np.array([float(to_numpy(line.simulate((XS,), key=k)["slope"]))
                    for k in gm.split(gm.key(3), 300)])
    # two-sample KS at alpha = 1e-3
    assert stats.ks_2samp(slopes, seq).pvalue > 1e-3


def exact_line_log_ml():
    X = np.stack([np.array(XS), np.ones(5)], axis=1)
    cov = np.eye(5) + X @ (4.0 * np.eye(2)) @ X.T
    return stats.multivariate_normal(np.zeros(5), cov).logpdf(YS)


def test_vectorized_is_recovers_exact_log_marginal_likelihood():
    res = vectorized_importance_sampling(line, (XS,), OBS, 100_000, key=gm.key(4))
    w = to_numpy(res.log_weights)
    # SE of the log of the mean of exp(w): sd(exp w) / (sqrt(N) mean(exp w))
    ew = np.exp(w - w.max())
    se = ew.std() / (np.sqrt(len(w)) * ew.mean())
    assert abs(float(to_numpy(res.log_marginal_likelihood)) - exact_line_log_ml()) < 5 * se + 1e-3


def test_resampling_and_smc_init():
    vtr = vectorized_importance_resampling(line, (XS,), OBS, 20_000, num_samples=500, key=gm.key(5))
    assert vtr.n == 500 and vtr["slope"].shape == (500,)
    # resampled slopes approximate the posterior: exact posterior mean by conjugacy
    X = np.stack([np.array(XS), np.ones(5)], axis=1)
    post_cov = np.linalg.inv(X.T @ X + np.eye(2) / 4.0)
    post_mean = post_cov @ X.T @ np.array(YS)
    sd = np.sqrt(post_cov[0, 0])
    assert abs(to_numpy(vtr["slope"]).mean() - post_mean[0]) < 5 * sd / np.sqrt(500) + 0.05
    state = smc_init(line, (XS,), OBS, 1000, key=gm.key(6))
    assert state.log_weights.shape == (1000,) and state.traces.n == 1000


def test_batched_update_matches_per_particle_update():
    vtr, _ = gm.vgenerate(line, (XS,), OBS, n=16, key=gm.key(7))
    new, w, _, discard = vtr.update(choicemap(slope=2.0))
    assert w.shape == (16,)
    for i in (0, 9):
        _, w_i, _, d_i = line.update(vtr.particle(i), choicemap(slope=2.0))
        assert_close(w[i], w_i, rtol=RTOL, atol=1e-4)
        assert_close(discard["slope"][i], d_i["slope"], rtol=0)


def test_batched_regenerate_weight_is_per_particle_mh_ratio():
    vtr, _ = gm.vgenerate(line, (XS,), OBS, n=16, key=gm.key(8))
    new, w, _ = vtr.regenerate(select("slope"), key=gm.key(9))
    assert w.shape == (16,)
    prior = stats.norm(0, 2)
    for i in (0, 5):
        old_i, new_i = vtr.particle(i), new.particle(i)
        s0, s1 = float(to_numpy(old_i["slope"])), float(to_numpy(new_i["slope"]))
        expected = float(to_numpy(new_i.score - old_i.score)) - (prior.logpdf(s1) - prior.logpdf(s0))
        assert_close(w[i], expected, rtol=1e-4, atol=1e-4)


def test_where_and_gather_pick_particles():
    a = gm.vsimulate(line, (XS,), n=4, key=gm.key(10))
    b = gm.vsimulate(line, (XS,), n=4, key=gm.key(11))
    mask = gm.get_backend().asarray([True, False, True, False])
    c = a.where(mask, b)
    for i, src in enumerate([a, b, a, b]):
        assert c.particle(i).choices == src.particle(i).choices
        assert_close(c.score[i], src.score[i], rtol=0)
    g = a.gather(gm.get_backend().asarray([3, 3, 0]))
    assert g.n == 3 and g.particle(1).choices == a.particle(3).choices


@gen
def normal_normal(n):
    mu = trace("mu", dist.gaussian(0.0, 1.0))
    for i in range(n):
        trace(("y", i), dist.gaussian(mu, 1.0))


@pytest.mark.slow
def test_vectorized_mh_chains_reach_exact_posterior():
    ys = [0.8, 1.4, 0.3]
    obs = choicemap({("y", i): y for i, y in enumerate(ys)})
    res = vectorized_mh(normal_normal, (3,), obs, select("mu"), num_chains=2000, num_samples=1,
                        burn=150, record=["mu"], key=gm.key(12))
    final = to_numpy(res.samples[("mu",)][-1])
    post_mean, post_sd = sum(ys) / 4.0, np.sqrt(1 / 4.0)
    # 2000 independent chains: SE of the mean 0.5/sqrt(2000) = 0.011; 5 SE plus a small
    # allowance for incomplete mixing after 150 prior-proposal steps (acceptance ~ 0.5).
    assert abs(final.mean() - post_mean) < 5 * post_sd / np.sqrt(2000) + 0.02
    assert abs(final.std() - post_sd) < 0.05
    assert res.acceptance_rate.shape == (2000,)


def test_python_control_flow_on_batched_value_names_address_and_fix():
    with pytest.raises(VectorizationError, match="coin.*Switch/Mask"):
        gm.vsimulate(branching, (), n=8)


@gen
def hmm_step(t, z):
    z = trace("z", dist.gaussian(0.9 * z, 0.5))
    trace("y", dist.gaussian(z, 1.0))
    return z


from genmlx.combinators import Unfold  # noqa: E402

HMM = Unfold(hmm_step)


@gen
def hmm_model(T):
    z0 = trace("z0", dist.gaussian(0.0, 1.0))
    return trace("steps", HMM, T, z0)


def test_hmm_via_unfold_particles_are_consistent_ordinary_traces():
    vtr = gm.vsimulate(hmm_model, (6,), n=32, key=gm.key(13))
    assert vtr["steps", 3, "z"].shape == (32,)
    for i in (0, 31):
        tr = vtr.particle(i)
        assert tr["steps", 3, "z"].shape == ()
        assert_close(tr.score, hmm_model.assess((6,), tr.choices).weight, rtol=RTOL, atol=1e-4)
    obs = choicemap({("steps", t, "y"): 0.3 * t for t in range(6)})
    vtr, log_w = gm.vgenerate(hmm_model, (6,), obs, n=32, key=gm.key(14))
    tr = vtr.particle(5)
    # the vgenerate weight of particle 5 is the log density of its (constrained) ys
    assert_close(log_w[5], hmm_model.project(tr, select(*[("steps", t, "y") for t in range(6)])),
                 rtol=RTOL, atol=1e-4)
