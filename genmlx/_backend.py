"""The backend interface: one protocol, a registry, and a scoped current backend.

Everything above this layer reaches arrays only through the `Backend` returned
by `get_backend()`: its `xp` (an array-API namespace), its random keys and base
samplers, and its capabilities (compile, grad, vmap, linalg, memory).

Selection: `set_backend(name)` sets the process default, `use_backend(name)`
scopes a backend to a `with` block (a ContextVar, so threads and async tasks do
not leak into each other), and the environment variable `GENMLX_BACKEND` picks
the default at import. MLX is the default.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import importlib
import os
from contextvars import ContextVar
from typing import Any, Callable, Iterator, Sequence

from genmlx.errors import BackendError, CapabilityError

Array = Any  # a backend array (mlx.core.array, numpy.ndarray, jax.Array)


class Capability(str, enum.Enum):
    """What a backend may or may not be able to do."""

    COMPILE = "compile"
    GRAD = "grad"
    VMAP = "vmap"
    LINALG = "linalg"
    MEMORY = "memory"
    FLOAT64 = "float64"


class Backend:
    """One array library behind GenMLX.

    Subclasses set `name`, `xp`, `capabilities` and implement the methods
    below. A method that needs a capability the backend lacks raises
    `CapabilityError` (via `require`), naming backend and capability.

    Attributes:
        name: registry name ("mlx", "numpy", "jax").
        xp: array-API namespace for this library.
        float_dtype: default floating dtype (float32 unless asked otherwise).
        int_dtype: dtype of integer-valued choices (int32).
        capabilities: frozenset of `Capability` the backend has.
    """

    name: str = "?"
    xp: Any = None
    capabilities: frozenset = frozenset()

    def __init__(self, float_dtype: str = "float32"):
        if float_dtype == "float64" and Capability.FLOAT64 not in self.capabilities:
            raise CapabilityError(self.name, Capability.FLOAT64.value, "float_dtype='float64'")
        self.float_dtype = getattr(self.xp, float_dtype)
        self.int_dtype = self.xp.int32
        self.float_dtype_name = float_dtype

    def __repr__(self) -> str:
        return f"<genmlx backend '{self.name}' ({self.float_dtype_name})>"

    # -- capabilities -----------------------------------------------------
    def has(self, capability: Capability | str) -> bool:
        """True when the backend has `capability`."""
        return Capability(capability) in self.capabilities

    def require(self, capability: Capability | str, needed_by: str | None = None) -> None:
        """Raise `CapabilityError` unless the backend has `capability`."""
        if not self.has(capability):
            raise CapabilityError(self.name, Capability(capability).value, needed_by)

    # -- arrays -----------------------------------------------------------
    def is_array(self, x: Any) -> bool:
        """True when `x` is an array of this backend."""
        raise NotImplementedError

    def asarray(self, x: Any, dtype: Any = None) -> Array:
        """Convert Python numbers, lists or NumPy arrays to a backend array.

        Python floats become `float_dtype`, Python ints `int_dtype`.
        """
        xp = self.xp
        if dtype is None and not self.is_array(x):
            import numpy as np  # conversion helper only; never an array we compute on

            kind = np.asarray(x).dtype.kind
            if kind == "f":
                dtype = self.float_dtype
            elif kind in "iu":
                dtype = self.int_dtype
        return xp.asarray(x, dtype=dtype) if dtype is not None else xp.asarray(x)

    def to_numpy(self, x: Array) -> Any:
        """A NumPy copy of a backend array (materialising it first)."""
        import numpy as np

        return np.asarray(x)

    def to_python(self, x: Array) -> Any:
        """A Python scalar (0-d arrays) or nested list."""
        return self.to_numpy(x).tolist()

    def eval(self, *arrays: Any) -> None:
        """Materialise lazy arrays (MLX) or wait for async ones (JAX)."""

    # -- special primitives the standard lacks ----------------------------
    def erf(self, x: Array) -> Array:
        """The error function, elementwise."""
        raise NotImplementedError

    def erfinv(self, x: Array) -> Array:
        """The inverse error function, elementwise."""
        raise NotImplementedError

    def stop_gradient(self, x: Array) -> Array:
        """`x` with no gradient flowing through it."""
        return x

    # -- random keys ------------------------------------------------------
    def key(self, seed: int) -> Array:
        """A random key (uint32[2]) from an integer seed."""
        raise NotImplementedError

    def split(self, key: Array, num: int = 2) -> Array:
        """`num` independent keys, stacked as uint32[num, 2]."""
        raise NotImplementedError

    def fold_in(self, key: Array, data: int) -> Array:
        """A new key that depends deterministically on `key` and `data`."""
        raise NotImplementedError

    # -- base samplers (all take an explicit key) -------------------------
    def uniform(self, key: Array, shape: Sequence[int] = (), dtype: Any = None) -> Array:
        """Uniform draws on [0, 1)."""
        raise NotImplementedError

    def normal(self, key: Array, shape: Sequence[int] = (), dtype: Any = None) -> Array:
        """Standard normal draws."""
        raise NotImplementedError

    def gumbel(self, key: Array, shape: Sequence[int] = (), dtype: Any = None) -> Array:
        """Standard Gumbel draws."""
        u = self.uniform(key, shape, dtype)
        xp = self.xp
        tiny = xp.finfo(u.dtype).smallest_normal
        return -xp.log(-xp.log(xp.clip(u, tiny, 1.0)))

    def categorical(self, key: Array, logits: Array, shape: Sequence[int] | None = None) -> Array:
        """Index draws from softmax(logits) over the last axis.

        `shape` is the output shape; it must broadcast with logits.shape[:-1].
        """
        xp = self.xp
        logits = xp.asarray(logits)
        out_shape = tuple(shape) if shape is not None else tuple(logits.shape[:-1])
        g = self.gumbel(key, out_shape + (logits.shape[-1],), logits.dtype)
        return xp.astype(xp.argmax(logits + g, axis=-1), self.int_dtype)

    def bernoulli(self, key: Array, p: Array, shape: Sequence[int] | None = None) -> Array:
        """0/1 draws (int32) with P(1) = p."""
        xp = self.xp
        p = xp.asarray(p)
        out_shape = tuple(shape) if shape is not None else tuple(p.shape)
        u = self.uniform(key, out_shape, p.dtype if xp.isdtype(p.dtype, "real floating") else None)
        return xp.astype(u < p, self.int_dtype)

    def randint(self, key: Array, low: Any, high: Any, shape: Sequence[int] = ()) -> Array:
        """Integers uniform on [low, high)."""
        xp = self.xp
        u = self.uniform(key, shape, self.float_dtype)
        low = xp.asarray(low, dtype=self.float_dtype)
        high = xp.asarray(high, dtype=self.float_dtype)
        draw = xp.floor(low + u * (high - low))
        return xp.astype(xp.minimum(draw, high - 1), self.int_dtype)

    # -- transformations --------------------------------------------------
    def compile(self, fn: Callable) -> Callable:
        """A compiled version of `fn` (identity where there is no compiler)."""
        self.require(Capability.COMPILE, "compile")
        raise NotImplementedError

    def grad(self, fn: Callable, argnums: int | tuple = 0) -> Callable:
        """The gradient of scalar `fn` with respect to `argnums`."""
        self.require(Capability.GRAD, "grad")
        raise NotImplementedError

    def value_and_grad(self, fn: Callable, argnums: int | tuple = 0) -> Callable:
        """A function returning (fn(...), grad fn(...))."""
        self.require(Capability.GRAD, "value_and_grad")
        raise NotImplementedError

    def vjp(self, fn: Callable, primals: tuple, cotangent: Array) -> tuple:
        """(fn(*primals), tuple of cotangent-weighted gradients per primal)."""
        self.require(Capability.GRAD, "vjp")
        raise NotImplementedError

    def vmap(self, fn: Callable, in_axes: Any = 0, out_axes: Any = 0) -> Callable:
        """`fn` mapped over a leading batch axis."""
        self.require(Capability.VMAP, "vmap")
        raise NotImplementedError

    # -- linear algebra ---------------------------------------------------
    def cholesky(self, a: Array) -> Array:
        """Lower Cholesky factor (batched over leading axes)."""
        raise NotImplementedError

    def solve_triangular(self, a: Array, b: Array, lower: bool = True) -> Array:
        """Solve a x = b for triangular `a` (b is [..., D] or [..., D, K])."""
        raise NotImplementedError

    def slogdet(self, a: Array) -> tuple:
        """(sign, log|det a|)."""
        raise NotImplementedError

    def inv(self, a: Array) -> Array:
        """Matrix inverse."""
        raise NotImplementedError

    # -- memory -----------------------------------------------------------
    def memory_report(self) -> dict:
        """Bytes in use, in the cache and at peak (None where unknown)."""
        return {"active_bytes": None, "cache_bytes": None, "peak_bytes": None}

    def set_cache_limit(self, limit_bytes: int) -> int | None:
        """Cap the allocator cache; returns the previous limit where known."""
        return None

    def clear_cache(self) -> None:
        """Release cached buffers back to the system."""


# ---------------------------------------------------------------------------
# registry and selection

_MODULES = {"mlx": "genmlx.backends.mlx", "numpy": "genmlx.backends.numpy", "jax": "genmlx.backends.jax"}
_PACKAGES = {"mlx": "mlx[cpu] (Linux) or mlx (macOS)", "numpy": "numpy", "jax": "jax"}
DEFAULT_BACKEND = "mlx"
ENV_VAR = "GENMLX_BACKEND"


def available_backends() -> tuple[str, ...]:
    """The registered backend names (installed or not)."""
    return tuple(_MODULES)


def is_installed(name: str) -> bool:
    """True when the library behind backend `name` imports."""
    try:
        _load(name, "float32")
    except BackendError:
        return False
    return True


def installed_backends() -> tuple[str, ...]:
    """The backend names whose libraries import here."""
    return tuple(n for n in _MODULES if is_installed(n))


@functools.lru_cache(maxsize=None)
def _load(name: str, float_dtype: str) -> Backend:
    if name not in _MODULES:
        raise BackendError(
            f"unknown backend '{name}'; expected one of {', '.join(_MODULES)}."
        )
    try:
        module = importlib.import_module(_MODULES[name])
    except ImportError as exc:
        raise BackendError(
            f"backend '{name}' is not installed ({exc}); install it with "
            f"`pip install {_PACKAGES[name]}`."
        ) from exc
    return module.make_backend(float_dtype)


def _parse(spec: str | Backend) -> Backend:
    if isinstance(spec, Backend):
        return spec
    name, _, dtype = str(spec).partition(":")
    return _load(name.strip().lower(), (dtype or "float32").strip())


_default: list[Backend | None] = [None]
_scoped: ContextVar[Backend | None] = ContextVar("genmlx_backend", default=None)


def get_backend(name: str | None = None) -> Backend:
    """The current backend (scoped, else process default), or the named one.

    A name may carry a dtype: "numpy:float64".
    """
    if name is not None:
        return _parse(name)
    scoped = _scoped.get()
    if scoped is not None:
        return scoped
    if _default[0] is None:
        _default[0] = _parse(os.environ.get(ENV_VAR, DEFAULT_BACKEND))
    return _default[0]


def set_backend(name: str | Backend, float_dtype: str | None = None) -> Backend:
    """Set the process-wide default backend and return it.

    Args:
        name: "mlx", "numpy" or "jax" (optionally "numpy:float64").
        float_dtype: "float32" (default) or "float64" where the backend has it.

    Raises:
        BackendError: unknown name, or the library is not installed.
    """
    backend = _parse(name if float_dtype is None else f"{name}:{float_dtype}")
    _default[0] = backend
    return backend


@contextlib.contextmanager
def use_backend(name: str | Backend, float_dtype: str | None = None) -> Iterator[Backend]:
    """Scope a backend to a `with` block: `with gm.use_backend("numpy") as b:`."""
    backend = _parse(name if float_dtype is None else f"{name}:{float_dtype}")
    token = _scoped.set(backend)
    try:
        yield backend
    finally:
        _scoped.reset(token)


def host_numpy() -> Any:
    """NumPy, for reading concrete user inputs on the host (parameter validation,
    shapes of Python lists). Never for model computation: that goes through
    `get_backend().xp`, so it runs, compiles and differentiates on every backend."""
    import numpy

    return numpy


def requires(*capabilities: Capability | str) -> Callable:
    """Decorator: the entry point raises `CapabilityError` on backends lacking any."""

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            backend = get_backend()
            for cap in capabilities:
                backend.require(cap, fn.__qualname__)
            return fn(*args, **kwargs)

        inner.required_capabilities = tuple(Capability(c) for c in capabilities)
        return inner

    return wrap
