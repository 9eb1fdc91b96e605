"""Metropolis-Hastings (prior and custom proposals), the drivers, and memory discipline.

Statistical checks compare with conjugate posteriors; each tolerance is a
multiple of the Monte Carlo SE = posterior sd / sqrt(ESS), with the ESS of the
chain itself (diagnostics.ess, tested against an independent transcription).
"""

import io
import math
import sys

import numpy as np
import pytest

import genmlx as gm
from genmlx import choicemap, dist, gen, select, trace
from genmlx.errors import AddressError
from genmlx.inference import diagnostics, mcmc
from genmlx.testing import to_numpy
from tests.models import XS, YS as YS_LINE, line, switchy
from tests.test_inference_importance import (
    FLIP_OBS, FLIPS, LINE_OBS, NN_OBS, beta_bernoulli, line_posterior, nn_posterior,
    normal_normal,
)


def draws_of(traces, address):
    return np.array([float(to_numpy(t[address])) for t in traces])


def assert_mean_within(draws, exact_mean, exact_sd, num_se=4.0, min_ess=40):
    ess = diagnostics.ess(draws, method="mean")
    assert ess > min_ess, ess
    se = exact_sd / math.sqrt(ess)
    assert abs(draws.mean() - exact_mean) < num_se * se, (draws.mean(), exact_mean, se, ess)


@pytest.mark.slow
def test_prior_mh_on_normal_normal():
    traces = mcmc.mh(normal_normal, (), NN_OBS, selection=select("mu"), samples=1500, burn=100,
                     key=gm.key(0))
    assert len(traces) == 1500 and 0.1 < traces.acceptance_rate < 0.6
    mean, sd = nn_posterior()
    draws = draws_of(traces, "mu")  # ESS measured 250-400
    assert_mean_within(draws, mean, sd)
    assert abs(draws.std() / sd - 1.0) < 0.2  # SE of the sd ~ 1/sqrt(2 ESS) ~ 4%


@gen
def mu_walk(tr, step):
    trace("mu", dist.gaussian(tr["mu"], step))


@pytest.mark.slow
def test_custom_random_walk_mh_on_normal_normal():
    traces = mcmc.mh(normal_normal, (), NN_OBS, samples=1000, burn=100, key=gm.key(10),
                     proposal=mu_walk, proposal_args=(0.5,))
    assert 0.3 < traces.acceptance_rate < 0.8
    mean, sd = nn_posterior()
    assert_mean_within(draws_of(traces, "mu"), mean, sd)  # ESS measured 150-250 of 1000


@gen
def ridge_walk(tr, scale):
    """A Gaussian random walk that moves along the slope/intercept posterior ridge."""
    slope = trace("slope", dist.gaussian(tr["slope"], 0.28 * scale))
    trace("intercept", dist.gaussian(tr["intercept"] - 2.9 * (slope - tr["slope"]), 0.44 * scale))


@gen
def walk(tr, step):
    trace("slope", dist.gaussian(tr["slope"], step))
    trace("intercept", dist.gaussian(tr["intercept"], step))


@pytest.mark.slow
def test_custom_random_walk_mh_on_linear_regression():
    mean, cov = line_posterior()  # slope 1.95 (sd .28), intercept 0.15 (sd .92)
    traces = mcmc.mh(line, (XS,), LINE_OBS, samples=1200, burn=100, key=gm.key(1),
                     proposal=ridge_walk, proposal_args=(2.0,))
    assert 0.15 < traces.acceptance_rate < 0.6
    for i, address in enumerate(["slope", "intercept"]):  # ESS measured 150-230 of 1200
        assert_mean_within(draws_of(traces, address), mean[i], math.sqrt(cov[i, i]))


