"""Gibbs sampling by enumeration: a systematic scan over finite-support addresses.

At each address a (in the order given), every value v of the support of the
distribution recorded at a is scored with `update(trace, {a: v})`, whose
weight is log p(t_v) - log p(t); the new value is drawn from the softmax of
those weights, which is the exact full conditional p(a | everything else).

The conditional is exact when the set of addresses does not depend on the
value at a. When it does (a value switches a branch on), the choices that
appear are drawn from their priors by `update` and their density is left out
of the weight (Gen's update weight), which is what Gen's enumerative Gibbs does.
"""

from __future__ import annotations

from typing import Any, Sequence

from genmlx._backend import get_backend
from genmlx._keys import resolve_key, split
from genmlx.core.address import Path, show
from genmlx.core.choicemap import ChoiceMap
from genmlx.core.trace import Trace
from genmlx.inference._sites import as_paths, check_paths, distribution_at
from genmlx.inference.mcmc.kernel import Kernel

__all__ = ["gibbs_step", "gibbs_kernel", "finite_support"]


def finite_support(trace: Trace, path: Path, who: str) -> Any:
    """The enumerated support (a [K] backend array) of the scalar choice at `path`.

    Raises:
        ValueError: the distribution at `path` has no finite support (continuous
            or unbounded), or the choice is not a scalar.
    """
    dist = distribution_at(trace, path)
    if not dist.support.finite:
        raise ValueError(
            f"{who}: address {show(path)} is drawn from {dist.name} with support "
            f"'{dist.support.kind}', which cannot be enumerated; {who} needs finite discrete "
            "supports (bernoulli, categorical, binomial, discrete_uniform). Use mh or "
            "elliptical_slice for this address.")
    if tuple(dist.batch_shape) != () or dist.event_rank:
        raise ValueError(f"{who}: address {show(path)} holds a {dist.name} of shape "
                         f"{tuple(dist.batch_shape)}; enumeration handles scalar choices only "
                         "(trace each element at its own address).")
    return dist.enumerate_support()


def gibbs_update(trace: Trace, path: Path, key: Any) -> tuple[Trace, bool]:
    """Redraw the choice at `path` from its full conditional (see module docstring)."""
    backend = get_backend()
    xp = backend.xp
    values = finite_support(trace, path, "gibbs")
    keys = split(key, int(values.shape[0]) + 1)
    # From an impossible state (score -inf) the weights are inf - inf; the new scores
    # themselves then rank the candidates.
    possible = bool(xp.isfinite(trace.score))
    candidates, logits = [], []
    for i in range(int(values.shape[0])):
        new, weight, _, _ = trace.gen_fn.update(trace, ChoiceMap.empty().set(path, values[i]),
                                                key=keys[i + 1])
        candidates.append(new)
        logits.append(xp.asarray(weight if possible else new.score, dtype=backend.float_dtype))
    logits = xp.stack(logits)
    index = int(backend.to_python(backend.categorical(keys[0], logits)))
    chosen = candidates[index]
    moved = not bool(xp.all(xp.asarray(chosen[path]) == xp.asarray(trace[path])))
    return chosen, moved


def gibbs_step(trace: Trace, addresses: Any, key: Any = None) -> tuple[Trace, bool]:
    """One systematic-scan Gibbs sweep over `addresses`.

    Args:
        trace: the current trace.
        addresses: `select(...)`, one address, or a list of addresses, each a
            scalar choice with finite support; visited in the order given.
        key: a random key (None: the global stream).

    Returns:
        (new_trace, accepted): accepted is True when any value changed.

    Raises:
        ValueError: an address has a continuous or unbounded distribution (the
            message names it).
        AddressError: an address is absent from the trace.

    Example:
        >>> tr, moved = gibbs_step(tr, ["rain", "sprinkler"], gm.key(0))
    """
    paths = as_paths(addresses)
    check_paths(trace, paths, "gibbs")
    keys = split(resolve_key(key), len(paths)) if paths else []
    moved = False
    for i, path in enumerate(paths):
        trace, changed = gibbs_update(trace, path, keys[i])
        moved = moved or changed
    return trace, moved


def gibbs_kernel(addresses: Any) -> Kernel:
    """The kernel `(trace, key) -> gibbs_step(trace, addresses, key)`."""
    paths: Sequence[Path] = as_paths(addresses)
    return Kernel(lambda trace, key: gibbs_step(trace, paths, key),
                  f"gibbs({', '.join(show(p) for p in paths)})")
