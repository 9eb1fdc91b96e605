"""The MLX backend (reference): CPU, Metal and CUDA through one lazy array library.

`xp` is mlx.core behind a thin shim adding the array-API names MLX lacks.
Linear algebra runs on the CPU stream, where MLX implements it. Arrays are
lazy: `eval` materialises them, and loops that build arrays must call it.

Control flow: MLX has no loop or branch primitive, so `scan`, `fori_loop` and
`while_loop` are Python loops (the base class's eager reference) that start an
asynchronous evaluation of the loop state every `LOOP_BLOCK` steps, and `cond`
evaluates both branches and selects. Under `mx.compile` (or `mx.vmap`) the same
loop is traced, i.e. unrolled; see `MlxBackend.scan` for what that costs.
`while_loop` must read its condition on the host and so cannot be compiled.
"""

from __future__ import annotations

import os
import types
from typing import Any, Callable, Sequence

# float32 matmuls run at TF32 precision on CUDA (and M5 Metal) unless this is 0; log
# densities need full float32 (measured on an H100: 1.4e-4 relative error in L @ L.T,
# 3e-4 in MVN log densities). It must be set before MLX's first operation; a value
# the user set explicitly wins.
os.environ.setdefault("MLX_ENABLE_TF32", "0")

import mlx.core as mx  # noqa: E402

from genmlx._backend import Backend, Capability, traced
from genmlx.errors import CapabilityError

# Eager MLX loops start evaluating their state every LOOP_BLOCK steps. Without it a
# T-step loop builds one T-deep lazy graph that is only evaluated at the end (its
# memory grows with T); evaluating every step costs a host round trip per step.
# Measured on a 2-core CPU, scan of a 4-vector affine step, T = 1000, machine idle:
# no eval 42 ms, mx.eval every step 107 ms, mx.async_eval every step 28 ms, every
# 16/64/256 steps 24/25/23 ms. On the same machine under load from other processes
# the block sizes were within noise of each other and of no eval (70-150 ms). So
# the block bounds the graph at no measurable cost; async_eval lets the host trace
# the next block while the previous one runs.
LOOP_BLOCK = 64


def _in_transform_error(exc: ValueError) -> bool:
    """True for MLX's refusal to evaluate inside mx.compile / mx.vmap."""
    return "transformation" in str(exc)


def _build_namespace() -> types.SimpleNamespace:
    """mlx.core's names plus the standard ones MLX spells differently or lacks."""
    ns = types.SimpleNamespace(**{n: getattr(mx, n) for n in dir(mx) if not n.startswith("__")})
    ns.bool = mx.bool_
    ns.signbit = lambda x: mx.logical_or(x < 0, mx.logical_and(x == 0, (1.0 / x) < 0))
    ns.copysign = lambda x1, x2: mx.where(ns.signbit(mx.array(x2)), -mx.abs(x1), mx.abs(x1))
    ns.hypot = lambda x1, x2: mx.sqrt(mx.square(x1) + mx.square(x2))
    ns.__name__ = "genmlx.backends.mlx.xp"
    return ns


