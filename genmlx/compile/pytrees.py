"""Pytree registrations that need classes above the core layer.

Distributions are nodes whose children are their attributes (parameters are the
array leaves), so a trace's per-site records flatten completely; they are
rebuilt without re-running parameter validation, which cannot look at abstract
values anyway.
"""

from __future__ import annotations

from genmlx.core.pytree import register_object_node
from genmlx.distributions.base import Distribution

register_object_node(Distribution)
