"""Edit requests: constraint, selection and proposal edits with backward requests.

`gen_fn.edit(trace, request)` returns `EditResult(trace, weight, retdiff,
backward)`, where applying `backward` to the new trace restores the old one
(same choices), with the negated weight for deterministic edits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from genmlx._keys import resolve_key, split
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.selection import Selection
from genmlx.gfi.interface import EditResult

__all__ = ["ConstraintEdit", "SelectionEdit", "ProposalEdit"]


@dataclass(frozen=True)
class ConstraintEdit:
    """Replace choices by `constraints` (and optionally the arguments): Gen's update.

    weight = log p(t') - log p(t) (less fresh choices' prior density);
    backward = ConstraintEdit(discard, old args).
    """

    constraints: ChoiceMap = field(default_factory=lambda: EMPTY)
    args: tuple | None = None
    argdiffs: tuple | None = None

    def apply(self, gen_fn: Any, trace: Any, key: Any) -> EditResult:
        new, weight, retdiff, discard = gen_fn.update(trace, self.constraints, self.args,
                                                      self.argdiffs, key=key)
        back_args = None if self.args is None else trace.args
        return EditResult(new, weight, retdiff, ConstraintEdit(discard, back_args))


@dataclass(frozen=True)
class SelectionEdit:
    """Resample the selected choices from the prior: Gen's regenerate.

    weight = MH acceptance log-ratio; backward = the same selection.
    """

    selection: Selection
    args: tuple | None = None
    argdiffs: tuple | None = None

    def apply(self, gen_fn: Any, trace: Any, key: Any) -> EditResult:
        new, weight, retdiff = gen_fn.regenerate(trace, self.selection, self.args,
                                                 self.argdiffs, key=key)
        back_args = None if self.args is None else trace.args
        return EditResult(new, weight, retdiff, SelectionEdit(self.selection, back_args))


@dataclass(frozen=True)
class ProposalEdit:
    """Propose new choices with a generative function of the trace, then update.

    The forward proposal is called as `forward(trace, *forward_args)` and its
    choices become constraints; the backward proposal, called as
    `backward(new_trace, *backward_args)`, is assessed on the discard.

    weight = log p(t') - log p(t) + log q_b(discard; t') - log q_f(u; t),
    the MH acceptance log-ratio of the move; backward = ProposalEdit with the
    proposals swapped.
    """

    forward: Any
    backward: Any
    forward_args: tuple = ()
    backward_args: tuple = ()

    def apply(self, gen_fn: Any, trace: Any, key: Any) -> EditResult:
        k_prop, k_update = split(resolve_key(key), 2)
        proposed, fwd_score, _ = self.forward.propose((trace,) + tuple(self.forward_args),
                                                      key=k_prop)
        new, weight, retdiff, discard = gen_fn.update(trace, proposed, key=k_update)
        bwd_score, _ = self.backward.assess((new,) + tuple(self.backward_args), discard)
        backward = ProposalEdit(self.backward, self.forward, self.backward_args,
                                self.forward_args)
        return EditResult(new, weight + bwd_score - fwd_score, retdiff, backward)
