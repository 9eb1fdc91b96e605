"""The distribution abstraction: sampling with explicit keys, log densities, support.

A `Distribution` instance binds its parameters (backend arrays that broadcast,
so one constructor serves `[N]`-batched particles). Subclasses implement two
methods:

- `_draw(key, shape)`: draws of shape `shape + event_shape`, where `shape` is
  a sample shape followed by the batch shape (the broadcast parameter shape);
- `log_prob(value)`: the log density of `value`, elementwise over the batch
  (event axes summed), `-inf` outside the support and never NaN.

and set `name`, `support`, `event_rank` and `reparameterized`. A distribution is
also a generative function with one choice at the root address (the GFI
methods live in `genmlx.distributions.gfi`).
"""

from __future__ import annotations

import abc

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from genmlx._backend import Array, Backend, get_backend, host_numpy
from genmlx.distributions.gfi import DistributionGFI
from genmlx.errors import ParameterError

__all__ = ["Distribution", "Support", "as_param", "check_param", "first_failure", "REAL", "POSITIVE",
           "NONNEGATIVE_INTEGER", "INTEGER", "UNIT_INTERVAL", "SIMPLEX", "POSITIVE_DEFINITE"]


@dataclass(frozen=True)
class Support:
    """Where a distribution puts its mass.

    Attributes:
        kind: "real", "positive", "unit_interval", "interval", "integer",
            "nonnegative_integer", "finite", "simplex", "positive_definite", "point".
        discrete: True for integer-valued supports.
        finite: True when the support can be enumerated (`enumerate_support`).
    """

    kind: str
    discrete: bool = False
    finite: bool = False


REAL = Support("real")
POSITIVE = Support("positive")
UNIT_INTERVAL = Support("unit_interval")
INTERVAL = Support("interval")
INTEGER = Support("integer", discrete=True)
NONNEGATIVE_INTEGER = Support("nonnegative_integer", discrete=True)
FINITE = Support("finite", discrete=True, finite=True)
SIMPLEX = Support("simplex")
POSITIVE_DEFINITE = Support("positive_definite")
POINT = Support("point")


def _is_concrete(x: Any) -> bool:
    """True for values we can check cheaply at construction (no device sync, no tracer)."""
    if isinstance(x, (int, float, bool, list, tuple)):
        return True
    return type(x).__module__ == "numpy"


def check_param(dist_name: str, param_name: str, value: Any, ok: Callable[[Any], Any],
                expected: str) -> None:
    """Raise ParameterError when a concrete parameter fails `ok`.

    Backend arrays are not checked (that would force a device sync on every
    trace site, and is impossible under compile); Python numbers, lists and
    NumPy arrays are. For an array the message names the first offending
    index and the value there (a printed array is truncated and would hide it).
    """
    kind = type(value)
    if kind is float or kind is int:
        # the common case (a literal in a model body, once per trace site): a plain
        # comparison; anything but a clear pass goes on to the full check and message
        try:
            if ok(value) is True:
                return
        except Exception:  # a check written for arrays (a.round(), b.ndim): the full path
            pass
    elif not _is_concrete(value):
        return
    np = host_numpy()  # only for checking user-supplied concrete values

    arr = np.asarray(value, dtype=float)
    passed = np.asarray(ok(arr), dtype=bool)
    if np.all(passed):
        return
    where = first_failure(passed)
    if arr.ndim == 0:
        got = f"got {value!r}"
    elif passed.shape == arr.shape:
        got = (f"got {arr[where].item()!r} at index {where} "
               f"(array of shape {arr.shape}{_peek(arr)})")
    else:  # a check over a derived array (sums, differences): index into the check
        got = (f"the check fails first at index {where} of its result "
               f"(shape {passed.shape}; the parameter has shape {arr.shape}{_peek(arr)})")
    raise ParameterError(f"{dist_name}: parameter '{param_name}' must be {expected}; {got}.")


def first_failure(passed: Any) -> tuple[int, ...]:
    """The first index (row-major) where the boolean array `passed` is False, as a tuple."""
    np = host_numpy()  # host-side validation of concrete inputs only

    flat = int(np.argmin(np.ravel(passed)))  # argmin of bools: the first False
    return tuple(int(i) for i in np.unravel_index(flat, np.shape(passed)))


def _peek(arr: Any) -> str:
    """The whole array for small ones, nothing for large ones (the index says where)."""
    return f": {arr.tolist()!r}" if arr.size <= 8 else ""


def as_param(value: Any, backend: Backend | None = None, integer: bool = False) -> Array:
    """A parameter as a backend array (float dtype unless `integer`)."""
    backend = backend or get_backend()
    xp = backend.xp
    dtype = backend.int_dtype if integer else backend.float_dtype
    if backend.is_array(value):
        if integer or value.dtype == dtype:
            return value
        # the dtype policy: a float64 NumPy array on a float32 backend becomes float32
        return xp.astype(value, dtype)
    return backend.asarray(value, dtype=dtype)


