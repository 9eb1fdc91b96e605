"""Saving, loading and pickling results on every backend.

Round trips on one backend must give bitwise-equal values (the file holds the
arrays as they were; traces are rebuilt by `generate` with every choice
constrained); a chain checkpointed after k steps and resumed from the file
must equal the uninterrupted chain bit for bit. Across backends, values agree
to float32 rounding.
"""

import pickle

import numpy as np
import pytest

import genmlx as gm
from genmlx import choicemap, select
from genmlx.inference import mcmc
from genmlx.inference.importance import importance_resampling, importance_sampling
from genmlx.inference.results import Chains
from genmlx.inference.results import to_host_array
from tests.models import XS, YS, branching, line, outer

OBS = choicemap({("y", j): y for j, y in enumerate(YS)})


def host(x):
    return to_host_array(x)


def assert_traces_equal(a, b, backend):
    """Same model, args, addresses, bitwise-equal values and score, current-backend arrays."""
    assert a.gen_fn is b.gen_fn and a.args == b.args
    assert [p for p, _ in a.choices.leaves()] == [p for p, _ in b.choices.leaves()]
    for (_, u), (_, v) in zip(a.choices.leaves(), b.choices.leaves()):
        assert backend.is_array(v)
        assert np.array_equal(host(u), host(v)) and host(u).dtype == host(v).dtype
    assert np.array_equal(host(a.score), host(b.score))


def round_trips(obj, tmp_path, name):
    """(from file, from pickle) copies of obj."""
    path = tmp_path / f"{name}.npz"
    gm.save(path, obj)
    return gm.load(path), pickle.loads(pickle.dumps(obj))


def test_choicemap_and_trace_round_trip(backend, tmp_path):
    tr, _ = outer.generate((), choicemap({"m": 0.3}), key=gm.key(0))  # nested call addresses
    cm = choicemap({"a": 1.5, ("b", 2): backend.asarray([1.0, 2.0]), "k": 3})
    for copy in round_trips(cm, tmp_path, "cm"):
        assert copy == cm
        assert isinstance(copy["a"], float) and isinstance(copy["k"], int)  # Python stays Python
        assert backend.is_array(copy["b", 2])
    for copy in round_trips(tr, tmp_path, "trace"):
        assert_traces_equal(tr, copy, backend)
        assert np.array_equal(host(copy.retval), host(tr.retval))


def test_samples_and_chains_round_trip(backend, tmp_path):
    chains = Chains(mcmc.mh(line, (XS,), OBS, select("slope", "intercept"), samples=12, burn=3,
                            key=k) for k in gm.split(gm.key(1), 2))
    for copy in round_trips(chains[0], tmp_path, "samples"):
        assert isinstance(copy, mcmc.Samples) and len(copy) == 12
        assert copy.acceptance_rate == chains[0].acceptance_rate
        assert copy.num_steps == chains[0].num_steps == 15
        for a, b in zip(chains[0], copy):
            assert_traces_equal(a, b, backend)
        assert np.array_equal(copy.draws("slope"), chains[0].draws("slope"))
        assert np.array_equal(host(copy.final_state.key), host(chains[0].final_state.key))
    for copy in round_trips(chains, tmp_path, "chains"):
        assert isinstance(copy, Chains) and copy.draws("intercept").shape == (2, 12)
        assert np.array_equal(copy.draws("intercept"), chains.draws("intercept"))


def test_samples_whose_traces_differ_in_structure_round_trip(backend, tmp_path):
    traces = [branching.simulate((), key=k) for k in gm.split(gm.key(2), 16)]
    assert len({tuple(t.choices.addresses()) for t in traces}) == 2  # both branches present
    for copy in round_trips(traces, tmp_path, "branching"):
        for a, b in zip(traces, copy):
            assert_traces_equal(a, b, backend)


