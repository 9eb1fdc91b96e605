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
from genmlx.errors import GenMLXError

__all__ = ["flatten", "unflatten", "register_node", "register_object_node", "leaf_signature",
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


def _node_of(x: Any) -> tuple[Callable, Callable] | None:
    for cls in type(x).__mro__:
        found = _NODES.get(cls)
        if found is not None:
            return found
    return None


class _Static:
    """A static (non-array) part of a skeleton: equal by value when hashable, else by
    identity (generative functions, backends, functions)."""

    __slots__ = ("value", "_key")

    def __init__(self, value: Any):
        self.value = value
        try:
            hash(value)
            self._key = (type(value), value)
        except TypeError:
            self._key = (type(value), id(value))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Static) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"static({self.value!r})"


def flatten(x: Any, share: bool = True, floats: bool = False) -> tuple[list, Skeleton]:
    """The array leaves of `x` and its skeleton.

    Args:
        x: any value built from traces, choicemaps, records, distributions,
            dataclasses, tuples, lists, dicts and arrays.
        share: give an array object that occurs several times one slot (keeps
            identity through a round trip); False gives every occurrence its own.
        floats: Python floats are leaves too (else they are static), so a
            compiled function takes them as values instead of constants.

    Returns:
        (leaves, skeleton): `unflatten(skeleton, leaves)` rebuilds `x`.
    """
    leaves: list = []
    slots: dict[int, int] = {}

    def walk(v: Any) -> Any:
        if is_array(v) or (floats and type(v) is float):
            if share:
                slot = slots.get(id(v))
                if slot is None:
                    slot = slots[id(v)] = len(leaves)
                    leaves.append(v)
            else:
                slot = len(leaves)
                leaves.append(v)
            return (_LEAF, slot)
        node = _node_of(v)
        if node is not None:
            children, static = node[0](v)
            return ("node", type(v), _Static(static), tuple(walk(c) for c in children))
        kind = type(v)
        if kind is tuple or kind is list:
            return (kind.__name__, tuple(walk(c) for c in v))
        if isinstance(v, tuple) and hasattr(v, "_fields"):
            return ("namedtuple", kind, tuple(walk(c) for c in v))
        if kind is dict:
            keys = tuple(v)
            return ("dict", keys, tuple(walk(v[k]) for k in keys))
        if dataclasses.is_dataclass(v) and not isinstance(v, type) and _has_arrays(v):
            names = tuple(f.name for f in dataclasses.fields(v))
            return ("dataclass", kind, names, tuple(walk(getattr(v, n)) for n in names))
        return (_STATIC, _Static(v))

    skeleton = walk(x)
    return leaves, skeleton


def _has_arrays(obj: Any) -> bool:
    """Dataclasses without fields are static (diff markers); others are walked."""
    return bool(dataclasses.fields(obj))


def unflatten(skeleton: Skeleton, leaves: Sequence[Any]) -> Any:
    """Rebuild the value `flatten` took apart, with `leaves` in its array slots."""
    tag = skeleton[0]
    if tag == _LEAF:
        return leaves[skeleton[1]]
    if tag == _STATIC:
        return skeleton[1].value
    if tag == "node":
        _, kind, static, children = skeleton
        rebuilt = tuple(unflatten(c, leaves) for c in children)
        return _node_of_type(kind)[1](static.value, rebuilt)
    if tag == "tuple":
        return tuple(unflatten(c, leaves) for c in skeleton[1])
    if tag == "list":
        return [unflatten(c, leaves) for c in skeleton[1]]
    if tag == "namedtuple":
        return skeleton[1](*(unflatten(c, leaves) for c in skeleton[2]))
    if tag == "dict":
        return {k: unflatten(c, leaves) for k, c in zip(skeleton[1], skeleton[2])}
    if tag == "dataclass":
        _, kind, names, children = skeleton
        obj = object.__new__(kind)
        for name, child in zip(names, children):
            object.__setattr__(obj, name, unflatten(child, leaves))
        return obj
    raise GenMLXError(f"unflatten: malformed skeleton node {tag!r}")


def _node_of_type(kind: type) -> tuple[Callable, Callable]:
    for cls in kind.__mro__:
        found = _NODES.get(cls)
        if found is not None:
            return found
    raise GenMLXError(f"unflatten: {kind.__name__} is not a registered pytree node")


def leaf_signature(leaves: Sequence[Any]) -> tuple:
    """(shape, dtype) of each leaf: with the skeleton, what a compiled function is
    specialised on."""
    return tuple((tuple(leaf.shape), str(leaf.dtype)) for leaf in leaves)


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
