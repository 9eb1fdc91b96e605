"""Involutive MCMC (Cusumano-Towner et al. 2020; Gen's `involutive_mh`, GenJAX's MCMC moves).

A move is an auxiliary proposal plus a deterministic involution on (model
choices, auxiliary choices). It covers reversible-jump moves such as
split/merge and birth/death, where the dimension of the trace changes.

The involution is a plain function:

    involution(trace, aux_choices, aux_retval, proposal_args)
        -> (constraints, backward_aux_choices, log_abs_det_jacobian)

- `trace`: the current model trace (read values with `trace[addr]`);
- `aux_choices`, `aux_retval`: what `proposal(trace, *proposal_args)` drew;
- `constraints`: a ChoiceMap of the model choices to write (`update` removes
  the choices a new control-flow path no longer visits and keeps the rest);
  every choice the new trace gains must be in it;
- `backward_aux_choices`: the auxiliary choices that the proposal, run on the
  new trace, would need to draw for the involution to map back;
- `log_abs_det_jacobian`: log |det J| of the map from the old continuous
  values (model and auxiliary) to the new ones (0 for discrete or
  volume-preserving moves).

Applying the involution to its own output must give back the input (pass
`check=True` to verify this at every step while developing a move).

Math: log alpha = [log p(t') - log p(t)] + log q(u'; t') - log q(u; t) + log |det J|.
"""

from __future__ import annotations

from typing import Any, Callable

from genmlx._backend import get_backend
from genmlx._keys import resolve_key, split
from genmlx.core.address import show
from genmlx.core.choicemap import ChoiceMap
from genmlx.core.trace import Trace
from genmlx.errors import AddressError, GenMLXError
from genmlx.gfi.interface import GenerativeFunction
from genmlx.inference.mcmc.kernel import Kernel, accept_reject

__all__ = ["involutive_mh_step", "involutive_mh_kernel", "InvolutionError"]

Involution = Callable[[Trace, ChoiceMap, Any, tuple], tuple]


class InvolutionError(GenMLXError, ValueError):
    """The involution's output is malformed, or (check=True) it is not an involution."""


def _apply(involution: Involution, trace: Trace, aux: ChoiceMap, aux_retval: Any,
           args: tuple) -> tuple[ChoiceMap, ChoiceMap, Any]:
    out = involution(trace, aux, aux_retval, args)
    if not (isinstance(out, tuple) and len(out) == 3 and isinstance(out[0], ChoiceMap)
            and isinstance(out[1], ChoiceMap)):
        raise InvolutionError(
            f"involutive_mh: the involution {getattr(involution, '__name__', involution)!r} must "
            "return (constraints: ChoiceMap, backward_aux_choices: ChoiceMap, "
            f"log_abs_det_jacobian); got {type(out).__name__}")
    return out


def _check_no_fresh(old: Trace, new: Trace, constraints: ChoiceMap) -> None:
    fresh = [p for p in new.choices.addresses() if p not in old.choices and p not in constraints]
    if fresh:
        raise InvolutionError(
            f"involutive_mh: the new trace gained address(es) {', '.join(show(p) for p in fresh)} "
            "that the involution's constraints do not set; a deterministic involution must "
            "give every new choice its value.")


def _close(a: ChoiceMap, b: ChoiceMap) -> bool:
    xp = get_backend().xp
    left, right = dict(a.leaves()), dict(b.leaves())
    if left.keys() != right.keys():
        return False
    return all(bool(xp.all(xp.abs(xp.asarray(left[k], dtype=xp.float32)
                                  - xp.asarray(right[k], dtype=xp.float32))
                           <= 1e-4 * (1.0 + xp.abs(xp.asarray(left[k], dtype=xp.float32)))))
               for k in left)


def _check_round_trip(involution: Involution, proposal: GenerativeFunction, trace: Trace,
                      new: Trace, aux: ChoiceMap, back_aux: ChoiceMap, back_retval: Any,
                      args: tuple, log_jacobian: Any) -> None:
    constraints, aux_again, log_jacobian_back = _apply(involution, new, back_aux, back_retval,
                                                       args)
    restored, _, _, _ = new.gen_fn.update(new, constraints)
    if not (_close(restored.choices, trace.choices) and _close(aux_again, aux)):
        raise InvolutionError(
            "involutive_mh(check=True): applying the involution twice did not give back the "
            f"original choices.\n  before: {trace.choices}, aux {aux}\n  after twice: "
            f"{restored.choices}, aux {aux_again}")
    if abs(float(get_backend().to_python(log_jacobian + log_jacobian_back))) > 1e-4:
        raise InvolutionError("involutive_mh(check=True): the log |det J| of the involution "
                              "and of its inverse do not sum to 0.")


def involutive_mh_step(trace: Trace, proposal: GenerativeFunction, involution: Involution,
                       proposal_args: tuple = (), key: Any = None,
                       check: bool = False) -> tuple[Trace, bool]:
    """One involutive MH step (see the module docstring for the involution's signature).

    Args:
        trace: the current trace.
        proposal: the auxiliary proposal, a generative function called as
            `proposal(trace, *proposal_args)`.
        involution: `(trace, aux_choices, aux_retval, proposal_args) ->
            (constraints, backward_aux_choices, log_abs_det_jacobian)`.
        proposal_args: further arguments of the proposal and the involution.
        key: a random key (None: the global stream).
        check: verify at this step that the involution maps its output back
            to its input (costs a second update).

    Returns:
        (new_trace, accepted).

    Raises:
        InvolutionError: malformed involution output, a new choice the
            involution did not set, or (check) a map that is not an involution.
    """
    k_propose, k_update, k_accept = split(resolve_key(key), 3)
    args = tuple(proposal_args)
    aux, forward_score, aux_retval = proposal.propose((trace,) + args, key=k_propose)
    constraints, back_aux, log_jacobian = _apply(involution, trace, aux, aux_retval, args)
    new, weight, _, _ = trace.gen_fn.update(trace, constraints, key=k_update)
    _check_no_fresh(trace, new, constraints)
    try:
        backward_score, back_retval = proposal.assess((new,) + args, back_aux)
    except AddressError as exc:
        raise InvolutionError(f"involutive_mh: the proposal cannot score the backward "
                              f"auxiliary choices {back_aux} on the new trace: {exc}") from exc
    if check:
        _check_round_trip(involution, proposal, trace, new, aux, back_aux, back_retval, args,
                          log_jacobian)
    log_alpha = weight + backward_score - forward_score + log_jacobian
    return accept_reject(trace, new, log_alpha, k_accept)


def involutive_mh_kernel(proposal: GenerativeFunction, involution: Involution,
                         proposal_args: tuple = (), check: bool = False) -> Kernel:
    """The kernel `(trace, key) -> involutive_mh_step(trace, proposal, involution, ...)`."""
    if not isinstance(proposal, GenerativeFunction):
        raise TypeError(f"involutive_mh_kernel: the auxiliary proposal must be a generative "
                        f"function; got {type(proposal).__name__}")
    if not callable(involution):
        raise TypeError(f"involutive_mh_kernel: the involution must be callable; got "
                        f"{type(involution).__name__}")
    return Kernel(lambda trace, key: involutive_mh_step(trace, proposal, involution,
                                                        proposal_args, key, check),
                  f"involutive_mh({getattr(proposal, 'name', proposal)}, "
                  f"{getattr(involution, '__name__', 'involution')})")
