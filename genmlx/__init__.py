"""GenMLX: Gen's Generative Function Interface on MLX, NumPy and JAX.

Example:
    >>> import genmlx as gm
    >>> from genmlx import gen, trace, dist
    >>> @gen
    ... def model():
    ...     return trace("x", dist.gaussian(0.0, 1.0))
    >>> tr = model.simulate((), key=gm.key(0))
"""

from genmlx import errors
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
from genmlx.core import (
    ALL, EMPTY, NONE, NO_CHANGE, UNKNOWN_CHANGE, ChoiceMap, DictDiff, NoChange, SequenceDiff,
    Selection, Trace, UnknownChange, choicemap, select,
)
from genmlx.core.choicemap import from_array, get_selected, to_array
from genmlx.dsl import DynamicGenFunction, gen, param, splice, trace, untraced_key
from genmlx.gfi import (
    AssessResult, ConstraintEdit, EditResult, GenerateResult, GenerativeFunction, ProposalEdit,
    ProposeResult, RegenerateResult, SelectionEdit, UpdateResult, assess, edit, generate,
    project, propose, regenerate, simulate, update,
)
from genmlx import dist
from genmlx.vectorized import VectorizedTrace, vgenerate, vsimulate
from genmlx import combinators, inference
from genmlx.combinators.call_at import call_at, choice_at
from genmlx.inference.results import draws, weighted_draws
from genmlx import io
from genmlx.io import load, save
from genmlx.compile import CompiledGenFunction, compile_gen_fn as compile, schema

__all__ = [
    "ALL", "EMPTY", "NONE", "NO_CHANGE", "UNKNOWN_CHANGE",
    "AssessResult", "Backend", "CompiledGenFunction", "Capability", "ChoiceMap", "ConstraintEdit", "DictDiff",
    "DynamicGenFunction", "EditResult", "GenerateResult", "GenerativeFunction", "NoChange",
    "ProposalEdit", "ProposeResult", "RegenerateResult", "SelectionEdit", "Selection",
    "SequenceDiff", "Trace", "UnknownChange", "UpdateResult", "VectorizedTrace", "vgenerate", "vsimulate",
    "assess", "available_backends", "draws", "io", "load", "save", "weighted_draws", "choicemap", "combinators", "compile", "inference", "dist", "edit", "errors", "gen", "generate",
    "from_array", "get_backend", "get_selected", "installed_backends", "key", "next_key", "param", "project", "propose",
    "regenerate", "requires", "schema", "seed", "select", "set_backend", "simulate", "splice", "split",
    "call_at", "choice_at", "to_array", "trace", "untraced_key", "update", "use_backend",
]
