"""Throughput of the discrete and multivariate distributions and mixtures.

sample_n and log_prob on 1e6 values (scalar families, multivariate_normal and
dirichlet with D = 3, mixture); 1e5 for wishart and inv_wishart (3 x 3
matrices: nine numbers a draw). Each timed call ends with
`backend.eval(result)`, so MLX's lazy graph and JAX's asynchronous dispatch
are measured to completion. The warm-up call pays JAX's per-primitive
compilation; timings are eager (no compile).

Run: python -m pytest benchmarks/bench_discrete.py --benchmark-only \
         -p no:cacheprovider -o python_files='bench_*.py'
"""

from __future__ import annotations

import numpy as np
import pytest

import genmlx as gm
from genmlx import dist

N = 1_000_000
N_MATRIX = 100_000
COV = np.array([[2.0, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.5]])

DISTRIBUTIONS = {
    "bernoulli": (lambda: dist.bernoulli(0.3), N),
    "categorical": (lambda: dist.categorical(np.log([0.1, 0.2, 0.3, 0.4])), N),
    "poisson(3.5)": (lambda: dist.poisson(3.5), N),  # inversion
    "poisson(1e4)": (lambda: dist.poisson(1e4), N),  # PTRS rejection
    "geometric": (lambda: dist.geometric(0.2), N),
    "neg_binomial": (lambda: dist.neg_binomial(2.5, 0.3), N),
    "binomial(20,0.01)": (lambda: dist.binomial(20, 0.01), N),  # inversion
    "binomial(1e5,0.3)": (lambda: dist.binomial(100_000, 0.3), N),  # BTRS rejection
    "discrete_uniform": (lambda: dist.discrete_uniform(-2, 5), N),
    "multivariate_normal": (lambda: dist.multivariate_normal([1.0, -1.0, 0.5], COV), N),
    "dirichlet": (lambda: dist.dirichlet([0.5, 2.0, 3.0]), N),
    "wishart": (lambda: dist.wishart(5.0, COV), N_MATRIX),
    "inv_wishart": (lambda: dist.inv_wishart(7.0, COV), N_MATRIX),
    "mixture": (lambda: dist.mixture([dist.gaussian(-2.0, 1.0), dist.gaussian(1.5, 0.5),
                                      dist.gaussian(4.0, 2.0)], [0.0, 1.0, 0.4]), N),
}
BACKENDS = gm.installed_backends()


def _pedantic(benchmark, fn):
    benchmark.pedantic(fn, rounds=5, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_sample_n(benchmark, name, backend_name):
    make, n = DISTRIBUTIONS[name]
    benchmark.group = f"sample_n {n:.0e}: {name}"
    benchmark.extra_info["n"] = n
    with gm.use_backend(backend_name) as backend:
        d = make()
        key = backend.key(0)

        def run():
            backend.eval(d.sample_n(key, n))

        _pedantic(benchmark, run)


@pytest.mark.parametrize("backend_name", BACKENDS)
@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_log_prob(benchmark, name, backend_name):
    make, n = DISTRIBUTIONS[name]
    benchmark.group = f"log_prob {n:.0e}: {name}"
    benchmark.extra_info["n"] = n
    with gm.use_backend(backend_name) as backend:
        d = make()
        values = d.sample_n(backend.key(1), n)
        backend.eval(values)

        def run():
            backend.eval(d.log_prob(values))

        _pedantic(benchmark, run)
