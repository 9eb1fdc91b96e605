"""Immutable hierarchical choicemaps: address -> value trees.

A choicemap is either a value leaf or a node mapping address components to
choicemaps. Build one from a nested dict, a `{path: value}` dict, or both:
`choicemap({("y", 0): 2.1, "slope": {"a": 1.0}})`. Every operation returns a
new map; nothing mutates.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Iterator, Mapping

from genmlx.core.address import Path, show, to_path
from genmlx.errors import AddressError

__all__ = ["ChoiceMap", "choicemap", "EMPTY"]


class ChoiceMap:
    """A value leaf (`has_value()` at the root) or a node of submaps."""

    __slots__ = ("_value", "_is_leaf", "_children")

    def __init__(self, children: Mapping[Any, "ChoiceMap"] | None = None, *,
                 value: Any = None, is_leaf: bool = False):
        self._is_leaf = is_leaf
        self._value = value
        self._children = MappingProxyType(dict(children or {}))

    # -- constructors ---------------------------------------------------------
    @staticmethod
    def leaf(value: Any) -> "ChoiceMap":
        """A choicemap holding one value at the root address."""
        return ChoiceMap(value=value, is_leaf=True)

    @staticmethod
    def empty() -> "ChoiceMap":
        return EMPTY

    @staticmethod
    def from_mapping(mapping: Mapping[Any, Any]) -> "ChoiceMap":
        """Build from nested dicts and/or `{path: value}` entries."""
        out = EMPTY
        for addr, value in mapping.items():
            sub = value if isinstance(value, ChoiceMap) else (
                ChoiceMap.from_mapping(value) if isinstance(value, Mapping)
                else ChoiceMap.leaf(value))
            out = out.set_submap(addr, sub, merge=True)
        return out

    # -- queries ------------------------------------------------------------------
    def is_empty(self) -> bool:
        return not self._is_leaf and not self._children

    def has_value(self, address: Any = ()) -> bool:
        """True when a value sits at `address` (the root by default)."""
        node = self._find(to_path(address) if address != () else ())
        return node is not None and node._is_leaf

    def has_submap(self, address: Any) -> bool:
        node = self._find(to_path(address))
        return node is not None and not node.is_empty()

    def get_value(self, address: Any = ()) -> Any:
        """The value at `address`; AddressError when there is none."""
        path = to_path(address) if address != () else ()
        node = self._find(path)
        if node is None or not node._is_leaf:
            raise AddressError(f"no value at address {show(path)} in this choicemap")
        return node._value

    def get_submap(self, address: Any) -> "ChoiceMap":
        """The choicemap under `address` (empty when absent)."""
        node = self._find(to_path(address))
        return EMPTY if node is None else node

    def __getitem__(self, address: Any) -> Any:
        return self.get_value(address)

    def __contains__(self, address: Any) -> bool:
        return self._find(to_path(address)) is not None

    def _find(self, path: Path) -> "ChoiceMap | None":
        node = self
        for part in path:
            if node._is_leaf:
                return None
            node = node._children.get(part)
            if node is None:
                return None
        return node

    def children(self) -> Mapping[Any, "ChoiceMap"]:
        """The first-level submaps, by address component."""
        return self._children

    # -- iteration --------------------------------------------------------------------
    def leaves(self) -> Iterator[tuple[Path, Any]]:
        """(path, value) for every value, depth first in insertion order."""
        if self._is_leaf:
            yield (), self._value
            return
        for part, child in self._children.items():
            for path, value in child.leaves():
                yield (part,) + path, value

    def addresses(self) -> list[Path]:
        return [p for p, _ in self.leaves()]

    def __iter__(self) -> Iterator[tuple[Path, Any]]:
        return self.leaves()

    def __len__(self) -> int:
        return sum(1 for _ in self.leaves())

    def to_dict(self) -> Any:
        """Nested dicts of values (the value itself for a leaf)."""
        if self._is_leaf:
            return self._value
        return {k: v.to_dict() for k, v in self._children.items()}

    # -- functional updates --------------------------------------------------------------
    def set(self, address: Any, value: Any) -> "ChoiceMap":
        """A new map with `value` at `address` (replacing what was there)."""
        return self.set_submap(address, ChoiceMap.leaf(value))

    def set_submap(self, address: Any, sub: "ChoiceMap", merge: bool = False) -> "ChoiceMap":
        path = to_path(address) if address != () else ()
        return self._set_path(path, sub, merge, path)

    def _set_path(self, path: Path, sub: "ChoiceMap", merge: bool, full: Path) -> "ChoiceMap":
        if not path:
            return self.merge(sub, _where=full) if merge else sub
        if self._is_leaf:
            raise AddressError(
                f"address {show(full)}: a value already sits at a prefix of this path; "
                "a choicemap leaf cannot also hold submaps.")
        head, rest = path[0], path[1:]
        child = self._children.get(head, EMPTY)
        children = dict(self._children)
        children[head] = child._set_path(rest, sub, merge, full)
        return ChoiceMap(children)

    def merge(self, other: "ChoiceMap", _where: Path = ()) -> "ChoiceMap":
        """Union of two maps; AddressError where both hold something at one address."""
        if other.is_empty():
            return self
        if self.is_empty():
            return other
        if self._is_leaf or other._is_leaf:
            raise AddressError(f"merge: both choicemaps hold choices at address {show(_where)}")
        children = dict(self._children)
        for part, child in other._children.items():
            mine = children.get(part)
            children[part] = child if mine is None else mine.merge(child, _where + (part,))
        return ChoiceMap(children)

    def without(self, address: Any) -> "ChoiceMap":
        """A new map with whatever sits at `address` removed."""
        path = to_path(address)
        if not path or self._is_leaf:
            return self
        child = self._children.get(path[0])
        if child is None:
            return self
        children = dict(self._children)
        rest = child.without(path[1:]) if len(path) > 1 else EMPTY
        if rest.is_empty():
            del children[path[0]]
        else:
            children[path[0]] = rest
        return ChoiceMap(children)

    # -- comparison and display ---------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChoiceMap):
            return NotImplemented
        mine, theirs = dict(self.leaves()), dict(other.leaves())
        if mine.keys() != theirs.keys():
            return False
        return all(_values_equal(mine[k], theirs[k]) for k in mine)

    __hash__ = None  # values are arrays: equality is by value, so no hashing

    def __repr__(self) -> str:
        if self._is_leaf:
            return f"ChoiceMap.leaf({_show_value(self._value)})"
        body = ", ".join(f"{show(p)}: {_show_value(v)}" for p, v in self.leaves())
        return f"ChoiceMap({{{body}}})"


def _values_equal(a: Any, b: Any) -> bool:
    from genmlx._backend import get_backend

    xp = get_backend().xp
    try:
        xa, xb = xp.asarray(a), xp.asarray(b)
    except (TypeError, ValueError):
        return a == b
    return tuple(xa.shape) == tuple(xb.shape) and bool(xp.all(xa == xb))


def _show_value(v: Any) -> str:
    shape = getattr(v, "shape", None)
    if shape is None:
        return repr(v)
    if tuple(shape) == ():
        return f"{v.item():.6g}" if hasattr(v, "item") else repr(v)
    return f"array{tuple(shape)}"


EMPTY = ChoiceMap()


def choicemap(mapping: Mapping[Any, Any] | None = None, **named: Any) -> ChoiceMap:
    """Build an immutable choicemap.

    Args:
        mapping: nested dicts and/or `{address: value}` with tuple paths.
        **named: shorthand for string addresses, `choicemap(slope=2.0)`.

    Example:
        >>> choicemap({("y", 0): 2.1, "slope": 1.0})["y", 0]
        2.1
    """
    merged = dict(mapping or {})
    merged.update(named)
    return ChoiceMap.from_mapping(merged)
