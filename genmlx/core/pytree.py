"""Traces, choicemaps and results as pytrees: a static skeleton plus array leaves.

`flatten(x)` walks a value (traces, choicemaps, per-site records, distributions,
tuples, lists, dicts, named tuples, dataclasses) and returns its array leaves and
a hashable *skeleton*: everything that is not an array (generative functions,
addresses, record kinds, distribution classes, Python scalars) with a slot
number where each array sat. `unflatten(skeleton, leaves)` rebuilds the value.
Compiled code takes and returns leaves, so a whole trace can cross a compile
boundary; two traces with equal skeletons can be combined leaf by leaf
(`tree_where` is a whole-trace accept/reject with no host sync).

An array object that appears several times (a choice value held by its record,
the choicemap and the return value) gets one slot, so identity survives a round
trip: retdiffs computed by `is` after unflattening agree with the eager path.

Arrays are recognised by duck typing (`shape` and `dtype` attributes), so this
layer imports no array library. Classes that are neither dataclasses nor
containers become pytree nodes through `register_node`; anything else is static.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

from genmlx.core.choicemap import ChoiceMap
from genmlx.core.trace import Trace
from genmlx.errors import GenMLXError

__all__ = ["flatten", "unflatten", "register_node", "register_object_node", "LazyTrace",
           "tree_map", "tree_where", "tree_stack", "tree_index", "Skeleton"]

Skeleton = tuple  # a nested, hashable tuple; see `flatten`

_LEAF = "leaf"
_STATIC = "static"
_NODES: dict[type, tuple[Callable, Callable]] = {}


def register_node(cls: type, to_children: Callable[[Any], tuple[tuple, Any]],
                  from_children: Callable[[Any, tuple], Any]) -> None:
    """Make instances of `cls` (and subclasses) pytree nodes.

    Args:
        cls: the class.
        to_children: obj -> (children tuple, hashable static data).
        from_children: (static data, children tuple) -> obj.
    """
    _NODES[cls] = (to_children, from_children)


def register_object_node(cls: type) -> None:
    """Make `cls` a node whose children are its instance attributes (`vars(obj)`),
    rebuilt without calling `__init__` (so no validation runs on abstract values)."""

    def to_children(obj: Any) -> tuple[tuple, Any]:
        names = tuple(sorted(vars(obj)))
        return tuple(getattr(obj, n) for n in names), (type(obj), names)

    def from_children(static: Any, children: tuple) -> Any:
        kind, names = static
        obj = object.__new__(kind)
        obj.__dict__.update(zip(names, children))
        return obj

    register_node(cls, to_children, from_children)


def _choicemap_children(cm: ChoiceMap) -> tuple[tuple, Any]:
    if cm._is_leaf:
        return (cm._value,), True
    keys = tuple(cm._children)
    return tuple(cm._children[k] for k in keys), keys


def _choicemap_rebuild(static: Any, children: tuple) -> ChoiceMap:
    if static is True:
        return ChoiceMap.leaf(children[0])
    return ChoiceMap(dict(zip(static, children)))


register_node(ChoiceMap, _choicemap_children, _choicemap_rebuild)


def is_array(x: Any) -> bool:
    """True for backend arrays and abstract (traced) arrays; False for Python scalars."""
    return hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, type)


def _node_of(kind: type) -> tuple[Callable, Callable] | None:
    for cls in kind.__mro__:
        found = _NODES.get(cls)
        if found is not None:
            return found
    return None


class _ById:
    """An unhashable static value (a dict of options, a list of callables) in a
    skeleton: equal only to itself."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ById) and other.value is self.value

    def __hash__(self) -> int:
        return id(self.value)


def _static(v: Any) -> tuple:
    # the type is part of the key: True, 1 and 1.0 are equal in Python but not here
    try:
        hash(v)
    except TypeError:
        return (_STATIC, type(v), _ById(v))
    return (_STATIC, type(v), v)


_TRACE_FIELDS = ("gen_fn", "args", "retval", "choices", "score", "internal")


