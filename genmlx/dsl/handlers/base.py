"""What every GFI handler shares: keys, score accumulation, per-site records.

A handler runs one body once. `visit` dispatches on what is traced: a
distribution goes to `choice(path, dist)`, a generative function to
`call(path, gen_fn, args)`; each operation's handler implements those two.
Scores and weights stay backend arrays; batched runs ([N] particles) and
compiled tracing use the same code, so nothing here branches on array values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genmlx._backend import get_backend
from genmlx._keys import resolve_key
from genmlx.core.address import Path, show
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.distributions.base import Distribution
from genmlx.errors import AddressError, ArgumentError, GenMLXError
from genmlx.gfi.interface import GenerativeFunction


@dataclass(frozen=True)
class ChoiceRecord:
    """A random choice: its distribution, value and (reduced) log density."""

    dist: Any
    value: Any
    score: Any


@dataclass(frozen=True)
class CallRecord:
    """A traced call of a generative function: its subtrace."""

    subtrace: Any

    @property
    def score(self) -> Any:
        return self.subtrace.score


_KEY_BLOCK = 16


class Handler:
    """Base handler. `batch` is None for one execution, N for [N] particles."""

    op = "run"

    def __init__(self, gen_fn: Any, key: Any = None, batch: int | None = None):
        self.backend = get_backend()
        self.xp = self.backend.xp
        self.gen_fn = gen_fn
        self.key = key
        self.batch = batch
        zero = self.xp.zeros((batch,) if batch else (), dtype=self.backend.float_dtype)
        self.score = zero
        self.weight = zero
        self.records: dict[Path, Any] = {}
        self.param_owner = [gen_fn]
        self.last_path: Path | None = None
        self._block: Any = None
        self._next = _KEY_BLOCK

    # -- keys -------------------------------------------------------------------
    def fresh_key(self) -> Any:
        """A new key for one site. Keys are split off in blocks: one split and one
        index per site instead of a split and two indexes (MLX pays per op)."""
        if self._next >= _KEY_BLOCK:
            if self.key is None:
                self.key = resolve_key(None)
            self._block = self.backend.split(self.key, _KEY_BLOCK + 1)
            self.key = self._block[0]
            self._next = 1
        key = self._block[self._next]
        self._next += 1
        return key

    # -- dispatch -------------------------------------------------------------------
    def visit(self, path: Path, target: Any, args: tuple) -> Any:
        if path in self.records:
            raise AddressError(
                f"{self.gen_fn.name}: address {show(path)} was traced twice in one run; "
                "every random choice and traced call needs its own address.")
        self.last_path = path
        if isinstance(target, Distribution):
            if args:
                raise ArgumentError(f"trace({show(path)!r}, {target.name}): a distribution "
                                    "takes no extra arguments in trace()")
            return self.choice(path, target)
        if isinstance(target, GenerativeFunction):
            return self.call(path, target, args)
        raise GenMLXError(
            f"trace({show(path)!r}, ...): expected a distribution or a generative function, "
            f"got {type(target).__name__}. Build one with genmlx.dist.* or @gen.")

    def splice(self, gen_fn: Any, args: tuple) -> Any:
        body = getattr(gen_fn, "body", None)
        if body is None:
            raise GenMLXError(f"splice({getattr(gen_fn, 'name', gen_fn)}): only @gen functions "
                              "can be spliced; use trace(address, gen_fn, ...) for others.")
        gen_fn.check_args(args)
        self.param_owner.append(gen_fn)
        try:
            return body(*args)
        finally:
            self.param_owner.pop()

    def param(self, name: str, init: Any) -> Any:
        return self.param_owner[-1].get_param(name, init)

    # -- helpers for subclasses ----------------------------------------------------------
    def reduce(self, log_density: Any) -> Any:
        """Sum a site's log densities to one number per execution ([N] when batched)."""
        xp = self.xp
        lp = log_density
        if lp.ndim == 0:
            return lp
        if self.batch and lp.shape[0] == self.batch:
            return xp.sum(lp, axis=tuple(range(1, lp.ndim))) if lp.ndim > 1 else lp
        return xp.sum(lp)

    def sample(self, dist: Distribution) -> Any:
        key = self.fresh_key()
        if self.batch:
            shape = dist.batch_shape
            if shape and shape[0] == self.batch:
                return dist.sample(key)
            return dist.sample_n(key, self.batch)
        return dist.sample(key)

    def record_choice(self, path: Path, dist: Any, value: Any) -> Any:
        site = self.reduce(dist.log_prob(value))
        self.records[path] = ChoiceRecord(dist, value, site)
        self.score = self.score + site
        return site

    def record_call(self, path: Path, subtrace: Any) -> None:
        self.records[path] = CallRecord(subtrace)
        self.score = self.score + subtrace.score

    def choices(self) -> ChoiceMap:
        out = EMPTY
        for path, rec in self.records.items():
            if isinstance(rec, ChoiceRecord):
                sub = ChoiceMap.leaf(rec.value)
            else:
                sub = rec.subtrace.choices
                if sub.is_empty():
                    continue
            out = out.set_submap(path, sub, merge=True)
        return out


def constraint_value(constraints: ChoiceMap, path: Path, dist: Any, who: str) -> tuple[bool, Any]:
    """(True, value as a backend array) when `constraints` holds a value at `path`."""
    node = constraints.get_submap(path)
    if node.is_empty():
        return False, None
    if not node.has_value():
        raise AddressError(f"{who}: constraints under {show(path)} are a submap, but "
                           f"{show(path)} is a random choice ({dist.name})")
    return True, dist._value(node.get_value())


def check_all_visited(choices: ChoiceMap, records: dict, who: str, what: str) -> None:
    """Raise AddressError for any address in `choices` the run never visited."""
    for path, _ in choices.leaves():
        if not any(path[:k] in records for k in range(1, len(path) + 1)):
            raise AddressError(
                f"{who}: {what} at address {show(path)}, which the model never visited; "
                f"visited addresses: {[show(p) for p in list(records)[:12]]}")


def unchanged_args(new_args: tuple, old_args: tuple) -> bool:
    """True when every argument is the same object as before (cheap, never syncs)."""
    return len(new_args) == len(old_args) and all(a is b for a, b in zip(new_args, old_args))
