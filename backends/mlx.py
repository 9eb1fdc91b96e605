"""The MLX backend (reference): CPU, Metal and CUDA through one lazy array library.

`xp` is mlx.core behind a thin shim adding the array-API names MLX lacks.
Linear algebra runs on the CPU stream, where MLX implements it. Arrays are
lazy: `eval` materialises them, and loops that build arrays must call it.
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

from genmlx._backend import Backend, Capability


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
        return mx.compile(fn)

    def grad(self, fn: Callable, argnums=0) -> Callable:
        return mx.grad(fn, argnums=argnums)

    def value_and_grad(self, fn: Callable, argnums=0) -> Callable:
        return mx.value_and_grad(fn, argnums=argnums)

    def vjp(self, fn: Callable, primals: tuple, cotangent):
        outs, grads = mx.vjp(lambda *a: fn(*a), list(primals), [cotangent])
        return outs[0], tuple(grads)

    def vmap(self, fn: Callable, in_axes=0, out_axes=0) -> Callable:
        return mx.vmap(fn, in_axes=in_axes, out_axes=out_axes)

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
