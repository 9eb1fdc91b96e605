"""The JAX backend: jax.numpy with jit, grad and vmap; keys are raw uint32[2]."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import jax.scipy.special as jss

from genmlx._backend import Backend, Capability, traced


class JaxBackend(Backend):
    name = "jax"
    xp = jnp
    capabilities = frozenset({Capability.COMPILE, Capability.GRAD, Capability.VMAP,
                              Capability.LINALG, Capability.MEMORY, Capability.COMPILED_WHILE})

    def is_array(self, x: Any) -> bool:
        return isinstance(x, jax.Array)

    def eval(self, *arrays: Any) -> None:
        jax.block_until_ready(arrays)

    def erf(self, x):
        return jss.erf(x)

    def erfinv(self, x):
        return jss.erfinv(x)

    def stop_gradient(self, x):
        return jax.lax.stop_gradient(x)

    # -- keys -------------------------------------------------------------------
    def key(self, seed: int):
        return jax.random.PRNGKey(int(seed) & 0xFFFFFFFF)

    def split(self, key, num: int = 2):
        return jax.random.split(key, num)

    def fold_in(self, key, data):
        # Python ints are reduced to uint32 here; arrays (traced step indices) go as they are
        if isinstance(data, int):
            data = int(data) & 0xFFFFFFFF
        return jax.random.fold_in(key, data)

    # -- samplers ----------------------------------------------------------------
    def uniform(self, key, shape: Sequence[int] = (), dtype=None):
        return jax.random.uniform(key, tuple(shape), dtype=dtype or self.float_dtype)

    def normal(self, key, shape: Sequence[int] = (), dtype=None):
        return jax.random.normal(key, tuple(shape), dtype=dtype or self.float_dtype)

    def gumbel(self, key, shape: Sequence[int] = (), dtype=None):
        return jax.random.gumbel(key, tuple(shape), dtype=dtype or self.float_dtype)

    def categorical(self, key, logits, shape=None):
        return jax.random.categorical(key, jnp.asarray(logits), axis=-1,
                                      shape=None if shape is None else tuple(shape)
                                      ).astype(self.int_dtype)

    # -- transformations -----------------------------------------------------------
    def compile(self, fn: Callable) -> Callable:
        return jax.jit(traced(fn, f"a function compiled by jax.jit ({_name(fn)})"))

    def register_pytree_node(self, cls, flatten, unflatten) -> None:
        if cls not in _REGISTERED:  # JAX refuses a second registration of one class
            jax.tree_util.register_pytree_node(cls, flatten, unflatten)
            _REGISTERED.add(cls)

    def grad(self, fn: Callable, argnums=0) -> Callable:
        return jax.grad(fn, argnums=argnums)

    def value_and_grad(self, fn: Callable, argnums=0) -> Callable:
        return jax.value_and_grad(fn, argnums=argnums)

    def vjp(self, fn: Callable, primals: tuple, cotangent):
        out, pullback = jax.vjp(fn, *primals)
        return out, tuple(pullback(cotangent))

    def vmap(self, fn: Callable, in_axes=0, out_axes=0) -> Callable:
        return jax.vmap(fn, in_axes=in_axes, out_axes=out_axes)

    # -- control flow: jax.lax primitives (one compiled body, whatever the trip count) --
    def _tree_flatten(self, tree: Any) -> tuple[list, Any]:
        return jax.tree_util.tree_flatten(tree)

    def _tree_unflatten(self, treedef: Any, leaves) -> Any:
        return jax.tree_util.tree_unflatten(treedef, list(leaves))

    def scan(self, f: Callable, init: Any, xs: Any = None, length: int | None = None) -> tuple:
        """`jax.lax.scan`: the step is traced once, so compile time is flat in T."""
        return jax.lax.scan(f, init, xs, length=length)

    def fori_loop(self, lower, upper, body: Callable, init: Any) -> Any:
        """`jax.lax.fori_loop` (a scan, hence reverse-differentiable, for static bounds)."""
        return jax.lax.fori_loop(lower, upper, body, init)

    def while_loop(self, cond: Callable, body: Callable, init: Any) -> Any:
        """`jax.lax.while_loop`: runs under jit; not reverse-differentiable."""
        return jax.lax.while_loop(cond, body, init)

    def cond(self, pred, true_fn: Callable, false_fn: Callable, *operands: Any) -> Any:
        """`jax.lax.cond` for a scalar pred; a Python bool picks one branch in Python,
        and a batched pred ([N]) runs both branches and selects rows, as on the eager
        backends (lax.cond takes scalars only)."""
        if isinstance(pred, bool):
            return true_fn(*operands) if pred else false_fn(*operands)
        p = jnp.asarray(pred)
        if p.ndim == 0:
            return jax.lax.cond(p, true_fn, false_fn, *operands)
        return self.select(p, true_fn(*operands), false_fn(*operands))

    def is_tracer(self, x: Any) -> bool:
        """True for abstract values inside jit, grad or vmap (jax.core.Tracer)."""
        return isinstance(x, jax.core.Tracer)

    # -- linear algebra -------------------------------------------------------------
    def cholesky(self, a):
        return jnp.linalg.cholesky(a)

    def solve_triangular(self, a, b, lower: bool = True):
        vec = b.ndim == a.ndim - 1
        x = jsl.solve_triangular(a, b[..., None] if vec else b, lower=lower)
        return x[..., 0] if vec else x

    def slogdet(self, a):
        sign, logdet = jnp.linalg.slogdet(a)
        return sign, logdet

    def inv(self, a):
        return jnp.linalg.inv(a)

    # -- memory ---------------------------------------------------------------------
    def memory_report(self) -> dict:
        stats = jax.devices()[0].memory_stats() or {}
        return {"active_bytes": stats.get("bytes_in_use"), "cache_bytes": None,
                "peak_bytes": stats.get("peak_bytes_in_use")}

    def clear_cache(self) -> None:
        jax.clear_caches()


def make_backend(float_dtype: str) -> JaxBackend:
    return JaxBackend(float_dtype)


_REGISTERED: set = set()


def _name(fn: Callable) -> str:
    return getattr(fn, "__qualname__", type(fn).__name__)