def test_custom_proposal_step_is_gen_mh_and_reproducible():
    tr, _ = line.generate((XS,), LINE_OBS, key=gm.key(2))
    a = mcmc.mh_custom_step(tr, walk, (0.3,), gm.key(3))
    b = mcmc.mh_custom_step(tr, walk, (0.3,), gm.key(3))
    assert a[0].choices == b[0].choices and a[1] == b[1]
    runs = [mcmc.mh_custom(line, (XS,), LINE_OBS, walk, (0.3,), samples=10, burn=5,
                           key=gm.key(4)) for _ in range(2)]
    assert [t.choices == u.choices for t, u in zip(*runs)] == [True] * 10
    # a rejected step returns the very trace it was given
    kernel = mcmc.mh_custom_kernel(walk, (50.0,))
    results = [kernel(tr, k) for k in gm.split(gm.key(5), 10)]
    assert any(new is tr and not acc for new, acc in results)


@pytest.mark.slow
def test_prior_mh_on_beta_bernoulli():
    traces = mcmc.mh(beta_bernoulli, (), FLIP_OBS, samples=500, burn=50, key=gm.key(6))
    a, b = 2 + sum(FLIPS), 2 + len(FLIPS) - sum(FLIPS)
    sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    assert_mean_within(draws_of(traces, "p"), a / (a + b), sd)  # ESS measured 90-160 of 500


def test_driver_counts_burn_thin_and_default_selection():
    traces = mcmc.mh(normal_normal, (), NN_OBS, samples=7, burn=3, thin=4, key=gm.key(7))
    assert len(traces) == 7 and traces.num_steps == 3 + 7 * 4
    assert all(float(to_numpy(t["y", 0])) == pytest.approx(0.8) for t in traces)  # observed
    tr, _ = normal_normal.generate((), NN_OBS, key=gm.key(8))
    kept = mcmc.collect_samples(mcmc.mh_kernel(select("mu")), tr, 3, burn=0, thin=1,
                                key=gm.key(9))
    assert len(kept) == 3
    assert mcmc.mh(line, (XS,), LINE_OBS, selection=select("slope", "intercept"), samples=500,
                   burn=100, key=gm.key(0), proposal=None, thin=1).__class__ is mcmc.Samples


def test_progress_bar_only_when_asked_or_on_a_terminal(capsys, monkeypatch):
    mcmc.mh(normal_normal, (), NN_OBS, samples=5, burn=0, key=gm.key(0))
    assert capsys.readouterr().err == ""  # stderr is not a terminal under pytest
    mcmc.mh(normal_normal, (), NN_OBS, samples=5, burn=0, key=gm.key(0), progress=True)
    err = capsys.readouterr().err
    assert "mcmc" in err and "5/5" in err and "acceptance=" in err  # tqdm's bar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    mcmc.mh(normal_normal, (), NN_OBS, samples=5, burn=0, key=gm.key(0))
    assert "5/5" in sys.stderr.getvalue()
    monkeypatch.setattr(sys, "stderr", Terminal())
    mcmc.mh(normal_normal, (), NN_OBS, samples=5, burn=0, key=gm.key(0), progress=False)
    assert sys.stderr.getvalue() == ""


def test_draws_shapes_and_values():
    traces = mcmc.mh(line, (XS,), LINE_OBS, samples=9, burn=2, key=gm.key(11))
    d = traces.draws("slope")
    assert d.shape == (1, 9) and d.dtype == np.float32
    assert d[0].tolist() == [float(to_numpy(t["slope"])) for t in traces]
    assert np.array_equal(gm.draws(traces, "slope"), d)
    assert np.array_equal(gm.draws(list(traces), "slope"), d)  # a plain list of traces
    assert traces.draws(("y", 2)).tolist() == [[np.float32(YS_LINE[2])] * 9]
    two = mcmc.Chains([traces, mcmc.mh(line, (XS,), LINE_OBS, samples=9, burn=2,
                                       key=gm.key(12))])
    both = two.draws("intercept")
    assert both.shape == (2, 9) and np.array_equal(both[0], traces.draws("intercept")[0])
    assert np.array_equal(gm.draws([list(c) for c in two], "intercept"), both)
    with pytest.raises(AddressError, match="trace 0 has no value at address slop"):
        traces.draws("slop")
    with pytest.raises(ValueError, match="same number of draws"):
        mcmc.Chains([traces, traces[:3]])


