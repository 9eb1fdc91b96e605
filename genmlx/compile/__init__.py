"""The compilation ladder, L1: compiled generative functions and their schema.

`gm.compile(gen_fn)` returns a generative function whose GFI operations each run
as one compiled function per input skeleton; `gm.schema(gen_fn, args)` shows the
addresses, distributions, shapes and whether the structure is static.
"""

from genmlx.compile import pytrees  # noqa: F401  (registers traces with the backends)
from genmlx.compile.compiled import CompiledGenFunction, compile_gen_fn
from genmlx.compile.schema import Schema, Site, schema

__all__ = ["CompiledGenFunction", "compile_gen_fn", "Schema", "Site", "schema"]
