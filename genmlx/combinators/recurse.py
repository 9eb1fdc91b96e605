"""Recurse: recursive generative functions through a fixed point.

`Recurse(make)` calls `make(self)` once, lazily, with the Recurse object itself,
and behaves as the generative function it returns; inside it, `self` may be
traced at user-chosen addresses, so the choices of a recursive call nest under
the address it was traced at. Choices, score and every weight are those of the
generative function `make(self)` returns.

Example:
    >>> def make(self):
    ...     @gen
    ...     def geometric(p):
    ...         if trace("stop", dist.bernoulli(p)):
    ...             return 0
    ...         return 1 + trace("next", self, p)
    ...     return geometric
    >>> geo = Recurse(make, name="geometric")
    >>> tr = geo.simulate((0.5,), key=gm.key(0))
    >>> # choices: stop, next/stop, next/next/stop, ...
"""

from __future__ import annotations

from typing import Callable

from genmlx.combinators.dimap import Wrapper
from genmlx.gfi.interface import GenerativeFunction

__all__ = ["Recurse"]


class Recurse(Wrapper):
    """The fixed point of `make: Recurse -> GenerativeFunction` (module docstring)."""

    def __init__(self, make: Callable[["Recurse"], GenerativeFunction], name: str = "recurse"):
        if not callable(make):
            raise TypeError(f"Recurse: expected a function self -> generative function, "
                            f"got {type(make).__name__}")
        self.make = make
        self.name = name
        self._body: GenerativeFunction | None = None

    @property
    def inner(self) -> GenerativeFunction:
        if self._body is None:
            body = self.make(self)
            if not isinstance(body, GenerativeFunction):
                raise TypeError(f"Recurse({self.name}): make(self) must return a generative "
                                f"function, got {type(body).__name__}")
            self._body = body
        return self._body
