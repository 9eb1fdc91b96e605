"""Throughput of the continuous distributions: sample_n and log_prob on 1e6 values.

Each timed call ends with `backend.eval(result)`, so MLX's lazy graph and JAX's
asynchronous dispatch are measured to completion. The first call (warm-up)
pays JAX's per-primitive compilation; timings are eager (no compile).

Run: python -m pytest benchmarks/bench_continuous.py --benchmark-only \
         -p no:cacheprovider -o python_files='bench_*.py'
"""

from __future__ import annotations

import pytest

import genmlx as gm
from genmlx import dist

N = 1_000_000

DISTRIBUTIONS = {
    "gaussian": lambda: dist.gaussian(0.5, 2.0),
    "uniform": lambda: dist.uniform(-1.0, 2.0),
    "beta_dist": lambda: dist.beta_dist(2.0, 5.0),
    "gamma_dist": lambda: dist.gamma_dist(2.5, 3.0),
    "exponential": lambda: dist.exponential(1.5),
    "laplace": lambda: dist.laplace(0.5, 2.0),
    "student_t": lambda: dist.student_t(3.5, 1.0, 2.0),
    "log_normal": lambda: dist.log_normal(0.0, 1.0),
    "cauchy": lambda: dist.cauchy(0.0, 1.0),
    "inv_gamma": lambda: dist.inv_gamma(3.0, 2.0),
    "truncated_normal": lambda: dist.truncated_normal(0.0, 1.0, -1.0, 2.0),
    "piecewise_uniform": lambda: dist.piecewise_uniform([0.0, 1.0, 3.0, 4.0], [0.2, 0.5, 0.3]),
    "beta_uniform_mixture": lambda: dist.beta_uniform_mixture(0.3, 2.0, 5.0),
    "broadcasted_normal": lambda: dist.broadcasted_normal(0.5, 2.0),
    "delta": lambda: dist.delta(1.5),
}
BACKENDS = gm.installed_backends()


def _pedantic(benchmark, fn):
    benchmark.pedantic(fn, rounds=5, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_sample_n(benchmark, name, backend_name):
    benchmark.group = f"sample_n 1e6: {name}"
    with gm.use_backend(backend_name) as backend:
        d = DISTRIBUTIONS[name]()
        key = backend.key(0)

        def run():
            backend.eval(d.sample_n(key, N))

        _pedantic(benchmark, run)


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_log_prob(benchmark, name, backend_name):
    benchmark.group = f"log_prob 1e6: {name}"
    with gm.use_backend(backend_name) as backend:
        d = DISTRIBUTIONS[name]()
        values = d.sample_n(backend.key(1), N)
        backend.eval(values)

        def run():
            backend.eval(d.log_prob(values))

        _pedantic(benchmark, run)
