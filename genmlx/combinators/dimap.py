"""Dimap and Contramap: a generative function with transformed arguments and/or retval.

`Dimap(gen_fn, f, g)` takes any args, calls `gen_fn(*f(*args))` and returns
`g(retval)`; `Contramap(gen_fn, f)` is `Dimap(gen_fn, f, None)` (retval unchanged).
`f` must return the callee's argument tuple; `None` for `f` or `g` means
identity. Choices, score and weights are the callee's (its addresses are not
nested), so every weight is the callee's weight. Equivalent hand-written model:

    @gen
    def dimapped(*args):
        return g(splice(gen_fn, *f(*args)))

Update and regenerate keep the callee's previous arguments (and so its
incremental work) when the outer arguments are unchanged, and keep the
previous retval object when the callee's retval did not change.

Example:
    >>> @gen
    ... def noisy(mu, sigma):
    ...     return trace("x", dist.gaussian(mu, sigma))
    >>> scaled = Dimap(noisy, lambda mu: (mu, 2.0), lambda x: 10.0 * x)
    >>> tr = scaled.simulate((1.0,), key=gm.key(0))
"""

from __future__ import annotations

import abc

from typing import Any, Callable

from genmlx.combinators._common import as_choicemap, check_args, lookup
from genmlx.core.address import Path
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.diff import NO_CHANGE, UNKNOWN_CHANGE, is_no_change
from genmlx.core.selection import Selection
from genmlx.core.trace import Trace
from genmlx.errors import ArgumentError
from genmlx.gfi.interface import (
    AssessResult, GenerateResult, GenerativeFunction, RegenerateResult, UpdateResult,
)

__all__ = ["Dimap", "Contramap", "Wrapper"]


