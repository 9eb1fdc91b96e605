"""Metropolis-Hastings with a custom proposal generative function (Gen's form).

The proposal is a generative function called as `proposal(trace, *proposal_args)`;
its choices name model addresses and become constraints of `update`.

Math: u ~ q(.; t, args), (t', w, discard) = update(t, u),
log alpha = w + log q(discard; t', args) - log q(u; t, args),
so the backward proposal must be able to produce the discard (assess needs
every one of its choices). This is `ProposalEdit(proposal, proposal)`.
"""

from __future__ import annotations

from typing import Any

from genmlx._keys import resolve_key, split
from genmlx.core.trace import Trace
from genmlx.gfi.edit import ProposalEdit
from genmlx.gfi.interface import GenerativeFunction
from genmlx.inference.mcmc.kernel import Kernel, accept_reject

__all__ = ["mh_custom_step", "mh_custom_kernel"]


def mh_custom_step(trace: Trace, proposal: GenerativeFunction, proposal_args: tuple = (),
                   key: Any = None) -> tuple[Trace, bool]:
    """One MH step with `proposal(trace, *proposal_args)` as forward and backward proposal.

    Args:
        trace: the current trace.
        proposal: a generative function whose first argument is the trace and
            whose choices are the model addresses it proposes.
        proposal_args: further arguments of the proposal (a step size, ...).
        key: a random key (None: the global stream).

    Returns:
        (new_trace, accepted).

    Example:
        >>> @gen
        ... def walk(tr, step):
        ...     trace("slope", dist.gaussian(tr["slope"], step))
        >>> tr, accepted = mh_custom_step(tr, walk, (0.2,), gm.key(0))
    """
    k_edit, k_accept = split(resolve_key(key), 2)
    args = tuple(proposal_args)
    request = ProposalEdit(proposal, proposal, args, args)
    proposed, log_alpha, _, _ = trace.gen_fn.edit(trace, request, key=k_edit)
    return accept_reject(trace, proposed, log_alpha, k_accept)


def mh_custom_kernel(proposal: GenerativeFunction, proposal_args: tuple = ()) -> Kernel:
    """The kernel `(trace, key) -> mh_custom_step(trace, proposal, proposal_args, key)`."""
    if not isinstance(proposal, GenerativeFunction):
        raise TypeError(f"mh_custom_kernel: the proposal must be a generative function "
                        f"(@gen, called as proposal(trace, *args)); got {type(proposal).__name__}")
    if not isinstance(proposal_args, tuple):
        raise TypeError(f"mh_custom_kernel: proposal_args must be a tuple, got "
                        f"{type(proposal_args).__name__}")
    return Kernel(lambda trace, key: mh_custom_step(trace, proposal, proposal_args, key),
                  f"mh_custom({getattr(proposal, 'name', proposal)})")