def test_importance_results_round_trip(backend, tmp_path):
    result = importance_sampling(line, (XS,), OBS, 20, key=gm.key(3))
    for copy in round_trips(result, tmp_path, "is"):
        for name in ("log_unnormalized_weights", "log_normalized_weights", "log_ml_estimate"):
            assert backend.is_array(getattr(copy, name))
            assert np.array_equal(host(getattr(copy, name)), host(getattr(result, name)))
        values, logw = copy.weighted_draws("slope")
        want_values, want_logw = result.weighted_draws("slope")
        assert np.array_equal(values, want_values) and np.array_equal(logw, want_logw)
    resampled = importance_resampling(line, (XS,), OBS, 20, key=gm.key(4), num_samples=5)
    for copy in round_trips(resampled, tmp_path, "resampled"):
        assert np.array_equal(copy.draws("slope"), resampled.draws("slope"))
        assert np.array_equal(host(copy.log_ml_estimate), host(resampled.log_ml_estimate))


def test_checkpointed_chain_resumes_bit_for_bit(backend, tmp_path):
    """15 + 20 kept draws through a file (and through pickle) == 35 in one run, same keys."""
    kernel = mcmc.mh_kernel(select("slope", "intercept"))
    start, _ = line.generate((XS,), OBS, key=gm.key(5))
    whole = mcmc.collect_samples(kernel, start, 35, burn=4, thin=2, key=gm.key(6))
    first = mcmc.collect_samples(kernel, start, 15, burn=4, thin=2, key=gm.key(6))
    gm.save(tmp_path / "checkpoint.npz", first.final_state)
    for state in (gm.load(tmp_path / "checkpoint.npz"),
                  pickle.loads(pickle.dumps(first.final_state))):
        rest = mcmc.collect_samples(kernel, state, 20, burn=0, thin=2)
        assert len(first) + len(rest) == len(whole)
        for a, b in zip(list(first) + list(rest), whole):
            assert_traces_equal(a, b, backend)
        assert np.array_equal(host(rest.final_state.key), host(whole.final_state.key))
    # the same through a driver's `resume=`
    head = mcmc.mh(line, (XS,), OBS, samples=6, burn=2, key=gm.key(7), proposal=None)
    tail = mcmc.mh(line, (XS,), OBS, samples=9, burn=0, proposal=None,
                   resume=gm.load(_saved(tmp_path, head.final_state)))
    full = mcmc.mh(line, (XS,), OBS, samples=15, burn=2, key=gm.key(7), proposal=None)
    assert np.array_equal(np.concatenate([head.draws("slope"), tail.draws("slope")], axis=1),
                          full.draws("slope"))


def _saved(tmp_path, obj):
    path = tmp_path / "state.npz"
    gm.save(path, obj)
    return path


def test_files_load_on_every_other_backend(backend, tmp_path):
    """Saved on this backend, loaded on each installed one: values equal, scores to rounding."""
    traces = mcmc.mh(line, (XS,), OBS, select("slope", "intercept"), samples=5, burn=0,
                     key=gm.key(8))
    gm.save(tmp_path / "x.npz", traces)
    for other in gm.installed_backends():
        with gm.use_backend(other) as b:
            copy = gm.load(tmp_path / "x.npz")
            assert b.is_array(copy[0].score) and b.is_array(copy[0]["slope"])
            assert np.array_equal(copy.draws("slope"), traces.draws("slope"))
            assert np.allclose([host(t.score) for t in copy], [host(t.score) for t in traces],
                               rtol=1e-5, atol=1e-5)
            assert host(copy.final_state.key).dtype == np.uint32  # keys keep their dtype


def test_float64_files_load_on_float32_backends(tmp_path):
    with gm.use_backend("numpy", float_dtype="float64"):
        tr, _ = line.generate((XS,), OBS, key=gm.key(9))
        gm.save(tmp_path / "f64.npz", tr)
    for name in gm.installed_backends():
        with gm.use_backend(name) as b:
            copy = gm.load(tmp_path / "f64.npz")
            assert host(copy["slope"]).dtype == np.float32
            assert host(copy["slope"]) == pytest.approx(float(host(tr["slope"])), rel=1e-6)
            assert b.is_array(copy.score)
