"""Kernel composition: chain, cycle, mix, repeat and seed.

Each takes kernels (see `genmlx.inference.mcmc.kernel`) and returns a kernel.
Composing kernels that each leave the target invariant gives a kernel that
leaves it invariant. Anything that is not a kernel is refused up front with a
`KernelError` that says what was passed.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from genmlx._backend import get_backend
from genmlx._keys import split
from genmlx.core.trace import Trace
from genmlx.inference.mcmc.kernel import Kernel, KernelError, as_kernel

__all__ = ["chain", "cycle", "mix", "repeat", "seed"]


def _kernels(kernels: Sequence[Any], who: str) -> list[Kernel]:
    if len(kernels) == 1 and isinstance(kernels[0], (list, tuple)):
        kernels = kernels[0]
    if not kernels:
        raise KernelError(f"{who}: needs at least one kernel")
    return [as_kernel(k, f"{who} (argument {i})") for i, k in enumerate(kernels)]


def _kernel_list(kernels: Any, who: str) -> list[Kernel]:
    if not isinstance(kernels, (list, tuple)):
        raise KernelError(f"{who}: expected a list of kernels, got {type(kernels).__name__}; "
                          f"write {who}([k1, k2], ...)")
    return _kernels(tuple(kernels), who)


def _count(n: Any, who: str, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{who}: {name} must be a positive int, got {n!r}")
    return n


def _run_in_order(kernels: Sequence[Kernel], trace: Trace, key: Any) -> tuple[Trace, bool]:
    keys = split(key, len(kernels))
    moved = False
    for i, kernel in enumerate(kernels):
        trace, accepted = kernel(trace, keys[i])
        moved = moved or accepted
    return trace, moved


def chain(*kernels: Any) -> Kernel:
    """Apply the kernels in order: chain(k1, k2)(t) = k2(k1(t)).

    accepted is True when any of them moved the trace.

    Example:
        >>> sweep = chain(mh_kernel(select("slope")), mh_kernel(select("intercept")))
    """
    ks = _kernels(kernels, "chain")
    return Kernel(lambda trace, key: _run_in_order(ks, trace, key),
                  "chain(" + ", ".join(k.name for k in ks) + ")")


def cycle(kernels: Sequence[Any], num_steps: int) -> Kernel:
    """`num_steps` single steps, taking the kernels in turn (k1, k2, ..., k1, ...).

    Example:
        >>> k = cycle([mh_kernel(select("a")), mh_kernel(select("b"))], num_steps=4)
    """
    ks = _kernel_list(kernels, "cycle")
    n = _count(num_steps, "cycle", "num_steps")
    order = [ks[i % len(ks)] for i in range(n)]
    return Kernel(lambda trace, key: _run_in_order(order, trace, key),
                  f"cycle([{', '.join(k.name for k in ks)}], {n})")


def repeat(kernel: Any, num_steps: int) -> Kernel:
    """The kernel applied `num_steps` times in a row.

    Example:
        >>> k = repeat(mh_kernel(select("x")), 10)
    """
    k = as_kernel(kernel, "repeat")
    n = _count(num_steps, "repeat", "num_steps")
    return Kernel(lambda trace, key: _run_in_order([k] * n, trace, key),
                  f"repeat({k.name}, {n})")


def mix(kernels: Sequence[Any], weights: Sequence[float] | None = None) -> Kernel:
    """Each step picks one kernel at random (probabilities ∝ `weights`, default uniform).

    The weights must not depend on the trace (they are fixed numbers), so the
    mixture leaves the target invariant. accepted is the chosen kernel's flag.

    Example:
        >>> k = mix([mh_kernel(select("a")), gibbs_kernel(["z"])], [0.8, 0.2])
    """
    ks = _kernel_list(kernels, "mix")
    w = [1.0] * len(ks) if weights is None else [float(x) for x in weights]
    if len(w) != len(ks) or any(not (x >= 0.0 and math.isfinite(x)) for x in w) or sum(w) <= 0:
        raise ValueError(f"mix: need one finite non-negative weight per kernel ({len(ks)}), "
                         f"not all zero; got {weights!r}")
    cumulative = [sum(w[: i + 1]) / sum(w) for i in range(len(w))]

    def step(trace: Trace, key: Any) -> tuple[Trace, bool]:
        backend = get_backend()
        k_pick, k_step = split(key, 2)
        u = float(backend.to_python(backend.uniform(k_pick, ())))
        index = next((i for i, c in enumerate(cumulative) if u < c), len(ks) - 1)
        return ks[index](trace, k_step)

    return Kernel(step, "mix(" + ", ".join(k.name for k in ks) + ")")


def seed(kernel: Any, key: Any) -> Kernel:
    """The kernel with its randomness fixed: it ignores the key it is given and uses `key`.

    Useful to replay one step exactly, or to use common random numbers
    across two chains.

    Example:
        >>> fixed = seed(mh_kernel(select("x")), gm.key(3))
        >>> fixed(tr)[0].choices == fixed(tr)[0].choices
        True
    """
    k = as_kernel(kernel, "seed")
    return Kernel(lambda trace, _key: k(trace, key), f"seed({k.name})")
