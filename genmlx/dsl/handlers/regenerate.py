"""Regenerate: resample the selected choices from their priors.

weight = log [p(t'; x') q(t | t') / (p(t; x) q(t' | t))] with q the prior on
selected and new choices: kept choices add (new log density - old);
resampled, fresh and removed choices cancel against the proposal and add nothing.
"""

from __future__ import annotations

from typing import Any

from genmlx.core.selection import Selection
from genmlx.dsl.handlers.base import CallRecord, ChoiceRecord, Handler, unchanged_args


def sub_selection(selection: Selection, path) -> Selection:
    for part in path:
        selection = selection.sub(part)
    return selection


class RegenerateHandler(Handler):
    op = "regenerate"

    def __init__(self, gen_fn, prev_trace, selection: Selection, key=None, batch=None,
                 like=None):
        super().__init__(gen_fn, key, batch, like)
        self.prev = prev_trace.internal.records
        self.selection = selection

    def choice(self, path, dist) -> Any:
        prev = self.prev.get(path)
        if isinstance(prev, ChoiceRecord) and not sub_selection(self.selection, path).at_leaf():
            site = self.record_choice(path, dist, prev.value, prev.batched)
            self.add_weight_diff(site, prev.score)
            return prev.value
        value = self.sample(path, dist)
        self.record_choice(path, dist, value, batched=True if self.batch else None)
        return value

    def call(self, path, gen_fn, args) -> Any:
        prev = self.prev.get(path)
        selected = sub_selection(self.selection, path)
        key = self.fresh_key()
        if isinstance(prev, CallRecord) and prev.subtrace.gen_fn is gen_fn:
            old = prev.subtrace
            if selected.is_none() and unchanged_args(args, old.args):
                self.record_call(path, old)
                return old.retval
            if self.batch:
                sub, weight, _ = gen_fn.vregenerate(old, selected, args, key=key,
                                                    like=self.like_call(path))
            else:
                sub, weight, _ = gen_fn.regenerate(old, selected, args, key=key)
            self.add_weight(weight)
        elif self.batch:
            sub = gen_fn.vsimulate(args, self.batch, key=key, like=self.like_call(path))
        else:
            sub = gen_fn.simulate(args, key=key)
        self.record_call(path, sub)
        return sub.retval
