"""vmap_gf and repeat_gf: run a generative function once on [N]-batched values.

`vmap_gf(gen_fn, in_axes=0)` maps `gen_fn` over the leading axis of its mapped
arguments (`in_axes`: 0 maps every argument, None broadcasts it, or a tuple with
one 0/None per argument). The kernel runs ONCE through its batched entry points
(`vsimulate`, `vgenerate`, `vupdate`, `vregenerate`), so every choice leaf is an
[N] array at the kernel's own addresses, and the combinator's score and weights
are the sums over the N elements (`repeat_gf` in repeat.py is the same with
every argument broadcast and N fixed).

Equivalent hand-written model: the kernel written with [N] arrays, e.g. for
`vmap_gf(kernel)` with `kernel(mu) = trace("x", dist.gaussian(mu, 1.0))`:

    @gen
    def batched(mus):
        return trace("x", dist.gaussian(mus, 1.0))   # x is [N]; score sums N terms

Skeleton (see `genmlx.dsl.handlers.batching`): the kernel's batched runs get
as `like` a probe of the kernel on element 0 of the mapped arguments (and the
broadcast ones as they are), so its sites know their unbatched shapes; with
nothing mapped (`repeat_gf`) the kernel probes its own arguments.

Example:
    >>> @gen
    ... def point(x):
    ...     return trace("y", dist.gaussian(2.0 * x, 1.0))
    >>> tr = vmap_gf(point).simulate((xp.asarray([1.0, 2.0, 3.0]),), key=gm.key(0))
    >>> tr["y"].shape
    (3,)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genmlx._backend import get_backend
from genmlx.combinators._common import as_choicemap, batch_sum, check_args, lookup
from genmlx.core.address import Path, show
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.diff import NO_CHANGE, UNKNOWN_CHANGE
from genmlx.core.selection import Selection
from genmlx.core.trace import Trace
from genmlx.dsl.handlers.batching import probe
from genmlx.errors import AddressError, ArgumentError
from genmlx.gfi.interface import (
    AssessResult, GenerateResult, GenerativeFunction, RegenerateResult, UpdateResult,
)

__all__ = ["Vmap", "vmap_gf"]


@dataclass(frozen=True)
class VmapInternal:
    """The kernel's batched trace and the batch size."""

    subtrace: Trace
    n: int