def scalar_or_param(value: Any, backend: Backend) -> Any:
    """A Python number parameter as a Python float, anything else through `as_param`.

    For distributions whose math is written for both: arithmetic between a backend
    array and a Python float keeps the array's dtype on every backend (and works on
    tracers), while turning the number into an array would cost a device op per
    trace site on MLX and JAX, and its log or square another. `Distribution.params`
    still shows every parameter as a backend array.
    """
    kind = type(value)
    if kind is float:
        return value
    if kind is int:
        return float(value)
    return as_param(value, backend)


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    """NumPy broadcasting of shapes (a pure-Python helper, no arrays)."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(ndim):
        dims = {s[len(s) - ndim + i] for s in shapes if len(s) - ndim + i >= 0} - {1}
        if len(dims) > 1:
            raise ValueError(f"shapes {list(shapes)} do not broadcast")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


class Distribution(DistributionGFI):
    """A probability distribution with bound parameters.

    Attributes:
        name: the constructor's name (used in error messages).
        support: a `Support`.
        event_rank: number of trailing axes one draw occupies (0 for scalars,
            1 for vectors such as multivariate_normal, 2 for matrices).
        reparameterized: True when `_draw` is a differentiable function of
            the parameters given the key.
    """

    name: str = "distribution"
    support: Support = REAL
    event_rank: int = 0
    reparameterized: bool = False

    # A distribution whose draw is `f(z)` for one standard normal z per element sets
    # this to a method `f` (see `Gaussian`); the handler then feeds scalar sites
    # normals drawn in blocks instead of a key each (`Handler.sample`).
    from_standard_normal: Callable[[Array], Array] | None = None

    def __init__(self, backend: Backend | None = None, **params: Any):
        self.backend = backend or get_backend()
        # `_params` is what the math reads: backend arrays, or Python floats for
        # distributions built with `scalar_or_param`
        self._params = params

    @property
    def params(self) -> dict:
        """The parameters by name, each a backend array (of the float dtype unless the
        parameter is integer). Python-float parameters kept internally are returned as
        new 0-d arrays."""
        raw = self._params
        for v in raw.values():
            if type(v) is float:
                backend = self.backend
                return {k: backend.asarray(v, dtype=backend.float_dtype) if type(v) is float
                        else v for k, v in raw.items()}
        return raw

    # -- shapes -------------------------------------------------------------
    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Broadcast shape of the parameters, less the event axes.

        Subclasses whose parameters carry extra axes (categorical logits,
        multivariate means and covariances) override this.
        """
        shapes = [s for s in (getattr(p, "shape", ()) for p in self._params.values()) if len(s)]
        if not shapes:  # scalars and 0-d arrays: the per-site common case
            return ()
        if len(shapes) == 1:
            return tuple(shapes[0])
        return broadcast_shapes(*(tuple(s) for s in shapes))

    @property
    def event_shape(self) -> tuple[int, ...]:
        """Shape of one draw."""
        return ()

    # -- the two methods subclasses implement ---------------------------------
    @abc.abstractmethod
    def _draw(self, key: Array, shape: tuple[int, ...]) -> Array:
        ...

    @abc.abstractmethod
    def log_prob(self, value: Any) -> Array:
        """Log density (or mass) of `value`, elementwise over the batch."""

    # -- sampling ---------------------------------------------------------------
    def sample(self, key: Array | None = None) -> Array:
        """One draw (shape batch_shape + event_shape)."""
        from genmlx._keys import resolve_key

        return self._draw(resolve_key(key), self.batch_shape)

    def sample_n(self, key: Array | None, n: int) -> Array:
        """`n` independent draws stacked on a new leading axis, in one call."""
        from genmlx._keys import resolve_key

        return self._draw(resolve_key(key), (int(n),) + self.batch_shape)

    def enumerate_support(self) -> Array:
        """All values of a finite support, stacked on the leading axis.

        Raises:
            ValueError: the support is not finite (or not known concretely).
        """
        raise ValueError(
            f"{self.name} has support '{self.support.kind}', which cannot be enumerated; "
            "enumeration needs a finite discrete support (bernoulli, categorical, "
            "binomial, discrete_uniform)."
        )

    # -- helpers for subclasses ---------------------------------------------------
    @property
    def xp(self) -> Any:
        return self.backend.xp

    def _value(self, value: Any, integer: bool | None = None) -> Array:
        """`value` as a backend array of this distribution's value dtype."""
        if self.backend.is_array(value):
            return value
        integer = self.support.discrete if integer is None else integer
        return as_param(value, self.backend, integer=integer)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={_short(v)}" for k, v in self.params.items())
        return f"{self.name}({shown})"


def _short(v: Any) -> str:
    shape = getattr(v, "shape", ())
    if shape == () and hasattr(v, "item"):
        return f"{v.item():.4g}"
    return f"array{tuple(shape)}"


LOG_2PI = math.log(2.0 * math.pi)
