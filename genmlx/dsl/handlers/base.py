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

Cost. The handler path is the ground truth and runs eagerly site by site, so
its per-site work is kept constant and small: keys and standard normals are
drawn in blocks and handed out from Python lists (one array op per block
instead of one or two per site), scores are summed without a starting zero
array, and the trace's choicemap is built once from the records, in one pass,
only when it is read (see `choices_from_records`).
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


def _choice_record(dist: Any, value: Any, score: Any, batched: bool = False) -> ChoiceRecord:
    """A `ChoiceRecord` without the frozen dataclass's per-field `object.__setattr__`
    calls (the same object, built with one dict update; this runs once per site)."""
    rec = _new_record(ChoiceRecord)
    rec.__dict__.update(dist=dist, value=value, score=score, batched=batched)
    return rec


_new_record = object.__new__
_BASE_SAMPLE = Distribution.sample

# Blocks of keys (and of standard normals) grow geometrically from the first size
# to the cap: a two-site model pays for a small block, a long model amortises one
# split (or one draw) and one unstack over up to _BLOCK_CAP sites.
_BLOCK_FIRST = 16
_BLOCK_CAP = 128


class _Block:
    """A block of per-site arrays (keys or standard normals) as a Python list, handed
    out one at a time. `xp.unstack` slices the whole block in one call: indexing an
    array once per site costs a dispatch each (about 40 us on eager JAX, 1 us on MLX)."""

    __slots__ = ("items", "next", "size")

    def __init__(self) -> None:
        self.items: list = []
        self.next = 0
        self.size = _BLOCK_FIRST

    def refill(self, items: list) -> None:
        self.items, self.next = items, 0
        self.size = min(2 * self.size, _BLOCK_CAP)


