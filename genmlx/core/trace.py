"""Traces: immutable records of one execution of a generative function."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

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

    A trace made by `Trace.deferred` builds its choicemap on first read (the
    per-site records already hold every value, and most traces in an inference
    loop are never asked for theirs); the result is cached, so the trace still
    behaves as an immutable value.
    """

    gen_fn: Any
    args: tuple
    retval: Any
    choices: ChoiceMap
    score: Any
    internal: Any = field(default=None, repr=False)

    @classmethod
    def deferred(cls, gen_fn: Any, args: tuple, retval: Any, build: Callable[[Any], ChoiceMap],
                 arg: Any, score: Any, internal: Any = None) -> "Trace":
        """A trace whose `choices` is `build(arg)`, computed on first read and cached.

        `build` must be a pure function of `arg` (a module-level function keeps the
        trace picklable and copyable before its choices were read)."""
        tr = cls.__new__(cls)
        d = tr.__dict__
        d.update(gen_fn=gen_fn, args=args, retval=retval, score=score, internal=internal)
        d["_choices_build"] = (build, arg)
        return tr

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


def _get_choices(self: Trace) -> ChoiceMap:
    d = self.__dict__
    found = d.get("_choices")
    if found is None:
        build, arg = d["_choices_build"]
        found = d["_choices"] = build(arg)
    return found


def _set_choices(self: Trace, value: ChoiceMap) -> None:
    # reached only from the dataclass __init__ (object.__setattr__ honours the property);
    # afterwards the frozen dataclass's __setattr__ refuses assignment as before
    self.__dict__["_choices"] = value


# `choices` stays a dataclass field (fields(), repr, replace and the constructor see it);
# the property, set after @dataclass has read the annotations, stores it in `_choices`
# so a deferred trace can fill it in on first read.
Trace.choices = property(_get_choices, _set_choices, doc="A `ChoiceMap` of every random choice.")
