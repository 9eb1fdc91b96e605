"""`trace`, `splice`, `param` and `untraced_key`: plain functions that ask the
handler running the current generative-function body (a ContextVar, so
nothing leaks across calls, threads or tasks)."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from genmlx.core.address import to_path
from genmlx.errors import GenMLXError

_current: ContextVar[Any] = ContextVar("genmlx_handler", default=None)


def current_handler() -> Any:
    handler = _current.get()
    if handler is None:
        raise GenMLXError(
            "trace/splice/param was called outside a generative function body; call it "
            "inside a function decorated with @gen, run through simulate/generate/..."
        )
    return handler


def trace(address: Any, gen_fn: Any, *args: Any) -> Any:
    """Make a random choice (`gen_fn` a distribution) or call a generative function
    under `address`; returns the value or the callee's retval."""
    return current_handler().visit(to_path(address), gen_fn, args)


def splice(gen_fn: Any, *args: Any) -> Any:
    """Call a @gen function with its addresses inlined into the caller's."""
    return current_handler().splice(gen_fn, args)


def param(name: str, init: Any) -> Any:
    """A trainable parameter of the enclosing generative function (init on first use)."""
    return current_handler().param(name, init)


def untraced_key() -> Any:
    """A fresh random key for randomness that is not traced (drawn from the handler's key)."""
    return current_handler().fresh_key()
