"""Unfold update when only the last of T = 1000 steps changes, against a full
re-run (generate with the same observations), on the default backend.

Run: python -m pytest benchmarks/bench_unfold.py --benchmark-only -p no:cacheprovider \
         -o python_files='bench_*.py'

The incremental update re-executes one kernel body (the last step); the full
re-run executes all T. Every timed call materialises its score and weight
(MLX is lazy, JAX asynchronous) before the clock stops.
"""

import pytest

import genmlx as gm
from genmlx import choicemap, dist, gen, trace
from genmlx.combinators import Unfold

T = 1000
ARGS = (T, 0.0, 0.5)


@gen
def step(t, z, sigma):
    z = trace("z", dist.gaussian(z, sigma))
    trace("y", dist.gaussian(z, 1.0))
    return z


HMM = Unfold(step)
OBS = choicemap({(t, "y"): 0.01 * t for t in range(T)})


def _sync(*arrays):
    gm.get_backend().eval(*arrays)


@pytest.fixture(scope="module")
def observed_trace():
    tr, w = HMM.generate(ARGS, OBS, key=gm.key(0))
    _sync(tr.score, w)
    return tr


def test_unfold_update_last_step(benchmark, observed_trace):
    constraints = choicemap({(T - 1, "z"): 0.3})
    key = gm.key(1)

    def run():
        new, w, _, _ = HMM.update(observed_trace, constraints, key=key)
        _sync(new.score, w)
        return new

    new = benchmark(run)
    assert new[T - 1, "z"] is not observed_trace[T - 1, "z"]
    assert new.internal.subtraces[T - 2] is observed_trace.internal.subtraces[T - 2]


def test_unfold_full_rerun_generate(benchmark):
    key = gm.key(2)

    def run():
        tr, w = HMM.generate(ARGS, OBS, key=key)
        _sync(tr.score, w)
        return tr

    tr = benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    assert len(tr.retval) == T
