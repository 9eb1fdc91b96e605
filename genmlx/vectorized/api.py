"""L0 vectorized execution: one run of a model body serves N particles.

Every trace site samples `[N]` values (through each distribution's `sample_n`),
so downstream arithmetic, log densities, scores and weights broadcast. The
handlers are the same as for ordinary execution; only the sample shape and the
score reduction change.
"""

from __future__ import annotations

from typing import Any

from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.selection import Selection
from genmlx.core.trace import Trace
from genmlx.gfi.interface import GenerateResult, RegenerateResult, UpdateResult
from genmlx.vectorized import trace_ops


class VectorizedTrace:
    """A batched trace: choice leaves are [N] arrays, score is [N].

    Attributes:
        trace: the underlying batched `Trace`.
        n: the number of particles.
    """

    def __init__(self, trace: Trace):
        self.trace = trace
        self.n = trace_ops.batch_size(trace)

    gen_fn = property(lambda self: self.trace.gen_fn)
    args = property(lambda self: self.trace.args)
    retval = property(lambda self: self.trace.retval)
    choices = property(lambda self: self.trace.choices)
    score = property(lambda self: self.trace.score)

    def __getitem__(self, address: Any) -> Any:
        return self.trace[address]

    def __len__(self) -> int:
        return self.n

    def particle(self, i: int) -> Trace:
        """Particle i as an ordinary Trace (same choices, score and retval)."""
        return trace_ops.particle(self.trace, i)

    def gather(self, indices: Any) -> "VectorizedTrace":
        """Particles reindexed by `indices` (resampling)."""
        return VectorizedTrace(trace_ops.gather(self.trace, indices))

    def where(self, mask: Any, other: "VectorizedTrace") -> "VectorizedTrace":
        """Particle i from self where mask[i], else from `other`."""
        return VectorizedTrace(trace_ops.where(mask, self.trace, other.trace))

    def update(self, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
               key: Any = None) -> UpdateResult:
        """Batched update: weight [N] = log p(t'_i) - log p(t_i) per particle."""
        new, w, retdiff, discard = self.gen_fn.vupdate(self.trace, constraints, args, key=key)
        return UpdateResult(VectorizedTrace(new), w, retdiff, discard)

    def regenerate(self, selection: Selection, args: tuple | None = None,
                   key: Any = None) -> RegenerateResult:
        """Batched regenerate: weight [N] = per-particle MH acceptance log-ratio."""
        new, w, retdiff = self.gen_fn.vregenerate(self.trace, selection, args, key=key)
        return RegenerateResult(VectorizedTrace(new), w, retdiff)

    def __repr__(self) -> str:
        return f"<VectorizedTrace of {self.gen_fn.name}, {self.n} particles>"


def vsimulate(gen_fn: Any, args: tuple, n: int, key: Any = None) -> VectorizedTrace:
    """Simulate N particles in one body run; score [N] = log p(choices_i).

    Raises:
        VectorizationError: the body branches in Python on a batched value.
    """
    return VectorizedTrace(gen_fn.vsimulate(args, int(n), key=key))


def vgenerate(gen_fn: Any, args: tuple, constraints: ChoiceMap, n: int,
              key: Any = None) -> GenerateResult:
    """Generate N particles in one body run; weight [N] = log density of the constraints
    under each particle (the importance weight with the prior as proposal)."""
    tr, w = gen_fn.vgenerate(args, constraints, int(n), key=key)
    return GenerateResult(VectorizedTrace(tr), w)
