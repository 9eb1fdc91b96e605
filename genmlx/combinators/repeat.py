"""repeat_gf: run a generative function n times independently, once batched.

`repeat_gf(gen_fn, n)` calls `gen_fn(*args)` n times on the same (unbatched)
arguments through its batched entry points, so every choice leaf is an [n]
array at the kernel's addresses and the score and weights are sums over the n
repetitions: `vmap_gf` (vmap.py) with every argument broadcast and n fixed.

Example:
    >>> @gen
    ... def coin(p):
    ...     return trace("flip", dist.bernoulli(p))
    >>> tr = repeat_gf(coin, 10).simulate((0.3,), key=gm.key(0))
    >>> tr["flip"].shape
    (10,)
"""

from __future__ import annotations

from genmlx.combinators._common import check_args
from genmlx.combinators.vmap import Vmap
from genmlx.errors import ArgumentError
from genmlx.gfi.interface import GenerativeFunction

__all__ = ["Repeat", "repeat_gf"]


class Repeat(Vmap):
    """`gen_fn` run n times independently on the same arguments (module docstring)."""

    def __init__(self, gen_fn: GenerativeFunction, n: int):
        super().__init__(gen_fn, None)
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ArgumentError(f"repeat_gf: n must be a positive int, got {n!r}")
        self.n = n
        self.name = f"repeat_gf({getattr(gen_fn, 'name', '?')}, {n})"

    def _prepare(self, args: tuple, who: str) -> tuple[tuple, int]:
        return check_args(who, args), self.n


def repeat_gf(gen_fn: GenerativeFunction, n: int) -> Repeat:
    """`gen_fn` repeated `n` times independently on the same arguments, run once batched."""
    return Repeat(gen_fn, n)