class MlxBackend(Backend):
    name = "mlx"
    xp = _build_namespace()
    capabilities = frozenset({Capability.COMPILE, Capability.GRAD, Capability.VMAP,
                              Capability.LINALG, Capability.MEMORY})

    def is_array(self, x: Any) -> bool:
        return isinstance(x, mx.array)

    def to_numpy(self, x):
        import numpy as np

        if isinstance(x, mx.array):
            mx.eval(x)
        return np.asarray(x)

    def eval(self, *arrays: Any) -> None:
        mx.eval(*arrays)

    def erf(self, x):
        return mx.erf(x)

    def erfinv(self, x):
        return mx.erfinv(x)

    def stop_gradient(self, x):
        return mx.stop_gradient(x)

    # -- keys -----------------------------------------------------------------
    def key(self, seed: int):
        return mx.random.key(int(seed) & 0xFFFFFFFFFFFFFFFF)

    def split(self, key, num: int = 2):
        return mx.random.split(key, num)

    def fold_in(self, key, data: int):
        # MLX has no fold_in: mix the data into the key, then hash with threefry.
        salt = mx.random.key(int(data) & 0xFFFFFFFF)
        return mx.random.split(mx.bitwise_xor(key, salt), 2)[0]

    # -- samplers --------------------------------------------------------------
    def uniform(self, key, shape: Sequence[int] = (), dtype=None):
        return mx.random.uniform(shape=tuple(shape), dtype=dtype or self.float_dtype, key=key)

    def normal(self, key, shape: Sequence[int] = (), dtype=None):
        return mx.random.normal(shape=tuple(shape), dtype=dtype or self.float_dtype, key=key)

    def gumbel(self, key, shape: Sequence[int] = (), dtype=None):
        return mx.random.gumbel(shape=tuple(shape), dtype=dtype or self.float_dtype, key=key)

    def categorical(self, key, logits, shape=None):
        logits = mx.array(logits)
        out = mx.random.categorical(logits, axis=-1, shape=None if shape is None else tuple(shape),
                                    key=key)
        return out.astype(self.int_dtype)

    # -- transformations ---------------------------------------------------------
    def compile(self, fn: Callable) -> Callable:
        what = f"a function compiled by mx.compile ({getattr(fn, '__qualname__', 'fn')})"
        return mx.compile(traced(fn, what))

    def grad(self, fn: Callable, argnums=0) -> Callable:
        return mx.grad(fn, argnums=argnums)

    def value_and_grad(self, fn: Callable, argnums=0) -> Callable:
        return mx.value_and_grad(fn, argnums=argnums)

    def vjp(self, fn: Callable, primals: tuple, cotangent):
        outs, grads = mx.vjp(lambda *a: fn(*a), list(primals), [cotangent])
        return outs[0], tuple(grads)

    def vmap(self, fn: Callable, in_axes=0, out_axes=0) -> Callable:
        return mx.vmap(fn, in_axes=in_axes, out_axes=out_axes)

    # -- control flow --------------------------------------------------------------
    def scan(self, f: Callable, init: Any, xs: Any = None, length: int | None = None) -> tuple:
        """`carry, y = f(carry, x)` over the leading axis of `xs` (see `Backend.scan`).

        MLX has no scan primitive. Eagerly this is a Python loop that starts an
        asynchronous evaluation every `LOOP_BLOCK` steps, which bounds the lazy
        graph. Inside `mx.compile` the loop is traced, i.e. unrolled into T copies
        of the step: the compiled graph and the compile time grow with T.
        Measured on a 2-core CPU (MLX 0.32, scan of a 4-vector affine step);
        compile = a fresh mx.compile's first call minus a compiled call:

            T       compile    compiled call   eager call
            10      0.5 ms     0.07-0.1 ms     0.2 ms
            100     4-5 ms     1.0-1.6 ms      1.9-3 ms
            1000    65-95 ms   16-37 ms        24-105 ms
            3000    350 ms     75-110 ms       --

        (ranges: idle machine vs loaded by other processes). Compile time grows
        with T, superlinearly past ~1000 steps, and the unrolled compiled graph is
        barely faster per call than the eager loop (MLX's per-op cost dominates a
        tiny step); compile a scan only when T is small, or compile the step and
        loop eagerly. JAX's lax.scan compiles in ~50 ms whatever T, and runs T = 1000
        in ~12 us. (benchmarks/bench_control_flow.py measures all backends.)
        """
        return super().scan(f, init, xs, length)

    def _loop_sync(self, step: int, carry: Any, outputs: list | None = None) -> None:
        if (step + 1) % LOOP_BLOCK:
            return
        # The carry, and this block's outputs: each y hangs off a step's carry, so
        # leaving them lazy would keep every intermediate carry alive until the end.
        trees = [carry] + (outputs[-LOOP_BLOCK:] if outputs else [])
        arrays = [leaf for tree in trees for leaf in self._tree_flatten(tree)[0]
                  if isinstance(leaf, mx.array)]
        try:
            mx.async_eval(*arrays)
        except ValueError as exc:
            # Inside mx.compile / mx.vmap the loop is being traced: nothing to run yet.
            if not _in_transform_error(exc):
                raise

    def _host_bool(self, x: Any, needed_by: str) -> bool:
        try:
            return bool(x)
        except ValueError as exc:
            if _in_transform_error(exc):
                raise CapabilityError(
                    self.name, Capability.COMPILED_WHILE.value,
                    f"{needed_by} inside mx.compile or mx.vmap (MLX reads the loop condition "
                    "on the host, which a traced function cannot do; call it outside the "
                    "compiled function, or use fori_loop/scan with a fixed trip count)",
                ) from exc
            raise

    def is_tracer(self, x: Any) -> bool:
        """Always False: MLX gives no side-effect-free way to tell.

        Inside `mx.compile`, arrays derived from the compiled function's inputs
        are ordinary `mx.array`s; the only symptom is that evaluating one raises
        ValueError, and probing that way would force (sync) every eager array
        asked about. Code that must know it is being compiled has to be told.
        """
        return False

    # -- linear algebra (MLX implements it on the CPU stream) --------------------
    def cholesky(self, a):
        return mx.linalg.cholesky(a, stream=mx.cpu)

    def solve_triangular(self, a, b, lower: bool = True):
        vec = b.ndim == a.ndim - 1
        x = mx.linalg.solve_triangular(a, b[..., None] if vec else b, upper=not lower,
                                       stream=mx.cpu)
        return x[..., 0] if vec else x

    def slogdet(self, a):
        return mx.linalg.slogdet(a, stream=mx.cpu)

    def inv(self, a):
        return mx.linalg.inv(a, stream=mx.cpu)

    # -- memory --------------------------------------------------------------------
    def memory_report(self) -> dict:
        return {"active_bytes": mx.get_active_memory(), "cache_bytes": mx.get_cache_memory(),
                "peak_bytes": mx.get_peak_memory()}

    def set_cache_limit(self, limit_bytes: int) -> int:
        return mx.set_cache_limit(int(limit_bytes))

    def clear_cache(self) -> None:
        mx.clear_cache()


def make_backend(float_dtype: str) -> MlxBackend:
    return MlxBackend(float_dtype)