class Vmap(GenerativeFunction):
    """`gen_fn` mapped over the leading axis of its mapped arguments (module docstring)."""

    def __init__(self, gen_fn: GenerativeFunction, in_axes: Any = 0):
        if not isinstance(gen_fn, GenerativeFunction):
            raise TypeError(f"vmap_gf: expected a generative function, got "
                            f"{type(gen_fn).__name__}")
        axes = in_axes if isinstance(in_axes, (tuple, list)) else None
        for axis in (axes if axes is not None else (in_axes,)):
            if axis not in (0, None) or isinstance(axis, bool):
                raise ArgumentError(f"vmap_gf: in_axes entries must be 0 (map the leading "
                                    f"axis) or None (broadcast), got {axis!r}")
        self.kernel = gen_fn
        self.in_axes = tuple(axes) if axes is not None else in_axes
        self.name = f"vmap_gf({getattr(gen_fn, 'name', '?')})"

    # -- arguments ------------------------------------------------------------------------
    def _axes(self, count: int, who: str) -> tuple:
        if not isinstance(self.in_axes, tuple):
            return (self.in_axes,) * count
        if len(self.in_axes) != count:
            raise ArgumentError(f"{who}: in_axes has {len(self.in_axes)} entries for "
                                f"{count} arguments")
        return self.in_axes

    def _prepare(self, args: tuple, who: str) -> tuple[tuple, int]:
        """(args with mapped lists turned into arrays, batch size N)."""
        check_args(who, args)
        backend, out, sizes = get_backend(), [], []
        for j, (arg, axis) in enumerate(zip(args, self._axes(len(args), who))):
            if axis == 0:
                arg = arg if backend.is_array(arg) else backend.asarray(arg)
                if arg.ndim == 0:
                    raise ArgumentError(f"{who}: argument {j} is mapped (in_axes 0) but is a "
                                        "scalar; give it a leading batch axis or map it None")
                sizes.append(int(arg.shape[0]))
            out.append(arg)
        if not sizes:
            raise ArgumentError(f"{who}: in_axes maps no argument, so the batch size is "
                                "unknown; use repeat_gf(gen_fn, n) to repeat on fixed args")
        if len(set(sizes)) > 1:
            raise ArgumentError(f"{who}: mapped arguments have different leading sizes {sizes}")
        return tuple(out), sizes[0]

    def _kernel_like(self, kargs: tuple, who: str) -> Any:
        """The kernel's unbatched skeleton: a probe on element 0 of each mapped argument
        (None when nothing is mapped: the arguments are then the unbatched ones)."""
        axes = self._axes(len(kargs), who)
        if all(axis is None for axis in axes):
            return None
        return probe(self.kernel, tuple(a[0] if axis == 0 else a for a, axis in zip(kargs, axes)))

    def _wrap(self, args: tuple, sub: Trace, n: int) -> Trace:
        return Trace(self, args, sub.retval, sub.choices, batch_sum(sub.score),
                     VmapInternal(sub, n))

    # -- GFI ----------------------------------------------------------------------------
    def simulate(self, args: tuple, key: Any = None) -> Trace:
        """One batched kernel run; score = sum of the N scores."""
        who = f"{self.name}.simulate"
        kargs, n = self._prepare(args, who)
        return self._wrap(args, self.kernel.vsimulate(kargs, n, key=key,
                                                      like=self._kernel_like(kargs, who)), n)

    def generate(self, args: tuple, constraints: ChoiceMap = EMPTY,
                 key: Any = None) -> GenerateResult:
        """Math: weight = sum of the kernel's N generate weights (constraint leaves [N])."""
        who = f"{self.name}.generate"
        kargs, n = self._prepare(args, who)
        sub, weight = self.kernel.vgenerate(kargs, as_choicemap(constraints), n, key=key,
                                            like=self._kernel_like(kargs, who))
        return GenerateResult(self._wrap(args, sub, n), batch_sum(weight))

    def _edit_args(self, trace: Trace, args: tuple | None, who: str) -> tuple:
        if args is None:
            return trace.args, None
        kargs, n = self._prepare(args, who)
        if n != trace.internal.n:
            raise ArgumentError(f"{who}: the batch size changed from {trace.internal.n} to "
                                f"{n}; run generate for a new batch size")
        return args, kargs

    def update(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
               argdiffs: tuple | None = None, key: Any = None) -> UpdateResult:
        """Math: weight = sum of the kernel's N update weights (vupdate)."""
        who = f"{self.name}.update"
        args, kargs = self._edit_args(trace, args, who)
        old = trace.internal.subtrace
        like = None if kargs is None else self._kernel_like(kargs, who)
        sub, weight, _, discard = self.kernel.vupdate(old, as_choicemap(constraints), kargs,
                                                      key=key, like=like)
        retdiff = NO_CHANGE if sub.retval is old.retval else UNKNOWN_CHANGE
        return UpdateResult(self._wrap(args, sub, trace.internal.n), batch_sum(weight),
                            retdiff, discard)

    def regenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                   argdiffs: tuple | None = None, key: Any = None) -> RegenerateResult:
        """Math: weight = sum of the kernel's N regenerate weights (vregenerate)."""
        who = f"{self.name}.regenerate"
        args, kargs = self._edit_args(trace, args, who)
        old = trace.internal.subtrace
        like = None if kargs is None else self._kernel_like(kargs, who)
        sub, weight, _ = self.kernel.vregenerate(old, selection, kargs, key=key, like=like)
        retdiff = NO_CHANGE if sub.retval is old.retval else UNKNOWN_CHANGE
        return RegenerateResult(self._wrap(args, sub, trace.internal.n), batch_sum(weight),
                                retdiff)

    def assess(self, args: tuple, choices: ChoiceMap) -> AssessResult:
        """Math: weight = log p(choices) = sum of the N elements' log densities.

        Runs the kernel's vgenerate with every choice constrained (a fixed key, so
        nothing random is drawn) and checks that no choice was left to sample.
        """
        who = f"{self.name}.assess"
        kargs, n = self._prepare(args, who)
        choices = as_choicemap(choices)
        sub, weight = self.kernel.vgenerate(kargs, choices, n, key=get_backend().key(0),
                                            like=self._kernel_like(kargs, who))
        for path, _ in sub.choices.leaves():
            if not choices.has_value(path):
                raise AddressError(f"{who}: no choice at address {show(path)}; assess needs "
                                   "every random choice")
        return AssessResult(batch_sum(weight), sub.retval)

    def project(self, trace: Trace, selection: Selection) -> Any:
        """Math: sum of the kernel's N projections."""
        sub = trace.internal.subtrace
        return batch_sum(sub.gen_fn.project(sub, selection))

    def trace_lookup(self, trace: Trace, path: Path) -> tuple[bool, Any]:
        """Addresses are the kernel's; values are [N] arrays."""
        return lookup(trace.internal.subtrace, path) if path else (False, None)

    def __repr__(self) -> str:
        return f"<{self.name}>"


def vmap_gf(gen_fn: GenerativeFunction, in_axes: Any = 0) -> Vmap:
    """`gen_fn` mapped over the leading axis of its arguments, run once batched.

    Args:
        gen_fn: a generative function with batched entry points (e.g. an @gen function).
        in_axes: 0 (map every argument), None (broadcast every argument) or a tuple
            of 0/None per argument.
    """
    return Vmap(gen_fn, in_axes)
