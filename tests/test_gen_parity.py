"""Gen parity: errors that say exactly what is wrong (parameter checks on arrays)."""

import re

import numpy as np
import pytest

from genmlx import dist
from genmlx.errors import ParameterError


def _with_bad_entry(n: int, index: int, good: float, bad: float) -> np.ndarray:
    a = np.full(n, good)
    a[index] = bad
    return a


@pytest.mark.parametrize("make,expect", [
    (lambda a: dist.gaussian(0.0, a), "parameter 'sigma'"),
    (lambda a: dist.exponential(a), "parameter 'rate'"),
    (lambda a: dist.gamma_dist(a, 1.0), "parameter 'shape'"),
    (lambda a: dist.poisson(a), "parameter 'rate'"),
])
def test_array_parameter_error_names_first_bad_index_and_value(make, expect):
    """A distribution refuses an invalid parameter (Gen.jl checks arguments too); for
    an array parameter the message must point at the first offending entry, its index
    and its value, since NumPy's printed form of a 1000-element array is truncated
    ("...") and would hide it."""
    a = _with_bad_entry(1000, 517, 1.0, -2.5)
    with pytest.raises(ParameterError) as info:
        make(a)
    msg = str(info.value)
    assert expect in msg and "index (517,)" in msg, msg
    assert "-2.5" in msg or "2.5" in msg, msg
    assert "..." not in msg and len(msg) < 400, msg


def test_second_bad_entry_is_not_reported_first():
    a = np.ones(1000)
    a[700], a[300] = 0.0, -1.0
    with pytest.raises(ParameterError, match=re.escape("-1.0 at index (300,)")):
        dist.gaussian(0.0, a)
    b = np.ones((10, 100))
    b[4, 17] = np.nan
    with pytest.raises(ParameterError, match=re.escape("nan at index (4, 17)")):
        dist.log_normal(0.0, b)


def test_interval_checks_name_the_first_bad_pair():
    lo, hi = np.zeros(1000), np.ones(1000)
    lo[480] = 3.0
    with pytest.raises(ParameterError, match=re.escape("index (480,)")) as info:
        dist.uniform(lo, hi)
    assert "lo=3.0" in str(info.value) and "hi=1.0" in str(info.value)
    with pytest.raises(ParameterError, match=re.escape("index (480,)")):
        dist.truncated_normal(0.0, 1.0, lo, hi)
    # broadcasting: a scalar hi against an array lo
    with pytest.raises(ParameterError, match=re.escape("index (480,)")):
        dist.uniform(lo, 2.0)
    # scalars keep the plain message
    with pytest.raises(ParameterError, match="lo=2.0, hi=1.0"):
        dist.uniform(2.0, 1.0)
    lo_i = np.zeros(1000)
    lo_i[600] = 9
    with pytest.raises(ParameterError, match=re.escape("at index (600,) lo=9.0, hi=5.0")):
        dist.discrete_uniform(lo_i, 5)


def test_matrix_and_derived_checks_name_the_batch_index():
    covs = np.broadcast_to(np.eye(2), (50, 2, 2)).copy()
    covs[23] = [[1.0, 2.0], [2.0, 1.0]]  # symmetric, eigenvalues 3 and -1
    with pytest.raises(ParameterError, match=re.escape("batch index (23,)")):
        dist.multivariate_normal(np.zeros(2), covs)
    probs = np.full((40, 2), 0.5)
    probs[31] = [0.5, 0.6]
    with pytest.raises(ParameterError, match=re.escape("index (31,)")):
        dist.piecewise_uniform([0.0, 1.0, 2.0], probs)
    alpha = np.ones(1000)
    alpha[999] = 0.0
    with pytest.raises(ParameterError, match=re.escape("0.0 at index (999,)")):
        dist.dirichlet(alpha)
