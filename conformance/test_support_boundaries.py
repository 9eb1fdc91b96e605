"""Draws never sit where their density is infinite or zero: every sampler returns
values strictly inside the support, with a finite log density, on every backend.

The rule (Gen.jl relies on it too: a trace's score is the sum of its choices' log
densities, and a sampled choice must have a finite one): a continuous
distribution gives its support's ends, and anything beyond the float range,
probability zero, so a draw there is an artefact of float rounding, underflow
or overflow. Such draws are moved to the nearest float strictly inside the
support. Each check draws 200,000 values from a fixed key, so it is decided
once per backend; before the fix, every case below gave hundreds to hundreds of
thousands of boundary draws (beta, gamma and inverse gamma with small shapes,
wide log-normals, Student t with tiny df, narrow uniform/truncated intervals).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import genmlx as gm
from genmlx import dist
from genmlx.distributions import samplers
from genmlx.testing import to_numpy

INF = math.inf
N = 200_000


def _tiny_interval():
    # a few float32 steps wide: lo + (hi - lo) u rounds onto the ends for many u
    return 1.0, float(np.nextafter(np.nextafter(np.nextafter(np.float32(1.0), 2), 2), 2))


CASES = {
    # (constructor, (lo, hi) of the open support or None for the whole real line)
    "truncated_normal-half-line": (lambda: dist.truncated_normal(0.0, 5.0, 0.0, INF), (0.0, INF)),
    "truncated_normal-left-half": (lambda: dist.truncated_normal(0.0, 5.0, -INF, 0.0),
                                   (-INF, 0.0)),
    "truncated_normal-tiny": (lambda: dist.truncated_normal(1.0, 1.0, *_tiny_interval()),
                              _tiny_interval()),
    "truncated_normal-far-tail": (lambda: dist.truncated_normal(0.0, 1.0, 8.0, 9.0), (8.0, 9.0)),
    "uniform-tiny": (lambda: dist.uniform(*_tiny_interval()), _tiny_interval()),
    "uniform": (lambda: dist.uniform(-1.0, 2.0), (-1.0, 2.0)),
    "beta-small": (lambda: dist.beta_dist(0.01, 0.01), (0.0, 1.0)),
    "beta-small-a": (lambda: dist.beta_dist(0.05, 2.0), (0.0, 1.0)),
    "beta-small-b": (lambda: dist.beta_dist(2.0, 0.05), (0.0, 1.0)),
    "beta_uniform_mixture": (lambda: dist.beta_uniform_mixture(0.5, 0.01, 0.01), (0.0, 1.0)),
    "gamma-small": (lambda: dist.gamma_dist(0.01, 1.0), (0.0, INF)),
    "gamma-tiny": (lambda: dist.gamma_dist(0.001, 1.0), (0.0, INF)),
    "exponential-fast": (lambda: dist.exponential(1e30), (0.0, INF)),
    "log_normal-wide": (lambda: dist.log_normal(0.0, 20.0), (0.0, INF)),
    "inv_gamma-small": (lambda: dist.inv_gamma(0.05, 1.0), (0.0, INF)),
    "student_t-tiny-df": (lambda: dist.student_t(0.01), None),
    "piecewise_uniform-empty-bin": (lambda: dist.piecewise_uniform([0.0, 0.1, 0.2, 0.3],
                                                                   [0.5, 0.0, 0.5]), (0.0, 0.3)),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("case", sorted(CASES))
def test_large_batches_have_finite_log_densities_inside_the_open_support(case, backend):
    make, support = CASES[case]
    d = make()
    x = d.sample_n(gm.key(0), N)
    lp = to_numpy(d.log_prob(x))
    xs = to_numpy(x)
    bad = ~np.isfinite(lp)
    assert not bad.any(), f"{bad.sum()} of {N} draws have log density {lp[bad][:3]} " \
                          f"at {xs[bad][:3]}"
    assert np.all(np.isfinite(xs))
    if support is not None:
        lo, hi = support
        lo32, hi32 = np.float32(lo), np.float32(hi)  # the bounds as the backend holds them
        assert np.all(xs > lo32) and np.all(xs < hi32), (xs.min(), xs.max())
    if case.startswith("piecewise"):
        assert not np.any((xs >= np.float32(0.1)) & (xs <= np.float32(0.2)))


def test_next_up_and_next_down_are_one_float_step(backend):
    """next_up / next_down agree with nextafter for floats of every sign, |x| above
    ~1e-31, powers of two included (where the step toward zero is half as large)."""
    xp = backend.xp
    values = np.array([1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 1.5, -1.5, 3.0e-30, -7.0e25, 1.0e38,
                       -1.0e38, 0.1, 123.456, 8.0, -8.0, 1.0e-20, -3.0e-25], dtype=np.float32)
    x = backend.asarray(values)
    np.testing.assert_array_equal(backend.to_numpy(samplers.next_up(xp, x)),
                                  np.nextafter(values, np.float32(np.inf)))
    np.testing.assert_array_equal(backend.to_numpy(samplers.next_down(xp, x)),
                                  np.nextafter(values, np.float32(-np.inf)))
    # at 0 the step is the smallest normal float (no subnormals)
    tiny = np.finfo(np.float32).smallest_normal
    assert backend.to_numpy(samplers.next_up(xp, backend.asarray([0.0])))[0] == tiny


def test_next_up_in_float64(numpy64):
    values = np.array([1.0, -1.0, 2.0, -4.0, 0.3, 1e300, -1e-300 * 1e10, 5.0])
    np.testing.assert_array_equal(samplers.next_up(numpy64.xp, values),
                                  np.nextafter(values, np.inf))
    np.testing.assert_array_equal(samplers.next_down(numpy64.xp, values),
                                  np.nextafter(values, -np.inf))


def test_into_open_interval_moves_ends_inside(backend):
    x = backend.asarray([0.0, 0.5, 1.0, -3.0, 4.0])
    out = backend.to_numpy(samplers.into_open_interval(backend, x, 0.0, 1.0))
    one_below = np.nextafter(np.float32(1.0), np.float32(0.0))
    np.testing.assert_array_equal(out, [np.finfo(np.float32).smallest_normal, 0.5, one_below,
                                        np.finfo(np.float32).smallest_normal, one_below])
    # infinite ends: the largest finite floats
    big = backend.asarray([INF, -INF, 2.0])
    out = backend.to_numpy(samplers.into_open_interval(backend, big, -INF, INF))
    np.testing.assert_array_equal(out, [np.finfo(np.float32).max, -np.finfo(np.float32).max, 2.0])
    # per-element bounds (broadcast) and an interval one float wide (kept closed)
    lo = backend.asarray([0.0, 1.0])
    hi = backend.asarray([2.0, float(np.nextafter(np.float32(1.0), np.float32(2.0)))])
    out = backend.to_numpy(samplers.into_open_interval(backend, backend.asarray([0.0, 1.0]),
                                                       lo, hi))
    assert out[0] > 0.0 and out[1] == 1.0
