"""Update: keep the old choices except constrained ones; re-score under new args.

weight = log p(t'; x') - log p(t; x) - log q(fresh unconstrained choices):
kept and constrained choices add (new log density - old), fresh choices add
nothing, removed choices subtract their old log density. The discard holds every
replaced or removed choice.
"""

from __future__ import annotations

from typing import Any

from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.diff import NO_CHANGE, UNKNOWN_CHANGE
from genmlx.dsl.handlers.base import CallRecord, ChoiceRecord, Handler, constraint_value, \
    unchanged_args


class UpdateHandler(Handler):
    op = "update"

    def __init__(self, gen_fn, prev_trace, constraints: ChoiceMap, key=None, batch=None,
                 like=None):
        super().__init__(gen_fn, key, batch, like)
        self.prev = prev_trace.internal.records
        self.constraints = constraints
        self.discard = EMPTY

    def _replace_mismatched(self, path, prev) -> None:
        """A previous record of another kind (or another callee) at `path` is removed."""
        self.sub_weight(prev.score)
        old = ChoiceMap.leaf(prev.value) if isinstance(prev, ChoiceRecord) else prev.subtrace.choices
        if not old.is_empty():
            self.discard = self.discard.set_submap(path, old)

    def choice(self, path, dist) -> Any:
        prev = self.prev.get(path)
        if prev is not None and not isinstance(prev, ChoiceRecord):
            self._replace_mismatched(path, prev)
            prev = None
        found, value = constraint_value(self.constraints, path, dist, f"{self.gen_fn.name}.update")
        if found:
            site = self.record_choice(path, dist, value)
            if prev:
                self.add_weight_diff(site, prev.score)
            else:
                self.add_weight(site)
            if prev:
                self.discard = self.discard.set(path, prev.value)
        elif prev:
            value = prev.value
            site = self.record_choice(path, dist, value, prev.batched)
            self.add_weight_diff(site, prev.score)
        else:
            value = self.sample(path, dist)
            self.record_choice(path, dist, value, batched=True if self.batch else None)
        return value

    def call(self, path, gen_fn, args) -> Any:
        prev = self.prev.get(path)
        sub_constraints = self.constraints.get_submap(path)
        # the key is taken whether or not the call is skipped: the keys of later sites
        # must not depend on an identity test, which compiled code (rebuilt from
        # leaves) can answer differently from the eager path
        key = self.fresh_key()
        if isinstance(prev, CallRecord) and prev.subtrace.gen_fn is gen_fn:
            old = prev.subtrace
            if sub_constraints.is_empty() and unchanged_args(args, old.args):
                self.record_call(path, old)
                return old.retval
            argdiffs = tuple(NO_CHANGE if a is b else UNKNOWN_CHANGE
                             for a, b in zip(args, old.args)) if len(args) == len(old.args) \
                else None
            if self.batch:
                sub, weight, _, discard = gen_fn.vupdate(old, sub_constraints, args, key=key,
                                                         like=self.like_call(path))
            else:
                sub, weight, _, discard = gen_fn.update(old, sub_constraints, args, argdiffs,
                                                        key=key)
            if not discard.is_empty():
                self.discard = self.discard.set_submap(path, discard)
        else:
            if prev is not None:
                self._replace_mismatched(path, prev)
            if self.batch:
                sub, weight = gen_fn.vgenerate(args, sub_constraints, self.batch, key=key,
                                               like=self.like_call(path))
            else:
                sub, weight = gen_fn.generate(args, sub_constraints, key=key)
        self.record_call(path, sub)
        self.add_weight(weight)
        return sub.retval

    def finish(self) -> None:
        """Account for the previous choices this run did not visit."""
        for path, rec in self.prev.items():
            if path in self.records:
                continue
            self.sub_weight(rec.score)
            removed = ChoiceMap.leaf(rec.value) if isinstance(rec, ChoiceRecord) \
                else rec.subtrace.choices
            if not removed.is_empty():
                self.discard = self.discard.set_submap(path, removed, merge=True)
