"""Assertions shared by tests/ and conformance/: tolerances that know the dtype."""

from __future__ import annotations

import math
from typing import Any

from genmlx._backend import get_backend


def to_numpy(x: Any) -> Any:
    """A float64 NumPy copy of a backend array, Python number or list."""
    import numpy as np

    backend = get_backend()
    if backend.is_array(x):
        x = backend.to_numpy(x)
    else:
        for name in ("mlx", "jax", "numpy"):  # arrays of another backend (e.g. in comparisons)
            try:
                other = get_backend(name)
            except Exception:
                continue
            if other.is_array(x):
                x = other.to_numpy(x)
                break
    return np.asarray(x, dtype=np.float64)


def default_rtol(dtype_name: str) -> float:
    """4 sqrt(eps): 1.4e-3 for float32, 6e-8 for float64."""
    eps = 1.1920929e-07 if dtype_name == "float32" else 2.220446049250313e-16
    return 4.0 * math.sqrt(eps)


def assert_close(actual: Any, expected: Any, rtol: float | None = None, atol: float = 0.0,
                 msg: str = "") -> None:
    """Assert elementwise closeness with a tolerance defaulting to the backend dtype.

    Infinities must match exactly (same sign, same place); NaN never passes.
    """
    import numpy as np

    a, e = to_numpy(actual), to_numpy(expected)
    if rtol is None:
        rtol = default_rtol(get_backend().float_dtype_name)
    assert a.shape == e.shape or a.size == e.size == 1, f"{msg} shape {a.shape} != {e.shape}"
    assert not np.any(np.isnan(a)), f"{msg} NaN in actual: {a}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=msg)


def assert_same_choices(actual: Any, expected: Any, rtol: float | None = None,
                        atol: float = 0.0, msg: str = "") -> None:
    """Assert two choicemaps hold the same addresses with close values (`assert_close`
    per address, the address named in the message)."""
    a, e = dict(actual.leaves()), dict(expected.leaves())
    assert a.keys() == e.keys(), f"{msg}: addresses {sorted(map(str, a))} != {sorted(map(str, e))}"
    for path in e:
        assert_close(a[path], e[path], rtol=rtol, atol=atol, msg=f"{msg} at {path}")