class LazyTrace(Trace):
    """A trace that came out of compiled code: its fields are rebuilt from the leaves
    on first access, and flattening it again reuses its leaves as they are. A chain
    of compiled calls therefore never walks the per-site records in Python."""

    def __init__(self, fields: tuple, leaves: list, gen_fn: Any):
        self.__dict__["_lazy"] = (fields, leaves)
        self.__dict__["gen_fn"] = gen_fn

    def _field(self, name: str) -> Any:
        cache = self.__dict__
        if name not in cache:
            fields, leaves = cache["_lazy"]
            cache[name] = _unflatten(fields[_TRACE_FIELDS.index(name)], leaves)
        return cache[name]

    # properties, not __getattr__: Trace's field defaults are class attributes
    args = property(lambda self: self._field("args"))
    retval = property(lambda self: self._field("retval"))
    choices = property(lambda self: self._field("choices"))
    score = property(lambda self: self._field("score"))
    internal = property(lambda self: self._field("internal"))

    def with_gen_fn(self, gen_fn: Any) -> "LazyTrace":
        """The same trace owned by `gen_fn` (nothing is rebuilt)."""
        fields, leaves = self.__dict__["_lazy"]
        return LazyTrace(fields, leaves, gen_fn)


def flatten(x: Any, share: bool = True, floats: bool = False) -> tuple[list, Skeleton]:
    """The array leaves of `x` and its skeleton.

    Args:
        x: any value built from traces, choicemaps, records, distributions,
            dataclasses, tuples, lists, dicts and arrays.
        share: give an array object that occurs several times within one trace
            one slot (keeps identity through a round trip); False gives every
            occurrence its own.
        floats: Python floats are leaves too (else they are static), so a
            compiled function takes them as values instead of constants.

    Returns:
        (leaves, skeleton): `unflatten(skeleton, leaves)` rebuilds `x`. Each
        trace is a scope of its own: its leaves are contiguous and its slots
        numbered from its first leaf, so it can be rebuilt lazily
        (`LazyTrace`) and flattened again without a walk.
    """
    leaves: list = []
    skeleton = _Flattener(leaves, share, floats).walk(x)
    return leaves, skeleton


class _Flattener:
    def __init__(self, leaves: list, share: bool, floats: bool):
        self.leaves, self.share, self.floats = leaves, share, floats
        self.slots: dict[int, int] = {}
        self.base = 0  # index of the current trace scope's first leaf

    def leaf(self, v: Any) -> tuple:
        leaves = self.leaves
        if self.share:
            slot = self.slots.get(id(v))
            if slot is None:
                slot = self.slots[id(v)] = len(leaves) - self.base
                leaves.append(v)
        else:
            slot = len(leaves) - self.base
            leaves.append(v)
        return (_LEAF, slot)

    def trace(self, v: Trace) -> tuple:
        start = len(self.leaves)
        lazy = v.__dict__.get("_lazy") if self.share else None
        if lazy is not None:
            fields, own = lazy
            self.leaves.extend(own)
            fields = (_static(v.gen_fn),) + fields[1:]
        else:
            saved = (self.slots, self.base)
            self.slots, self.base = {}, start
            fields = tuple(self.walk(getattr(v, name)) for name in _TRACE_FIELDS)
            self.slots, self.base = saved
        return ("trace", type(v) if type(v) is not LazyTrace else Trace, fields,
                start - self.base, len(self.leaves) - start)

    def walk(self, v: Any) -> Any:
        if is_array(v) or (self.floats and type(v) is float):
            return self.leaf(v)
        kind = type(v)
        if isinstance(v, Trace):
            return self.trace(v)
        node = _node_of(kind)
        if node is not None:
            children, static = node[0](v)
            return ("node", kind, static, tuple(self.walk(c) for c in children))
        if kind is tuple or kind is list:
            return (kind.__name__, tuple(self.walk(c) for c in v))
        if isinstance(v, tuple) and hasattr(v, "_fields"):
            return ("namedtuple", kind, tuple(self.walk(c) for c in v))
        if kind is dict:
            keys = tuple(v)
            return ("dict", keys, tuple(self.walk(v[k]) for k in keys))
        if dataclasses.is_dataclass(v) and not isinstance(v, type) and dataclasses.fields(v):
            names = tuple(f.name for f in dataclasses.fields(v))
            return ("dataclass", kind, names, tuple(self.walk(getattr(v, n)) for n in names))
        return _static(v)


