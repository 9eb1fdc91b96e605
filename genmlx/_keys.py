"""Random keys: explicit keys everywhere, and a global stream when none is given.

Same key, same backend: same numbers. `seed(n)` restarts the global stream of
every backend; `key(n)` makes a key on the current backend.
"""

from __future__ import annotations

from typing import Any

from genmlx._backend import get_backend

_stream_seed = [0]
_streams: dict[str, Any] = {}


def key(seed: int) -> Any:
    """A random key for the current backend from an integer seed."""
    return get_backend().key(seed)


def seed(n: int) -> None:
    """Restart the global key stream (used when a call gets no `key=`) at `n`."""
    _stream_seed[0] = int(n)
    _streams.clear()


def next_key() -> Any:
    """The next key of the current backend's global stream."""
    backend = get_backend()
    current = _streams.get(backend.name)
    if current is None:
        current = backend.key(_stream_seed[0])
    pair = backend.split(current, 2)
    _streams[backend.name] = pair[0]
    return pair[1]


def resolve_key(k: Any | None) -> Any:
    """`k` itself, or the next key of the global stream when `k` is None."""
    return next_key() if k is None else k


def split(k: Any, num: int = 2) -> Any:
    """`num` independent keys from `k` (stacked on the first axis)."""
    return get_backend().split(k, num)
