"""A minimal pytree for the backend layer's control flow (scan, cond, select).

The eager control-flow implementations (NumPy, MLX) carry loop state that is a
nested structure of arrays: tuples, lists, dicts, named tuples and None. This
module splits such a value into its leaves and a `TreeDef` describing the
containers, and rebuilds it. It knows nothing of traces or choicemaps (that is
`genmlx.core.pytree`, a higher layer) and imports no array library: anything
that is not one of the containers above is a leaf. JAX uses jax.tree_util.

Dict keys are visited in sorted order (insertion order when the keys do not
sort), so two dicts with the same keys have the same structure however they
were built, and the rebuilt dict lists its keys in that order.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

__all__ = ["TreeDef", "flatten", "unflatten", "leaves", "tree_map", "tree_stack"]

_LEAF, _NONE, _TUPLE, _NAMEDTUPLE, _LIST, _DICT = range(6)


class TreeDef:
    """The container skeleton of a pytree; equal skeletons combine leaf by leaf.

    Attributes:
        kind: which container (leaf, None, tuple, named tuple, list, dict).
        meta: the named-tuple class or the dict's key tuple (None otherwise).
        children: the child skeletons, in leaf order.
        num_leaves: how many leaves the skeleton holds.
    """

    __slots__ = ("kind", "meta", "children", "num_leaves")

    def __init__(self, kind: int, meta: Any = None, children: tuple = ()):
        self.kind = kind
        self.meta = meta
        self.children = children
        self.num_leaves = 1 if kind == _LEAF else sum(c.num_leaves for c in children)

    def _key(self) -> tuple:
        return (self.kind, self.meta, self.children)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TreeDef) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        if self.kind == _LEAF:
            return "*"
        if self.kind == _NONE:
            return "None"
        inner = ", ".join(repr(c) for c in self.children)
        if self.kind == _DICT:
            inner = ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.meta, self.children))
            return "{" + inner + "}"
        if self.kind == _LIST:
            return "[" + inner + "]"
        if self.kind == _NAMEDTUPLE:
            return f"{self.meta.__name__}({inner})"
        return "(" + inner + ("," if len(self.children) == 1 else "") + ")"


_LEAF_DEF = TreeDef(_LEAF)
_NONE_DEF = TreeDef(_NONE)


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _dict_keys(d: dict) -> tuple:
    try:
        return tuple(sorted(d))
    except TypeError:  # keys of mixed types do not sort; keep the insertion order
        return tuple(d)


def flatten(tree: Any) -> tuple[list, TreeDef]:
    """Split `tree` into its leaves (depth first) and its skeleton.

    Args:
        tree: a leaf, None, or a tuple / named tuple / list / dict of pytrees.

    Returns:
        (leaves, treedef) with `unflatten(treedef, leaves)` equal to `tree`.
    """
    out: list = []
    return out, _flatten_into(tree, out)


def _flatten_into(tree: Any, out: list) -> TreeDef:
    if tree is None:
        return _NONE_DEF
    if isinstance(tree, dict):
        keys = _dict_keys(tree)
        return TreeDef(_DICT, keys, tuple(_flatten_into(tree[k], out) for k in keys))
    if isinstance(tree, (tuple, list)):
        children = tuple(_flatten_into(c, out) for c in tree)
        if isinstance(tree, list):
            return TreeDef(_LIST, None, children)
        if _is_namedtuple(tree):
            return TreeDef(_NAMEDTUPLE, type(tree), children)
        return TreeDef(_TUPLE, None, children)
    out.append(tree)
    return _LEAF_DEF


def unflatten(treedef: TreeDef, leaves: Sequence[Any]) -> Any:
    """Rebuild the pytree of skeleton `treedef` from `leaves` (in `flatten` order)."""
    if len(leaves) != treedef.num_leaves:
        raise ValueError(f"unflatten: skeleton {treedef!r} holds {treedef.num_leaves} leaves, "
                         f"got {len(leaves)}")
    return _build(treedef, iter(leaves))


def _build(treedef: TreeDef, it: Any) -> Any:
    kind = treedef.kind
    if kind == _LEAF:
        return next(it)
    if kind == _NONE:
        return None
    children = [_build(c, it) for c in treedef.children]
    if kind == _DICT:
        return dict(zip(treedef.meta, children))
    if kind == _LIST:
        return children
    if kind == _NAMEDTUPLE:
        return treedef.meta(*children)
    return tuple(children)


def leaves(tree: Any) -> list:
    """The leaves of `tree`, in `flatten` order."""
    return flatten(tree)[0]


def tree_map(f: Callable, tree: Any, *rest: Any) -> Any:
    """`f` applied leafwise to `tree` and the same-structured trees `rest`.

    Raises:
        ValueError: a tree in `rest` has a different structure from `tree`.
    """
    flat, treedef = flatten(tree)
    others = []
    for other in rest:
        other_flat, other_def = flatten(other)
        if other_def != treedef:
            raise ValueError(f"tree_map: structures differ: {treedef!r} vs {other_def!r}")
        others.append(other_flat)
    return unflatten(treedef, [f(*args) for args in zip(flat, *others)])


def tree_stack(trees: Sequence[Any], stack: Callable[[list], Any]) -> Any:
    """Stack same-structured trees leafwise with `stack` (a list of leaves -> array).

    Raises:
        ValueError: empty input, or the trees' structures differ.
    """
    if not trees:
        raise ValueError("tree_stack: no trees to stack")
    flats = [flatten(t) for t in trees]
    treedef = flats[0][1]
    for _, other in flats[1:]:
        if other != treedef:
            raise ValueError(f"tree_stack: structures differ: {treedef!r} vs {other!r}")
    columns = zip(*(flat for flat, _ in flats)) if treedef.num_leaves else ()
    return unflatten(treedef, [stack(list(col)) for col in columns])