def unflatten(skeleton: Skeleton, leaves: Sequence[Any]) -> Any:
    """Rebuild the value `flatten` took apart, with `leaves` in its array slots.
    Traces come back as `LazyTrace`s, rebuilt field by field when read."""
    return _unflatten(skeleton, list(leaves))


def _unflatten(skeleton: Skeleton, leaves: list) -> Any:
    tag = skeleton[0]
    if tag == _LEAF:
        return leaves[skeleton[1]]
    if tag == _STATIC:
        value = skeleton[2]
        return value.value if type(value) is _ById else value
    if tag == "trace":
        _, kind, fields, base, count = skeleton
        own = leaves[base:base + count]
        gen_fn = _unflatten(fields[0], own)
        if kind is Trace:
            return LazyTrace(fields, own, gen_fn)
        return kind(gen_fn, *(_unflatten(f, own) for f in fields[1:]))
    if tag == "node":
        _, kind, static, children = skeleton
        rebuilt = tuple(_unflatten(c, leaves) for c in children)
        return _node_of(kind)[1](static, rebuilt)
    if tag == "tuple":
        return tuple(_unflatten(c, leaves) for c in skeleton[1])
    if tag == "list":
        return [_unflatten(c, leaves) for c in skeleton[1]]
    if tag == "namedtuple":
        return skeleton[1](*(_unflatten(c, leaves) for c in skeleton[2]))
    if tag == "dict":
        return {k: _unflatten(c, leaves) for k, c in zip(skeleton[1], skeleton[2])}
    if tag == "dataclass":
        _, kind, names, children = skeleton
        obj = object.__new__(kind)
        for name, child in zip(names, children):
            object.__setattr__(obj, name, _unflatten(child, leaves))
        return obj
    raise GenMLXError(f"unflatten: malformed skeleton node {tag!r}")


def tree_map(fn: Callable[..., Any], tree: Any, *others: Any) -> Any:
    """`fn` applied leaf by leaf to trees of one skeleton.

    Raises:
        GenMLXError: the trees' skeletons differ (naming both sizes).
    """
    leaves, skeleton = flatten(tree, share=False)
    rest = []
    for other in others:
        other_leaves, other_skeleton = flatten(other, share=False)
        if other_skeleton != skeleton:
            raise GenMLXError(
                "tree_map: the trees have different skeletons (addresses, record kinds, "
                f"distributions or static values differ; {len(leaves)} vs "
                f"{len(other_leaves)} array leaves); leafwise operations need traces of "
                "one structure")
        rest.append(other_leaves)
    return unflatten(skeleton, [fn(*group) for group in zip(leaves, *rest)])


def tree_where(xp: Any, pred: Any, a: Any, b: Any) -> Any:
    """Leaf by leaf `where(pred, a, b)` over two trees of one skeleton.

    `pred` is a scalar (whole-trace accept) or [N] (per particle: its axis lines
    up with the leading axis of every leaf, which must then be batched)."""
    pred = xp.asarray(pred)

    def pick(x: Any, y: Any) -> Any:
        extra = max(x.ndim, y.ndim) - pred.ndim
        p = xp.reshape(pred, tuple(pred.shape) + (1,) * extra) if extra > 0 and pred.ndim else pred
        return xp.where(p, x, y)

    return tree_map(pick, a, b)


def tree_stack(xp: Any, trees: Sequence[Any]) -> Any:
    """Trees of one skeleton stacked on a new leading axis of every leaf."""
    return tree_map(lambda *xs: xp.stack(xs), trees[0], *trees[1:])


def tree_index(tree: Any, index: Any) -> Any:
    """Every leaf indexed on its leading axis (`leaf[index]`)."""
    return tree_map(lambda x: x[index], tree)