class Handler:
    """Base handler. `batch` is None for one execution, N for [N] particles."""

    op = "run"
    # False for handlers whose `choices()` is not the records' choicemap (assess)
    records_are_choices = True

    def __init__(self, gen_fn: Any, key: Any = None, batch: int | None = None,
                 like: Any = None):
        self.backend = get_backend()
        self.xp = self.backend.xp
        self.gen_fn = gen_fn
        self.key = None if key is None else check_key(key)
        self.batch = batch
        self.like = like if batch else None
        self._like_records = like.internal.records if self.like is not None else None
        # Scores and weights start as None ("nothing added yet") rather than a zero
        # array: no array op per handler, and the first site's score is used as is.
        self._score: Any = None
        self._weight: Any = None
        self.records: dict[Path, Any] = {}
        self.param_owner = [gen_fn]
        self.last_path: Path | None = None
        # every recorded path has one component: the choicemap is one flat node and
        # no two records can clash in it, so it can be built lazily (see `deferrable`)
        self.flat = True
        self._keys = _Block()
        self._normals = _Block()

    # -- score and weight -----------------------------------------------------------
    def _zero(self) -> Any:
        return self.xp.zeros((self.batch,) if self.batch else (), dtype=self.backend.float_dtype)

    @property
    def score(self) -> Any:
        """log p of everything recorded so far (a backend array)."""
        return self._zero() if self._score is None else self._score

    @score.setter
    def score(self, value: Any) -> None:
        self._score = value

    @property
    def weight(self) -> Any:
        """The operation's weight so far (a backend array)."""
        return self._zero() if self._weight is None else self._weight

    @weight.setter
    def weight(self, value: Any) -> None:
        self._weight = value

    def add_score(self, x: Any) -> None:
        self._score = x if self._score is None else self._score + x

    def add_weight(self, x: Any) -> None:
        self._weight = x if self._weight is None else self._weight + x

    def add_weight_diff(self, new: Any, old: Any) -> None:
        """weight += new - old (one subtraction when nothing was added yet)."""
        self._weight = new - old if self._weight is None else self._weight + new - old

    def sub_weight(self, x: Any) -> None:
        self._weight = -x if self._weight is None else self._weight - x

    # -- keys -------------------------------------------------------------------
    def fresh_key(self) -> Any:
        """A new key for one site. Keys are split off in blocks (see `_Block`): per
        block one split and one unstack; the block's first key carries the stream on."""
        block = self._keys
        if block.next >= len(block.items):
            if self.key is None:
                self.key = resolve_key(None)
            keys = self.xp.unstack(self.backend.split(self.key, block.size + 1))
            self.key = keys[0]
            block.refill(keys)
            block.next = 1
        key = block.items[block.next]
        block.next += 1
        return key

    def standard_normal(self) -> Any:
        """One standard normal scalar (float dtype), from a block drawn with one key."""
        block = self._normals
        if block.next >= len(block.items):
            draws = self.backend.normal(self.fresh_key(), (block.size,), self.backend.float_dtype)
            block.refill(self.xp.unstack(draws))
        z = block.items[block.next]
        block.next += 1
        return z

    # -- dispatch -------------------------------------------------------------------
    def visit(self, path: Path, target: Any, args: tuple) -> Any:
        if path in self.records:
            raise AddressError(
                f"{self.gen_fn.name}: address {show(path)} was traced twice in one run; "
                "every random choice and traced call needs its own address.")
        self.last_path = path
        if len(path) != 1:
            self.flat = False
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
        are per particle, `sample_n` when shared) in a batched run.

        Unbatched, a scalar site of a distribution that is a transform of one standard
        normal (`Distribution.from_standard_normal`) takes its normal from the handler's
        block; any other site draws with a fresh key of its own. Keys made here are
        known to be keys, so `sample`'s check is skipped unless a subclass overrides it.
        """
        if not self.batch:
            if dist.from_standard_normal is not None and dist.batch_shape == ():
                return dist.from_standard_normal(self.standard_normal())
            key = self.fresh_key()
            if type(dist).sample is _BASE_SAMPLE:
                return dist._draw(key, dist.batch_shape)
            return dist.sample(key)
        key = self.fresh_key()
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
            lp = dist.log_prob(value)
            site = lp if lp.ndim == 0 else self.xp.sum(lp)
            self.records[path] = _choice_record(dist, value, site)
        else:
            like = self.like_choice(path)
            if batched is None:
                batched = value_is_batched(value, self.batch, like.value.shape)
            site = batched_site_score(dist, value, self.batch, batched, like.dist.batch_shape,
                                      f"{self._who()} at {show(path)}")
            self.records[path] = _choice_record(dist, value, site, batched)
        self._score = site if self._score is None else self._score + site
        return site

    def record_call(self, path: Path, subtrace: Any) -> None:
        self.records[path] = CallRecord(subtrace)
        self.add_score(subtrace.score)

    @property
    def deferrable(self) -> bool:
        """True when the trace may build its choicemap on first read: every path has
        one component, so no two records can clash and building raises nothing."""
        return self.flat and self.records_are_choices

    def choices(self) -> ChoiceMap:
        return choices_from_records(self.records)


def choices_from_records(records: dict) -> ChoiceMap:
    """The choicemap of a DSL trace's records, built in one pass.

    Equal to inserting each record's submap (a value leaf, or the callee's
    choicemap; empty ones skipped) in order with `set_submap(path, sub, merge=True)`,
    including its AddressErrors, but each node is built once: cost linear in the
    number of records instead of copying a node per insert.
    """
    root: dict = {}
    for path, rec in records.items():
        if type(rec) is ChoiceRecord:
            sub = ChoiceMap.leaf(rec.value)
        else:
            sub = rec.subtrace.choices
            if sub.is_empty():
                continue
        if len(path) == 1:  # the common case: no nesting to walk
            head = path[0]
            mine = root.get(head)
            root[head] = sub if mine is None else _merge_into(mine, sub, path)
            continue
        node = root
        for i, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif type(child) is not dict:
                if child._is_leaf:
                    raise AddressError(
                        f"address {show(path)}: a value already sits at a prefix of this "
                        "path; a choicemap leaf cannot also hold submaps.")
                child = node[part] = dict(child.children())  # open a built node for inserts
            node = child
        last = path[-1]
        mine = node.get(last)
        node[last] = sub if mine is None else _merge_into(mine, sub, path)
    return _freeze(root)


def _merge_into(mine: Any, sub: ChoiceMap, where: Path) -> Any:
    """`mine` (an open dict node or a built ChoiceMap) merged with `sub`, as
    `ChoiceMap.merge` would (AddressError where both hold something)."""
    if type(mine) is not dict:
        return mine.merge(sub, _where=where)
    if sub._is_leaf:
        raise AddressError(f"merge: both choicemaps hold choices at address {show(where)}")
    for part, child in sub.children().items():
        have = mine.get(part)
        mine[part] = child if have is None else _merge_into(have, child, where + (part,))
    return mine


def _freeze(node: dict) -> ChoiceMap:
    return ChoiceMap({k: _freeze(v) if type(v) is dict else v for k, v in node.items()})


def constraint_value(constraints: ChoiceMap, path: Path, dist: Any, who: str) -> tuple[bool, Any]:
    """(True, value as a backend array) when `constraints` holds a value at `path`."""
    node = constraints._find(path)  # `path` is already a normalised tuple path
    if node is None or node.is_empty():
        return False, None
    if not node._is_leaf:
        raise AddressError(f"{who}: constraints under {show(path)} are a submap, but "
                           f"{show(path)} is a random choice ({dist.name})")
    return True, dist._value(node._value)


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
