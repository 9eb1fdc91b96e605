"""The NumPy backend: the eager reference used for differential tests against scipy.

It has no autodiff (grad raises CapabilityError), its compile is the identity
and its vmap a Python loop over the batch axis. It alone may run in float64.
Control flow (scan, fori_loop, while_loop, cond, select) is the base class's
eager reference: Python loops over pytrees.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Sequence

import array_api_compat.numpy as xp_numpy
import numpy as np

from genmlx import _tree
from genmlx._backend import Backend, Capability

_U32 = np.uint32


_local = threading.local()


def _generator(key: Any) -> np.random.Generator:
    """A Generator positioned at the start of the Philox stream named by `key`.

    One Philox per thread is re-keyed in place: constructing a fresh bit
    generator draws OS entropy first, which dominated the per-site cost.
    """
    gen = getattr(_local, "gen", None)
    if gen is None:
        gen = _local.gen = np.random.Generator(np.random.Philox(0))
        _local.template = gen.bit_generator.state
    k = np.asarray(key, dtype=np.uint64)
    state = dict(_local.template)
    state["state"] = {"counter": np.zeros(4, dtype=np.uint64),
                      "key": np.array([int(k[0]) << 32 | int(k[1]), 0], dtype=np.uint64)}
    state["buffer_pos"] = 4
    state["has_uint32"] = 0
    gen.bit_generator.state = state
    return gen


class NumpyBackend(Backend):
    name = "numpy"
    xp = xp_numpy
    # COMPILED_WHILE: compile is the identity, so a while_loop "inside" it just runs.
    capabilities = frozenset({Capability.VMAP, Capability.LINALG, Capability.FLOAT64,
                              Capability.COMPILE, Capability.COMPILED_WHILE})

    def is_array(self, x: Any) -> bool:
        return isinstance(x, (np.ndarray, np.generic))

    def erf(self, x):
        from scipy import special

        return special.erf(x).astype(np.result_type(x, np.float32), copy=False)

    def erfinv(self, x):
        from scipy import special

        return special.erfinv(x).astype(np.result_type(x, np.float32), copy=False)

    # -- keys: uint32[2]; Philox seeded by the 64-bit key ------------------
    def key(self, seed: int) -> Any:
        seq = np.random.SeedSequence(int(seed) & 0xFFFFFFFFFFFFFFFF)
        return seq.generate_state(2, dtype=_U32)

    def split(self, key: Any, num: int = 2) -> Any:
        return _generator(key).integers(0, 2**32, size=(num, 2), dtype=_U32)

    def fold_in(self, key: Any, data: int) -> Any:
        k = np.asarray(key, dtype=np.uint64)
        seq = np.random.SeedSequence([int(k[0]), int(k[1]), int(data) & 0xFFFFFFFF])
        return seq.generate_state(2, dtype=_U32)

    # -- samplers -----------------------------------------------------------
    def _dtype(self, dtype: Any) -> Any:
        return self.float_dtype if dtype is None else dtype

    def uniform(self, key, shape: Sequence[int] = (), dtype=None):
        return np.asarray(_generator(key).random(tuple(shape), dtype=self._dtype(dtype)))

    def normal(self, key, shape: Sequence[int] = (), dtype=None):
        return np.asarray(_generator(key).standard_normal(tuple(shape), dtype=self._dtype(dtype)))

    # -- transformations -----------------------------------------------------
    def compile(self, fn: Callable) -> Callable:
        return fn

    def vmap(self, fn: Callable, in_axes: Any = 0, out_axes: Any = 0) -> Callable:
        return _loop_vmap(fn, in_axes, out_axes)

    # -- linear algebra --------------------------------------------------------
    def cholesky(self, a):
        return np.linalg.cholesky(a)

    def solve_triangular(self, a, b, lower: bool = True):
        vec = b.ndim == a.ndim - 1
        x = np.linalg.solve(a, b[..., None] if vec else b)
        return x[..., 0] if vec else x

    def slogdet(self, a):
        sign, logdet = np.linalg.slogdet(a)
        return sign, logdet

    def inv(self, a):
        return np.linalg.inv(a)

    def memory_report(self) -> dict:
        import resource

        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {"active_bytes": None, "cache_bytes": 0, "peak_bytes": peak_kib * 1024}


def _loop_vmap(fn: Callable, in_axes: Any, out_axes: Any) -> Callable:
    """vmap as a loop: slice each mapped argument (a pytree of arrays), call, stack the
    outputs leaf by leaf."""

    def mapped(*args):
        axes = in_axes if isinstance(in_axes, (tuple, list)) else (in_axes,) * len(args)
        flat = [_tree.flatten(a) for a in args]
        sizes = {np.shape(leaf)[ax] for (leaves, _), ax in zip(flat, axes) if ax is not None
                 for leaf in leaves}
        if len(sizes) != 1:
            raise ValueError(f"vmap: mapped arguments disagree on the batch size: {sorted(sizes)}")
        (n,) = sizes

        def arg(i: int, leaves: list, treedef: Any, ax: Any) -> Any:
            if ax is None:
                return _tree.unflatten(treedef, leaves)
            return _tree.unflatten(treedef, [np.take(leaf, i, axis=ax) for leaf in leaves])

        outs = [_tree.flatten(fn(*(arg(i, leaves, treedef, ax)
                                   for (leaves, treedef), ax in zip(flat, axes))))
                for i in range(n)]
        treedef = outs[0][1]
        return _tree.unflatten(treedef, [np.stack(col, axis=out_axes)
                                         for col in zip(*(leaves for leaves, _ in outs))])

    return mapped


def make_backend(float_dtype: str) -> NumpyBackend:
    return NumpyBackend(float_dtype)
