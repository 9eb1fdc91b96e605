"""L1 speed: eager per-site cost, compiled generate against hand-written jitted math,
and compile time of a long Unfold.

Run: python -m pytest benchmarks/bench_compile.py --benchmark-only -o python_files='bench_*.py'
Compare systems measured in one run (the machines are shared and noisy): the
per-call ratio of `test_compiled_generate_linreg` to `test_hand_jitted_generate_linreg`
on one backend is the figure of merit (goal: within 2x).
"""

import math
import time

import pytest

import genmlx as gm
from benchmarks.workloads import chain_model, chain_observations, hmm_step, linreg, linreg_data
from genmlx import choicemap
from genmlx.combinators import Unfold

BACKENDS = gm.installed_backends()
COMPILERS = [b for b in BACKENDS if b != "numpy"]


@pytest.mark.parametrize("sites", [25, 1000])
@pytest.mark.parametrize("op", ["simulate", "generate"])
@pytest.mark.parametrize("name", BACKENDS)
def test_eager_per_site(benchmark, name, op, sites):
    """Divide the median by `sites` for the per-site cost."""
    model, obs = chain_model(sites), chain_observations(sites)
    with gm.use_backend(name) as b:
        key = gm.key(0)
        if op == "simulate":
            run = lambda: b.eval(model.simulate((), key=key).score)  # noqa: E731
        else:
            run = lambda: b.eval(model.generate((), obs, key=key).weight)  # noqa: E731
        benchmark.extra_info["sites"] = sites
        benchmark.pedantic(run, rounds=3 if sites > 100 else 30, warmup_rounds=1)


@pytest.mark.parametrize("name", COMPILERS)
def test_compiled_generate_linreg(benchmark, name):
    xs, ys = linreg_data()
    obs = choicemap({("y", j): y for j, y in enumerate(ys)})
    with gm.use_backend(name) as b:
        fast, key = gm.compile(linreg), gm.key(0)
        start = time.perf_counter()
        b.eval(fast.generate((xs,), obs, key=key).weight)
        benchmark.extra_info["compile_s"] = time.perf_counter() - start
        benchmark(lambda: b.eval(fast.generate((xs,), obs, key=key).weight))


@pytest.mark.parametrize("name", COMPILERS)
def test_hand_jitted_generate_linreg(benchmark, name):
    """The same math written by hand against the backend: prior draws of slope and
    intercept, the weight as the sum of the observations' log densities."""
    xs, ys = linreg_data()
    with gm.use_backend(name) as b:
        xp = b.xp
        xs_a, ys_a = b.asarray(xs), b.asarray(ys)
        half_log_2pi = 0.5 * math.log(2 * math.pi)

        def generate(key, x, y):
            z = b.normal(key, (2,)) * 10.0
            mu = z[0] * x + z[1]
            weight = xp.sum(-0.5 * (y - mu) ** 2 - half_log_2pi)
            prior = xp.sum(-0.5 * (z / 10.0) ** 2 - math.log(10.0) - half_log_2pi)
            return weight, weight + prior, z

        run, key = b.compile(generate), gm.key(0)
        b.eval(run(key, xs_a, ys_a)[0])
        benchmark(lambda: b.eval(run(key, xs_a, ys_a)[0]))


@pytest.mark.parametrize("steps", [100, 1000])
@pytest.mark.parametrize("name", COMPILERS)
def test_unfold_compile_time(benchmark, name, steps):
    """Trace + compile + first run of generate on a 2-state HMM through Unfold."""
    with gm.use_backend(name) as b:
        logits = b.asarray([[math.log(0.9), math.log(0.1)], [math.log(0.1), math.log(0.9)]])
        means = b.asarray([-1.0, 1.0])
        obs = choicemap({(t, "y"): 0.5 for t in range(steps)})
        args = (steps, 0, logits, means)

        def compile_and_run():
            fast = gm.compile(Unfold(hmm_step))
            b.eval(fast.generate(args, obs, key=gm.key(0)).weight)

        benchmark.pedantic(compile_and_run, rounds=1, iterations=1)
