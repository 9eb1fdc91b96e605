"""Immutable hierarchical choicemaps: address -> value trees.

A choicemap is either a value leaf or a node mapping address components to
choicemaps. Build one from a nested dict, a `{path: value}` dict, or both:
`choicemap({("y", 0): 2.1, "slope": {"a": 1.0}})`. Every operation returns a
new map; nothing mutates.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from genmlx.core.address import Path, show, to_path
from genmlx.errors import AddressError, ShapeError

if TYPE_CHECKING:
    from genmlx.core.selection import Selection

__all__ = ["ChoiceMap", "choicemap", "EMPTY", "get_selected", "to_array", "from_array"]


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
        """True when a non-empty submap (a node of choices) sits at `address`.

        As in Gen, a value is not a submap: `choicemap(x=1.0).has_submap("x")`
        is False (use `has_value`); `choicemap({("y", 0): 1.0}).has_submap("y")`
        is True.
        """
        node = self._find(to_path(address))
        return node is not None and not node._is_leaf and not node.is_empty()

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
        """The path of every value, in `leaves()` order."""
        return [p for p, _ in self.leaves()]

    def get_selected(self, selection: "Selection") -> "ChoiceMap":
        """The choices whose addresses `selection` selects (see `get_selected`)."""
        return get_selected(self, selection)

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

    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        # tuple values (product distributions) compare componentwise, by value; a list
        # against an array falls through to the array comparison below
        return len(a) == len(b) and all(_values_equal(x, y) for x, y in zip(a, b))

    xp = get_backend().xp
    try:
        xa, xb = xp.asarray(a), xp.asarray(b)
    except (TypeError, ValueError):
        try:
            return bool(a == b)
        except (TypeError, ValueError):  # e.g. a ragged tuple against an array
            return False
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


# -- Gen.jl's free functions: filtering and flattening ------------------------------------

def get_selected(choices: ChoiceMap, selection: "Selection") -> ChoiceMap:
    """The sub-choicemap of `choices` holding exactly the values at selected addresses.

    A value at path p is kept when `p in selection`; selections are hierarchical,
    so `select("y")` keeps every value under y, `select(("y", 0))` only y/0,
    and `~select("y")` everything else. Empty nodes are dropped.

    Example:
        >>> cm = choicemap({("y", 0): 1.0, ("y", 1): 2.0, "z": 3.0})
        >>> get_selected(cm, select(("y", 0), "z")).addresses()
        [('y', 0), ('z',)]
    """
    if choices._is_leaf:
        return choices if selection.at_leaf() else EMPTY
    children = {}
    for part, child in choices._children.items():
        sub = selection.sub(part)
        if sub.is_none():  # cheap prune; `is_none` never says True wrongly
            continue
        kept = get_selected(child, sub)
        if not kept.is_empty():
            children[part] = kept
    return ChoiceMap(children) if children else EMPTY


def _array_order(choices: ChoiceMap, spec: Any) -> tuple[list[Path], ChoiceMap | None]:
    """(the addresses to flatten, in order; the template choicemap or None)."""
    if spec is None:
        return choices.addresses(), None
    if isinstance(spec, ChoiceMap):
        return spec.addresses(), spec
    if isinstance(spec, (list, tuple)) and not (isinstance(spec, tuple) and spec and all(
            isinstance(p, (str, int)) for p in spec)):
        return [to_path(a) for a in spec], None
    raise TypeError("to_array: the second argument must be a ChoiceMap template or a list of "
                    f"addresses, got {type(spec).__name__} {spec!r} (wrap a single tuple "
                    "address in a list: [(\"y\", 0)])")


def _shape_of(value: Any) -> tuple[int, ...]:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return tuple(int(d) for d in shape)
    from genmlx._backend import host_numpy

    return tuple(host_numpy().shape(value))


def to_array(choices: ChoiceMap, addresses_or_template: Any = None, dtype: Any = None) -> Any:
    """The values of `choices` flattened into one 1-D backend array (Gen's `to_array`).

    Order: the addresses are taken from `addresses_or_template`:
    - a list of addresses: in that order;
    - a ChoiceMap template: its `addresses()` order (depth first, insertion
      order), and every value of `choices` must have the shape of the
      template's value at the same address;
    - None: `choices.addresses()` itself.
    Each value contributes its elements in row-major (C) order, so a [2, 3]
    value takes 6 consecutive entries. `from_array(template, array)` inverts it.

    Args:
        choices: the choicemap to read.
        addresses_or_template: the order (see above).
        dtype: the array's dtype (default: the backend's float dtype).

    Returns:
        A backend array of shape [sum of the values' sizes].

    Raises:
        AddressError: an address in the order holds no value in `choices`.
        ShapeError: a value's shape differs from the template's.

    Example:
        >>> to_array(choicemap({"a": 1.0, "b": [2.0, 3.0]}), ["b", "a"])  # [2, 3, 1]
    """
    from genmlx._backend import get_backend

    backend = get_backend()
    xp = backend.xp
    dtype = backend.float_dtype if dtype is None else dtype
    order, template = _array_order(choices, addresses_or_template)
    parts = []
    for path in order:
        if not choices.has_value(path):
            raise AddressError(f"to_array: no value at address {show(path)} in the choicemap"
                               + ("" if choices.has_submap(path) else
                                  f"; it holds values at {[show(p) for p in choices.addresses()[:8]]}"))
        value = choices.get_value(path)
        if template is not None:
            want, got = _shape_of(template.get_value(path)), _shape_of(value)
            if want != got:
                raise ShapeError(f"to_array: the value at {show(path)} has shape {got}, but the "
                                 f"template's value there has shape {want}")
        arr = value if backend.is_array(value) else backend.asarray(value, dtype=dtype)
        parts.append(xp.reshape(xp.astype(arr, dtype), (-1,)))
    if not parts:
        return xp.zeros((0,), dtype=dtype)
    return xp.concat(parts, axis=0) if len(parts) > 1 else parts[0]


def from_array(template: ChoiceMap, array: Any) -> ChoiceMap:
    """A choicemap shaped like `template` whose values are read from the 1-D `array`
    (Gen's `from_array`): the inverse of `to_array(choices, template)`.

    The addresses are visited in `template.addresses()` order; the value at each
    takes the next `size` entries, reshaped to the template value's shape, and
    the template value's dtype when it is a backend array (so an int32 site comes
    back int32); Python-number template values come back as 0-d arrays of
    `array`'s dtype.

    Raises:
        ShapeError: `array` is not 1-D, or its length differs from the total
            size of the template's values (the message gives both).

    Example:
        >>> t = choicemap({"a": 0.0, "b": [0.0, 0.0]})
        >>> from_array(t, to_array(t))  == t
        True
    """
    from genmlx._backend import get_backend

    backend = get_backend()
    xp = backend.xp
    arr = array if backend.is_array(array) else backend.asarray(array)
    if arr.ndim != 1:
        raise ShapeError(f"from_array: expected a 1-D array, got shape {tuple(arr.shape)}")
    slots = []
    total = 0
    for path, value in template.leaves():
        shape = _shape_of(value)
        size = 1
        for d in shape:
            size *= d
        slots.append((path, value, shape, total, size))
        total += size
    if int(arr.shape[0]) != total:
        raise ShapeError(f"from_array: the array has {int(arr.shape[0])} entries, but the "
                         f"template's {len(slots)} value(s) hold {total} "
                         f"(sizes {[s[4] for s in slots][:8]} at "
                         f"{[show(s[0]) for s in slots][:8]})")
    out = EMPTY
    for path, value, shape, start, size in slots:
        piece = xp.reshape(arr[start:start + size], shape)
        if backend.is_array(value) and value.dtype != piece.dtype:
            piece = xp.astype(piece, value.dtype)
        out = out.set(path, piece)
    return out
