"""L0 vectorized execution: vsimulate, vgenerate, VectorizedTrace."""

from genmlx.vectorized.api import VectorizedTrace, vgenerate, vsimulate

__all__ = ["VectorizedTrace", "vgenerate", "vsimulate"]
