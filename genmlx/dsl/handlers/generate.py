"""Generate: constrained choices take their constraint, the rest come from the prior.

weight = sum of the constrained choices' log densities (plus callees' weights).
Batched, a constraint is per particle iff its shape is (N,) + the unbatched value
shape, and shared by all particles otherwise (see `batching`).
"""

from __future__ import annotations

from typing import Any

from genmlx.core.choicemap import ChoiceMap
from genmlx.dsl.handlers.base import Handler, constraint_value


class GenerateHandler(Handler):
    op = "generate"

    def __init__(self, gen_fn, constraints: ChoiceMap, key=None, batch=None, like=None):
        super().__init__(gen_fn, key, batch, like)
        self.constraints = constraints

    def choice(self, path, dist) -> Any:
        found, value = constraint_value(self.constraints, path, dist, f"{self.gen_fn.name}.generate")
        if not found:
            value = self.sample(path, dist)
        site = self.record_choice(path, dist, value,
                                  batched=True if self.batch and not found else None)
        if found:
            self.add_weight(site)
        return value

    def call(self, path, gen_fn, args) -> Any:
        sub_constraints = self.constraints.get_submap(path)
        key = self.fresh_key()
        if self.batch:
            sub, weight = gen_fn.vgenerate(args, sub_constraints, self.batch, key=key,
                                           like=self.like_call(path))
        else:
            sub, weight = gen_fn.generate(args, sub_constraints, key=key)
        self.record_call(path, sub)
        self.add_weight(weight)
        return sub.retval
