"""What every GFI handler shares: keys, score accumulation, per-site records.

A handler runs one body once. `visit` dispatches on what is traced: a
distribution goes to `choice(path, dist)`, a generative function to
`call(path, gen_fn, args)`; each operation's handler implements those two.
Scores and weights stay backend arrays; batched runs ([N] particles) and
compiled tracing use the same code, so nothing here branches on array values.

A batched handler (`batch` = N) also holds `like`, the unbatched trace of the
same call (see `genmlx.dsl.handlers.batching`): every site looks up its
skeleton there, so which arrays carry the particle axis is decided by the
unbatched shapes, never by an array's leading size. In a batched trace every
site score is [N] and each `ChoiceRecord` says whether its value is per
particle (`batched`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genmlx._backend import get_backend
from genmlx._keys import check_key, resolve_key
from genmlx.core.address import Path, show
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.distributions.base import Distribution
from genmlx.distributions.gfi import batched_draw, batched_site_score, value_is_batched
from genmlx.dsl.handlers.batching import miss
from genmlx.errors import AddressError, ArgumentError, GenMLXError
from genmlx.gfi.interface import GenerativeFunction


@dataclass(frozen=True)
class ChoiceRecord:
    """A random choice: its distribution, value and (reduced) log density.

    In a batched trace `score` is [N] and `batched` says whether `value` carries
    the leading particle axis (False for a value shared by all particles, such as
    a scalar constraint); in an ordinary trace `batched` is False.
    """

    dist: Any
    value: Any
    score: Any
    batched: bool = False


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

    def __init__(self, gen_fn: Any, key: Any = None, batch: int | None = None,
                 like: Any = None):
        self.backend = get_backend()
        self.xp = self.backend.xp
        self.gen_fn = gen_fn
        self.key = None if key is None else check_key(key)
        self.batch = batch
        self.like = like if batch else None
        self._like_records = like.internal.records if self.like is not None else None
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

    # -- the skeleton (batched runs) -------------------------------------------------------
    def like_choice(self, path: Path) -> ChoiceRecord:
        """The unbatched record of the choice at `path` (batched runs only)."""
        rec = self._like_records.get(path)
        if not isinstance(rec, ChoiceRecord):
            raise miss(self._who(), path, "absent" if rec is None else "a traced call")
        return rec

    def like_call(self, path: Path) -> Any:
        """The callee's unbatched trace at `path` (batched runs only), passed down as its
        `like`."""
        rec = self._like_records.get(path)
        if not isinstance(rec, CallRecord):
            raise miss(self._who(), path, "absent" if rec is None else "a random choice")
        return rec.subtrace

    def _who(self) -> str:
        return f"{self.gen_fn.name} (batched {self.op}, {self.batch} particles)"

    # -- helpers for subclasses ----------------------------------------------------------
    def reduce(self, log_density: Any) -> Any:
        """Sum an unbatched site's log densities to one number."""
        lp = log_density
        return lp if lp.ndim == 0 else self.xp.sum(lp)

    def sample(self, path: Path, dist: Distribution) -> Any:
        """A draw for the site at `path`: [N] draws (through `sample` when the parameters
        are per particle, `sample_n` when shared) in a batched run."""
        key = self.fresh_key()
        if not self.batch:
            return dist.sample(key)
        like = self.like_choice(path)
        value, _ = batched_draw(dist, key, self.batch, like.dist.batch_shape,
                                f"{self._who()} at {show(path)}")
        return value

    def record_choice(self, path: Path, dist: Any, value: Any,
                      batched: bool | None = None) -> Any:
        """Record a choice and add its log density to the score; returns the site score.

        In a batched run `batched` says whether `value` carries the particle axis:
        True for draws, the previous record's flag for kept values, None for a
        given value (per particle iff its shape is (N,) + the unbatched value shape).
        """
        if not self.batch:
            site = self.reduce(dist.log_prob(value))
            self.records[path] = ChoiceRecord(dist, value, site)
        else:
            like = self.like_choice(path)
            if batched is None:
                batched = value_is_batched(value, self.batch, like.value.shape)
            site = batched_site_score(dist, value, self.batch, batched, like.dist.batch_shape,
                                      f"{self._who()} at {show(path)}")
            self.records[path] = ChoiceRecord(dist, value, site, batched)
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
