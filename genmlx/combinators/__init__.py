"""Combinators: generative functions built from generative functions.

Each implements the full GFI (simulate, generate, update with argdiffs,
regenerate, assess, project; propose and edit come from the base class) with
the semantics of the equivalent hand-written @gen model given in its module
docstring. The element or step index heads the address path of what a
combinator calls: `(t, "x")`, `(i, "y")`.

- `Map(kernel)`: args are sequences; element i at `(i, ...)`.
- `Unfold(kernel)`: args `(n, init_state, *params)`; step t at `(t, ...)`.
- `Scan(kernel)`: args `(init_carry, xs)`; `kernel(carry, x) -> (carry, y)`.
- `Switch(*branches)`: args `(index, *args)`; the branch's choices inlined.
- `Mask(gen_fn)`: args `(flag, *args)`; nothing runs when the flag is false.
- `Mix(*components)`: args `(log_weights, *args)`; "component" then "value".
- `Recurse(make)`: the fixed point of `make(self) -> generative function`.
- `vmap_gf(gen_fn, in_axes)`, `repeat_gf(gen_fn, n)`: one batched kernel run.
- `VSwitch(*branches)`: every branch runs, results selected by an [N] index.
- `Contramap(gen_fn, f)`, `Dimap(gen_fn, f, g)`: transformed args / retval.
- `call_at(gen_fn, K)`, `choice_at(dist, K)`: args `(key, *args)`; the callee's
  choices (or the one draw) under address `key` (Gen.jl's CallAt / ChoiceAt).

Build a combinator once (e.g. at module level) and trace that object, rather
than constructing it inside a @gen body: a @gen update/regenerate reuses and
edits a callee's subtrace only when the same generative function object is
traced at the address again.
"""

from genmlx.combinators.call_at import CallAt, ChoiceAt, call_at, choice_at
from genmlx.combinators.dimap import Contramap, Dimap
from genmlx.combinators.map import Map
from genmlx.combinators.mask import Mask
from genmlx.combinators.mix import Mix
from genmlx.combinators.recurse import Recurse
from genmlx.combinators.repeat import Repeat, repeat_gf
from genmlx.combinators.scan import Scan
from genmlx.combinators.switch import Switch
from genmlx.combinators.unfold import Unfold
from genmlx.combinators.vmap import Vmap, vmap_gf
from genmlx.combinators.vswitch import VSwitch

__all__ = ["CallAt", "ChoiceAt", "Contramap", "Dimap", "Map", "Mask", "Mix", "Recurse", "Repeat",
           "Scan", "Switch", "Unfold", "VSwitch", "Vmap", "call_at", "choice_at", "repeat_gf",
           "vmap_gf"]
