"""The backend interface: one protocol, a registry, and a scoped current backend.

Everything above this layer reaches arrays only through the `Backend` returned
by `get_backend()`: its `xp` (an array-API namespace), its random keys and base
samplers, and its capabilities (compile, grad, vmap, linalg, memory).

Selection: `set_backend(name)` sets the process default, `use_backend(name)`
scopes a backend to a `with` block (a ContextVar, so threads and async tasks do
not leak into each other), and the environment variable `GENMLX_BACKEND` picks
the default at import. MLX is the default.

Control flow (`scan`, `fori_loop`, `while_loop`, `cond`, `select`) is part of
the interface: the base class holds the eager reference (Python loops over a
small pytree, `genmlx._tree`), which NumPy uses as is, MLX refines (bounded lazy
graphs, an unrolled loop under `mx.compile`) and JAX replaces with `jax.lax`.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import importlib
import os
from contextvars import ContextVar
from typing import Any, Callable, Iterator, Sequence

from genmlx import _tree
from genmlx.errors import BackendError, CapabilityError, ShapeError

Array = Any  # a backend array (mlx.core.array, numpy.ndarray, jax.Array)


class Capability(str, enum.Enum):
    """What a backend may or may not be able to do."""

    COMPILE = "compile"
    GRAD = "grad"
    VMAP = "vmap"
    LINALG = "linalg"
    MEMORY = "memory"
    FLOAT64 = "float64"
    # A `while_loop` (trip count read from data) inside `compile`. MLX lacks it: its
    # loop must read the condition on the host, which `mx.compile` forbids.
    COMPILED_WHILE = "compiled_while"


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
        """A compiled version of `fn` (identity where there is no compiler).

        While the compiler traces `fn`, `is_tracing()` is true, so host state such
        as the global random-key stream can refuse to serve it."""
        self.require(Capability.COMPILE, "compile")
        raise NotImplementedError

    def register_pytree_node(self, cls: type, flatten: Callable, unflatten: Callable) -> None:
        """Let the backend's own transformations (jit, vmap) take and return
        instances of `cls`: flatten(obj) -> (leaves, hashable skeleton),
        unflatten(skeleton, leaves) -> obj. A no-op where the compiler takes only
        arrays (GenMLX flattens for it)."""

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

    # -- control flow -----------------------------------------------------
    # The eager reference: Python loops over pytrees (genmlx._tree). NumPy runs it
    # as is; MLX hooks `_loop_sync` and `_host_bool`; JAX overrides every method
    # with jax.lax and the tree hooks with jax.tree_util.

    def _tree_flatten(self, tree: Any) -> tuple[list, Any]:
        """(leaves, treedef) of a pytree; treedefs compare with ==."""
        return _tree.flatten(tree)

    def _tree_unflatten(self, treedef: Any, leaves: Sequence[Any]) -> Any:
        """The pytree of `treedef` rebuilt from `leaves`."""
        return _tree.unflatten(treedef, leaves)

    def _loop_sync(self, step: int, carry: Any, outputs: list | None = None) -> None:
        """Called by eager loops after step `step` (0-based) with the loop state.

        `outputs` is the list of per-step outputs so far (scan's ys), which a lazy
        backend may evaluate too. A no-op for eager libraries; lazy ones (MLX)
        evaluate here so the graph of a long loop stays bounded.
        """

    def _host_bool(self, x: Any, needed_by: str) -> bool:
        """`x` read on the host as a Python bool (a sync on lazy or async backends)."""
        return bool(x)

    def _check_carry(self, who: str, init_def: Any, init_shapes: list, carry: Any) -> None:
        # JAX refuses a loop whose carry changes structure or shape; the eager loops
        # check the same, so code that runs here also runs under jax.lax.
        leaves, treedef = self._tree_flatten(carry)
        if treedef != init_def:
            raise ShapeError(f"{who}: the carry changed structure from {init_def} to {treedef}; "
                             "the body must return a carry shaped like its input.")
        shapes = [tuple(getattr(leaf, "shape", ())) for leaf in leaves]
        if shapes != init_shapes:
            raise ShapeError(f"{who}: the carry's leaf shapes changed from {init_shapes} to "
                             f"{shapes}; the body must return a carry shaped like its input.")

    def _carry_signature(self, init: Any) -> tuple[Any, list]:
        leaves, treedef = self._tree_flatten(init)
        return treedef, [tuple(getattr(leaf, "shape", ())) for leaf in leaves]

    def scan(self, f: Callable, init: Any, xs: Any = None, length: int | None = None) -> tuple:
        """Loop `carry, y = f(carry, x)` over the leading axis of `xs`.

        Args:
            f: (carry, x) -> (carry, y). carry, x and y are pytrees of arrays
                (nested tuples, named tuples, lists, dicts; None is an empty node).
                The carry must keep its structure and leaf shapes.
            init: the initial carry.
            xs: a pytree of arrays sharing a leading axis of length T, or None.
            length: T; required when `xs` is None, checked against `xs` otherwise.

        Returns:
            (final carry, ys), ys being the per-step y stacked along a new leading
            axis of length T (leafwise; None where y is None).

        Raises:
            ValueError: no length can be found, or the leading axes disagree.
            ShapeError: the carry changed structure or shape.
        """
        x_leaves, x_def = self._tree_flatten(xs)
        steps = _scan_length(x_leaves, length)
        init_def, init_shapes = self._carry_signature(init)
        xp = self.xp
        if steps == 0:
            # No step to run, but ys still needs its structure, shapes and dtypes:
            # run f once on zeros shaped like one x and keep an empty stack of each y.
            x0 = self._tree_unflatten(x_def, [xp.zeros(tuple(leaf.shape[1:]), dtype=leaf.dtype)
                                              for leaf in x_leaves])
            _, y0 = f(init, x0)
            y_leaves, y_def = self._tree_flatten(y0)
            empty = [xp.zeros((0,) + tuple(self.asarray(y).shape), dtype=self.asarray(y).dtype)
                     for y in y_leaves]
            return init, self._tree_unflatten(y_def, empty)
        carry = init
        ys = []
        for t in range(steps):
            x = self._tree_unflatten(x_def, [leaf[t] for leaf in x_leaves])
            carry, y = f(carry, x)
            self._check_carry("scan", init_def, init_shapes, carry)
            ys.append(y)
            self._loop_sync(t, carry, ys)
        return carry, self._stack_trees(ys)

    def _stack_trees(self, trees: list) -> Any:
        """Same-structured pytrees stacked leafwise along a new leading axis."""
        flats = [self._tree_flatten(t) for t in trees]
        treedef = flats[0][1]
        for _, other in flats[1:]:
            if other != treedef:
                raise ShapeError(f"scan: the per-step outputs changed structure from {treedef} "
                                 f"to {other}.")
        columns = zip(*(leaves for leaves, _ in flats))
        stacked = [self.xp.stack([self.asarray(v) for v in col]) for col in columns]
        return self._tree_unflatten(treedef, stacked)

    def fori_loop(self, lower: int, upper: int, body: Callable, init: Any) -> Any:
        """`carry = body(i, carry)` for i in [lower, upper); returns the final carry.

        Args:
            lower, upper: the index range (Python ints on eager backends; JAX also
                takes traced ones).
            body: (i, carry) -> carry; i is a 0-d integer array (int_dtype), as
                under jax.lax, so index arithmetic is written once for every backend.
            init: the initial carry (a pytree of arrays).
        """
        init_def, init_shapes = self._carry_signature(init)
        carry = init
        for step, i in enumerate(range(int(lower), int(upper))):
            carry = body(self.asarray(i, dtype=self.int_dtype), carry)
            self._check_carry("fori_loop", init_def, init_shapes, carry)
            self._loop_sync(step, carry)
        return carry

    def while_loop(self, cond: Callable, body: Callable, init: Any) -> Any:
        """`carry = body(carry)` while `cond(carry)`; returns the final carry.

        Eager backends read `cond(carry)` on the host every iteration (a sync on
        MLX, which is why MLX cannot run it inside `mx.compile`).

        Args:
            cond: carry -> scalar boolean (array or Python bool).
            body: carry -> carry.
            init: the initial carry (a pytree of arrays).

        Raises:
            CapabilityError: inside a compiled function on a backend lacking
                `Capability.COMPILED_WHILE` (MLX).
        """
        init_def, init_shapes = self._carry_signature(init)
        carry = init
        step = 0
        while self._host_bool(cond(carry), "while_loop"):
            carry = body(carry)
            self._check_carry("while_loop", init_def, init_shapes, carry)
            self._loop_sync(step, carry)
            step += 1
        return carry

    def cond(self, pred: Any, true_fn: Callable, false_fn: Callable, *operands: Any) -> Any:
        """`true_fn(*operands)` where `pred` holds, else `false_fn(*operands)`.

        A concrete Python bool runs one branch. An array pred runs both branches
        and selects leafwise with `select` (no host sync, so it works under
        compile and vmap; both branches must return the same structure). A pred
        of shape [N] selects per row of [N, ...] leaves, as in `select`.
        """
        if isinstance(pred, bool):
            return true_fn(*operands) if pred else false_fn(*operands)
        return self.select(pred, true_fn(*operands), false_fn(*operands))

    def select(self, pred: Any, a: Any, b: Any) -> Any:
        """Leafwise `where(pred, a, b)` over two pytrees of the same structure.

        Unlike plain broadcasting (which aligns trailing axes), `pred`'s axes align
        with the *leading* axes of each leaf: a pred of shape [N] picks whole rows
        of [N, D] leaves (a per-particle accept/reject). A Python bool picks a
        whole tree.

        Raises:
            ShapeError: `a` and `b` differ in structure.
        """
        if isinstance(pred, bool):
            return a if pred else b
        a_leaves, a_def = self._tree_flatten(a)
        b_leaves, b_def = self._tree_flatten(b)
        if a_def != b_def:
            raise ShapeError(f"select: the two trees differ in structure: {a_def} vs {b_def}; "
                             "both branches must return the same structure.")
        xp = self.xp
        p = xp.asarray(pred)
        out = []
        for x, y in zip(a_leaves, b_leaves):
            ndim = max(len(getattr(x, "shape", ())), len(getattr(y, "shape", ())))
            q = p
            if 0 < p.ndim < ndim:
                q = xp.reshape(p, tuple(p.shape) + (1,) * (ndim - p.ndim))
            out.append(xp.where(q, x, y))
        return self._tree_unflatten(a_def, out)

    def is_tracer(self, x: Any) -> bool:
        """True when `x` is an abstract value inside a trace (JAX's jit, grad, vmap).

        Eager backends and MLX return False: MLX arrays inside `mx.compile` look
        like any other array (see the MLX backend's note).
        """
        return False

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
    backend = module.make_backend(float_dtype)
    _LOADED.append(backend)
    for hook in _LOAD_HOOKS:
        hook(backend)
    return backend


_LOADED: list[Backend] = []
_LOAD_HOOKS: list[Callable[[Backend], None]] = []


def on_backend_load(hook: Callable[[Backend], None]) -> None:
    """Run `hook(backend)` for every backend loaded so far and every one loaded later
    (higher layers register their pytree classes this way without importing an
    array library they may not need)."""
    _LOAD_HOOKS.append(hook)
    for backend in _LOADED:
        hook(backend)


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


def _scan_length(x_leaves: list, length: int | None) -> int:
    """The trip count of a scan over leaves `x_leaves`, checked against `length`."""
    lengths = {int(leaf.shape[0]) for leaf in x_leaves}
    if len(lengths) > 1:
        raise ValueError(f"scan: the leaves of xs disagree on the leading axis: {sorted(lengths)}")
    if not lengths:
        if length is None:
            raise ValueError("scan: pass xs with a leading axis, or length= when xs is None")
        return int(length)
    (found,) = lengths
    if length is not None and int(length) != found:
        raise ValueError(f"scan: length={length} but xs has leading axis {found}")
    return found


_tracing: ContextVar[str | None] = ContextVar("genmlx_tracing", default=None)


@contextlib.contextmanager
def tracing(what: str) -> Iterator[None]:
    """Mark the enclosed code as being traced for compilation (`what` names it in
    errors): host state, such as the global key stream, refuses to serve it."""
    token = _tracing.set(what)
    try:
        yield
    finally:
        _tracing.reset(token)


def tracing_what() -> str | None:
    """What is being traced for compilation right now (None outside tracing)."""
    return _tracing.get()


def traced(fn: Callable, what: str) -> Callable:
    """`fn` running inside `tracing(what)`: what a backend hands its compiler."""

    @functools.wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        with tracing(what):
            return fn(*args, **kwargs)

    return inner


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
