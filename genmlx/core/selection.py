"""Selections: composable sets of addresses (`select`, `|`, `&`, `~`).

A selection answers two questions: is the value at this (leaf) position
selected (`at_leaf`), and what is selected below address component `c`
(`sub(c)`). `path in selection` combines them along a path.
"""

from __future__ import annotations

import abc

from typing import Any, Mapping

from genmlx.core.address import Path, to_path

__all__ = ["Selection", "select", "ALL", "NONE"]


class Selection(abc.ABC):
    """Base class; use `select(...)`, `Selection.all()` and the operators."""

    @abc.abstractmethod
    def at_leaf(self) -> bool:
        """True when a value sitting at this position is selected."""

    @abc.abstractmethod
    def sub(self, component: Any) -> "Selection":
        """The selection below one address component."""

    def is_none(self) -> bool:
        """True when provably nothing is selected (a cheap test, may say False)."""
        return False

    def __contains__(self, address: Any) -> bool:
        node: Selection = self
        for part in to_path(address):
            node = node.sub(part)
        return node.at_leaf()

    def __or__(self, other: "Selection") -> "Selection":
        return _Union(self, other)

    def __and__(self, other: "Selection") -> "Selection":
        return _Intersection(self, other)

    def __invert__(self) -> "Selection":
        return _Complement(self)

    @staticmethod
    def all() -> "Selection":
        return ALL

    @staticmethod
    def none() -> "Selection":
        return NONE


class _All(Selection):
    def at_leaf(self) -> bool:
        return True

    def sub(self, component: Any) -> Selection:
        return self

    def __repr__(self) -> str:
        return "Selection.all()"


class _None(Selection):
    def at_leaf(self) -> bool:
        return False

    def sub(self, component: Any) -> Selection:
        return self

    def is_none(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "Selection.none()"


ALL: Selection = _All()
NONE: Selection = _None()


class _Static(Selection):
    """Explicit paths, stored as a trie whose marked nodes select everything below."""

    def __init__(self, trie: Mapping[Any, Selection]):
        self.trie = dict(trie)

    def at_leaf(self) -> bool:
        return False

    def sub(self, component: Any) -> Selection:
        return self.trie.get(component, NONE)

    def paths(self) -> list[Path]:
        out: list[Path] = []
        for head, child in self.trie.items():
            if child is ALL:
                out.append((head,))
            elif isinstance(child, _Static):
                out.extend((head,) + p for p in child.paths())
        return out

    def __repr__(self) -> str:
        return "select(" + ", ".join(repr(p if len(p) > 1 else p[0]) for p in self.paths()) + ")"


def _add_path(trie: dict, path: Path) -> None:
    head, rest = path[0], path[1:]
    if not rest:
        trie[head] = ALL
        return
    child = trie.get(head)
    if child is ALL:
        return
    sub = dict(child.trie) if isinstance(child, _Static) else {}
    _add_path(sub, rest)
    trie[head] = _Static(sub)


class _Union(Selection):
    def __init__(self, a: Selection, b: Selection):
        self.a, self.b = a, b

    def at_leaf(self) -> bool:
        return self.a.at_leaf() or self.b.at_leaf()

    def sub(self, component: Any) -> Selection:
        return _Union(self.a.sub(component), self.b.sub(component))

    def is_none(self) -> bool:
        return self.a.is_none() and self.b.is_none()

    def __repr__(self) -> str:
        return f"({self.a!r} | {self.b!r})"


class _Intersection(Selection):
    def __init__(self, a: Selection, b: Selection):
        self.a, self.b = a, b

    def at_leaf(self) -> bool:
        return self.a.at_leaf() and self.b.at_leaf()

    def sub(self, component: Any) -> Selection:
        return _Intersection(self.a.sub(component), self.b.sub(component))

    def is_none(self) -> bool:
        return self.a.is_none() or self.b.is_none()

    def __repr__(self) -> str:
        return f"({self.a!r} & {self.b!r})"


class _Complement(Selection):
    def __init__(self, inner: Selection):
        self.inner = inner

    def at_leaf(self) -> bool:
        return not self.inner.at_leaf()

    def sub(self, component: Any) -> Selection:
        return _Complement(self.inner.sub(component))

    def is_none(self) -> bool:
        return self.inner is ALL

    def __repr__(self) -> str:
        return f"~{self.inner!r}"


def select(*addresses: Any) -> Selection:
    """A selection of the given addresses (and everything below each).

    Example:
        >>> s = select("slope", ("y", 0))
        >>> ("y", 0) in s, ("y", 1) in s
        (True, False)
    """
    trie: dict = {}
    for address in addresses:
        _add_path(trie, to_path(address))
    return _Static(trie) if trie else NONE
