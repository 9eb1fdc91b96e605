"""Metropolis-Hastings with the prior as proposal: `regenerate` over a selection.

Math: propose t' by resampling the selected choices from their priors
(`regenerate`); its weight is log [p(t') q(t | t') / (p(t) q(t' | t))]; accept
when log u < weight, u ~ Uniform[0, 1).
"""

from __future__ import annotations

from typing import Any

from genmlx._keys import resolve_key, split
from genmlx.core.selection import Selection
from genmlx.core.trace import Trace
from genmlx.inference._sites import check_paths, check_selection, selection_paths
from genmlx.inference.mcmc.kernel import Kernel, accept_reject

__all__ = ["mh_step", "mh_kernel"]


def mh_step(trace: Trace, selection: Selection, key: Any = None,
            strict: bool = True) -> tuple[Trace, bool]:
    """One MH step resampling `selection` from the prior.

    Args:
        trace: the current trace.
        selection: the addresses to resample (`select("slope", "intercept")`).
        key: a random key (None: the global stream).
        strict: raise when an explicit address of `selection` is absent from
            `trace`; pass False for addresses that exist only on some
            control-flow paths.

    Returns:
        (new_trace, accepted).

    Raises:
        AddressError: (strict) the selection names an address the trace lacks.

    Example:
        >>> tr, accepted = mh_step(tr, select("slope"), gm.key(0))
    """
    if strict:
        check_selection(trace, selection, "mh")
    return _mh_step(trace, selection, key)


def _mh_step(trace: Trace, selection: Selection, key: Any) -> tuple[Trace, bool]:
    k_propose, k_accept = split(resolve_key(key), 2)
    proposed, log_alpha, _ = trace.gen_fn.regenerate(trace, selection, key=k_propose)
    return accept_reject(trace, proposed, log_alpha, k_accept)


def mh_kernel(selection: Selection, strict: bool = True) -> Kernel:
    """The kernel `(trace, key) -> mh_step(trace, selection, key)`.

    Example:
        >>> k = mh_kernel(select("slope"))
        >>> tr, accepted = k(tr, gm.key(0))
    """
    if not isinstance(selection, Selection):
        raise TypeError(f"mh_kernel: expected a Selection (select(...)), got "
                        f"{type(selection).__name__}")
    paths = selection_paths(selection) if strict else None

    def step(trace: Trace, key: Any) -> tuple[Trace, bool]:
        if paths:
            check_paths(trace, paths, "mh", strict_hint=True)
        return _mh_step(trace, selection, key)

    return Kernel(step, f"mh({selection!r})")
