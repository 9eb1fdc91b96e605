"""The modeling language: @gen, trace, splice, param."""

from genmlx.dsl.gen import DynamicGenFunction, gen
from genmlx.dsl.runtime import param, splice, trace, untraced_key

__all__ = ["DynamicGenFunction", "gen", "param", "splice", "trace", "untraced_key"]
