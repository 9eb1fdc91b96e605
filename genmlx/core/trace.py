"""Traces: immutable records of one execution of a generative function."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from genmlx.core.address import to_path
from genmlx.core.choicemap import ChoiceMap
from genmlx.errors import AddressError

__all__ = ["Trace"]


@dataclass(frozen=True, eq=False)
class Trace:
    """What a generative function did: its arguments, choices, score and retval.

    Attributes:
        gen_fn: the generative function that produced the trace.
        args: the argument tuple.
        retval: the return value.
        choices: a `ChoiceMap` of every random choice.
        score: log p(all choices; args), a backend array ([N] when batched).
        internal: whatever the generative function needs to update the trace
            without re-deriving it (per-site records, subtraces, ...).
    """

    gen_fn: Any
    args: tuple
    retval: Any
    choices: ChoiceMap
    score: Any
    internal: Any = field(default=None, repr=False)

    def get_choices(self) -> ChoiceMap:
        return self.choices

    def get_score(self) -> Any:
        return self.score

    def get_retval(self) -> Any:
        return self.retval

    def get_args(self) -> tuple:
        return self.args

    def __getitem__(self, address: Any) -> Any:
        """The value at `address`, or for a traced call the callee's retval (as in Gen)."""
        lookup = getattr(self.gen_fn, "trace_lookup", None)
        if lookup is not None:
            found, value = lookup(self, to_path(address) if address != () else ())
            if found:
                return value
        if address == () or self.choices.has_value(address):
            return self.choices.get_value(address)
        raise AddressError(f"trace of {getattr(self.gen_fn, 'name', self.gen_fn)!s}: "
                           f"no choice at address {address!r}")
