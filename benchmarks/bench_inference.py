"""Inference throughput on the linear-regression model (5 observations), per backend:
MH steps per second (prior proposal via regenerate, and a custom random-walk
proposal) and importance-sampling particles per second.

Every MH step ends with an accept/reject decision on the host and the new
trace materialised, every IS particle with its weight evaluated, so MLX's lazy
graph and JAX's asynchronous dispatch are timed to completion. All execution
is eager (the handler path); the rates are in `extra_info`.

Run: python -m pytest benchmarks/bench_inference.py --benchmark-only \
         -p no:cacheprovider -o python_files='bench_*.py'
"""

from __future__ import annotations

import pytest

import genmlx as gm
from genmlx import choicemap, dist, gen, select, trace
from genmlx.inference import mcmc
from genmlx.inference.importance import importance_sampling

XS = [1.0, 2.0, 3.0, 4.0, 5.0]
OBS = choicemap({("y", j): y for j, y in enumerate([2.1, 3.9, 6.2, 7.8, 10.1])})
MH_STEPS = 200
PARTICLES = 200


@gen
def linear_regression(xs):
    slope = trace("slope", dist.gaussian(0.0, 10.0))
    intercept = trace("intercept", dist.gaussian(0.0, 10.0))
    for j, x in enumerate(xs):
        trace(("y", j), dist.gaussian(slope * x + intercept, 1.0))
    return slope


@gen
def random_walk(tr, step):
    trace("slope", dist.gaussian(tr["slope"], step))
    trace("intercept", dist.gaussian(tr["intercept"], step))


KERNELS = {
    "regenerate": lambda: mcmc.mh_kernel(select("slope", "intercept")),
    "random_walk": lambda: mcmc.mh_custom_kernel(random_walk, (0.3,)),
}


def _rate(benchmark, count: int, unit: str) -> None:
    benchmark.extra_info[unit] = round(count / benchmark.stats.stats.mean, 1)


@pytest.mark.parametrize("backend_name", gm.installed_backends())
@pytest.mark.parametrize("proposal", list(KERNELS))
def test_mh_steps_per_second(benchmark, proposal, backend_name):
    benchmark.group = f"MH {MH_STEPS} steps, linear regression: {proposal}"
    with gm.use_backend(backend_name):
        tr, _ = linear_regression.generate((XS,), OBS, key=gm.key(0))
        kernel = KERNELS[proposal]()
        benchmark.pedantic(lambda: mcmc.collect_samples(kernel, tr, MH_STEPS, key=gm.key(1)),
                           rounds=3, iterations=1, warmup_rounds=1)
    _rate(benchmark, MH_STEPS, "steps_per_second")


@pytest.mark.parametrize("backend_name", gm.installed_backends())
def test_importance_particles_per_second(benchmark, backend_name):
    benchmark.group = f"IS {PARTICLES} particles, linear regression"
    with gm.use_backend(backend_name) as backend:
        def run():
            result = importance_sampling(linear_regression, (XS,), OBS, PARTICLES,
                                         key=gm.key(2))
            backend.eval(result.log_marginal_likelihood)

        benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    _rate(benchmark, PARTICLES, "particles_per_second")
