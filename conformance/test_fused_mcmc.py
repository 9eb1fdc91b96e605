"""L2: MH as fused compiled sweeps (`genmlx.inference.mcmc.fused`).

The compiled sweep runs the handler path's own MH step inside the backend's
compiler; `compiled=False` runs the same step through the eager backend scan.
On the same key both give the same draws (float32: rtol 1e-5 on values after
hundreds of accept/reject decisions — a decision could flip only when log u sits
within a few ulp of log alpha, which these fixed keys do not hit). The draws
reach the exact posterior of a conjugate model: linear regression with known
noise, posterior mean and sd in closed form; the tolerance is 5 Monte Carlo
standard errors computed from the chain's effective sample size.
"""

import numpy as np
import pytest

import genmlx as gm
from genmlx import choicemap, dist, gen, select, trace
from genmlx.errors import ArgumentError, GenMLXError
from genmlx.inference.diagnostics import ess
from genmlx.inference.mcmc import fused
from genmlx.testing import assert_close
from tests.models import branching

XS = [float(x) for x in np.linspace(-2.0, 2.0, 10)]
YS = [0.5 + 1.5 * x + 0.4 * np.cos(5.0 * x) for x in XS]
OBS = choicemap({("y", j): y for j, y in enumerate(YS)})
PRIOR_SD = 3.0


@gen
def linreg(xs):
    slope = trace("slope", dist.gaussian(0.0, PRIOR_SD))
    intercept = trace("intercept", dist.gaussian(0.0, PRIOR_SD))
    for j, x in enumerate(xs):
        trace(("y", j), dist.gaussian(slope * x + intercept, 1.0))
    return slope


@gen
def walk(tr, step):
    trace("slope", dist.gaussian(tr["slope"], step))
    trace("intercept", dist.gaussian(tr["intercept"], step))


def exact_posterior():
    """Mean and covariance of (slope, intercept): Gaussian prior, Gaussian noise sd 1."""
    design = np.stack([np.array(XS), np.ones(len(XS))], axis=1)
    precision = design.T @ design + np.eye(2) / PRIOR_SD**2
    cov = np.linalg.inv(precision)
    return cov @ design.T @ np.array(YS), cov


@pytest.mark.parametrize("chains", [None, 3])
def test_compiled_sweep_equals_the_eager_sweep(backend, chains):
    # short: the eager reference runs the handler path step by step (JAX eager is slow),
    # and MLX unrolls each compiled block
    run = dict(proposal=walk, proposal_args=(0.3,), num_samples=6, burn=3, thin=2,
               num_chains=chains, key=gm.key(4), block=5)
    fast = fused.mh(linreg, (XS,), OBS, compiled=True, **run)
    slow = fused.mh(linreg, (XS,), OBS, compiled=False, **run)
    count = chains or 1
    for address in ("slope", "intercept"):
        assert fast.draws(address).shape == (count, 6)
        assert_close(fast.draws(address), slow.draws(address), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(fast.acceptance, slow.acceptance)
    last = fast.chain(count - 1)
    assert_close(last["slope"], fast.draws("slope")[count - 1, -1], rtol=1e-6)
    assert_close(last.score, linreg.assess((XS,), last.choices).weight, rtol=1e-5, atol=1e-4)


def test_prior_proposal_sweep_equals_the_eager_sweep(backend):
    run = dict(selection=select("intercept"), num_samples=10, key=gm.key(5), block=5)
    fast = fused.mh(linreg, (XS,), OBS, **run)
    slow = fused.mh(linreg, (XS,), OBS, compiled=False, **run)
    assert_close(fast.draws("intercept"), slow.draws("intercept"), rtol=1e-5, atol=1e-5)
    assert_close(fast.draws("slope"), slow.draws("slope"), rtol=1e-6)
    assert np.all(fast.draws("slope") == fast.draws("slope")[0, 0])  # never resampled


@pytest.mark.slow
def test_many_chains_reach_the_exact_posterior(backend):
    mean, cov = exact_posterior()
    res = fused.mh(linreg, (XS,), OBS, proposal=walk, proposal_args=(0.35,), num_samples=400,
                   burn=200, num_chains=6, key=gm.key(6), block=300)
    for i, address in enumerate(("slope", "intercept")):
        draws = res.draws(address)
        n_eff = ess(draws)
        se = np.sqrt(cov[i, i] / n_eff)
        assert abs(draws.mean() - mean[i]) < 5 * se, (address, draws.mean(), mean[i], se)
        assert abs(draws.std() / np.sqrt(cov[i, i]) - 1.0) < 0.15
    assert np.all((res.acceptance > 0.2) & (res.acceptance < 0.9))


def test_a_second_run_compiles_nothing(backend):
    run = dict(proposal=walk, proposal_args=(0.3,), num_samples=10, key=gm.key(7), block=5)
    fused.mh(linreg, (XS,), OBS, **run)
    before = len(fused._CALLS)
    shifted = choicemap({k: v + 0.5 for k, v in OBS.leaves()})
    fused.mh(linreg, (XS,), shifted, **run)
    assert len(fused._CALLS) == before


def test_memory_is_flat_over_many_blocks():
    """Blocks of a long run leave nothing behind: MLX's active memory after 40 blocks is
    within a small margin of its value after 10 (one leaked trace per step would add
    about 100 kB), and JAX holds no more live arrays."""
    import jax

    run = dict(proposal=walk, proposal_args=(0.3,), block=50)
    with gm.use_backend("mlx") as backend:
        fused.mh(linreg, (XS,), OBS, num_samples=500, key=gm.key(8), **run)
        backend.clear_cache()
        small = backend.memory_report()["active_bytes"]
        fused.mh(linreg, (XS,), OBS, num_samples=2000, key=gm.key(8), **run)
        backend.clear_cache()
        large = backend.memory_report()["active_bytes"]
        assert large - small < 200_000, (small, large)
    with gm.use_backend("jax"):
        fused.mh(linreg, (XS,), OBS, num_samples=500, key=gm.key(8), **run)
        small = len(jax.live_arrays())
        fused.mh(linreg, (XS,), OBS, num_samples=2000, key=gm.key(8), **run)
        assert len(jax.live_arrays()) <= small


def test_bad_input_is_a_clear_error(backend):
    with pytest.raises(ArgumentError, match="exactly one of selection"):
        fused.mh(linreg, (XS,), OBS, num_samples=5)
    with pytest.raises(ArgumentError, match="num_samples"):
        fused.mh(linreg, (XS,), OBS, selection=select("slope"), num_samples=0)
    res = fused.mh(linreg, (XS,), OBS, selection=select("slope"), num_samples=3, key=gm.key(0))
    with pytest.raises(GenMLXError, match="not recorded"):
        res.draws("nope")


def test_value_dependent_structure_is_refused_with_the_reason(backend):
    with pytest.raises(GenMLXError, match="structure"):
        fused.mh(branching, (), choicemap(), selection=select("coin"), num_samples=20,
                 key=gm.key(1), compiled=False)


def test_chains_start_from_the_given_values(backend):
    res = fused.mh(linreg, (XS,), OBS, selection=select("intercept"), num_samples=2,
                   num_chains=2, init={"slope": 0.25}, key=gm.key(2), block=2)
    assert np.all(res.draws("slope") == np.float32(0.25))  # slope is never proposed
