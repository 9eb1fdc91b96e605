"""Per-site overhead of the handler path: simulate and generate of a 25-site model.

Run: python -m pytest benchmarks/bench_core.py --benchmark-only -o python_files='bench_*.py'
"""

import pytest

import genmlx as gm
from benchmarks.workloads import CHAIN25_OBS, chain25


@pytest.mark.parametrize("name", gm.installed_backends())
def test_simulate_25_sites(benchmark, name):
    with gm.use_backend(name) as b:
        key = gm.key(0)

        def run():
            tr = chain25.simulate((), key=key)
            b.eval(tr.score)

        benchmark(run)


@pytest.mark.parametrize("name", gm.installed_backends())
def test_generate_25_sites_13_constrained(benchmark, name):
    with gm.use_backend(name) as b:
        key = gm.key(0)

        def run():
            tr, w = chain25.generate((), CHAIN25_OBS, key=key)
            b.eval(tr.score, w)

        benchmark(run)
