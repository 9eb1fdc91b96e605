"""Compile time and per-call time of `Backend.scan` over a tiny step, T = 10, 100, 1000.

Run: python -m pytest benchmarks/bench_control_flow.py --benchmark-only -p no:cacheprovider \
         -o python_files='bench_*.py'

The question these answer: is compile time flat in T? JAX's scan traces the step
once (lax.scan), so it should be; MLX has no scan primitive and unrolls the loop
under mx.compile, so its compile time grows with T; NumPy's compile is the
identity. Three measurements per backend and T:

- test_scan_compile: a fresh `compile(...)` of the scan, called once (trace,
  compile and one run; subtract test_scan_compiled_call for the compile alone).
- test_scan_compiled_call: a call of the already compiled scan.
- test_scan_eager_call: the scan called without compile (JAX retraces the step
  on every eager call of lax.scan).

Every timed call materialises its outputs (MLX is lazy, JAX asynchronous).
"""

import numpy as np
import pytest

import genmlx as gm

LENGTHS = (10, 100, 1000)
BACKENDS = gm.installed_backends()


def _step(carry, x):
    carry = 0.9 * carry + x
    return carry, carry * carry


def _inputs(b, length):
    xs = b.asarray(np.linspace(-1.0, 1.0, 4 * length, dtype=np.float32).reshape(length, 4))
    return b.asarray(np.zeros(4, np.float32)), xs


def _scan_fn(b):
    return lambda init, xs: b.scan(_step, init, xs)


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("name", BACKENDS)
def test_scan_compile(benchmark, name, length):
    with gm.use_backend(name) as b:
        init, xs = _inputs(b, length)

        def fresh():
            # a new function object each round, so no backend cache can answer
            return (b.compile(lambda init, xs: b.scan(_step, init, xs)),), {}

        def first_call(compiled):
            b.eval(*compiled(init, xs))

        benchmark.pedantic(first_call, setup=fresh, rounds=3, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("name", BACKENDS)
def test_scan_compiled_call(benchmark, name, length):
    with gm.use_backend(name) as b:
        init, xs = _inputs(b, length)
        compiled = b.compile(_scan_fn(b))
        b.eval(*compiled(init, xs))
        benchmark(lambda: b.eval(*compiled(init, xs)))


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("name", BACKENDS)
def test_scan_eager_call(benchmark, name, length):
    with gm.use_backend(name) as b:
        init, xs = _inputs(b, length)
        run = _scan_fn(b)
        carry, ys = run(init, xs)
        assert tuple(ys.shape) == (length, 4)
        benchmark(lambda: b.eval(*run(init, xs)))