class Wrapper(GenerativeFunction):
    """A generative function that delegates to one inner generative function.

    Subclasses give the inner function (`inner`) and may transform the arguments
    (`_inner_args`) and the retval (`_outer_retval`). The trace's choices and
    score are the inner trace's; `trace.internal` is the inner trace.
    """

    transforms_args = False
    transforms_retval = False

    @property
    @abc.abstractmethod
    def inner(self) -> GenerativeFunction:
        """The wrapped generative function."""

    @property
    def batched_inner(self) -> GenerativeFunction:
        """The inner function the batched entry points use (`inner` unless overridden)."""
        return self.inner

    def _inner_args(self, args: tuple) -> tuple:
        return args

    def _outer_retval(self, retval: Any) -> Any:
        return retval

    def _wrap(self, args: tuple, sub: Trace, prev: Trace | None = None) -> Trace:
        if prev is not None and sub.retval is prev.internal.retval:
            retval = prev.retval
        else:
            retval = self._outer_retval(sub.retval)
        return Trace(self, args, retval, sub.choices, sub.score, sub)

    def _args(self, args: tuple, who: str) -> tuple:
        return self._inner_args(check_args(who, args))

    def _edit_args(self, trace: Trace, args: tuple | None, argdiffs: tuple | None,
                   who: str) -> tuple:
        """(outer args, inner args or None to keep them, inner argdiffs)."""
        if args is None:
            return trace.args, None, None
        check_args(who, args)
        same = len(args) == len(trace.args) and all(
            a is b or (argdiffs is not None and is_no_change(d))
            for a, b, d in zip(args, trace.args, argdiffs or (None,) * len(args)))
        if same:
            return args, None, None
        return args, self._inner_args(args), None if self.transforms_args else argdiffs

    def _retdiff(self, prev: Trace, new: Trace, inner_retdiff: Any) -> Any:
        if new.retval is prev.retval:
            return NO_CHANGE
        return UNKNOWN_CHANGE if self.transforms_retval else inner_retdiff

    def simulate(self, args: tuple, key: Any = None) -> Trace:
        """The inner simulate; score = the inner score."""
        return self._wrap(args, self.inner.simulate(self._args(args, f"{self.name}.simulate"),
                                                    key=key))

    def generate(self, args: tuple, constraints: ChoiceMap = EMPTY,
                 key: Any = None) -> GenerateResult:
        """Math: weight = the inner generate weight."""
        sub, weight = self.inner.generate(self._args(args, f"{self.name}.generate"),
                                          as_choicemap(constraints), key=key)
        return GenerateResult(self._wrap(args, sub), weight)

    def update(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
               argdiffs: tuple | None = None, key: Any = None) -> UpdateResult:
        """Math: weight = the inner update weight; discard = the inner discard."""
        args, inner_args, diffs = self._edit_args(trace, args, argdiffs, f"{self.name}.update")
        sub, weight, retdiff, discard = self.inner.update(
            trace.internal, as_choicemap(constraints), inner_args, diffs, key=key)
        new = self._wrap(args, sub, trace)
        return UpdateResult(new, weight, self._retdiff(trace, new, retdiff), discard)

    def regenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                   argdiffs: tuple | None = None, key: Any = None) -> RegenerateResult:
        """Math: weight = the inner regenerate weight."""
        args, inner_args, diffs = self._edit_args(trace, args, argdiffs,
                                                  f"{self.name}.regenerate")
        sub, weight, retdiff = self.inner.regenerate(trace.internal, selection, inner_args,
                                                     diffs, key=key)
        new = self._wrap(args, sub, trace)
        return RegenerateResult(new, weight, self._retdiff(trace, new, retdiff))

    def assess(self, args: tuple, choices: ChoiceMap) -> AssessResult:
        """Math: weight = the inner assess weight."""
        weight, retval = self.inner.assess(self._args(args, f"{self.name}.assess"),
                                           as_choicemap(choices))
        return AssessResult(weight, self._outer_retval(retval))

    def project(self, trace: Trace, selection: Selection) -> Any:
        """Math: the inner project."""
        return trace.internal.gen_fn.project(trace.internal, selection)

    # -- batched: the inner function's batched entry points ---------------------------
    # `like` (an unbatched trace of this wrapper) holds the inner unbatched trace as its
    # internal; it is the inner function's skeleton (a trace of `inner`, which the
    # batched inner probes again on its arguments when it is another function).

    @staticmethod
    def _inner_like(like: Any) -> Any:
        return None if like is None else like.internal

    def vsimulate(self, args: tuple, n: int, key: Any = None, like: Any = None) -> Trace:
        """The inner vsimulate; [n] scores are the inner ones."""
        inner_args = self._args(args, f"{self.name}.vsimulate")
        return self._wrap(args, self.batched_inner.vsimulate(inner_args, n, key=key,
                                                             like=self._inner_like(like)))

    def vgenerate(self, args: tuple, constraints: ChoiceMap, n: int,
                  key: Any = None, like: Any = None) -> GenerateResult:
        """Math: weight [n] = the inner batched generate weights."""
        sub, weight = self.batched_inner.vgenerate(self._args(args, f"{self.name}.vgenerate"),
                                                   as_choicemap(constraints), n, key=key,
                                                   like=self._inner_like(like))
        return GenerateResult(self._wrap(args, sub), weight)

    def vupdate(self, trace: Trace, constraints: ChoiceMap = EMPTY, args: tuple | None = None,
                key: Any = None, like: Any = None) -> UpdateResult:
        """Math: weight [n] = the inner batched update weights."""
        args, inner_args, _ = self._edit_args(trace, args, None, f"{self.name}.vupdate")
        sub, weight, retdiff, discard = self.batched_inner.vupdate(
            trace.internal, as_choicemap(constraints), inner_args, key=key,
            like=self._inner_like(like))
        new = self._wrap(args, sub, trace)
        return UpdateResult(new, weight, self._retdiff(trace, new, retdiff), discard)

    def vregenerate(self, trace: Trace, selection: Selection, args: tuple | None = None,
                    key: Any = None, like: Any = None) -> RegenerateResult:
        """Math: weight [n] = the inner batched regenerate weights."""
        args, inner_args, _ = self._edit_args(trace, args, None, f"{self.name}.vregenerate")
        sub, weight, retdiff = self.batched_inner.vregenerate(trace.internal, selection,
                                                              inner_args, key=key,
                                                              like=self._inner_like(like))
        new = self._wrap(args, sub, trace)
        return RegenerateResult(new, weight, self._retdiff(trace, new, retdiff))

    def trace_lookup(self, trace: Trace, path: Path) -> tuple[bool, Any]:
        """Addresses are the inner function's."""
        return lookup(trace.internal, path) if path else (False, None)

    def __repr__(self) -> str:
        return f"<{self.name}>"


class Dimap(Wrapper):
    """`gen_fn` with arguments mapped by `f` and retval mapped by `g` (module docstring).

    Args:
        gen_fn: the callee.
        f: `f(*args) -> tuple` of the callee's arguments (None: identity).
        g: `g(retval) -> new retval` (None: identity).
    """

    def __init__(self, gen_fn: GenerativeFunction, f: Callable[..., tuple] | None = None,
                 g: Callable[[Any], Any] | None = None):
        if not isinstance(gen_fn, GenerativeFunction):
            raise TypeError(f"{type(self).__name__}: expected a generative function, "
                            f"got {type(gen_fn).__name__}")
        self.gen_fn, self.f, self.g = gen_fn, f, g
        self.transforms_args, self.transforms_retval = f is not None, g is not None
        self.name = f"{type(self).__name__}({getattr(gen_fn, 'name', '?')})"

    @property
    def inner(self) -> GenerativeFunction:
        return self.gen_fn

    def _inner_args(self, args: tuple) -> tuple:
        if self.f is None:
            return args
        out = self.f(*args)
        if not isinstance(out, tuple):
            raise ArgumentError(f"{self.name}: the argument map must return the callee's "
                                f"argument tuple, got {type(out).__name__} (return (x,) for "
                                "one argument)")
        return out

    def _outer_retval(self, retval: Any) -> Any:
        return retval if self.g is None else self.g(retval)


class Contramap(Dimap):
    """`gen_fn` with its arguments mapped by `f(*args) -> tuple`; retval unchanged."""

    def __init__(self, gen_fn: GenerativeFunction, f: Callable[..., tuple]):
        super().__init__(gen_fn, f, None)
