"""Mix: a first-class mixture of generative functions.

`Mix(*components)` takes args `(log_weights, *args)`: it makes a categorical
choice of component at address "component" with probabilities
softmax(log_weights) (unnormalised log weights are fine), then runs that
component on `*args` with its choices under address "value"; the retval is the
component's retval. It is exactly this hand-written model (a Switch under
"value", so changing "component" in an update follows Gen's Switch rule: the
new component keeps the old one's values where their addresses coincide):

    @gen
    def mix(log_weights, *args):
        k = trace("component", dist.categorical(log_weights))
        return trace("value", Switch(*components), k, *args)

Score: log softmax(log_weights)[k] + the component's score.

The component is a sampled array, so the Switch takes its array path: every
component runs and the chosen one is selected with `where` (no host read), and
a model with a Mix compiles under `gm.compile`.

Batched (`vsimulate`, `vgenerate`, ... with [N] particles, e.g. inside a
vectorized model) the component choice is an [N] array and `VSwitch` replaces
`Switch`: every component runs and each particle's results are its component's.

Example:
    >>> @gen
    ... def left(mu):
    ...     return trace("x", dist.gaussian(mu - 2.0, 1.0))
    >>> @gen
    ... def right(mu):
    ...     return trace("x", dist.gaussian(mu + 2.0, 1.0))
    >>> two_modes = Mix(left, right)
    >>> tr = two_modes.simulate((xp.log(xp.asarray([0.3, 0.7])), 0.0), key=gm.key(0))
    >>> k = int(tr["component"])   # 0 or 1
    >>> tr["value", "x"] is tr.retval
    True
"""

from __future__ import annotations

from genmlx.combinators.dimap import Wrapper
from genmlx.combinators.switch import Switch
from genmlx.combinators.vswitch import VSwitch
from genmlx.distributions.discrete import categorical
from genmlx.dsl.gen import gen
from genmlx.dsl.runtime import trace
from genmlx.gfi.interface import GenerativeFunction

__all__ = ["Mix"]


class Mix(Wrapper):
    """A categorical choice of component, then that component (module docstring)."""

    def __init__(self, *components: GenerativeFunction):
        self.components = Switch(*components).branches
        self._model = _mixture(Switch(*components))
        self._batched_model = _mixture(VSwitch(*components))
        self.name = "Mix(" + ", ".join(getattr(c, "name", "?") for c in components) + ")"

    @property
    def inner(self) -> GenerativeFunction:
        return self._model

    @property
    def batched_inner(self) -> GenerativeFunction:
        return self._batched_model


def _mixture(switch: GenerativeFunction) -> GenerativeFunction:
    """The @gen model of a mixture over the branches of `switch`."""

    @gen
    def mix(log_weights, *args):
        k = trace("component", categorical(log_weights))
        return trace("value", switch, k, *args)

    return mix
