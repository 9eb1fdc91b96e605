"""The GFI contract, result tuples, edit requests and module-level functions."""

from typing import Any

from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.selection import Selection
from genmlx.gfi.edit import ConstraintEdit, ProposalEdit, SelectionEdit
from genmlx.gfi.interface import (
    AssessResult, EditResult, GenerateResult, GenerativeFunction, ProposeResult,
    RegenerateResult, UpdateResult,
)

__all__ = ["AssessResult", "ConstraintEdit", "EditResult", "GenerateResult",
           "GenerativeFunction", "ProposalEdit", "ProposeResult", "RegenerateResult",
           "SelectionEdit", "UpdateResult", "assess", "edit", "generate", "project",
           "propose", "regenerate", "simulate", "update"]


def simulate(gen_fn: GenerativeFunction, args: tuple, key: Any = None):
    """`gen_fn.simulate(args, key=key)`."""
    return gen_fn.simulate(args, key=key)


def generate(gen_fn: GenerativeFunction, args: tuple, constraints: ChoiceMap = EMPTY,
             key: Any = None) -> GenerateResult:
    """`gen_fn.generate(args, constraints, key=key)`."""
    return gen_fn.generate(args, constraints, key=key)


def update(trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
           argdiffs: tuple | None = None, key: Any = None) -> UpdateResult:
    """`trace.gen_fn.update(trace, constraints, args, argdiffs, key=key)`."""
    return trace.gen_fn.update(trace, constraints, args, argdiffs, key=key)


def regenerate(trace, selection: Selection, args: tuple | None = None,
               argdiffs: tuple | None = None, key: Any = None) -> RegenerateResult:
    """`trace.gen_fn.regenerate(trace, selection, args, argdiffs, key=key)`."""
    return trace.gen_fn.regenerate(trace, selection, args, argdiffs, key=key)


def assess(gen_fn: GenerativeFunction, args: tuple, choices: ChoiceMap) -> AssessResult:
    """`gen_fn.assess(args, choices)`."""
    return gen_fn.assess(args, choices)


def propose(gen_fn: GenerativeFunction, args: tuple, key: Any = None) -> ProposeResult:
    """`gen_fn.propose(args, key=key)`."""
    return gen_fn.propose(args, key=key)


def project(trace, selection: Selection) -> Any:
    """`trace.gen_fn.project(trace, selection)`."""
    return trace.gen_fn.project(trace, selection)


def edit(trace, request: Any, key: Any = None) -> EditResult:
    """`trace.gen_fn.edit(trace, request, key=key)`."""
    return trace.gen_fn.edit(trace, request, key=key)
