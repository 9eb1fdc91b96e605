"""GenMLX: Gen's Generative Function Interface on MLX, NumPy and JAX."""

from genmlx._backend import (
    Backend,
    Capability,
    available_backends,
    get_backend,
    installed_backends,
    requires,
    set_backend,
    use_backend,
)
from genmlx._keys import key, next_key, seed, split
from genmlx import errors

__all__ = [
    "Backend",
    "Capability",
    "available_backends",
    "errors",
    "get_backend",
    "installed_backends",
    "key",
    "next_key",
    "requires",
    "seed",
    "set_backend",
    "split",
    "use_backend",
]
