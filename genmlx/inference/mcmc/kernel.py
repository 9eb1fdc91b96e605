"""What an MCMC kernel is, and the accept/reject step every MH-type kernel shares.

A kernel is a pure function of a trace and a random key:

    kernel(trace, key) -> (new_trace, accepted)

- `trace` is any trace (of any generative function, on any backend);
- `key` is a backend random key (None draws one from the global stream);
- `new_trace` is a trace of the same generative function with the same
  arguments, distributed so that the target (the posterior the trace's score
  defines) is invariant;
- `accepted` is a Python bool: True when the kernel moved the trace (for
  composite kernels, when any component moved it; for `mix`, the chosen one).

Kernels never mutate the trace they are given (traces are immutable), so a
rejected move simply returns the old trace. Build kernels with the
constructors of this package (`mh_kernel`, `gibbs_kernel`, ...), compose them
with `chain`, `cycle`, `mix`, `repeat`, `seed`, or wrap your own function with
`Kernel(fn)`.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from genmlx._backend import get_backend
from genmlx._keys import resolve_key
from genmlx.core.selection import Selection
from genmlx.core.trace import Trace
from genmlx.errors import GenMLXError
from genmlx.gfi.interface import GenerativeFunction

__all__ = ["Kernel", "KernelError", "as_kernel", "accept_reject", "log_uniform"]


class KernelError(GenMLXError, TypeError):
    """Something that is not an MCMC kernel was used as one."""


class Kernel:
    """An MCMC kernel: a callable `(trace, key) -> (trace, accepted)`.

    Args:
        fn: the pure step function `fn(trace, key) -> (trace, accepted)`.
        name: a readable name, used in error messages and repr.

    Example:
        >>> k = Kernel(lambda tr, key: mh_step(tr, select("x"), key), "mh on x")
        >>> new_trace, accepted = k(trace, gm.key(0))
    """

    def __init__(self, fn: Callable[[Trace, Any], tuple], name: str | None = None):
        if isinstance(fn, Kernel):
            fn = fn.fn
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "kernel")

    def __call__(self, trace: Trace, key: Any = None) -> tuple[Trace, bool]:
        out = self.fn(trace, resolve_key(key))
        if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], Trace)):
            raise KernelError(
                f"kernel {self.name!r} returned {_describe(out)}; a kernel must return a pair "
                "(new_trace, accepted). Wrap step functions so they return (trace, bool).")
        return out

    def __repr__(self) -> str:
        return f"<Kernel {self.name}>"


def as_kernel(obj: Any, who: str) -> Kernel:
    """`obj` as a Kernel, or KernelError saying why it cannot be one.

    Accepts `Kernel` instances and plain functions callable as `fn(trace, key)`.
    Generative functions, distributions, selections and non-callables are
    refused with an error that says what to pass instead.
    """
    if isinstance(obj, Kernel):
        return obj
    if isinstance(obj, GenerativeFunction):
        raise KernelError(
            f"{who}: got the generative function {getattr(obj, 'name', obj)!r} where a kernel "
            "was expected. A kernel maps (trace, key) -> (trace, accepted); to use a proposal "
            "generative function, build mh_custom_kernel(proposal).")
    if isinstance(obj, Selection):
        raise KernelError(f"{who}: got the selection {obj!r} where a kernel was expected; "
                          "build one with mh_kernel(selection).")
    if not callable(obj):
        raise KernelError(f"{who}: expected a kernel, a callable (trace, key) -> "
                          f"(trace, accepted); got {_describe(obj)}.")
    if not _takes_two_positional(obj):
        raise KernelError(f"{who}: {getattr(obj, '__name__', obj)!r} cannot be called as "
                          "fn(trace, key); a kernel takes exactly a trace and a key.")
    return Kernel(obj)


def _takes_two_positional(fn: Callable) -> bool:
    try:
        inspect.signature(fn).bind(None, None)
    except TypeError:
        return False
    except ValueError:  # builtins without a signature: give them the benefit of the doubt
        return True
    return True


def _describe(obj: Any) -> str:
    if isinstance(obj, tuple):
        return f"a tuple of {len(obj)} ({', '.join(type(o).__name__ for o in obj)})"
    return f"{type(obj).__name__} {obj!r}"[:120]


def log_uniform(key: Any) -> Any:
    """log u with u ~ Uniform[0, 1), a 0-d backend array."""
    backend = get_backend()
    return backend.xp.log(backend.uniform(key, ()))


def accept_reject(trace: Trace, proposed: Trace, log_alpha: Any, key: Any) -> tuple[Trace, bool]:
    """Metropolis-Hastings: keep `proposed` when log u < log_alpha, else `trace`.

    NaN acceptance ratios reject. Comparing needs the value on the host: this
    is the one device sync of an MH step.
    """
    accepted = bool(log_uniform(key) < log_alpha)
    return (proposed, True) if accepted else (trace, False)
