"""Assess: score a complete choicemap; weight = log p(choices; args)."""

from __future__ import annotations

from typing import Any

from genmlx.core.address import show
from genmlx.core.choicemap import ChoiceMap
from genmlx.dsl.handlers.base import Handler, constraint_value
from genmlx.errors import AddressError


class AssessHandler(Handler):
    op = "assess"
    records_are_choices = False  # calls leave no records' choices; `choices()` is the input

    def __init__(self, gen_fn, choices: ChoiceMap):
        super().__init__(gen_fn, None, None)
        self.given = choices

    def choice(self, path, dist) -> Any:
        found, value = constraint_value(self.given, path, dist, f"{self.gen_fn.name}.assess")
        if not found:
            raise AddressError(f"{self.gen_fn.name}.assess: no choice at address {show(path)} "
                               f"({dist.name}); assess needs every random choice.")
        self.record_choice(path, dist, value)
        return value

    def call(self, path, gen_fn, args) -> Any:
        weight, retval = gen_fn.assess(args, self.given.get_submap(path))
        self.add_score(weight)
        self.records[path] = None
        return retval

    def fresh_key(self) -> Any:
        raise AddressError(f"{self.gen_fn.name}.assess: the body asked for an untraced key; "
                           "assess is deterministic and cannot run untraced randomness.")

    def choices(self):
        """Assess builds no trace; the given choices stand for it."""
        return self.given
