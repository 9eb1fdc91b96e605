"""Addresses: strings, ints, or tuples of them read as hierarchical paths.

`"slope"` and `("y", 3)` are addresses; the second is the path y -> 3. Inside
GenMLX every address is normalised to a tuple path.
"""

from __future__ import annotations

from typing import Any, Tuple, Union

Component = Union[str, int]
Address = Union[Component, Tuple[Component, ...]]
Path = Tuple[Component, ...]


def to_path(address: Any) -> Path:
    """The tuple path of an address; raises TypeError for anything else."""
    kind = type(address)
    if kind is str or kind is int:  # the common case, once per trace site
        return (address,)
    if isinstance(address, tuple):
        for part in address:
            _check_component(part, address)
        return address
    _check_component(address, address)
    return (address,)


def _check_component(part: Any, whole: Any) -> None:
    if isinstance(part, bool) or not isinstance(part, (str, int)):
        raise TypeError(
            f"address {whole!r}: components must be str or int, got {type(part).__name__}; "
            "use a string, an int, or a tuple of them as a hierarchical path."
        )


def show(path: Path) -> str:
    """A readable form of a path for error messages: y/3."""
    return "/".join(str(p) for p in path) if path else "<root>"
