"""Pytree registrations that need classes above the core layer.

Distributions are nodes whose children are their attributes (parameters are the
array leaves), so a trace's per-site records flatten completely; they are
rebuilt without re-running parameter validation, which cannot look at abstract
values anyway.
"""

from __future__ import annotations

from typing import Any

from genmlx._backend import Backend, on_backend_load
from genmlx.core.choicemap import ChoiceMap
from genmlx.core.diff import DictDiff, NoChange, SequenceDiff, UnknownChange
from genmlx.core.pytree import LazyTrace, flatten, register_object_node, unflatten
from genmlx.core.trace import Trace
from genmlx.distributions.base import Distribution
from genmlx.vectorized.api import VectorizedTrace

register_object_node(Distribution)
register_object_node(VectorizedTrace)

# what a user's own jax.jit / jax.vmap may take or return
_USER_FACING = (Trace, LazyTrace, ChoiceMap, VectorizedTrace, NoChange, UnknownChange,
                SequenceDiff, DictDiff)


def _to_leaves(obj: Any) -> tuple:
    leaves, skeleton = flatten(obj)
    return leaves, skeleton


def _from_leaves(skeleton: Any, leaves: Any) -> Any:
    return unflatten(skeleton, list(leaves))


def _register(backend: Backend) -> None:
    for cls in _USER_FACING:
        backend.register_pytree_node(cls, _to_leaves, _from_leaves)


on_backend_load(_register)