def test_chain_resumes_from_its_final_state():
    """Two runs joined by final_state == one run: the chain's state is (trace, key)."""
    kernel = mcmc.mh_kernel(select("slope", "intercept"))
    tr, _ = line.generate((XS,), LINE_OBS, key=gm.key(13))
    whole = mcmc.collect_samples(kernel, tr, 12, burn=3, thin=2, key=gm.key(14))
    first = mcmc.collect_samples(kernel, tr, 5, burn=3, thin=2, key=gm.key(14))
    assert first.final_state.trace is first[-1]
    rest = mcmc.collect_samples(kernel, first.final_state, 7, thin=2)
    assert [t.choices == u.choices for t, u in zip(list(first) + list(rest), whole)] == \
        [True] * 12
    assert rest.num_steps == 14 and whole.num_steps == 27
    with pytest.raises(ValueError, match="not both"):
        mcmc.collect_samples(kernel, first.final_state, 1, key=gm.key(0))
    with pytest.raises(ValueError, match="neither key nor initial_trace"):
        mcmc.mh(line, (XS,), LINE_OBS, samples=1, key=gm.key(0), resume=first.final_state)
    # a chain that moved: resuming from its start state would give different draws
    assert not all(t.choices == u.choices for t, u in zip(rest, whole[:7]))


def test_selection_of_missing_address_is_named():
    with pytest.raises(AddressError, match="slop"):
        mcmc.mh(line, (XS,), LINE_OBS, selection=select("slop"), samples=2, burn=0)
    tr, _ = line.generate((XS,), LINE_OBS, key=gm.key(0))
    with pytest.raises(AddressError, match=r"y/7"):
        mcmc.mh_step(tr, select("slope", ("y", 7)), gm.key(1))
    # an address that exists only on some control-flow paths: strict=False
    tr, _ = switchy.generate((), choicemap(obs=1, k=1), key=gm.key(0))
    with pytest.raises(AddressError, match="strict=False"):
        mcmc.mh_step(tr, select("x", "z"), gm.key(1))
    mcmc.mh_step(tr, select("x", "z"), gm.key(1), strict=False)
    with pytest.raises(ValueError, match="not both"):
        mcmc.mh(line, (XS,), LINE_OBS, selection=select("slope"), proposal=walk)
    with pytest.raises(AddressError, match="yy"):
        mcmc.mh(line, (XS,), choicemap(yy=1.0), samples=2, burn=0)
    with pytest.raises(ValueError, match="thin"):
        mcmc.mh(line, (XS,), LINE_OBS, samples=2, burn=0, thin=0)


@gen
def one_gaussian():
    x = trace("x", dist.gaussian(0.0, 1.0))
    trace("y", dist.gaussian(x, 1.0))


@pytest.mark.slow
def test_memory_stays_flat_over_20k_steps():
    backend = gm.get_backend()
    if backend.memory_report()["active_bytes"] is None:
        pytest.skip(f"backend '{backend.name}' reports no active memory")
    tr, _ = one_gaussian.generate((), choicemap(y=0.5), key=gm.key(0))
    kernel = mcmc.mh_kernel(select("x"))
    mcmc.collect_samples(kernel, tr, 10, burn=0, thin=100, key=gm.key(1))  # warm up
    backend.clear_cache()
    before = backend.memory_report()["active_bytes"]
    kept = mcmc.collect_samples(kernel, tr, 20, burn=0, thin=1000, key=gm.key(2))
    backend.clear_cache()
    after = backend.memory_report()["active_bytes"]
    assert kept.num_steps == 20_000 and 0.5 < kept.acceptance_rate < 0.9
    # 20 kept traces hold a few scalars each; a leaking chain would hold 20k traces' arrays
    # (hundreds of KB and more). 64 KiB bounds allocator rounding of the kept ones.
    assert after - before < 64 * 1024, (before, after)
