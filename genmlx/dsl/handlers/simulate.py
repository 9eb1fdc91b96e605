"""Simulate: sample every choice from its prior; score = log p(choices)."""

from __future__ import annotations

from typing import Any

from genmlx.dsl.handlers.base import Handler


class SimulateHandler(Handler):
    op = "simulate"

    def choice(self, path, dist) -> Any:
        value = self.sample(path, dist)
        self.record_choice(path, dist, value, batched=True if self.batch else None)
        return value

    def call(self, path, gen_fn, args) -> Any:
        key = self.fresh_key()
        if self.batch:
            sub = gen_fn.vsimulate(args, self.batch, key=key, like=self.like_call(path))
        else:
            sub = gen_fn.simulate(args, key=key)
        self.record_call(path, sub)
        return sub.retval
