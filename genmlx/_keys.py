"""Random keys: explicit keys everywhere, and a global stream when none is given.

Same key, same backend: same numbers. `seed(n)` restarts the global stream of
every backend; `key(n)` makes a key on the current backend.

The global stream is host state, so it cannot serve compiled code: a key drawn
from it while a function is being traced for compilation would be baked in as
a constant (or, on JAX, leave a tracer in the stream). Code being compiled must
receive its key as an argument; asking the stream for one there raises
`KeyStreamError`.
"""

from __future__ import annotations

from typing import Any

from genmlx._backend import get_backend, tracing, tracing_what
from genmlx.errors import InvalidKeyError, KeyStreamError

__all__ = ["key", "seed", "next_key", "resolve_key", "split", "check_key", "tracing",
           "is_tracing"]

_stream_seed = [0]
_streams: dict[str, Any] = {}


def key(seed: int) -> Any:
    """A random key for the current backend from an integer seed."""
    return get_backend().key(seed)


def seed(n: int) -> None:
    """Restart the global key stream (used when a call gets no `key=`) at `n`."""
    _stream_seed[0] = int(n)
    _streams.clear()


def is_tracing() -> bool:
    """True while GenMLX or a backend's compile traces code for compilation."""
    return tracing_what() is not None


def _refuse(what: str) -> KeyStreamError:
    return KeyStreamError(
        f"{what} asked the global random-key stream for a key while being compiled; "
        "compiled code cannot draw from host state. Pass an explicit key, "
        "e.g. key=gm.key(0), to the call being compiled.")


def next_key() -> Any:
    """The next key of the current backend's global stream.

    Raises:
        KeyStreamError: inside code being traced for compilation.
    """
    where = tracing_what()
    if where is not None:
        raise _refuse(where)
    backend = get_backend()
    current = _streams.get(backend.name)
    if current is None:
        current = backend.key(_stream_seed[0])
    pair = backend.split(current, 2)
    if backend.is_tracer(pair):
        # a user's own jit/compile around a call without key=: keep the stream clean
        raise _refuse("a function traced by the backend's compiler")
    _streams[backend.name] = pair[0]
    return pair[1]


def check_key(k: Any, who: str = "key=") -> Any:
    """`k` when it is a random key of the current backend (uint32[2]); else InvalidKeyError.

    Only the type, shape and dtype are read, so this is free under compilation.
    """
    backend = get_backend()
    shape = getattr(k, "shape", None)
    if not (backend.is_array(k) or backend.is_tracer(k)) or tuple(shape or ()) != (2,) \
            or str(k.dtype).rsplit(".", 1)[-1] != "uint32":
        got = type(k).__name__ if shape is None else \
            f"{type(k).__name__} of shape {tuple(shape)} and dtype {k.dtype}"
        raise InvalidKeyError(
            f"{who}: expected a random key of backend '{backend.name}' (a uint32 array of "
            f"shape (2,), made by gm.key(seed) or gm.split(key)), got {got}.")
    return k


def resolve_key(k: Any | None) -> Any:
    """`k` itself (checked to be a key), or the next key of the global stream when None."""
    return next_key() if k is None else check_key(k)


def split(k: Any, num: int = 2) -> Any:
    """`num` independent keys from `k` (stacked on the first axis)."""
    return get_backend().split(check_key(k, "gm.split"), num)
