"""Errors GenMLX raises. Each names what went wrong and where (address,
distribution, parameter, backend or capability) and how to fix it."""

from __future__ import annotations


class GenMLXError(Exception):
    """Base class of every error GenMLX raises on purpose."""


class BackendError(GenMLXError, ValueError):
    """An unknown backend, or one whose package is not installed."""


class CapabilityError(GenMLXError, NotImplementedError):
    """A backend lacks a capability (grad, compile, vmap, ...) that was used."""

    def __init__(self, backend: str, capability: str, needed_by: str | None = None):
        self.backend = backend
        self.capability = capability
        who = f"{needed_by} needs" if needed_by else "this operation needs"
        super().__init__(
            f"{who} capability '{capability}'; backend '{backend}' has none. "
            f"Use a backend that has it (e.g. gm.set_backend('mlx') or 'jax')."
        )


class AddressError(GenMLXError, KeyError):
    """An address is missing, duplicated, or never visited by a model."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep messages readable
        return str(self.args[0]) if self.args else ""


class ParameterError(GenMLXError, ValueError):
    """A distribution parameter is invalid (e.g. sigma <= 0)."""


class ShapeError(GenMLXError, ValueError):
    """Array shapes do not agree."""


class ArgumentError(GenMLXError, TypeError):
    """A generative function was called with the wrong arguments."""


class VectorizationError(GenMLXError, ValueError):
    """A model cannot run batched (e.g. Python control flow on a batched value)."""


class KeyStreamError(GenMLXError, RuntimeError):
    """The global random-key stream was asked for a key inside compiled code."""


class InvalidKeyError(GenMLXError, TypeError):
    """Something that is not a random key of the current backend was passed as a key."""
