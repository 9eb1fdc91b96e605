"""`gm.draws` / `gm.weighted_draws` on the vectorized results, and pickling result types.

(The MCMC and importance-sampling result types' own `draws` are tested beside
their algorithms, in test_inference_mcmc.py and test_inference_importance.py.)
"""

import pickle

import numpy as np
import pytest
from scipy import special

import genmlx as gm
from genmlx import choicemap, select
from genmlx.errors import AddressError
from genmlx.inference import mcmc
from genmlx.inference.importance import importance_sampling
from genmlx.inference.results import ImportanceResult, to_host_array
from genmlx.inference.vectorized import (
    smc_init, vectorized_importance_sampling, vectorized_mh,
)
from tests.models import XS, YS, line

OBS = choicemap({("y", j): y for j, y in enumerate(YS)})


def test_draws_of_vectorized_particles_with_weights():
    res = vectorized_importance_sampling(line, (XS,), OBS, 40, key=gm.key(0))
    values = gm.draws(res, "slope")
    assert values.shape == (40,) and isinstance(values, np.ndarray)
    assert np.array_equal(values, to_host_array(res.traces["slope"]))
    assert values.tolist() == [float(to_host_array(res.traces.particle(i)["slope"]))
                               for i in range(40)]
    assert np.array_equal(gm.draws(res.traces, "slope"), values)
    # an observation every particle shares comes out once per particle
    assert gm.draws(res, ("y", 3)).tolist() == [np.float32(YS[3])] * 40
    same, log_w = gm.weighted_draws(res, "slope")
    raw = to_host_array(res.log_weights).astype(np.float64)
    assert np.array_equal(same, values)
    assert np.allclose(log_w, raw - special.logsumexp(raw), atol=1e-9)
    assert abs(special.logsumexp(log_w)) < 1e-9
    state = smc_init(line, (XS,), OBS, 8, key=gm.key(1))
    assert gm.weighted_draws(state, "intercept")[0].shape == (8,)
    with pytest.raises(AddressError, match="slop"):
        gm.draws(res, "slop")
    with pytest.raises(TypeError, match="weighted particle collection"):
        gm.weighted_draws(mcmc.Samples(), "slope")


def test_draws_of_vectorized_mh_are_chains_by_draws():
    res = vectorized_mh(line, (XS,), OBS, select("slope", "intercept"), num_chains=3,
                        num_samples=5, burn=2, record=["slope"], key=gm.key(2))
    d = gm.draws(res, "slope")
    stacked = to_host_array(res.samples[("slope",)])  # [num_samples, num_chains]
    assert d.shape == (3, 5) and np.array_equal(d, stacked.T)
    with pytest.raises(AddressError, match="record="):
        gm.draws(res, "intercept")


def test_importance_result_pickles_with_its_weights():
    result = importance_sampling(line, (XS,), OBS, 12, key=gm.key(3))
    copy = pickle.loads(pickle.dumps(result))
    assert isinstance(copy, ImportanceResult)
    for name in ("log_unnormalized_weights", "log_normalized_weights", "log_ml_estimate"):
        assert np.array_equal(to_host_array(getattr(copy, name)),
                              to_host_array(getattr(result, name)))
    assert np.array_equal(copy.draws("slope"), result.draws("slope"))
    traces, log_norm_w, log_ml = copy  # still unpacks as Gen's triple
    assert len(traces) == 12


def test_all_minus_inf_weights_give_nan_normalized_weights_and_minus_inf_log_ml():
    backend = gm.get_backend()
    traces = [line.simulate((XS,), key=k) for k in gm.split(gm.key(4), 3)]
    result = ImportanceResult(traces, backend.asarray([-np.inf, -np.inf, -np.inf]))
    assert float(to_host_array(result.log_ml_estimate)) == -np.inf
    assert np.isnan(to_host_array(result.log_normalized_weights)).all()


def test_arviz_export_matches_our_diagnostics_or_says_how_to_install():
    """ArviZ and diagnostics.summarize implement the same estimators (Vehtari et al. 2021):
    bulk/tail ESS and R-hat agree to 1e-6 relative (measured ~1e-12)."""
    from genmlx.inference import diagnostics
    from genmlx.inference.results import Chains, to_inference_data

    chains = Chains(mcmc.mh(line, (XS,), OBS, select("slope", "intercept"), samples=60,
                            burn=10, key=k) for k in gm.split(gm.key(5), 3))
    try:
        import arviz
    except ImportError:
        with pytest.raises(ImportError, match=r"genmlx\[arviz\]"):
            to_inference_data(chains)
        return
    idata = to_inference_data(chains, ["slope", ("y", 0)])
    assert idata.posterior["slope"].shape == (3, 60)
    assert np.array_equal(idata.posterior["slope"].values, chains.draws("slope"))
    assert "y/0" in idata.posterior
    ours = diagnostics.summarize(chains, ["slope", "intercept"])
    theirs = arviz.summary(to_inference_data(chains, ["slope", "intercept"]), round_to="none")
    for name in ("slope", "intercept"):
        for column in ("ess_bulk", "ess_tail", "r_hat", "mean", "sd"):
            assert ours[name][column] == pytest.approx(theirs.loc[name, column], rel=1e-6)
    with pytest.raises(TypeError, match="resample"):
        to_inference_data(importance_sampling(line, (XS,), OBS, 5, key=gm.key(6)))
