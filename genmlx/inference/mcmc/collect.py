"""Running a kernel: burn-in, thinning, an optional progress line, and flat memory.

Memory discipline: every new trace's score and choice arrays are materialised
(`backend.eval`) at the step that made them, so no lazy graph outlives a step,
and the backend's buffer cache is released every `clear_cache_every` steps.
A chain of any length holds only the traces it keeps.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Iterator

from genmlx._backend import Backend, get_backend
from genmlx._keys import resolve_key, split
from genmlx.core.trace import Trace
from genmlx.inference.mcmc.kernel import as_kernel

__all__ = ["Samples", "collect_samples", "materialize"]

_KEY_BLOCK = 1024  # keys are split per block of steps, so a long chain never holds them all


class Samples(list):
    """The kept traces (a list), with the chain's acceptance rate.

    Attributes:
        acceptance_rate: accepted steps / all steps (burn-in included).
        num_steps: the number of kernel steps run.
    """

    acceptance_rate: float = float("nan")
    num_steps: int = 0


def materialize(backend: Backend, trace: Trace) -> None:
    """Evaluate a trace's score and choice values (MLX lazy graphs end here)."""
    arrays = [v for _, v in trace.choices.leaves() if backend.is_array(v)]
    backend.eval(trace.score, *arrays)


def _step_keys(key: Any, total: int) -> Iterator[Any]:
    num_blocks = -(-total // _KEY_BLOCK)
    if num_blocks == 0:
        return
    block_keys = split(key, num_blocks)
    for b in range(num_blocks):
        size = min(_KEY_BLOCK, total - b * _KEY_BLOCK)
        keys = split(block_keys[b], size)
        for j in range(size):
            yield keys[j]


def _check_counts(num_samples: Any, burn: Any, thin: Any) -> None:
    for name, value, low in (("samples", num_samples, 0), ("burn", burn, 0), ("thin", thin, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"collect_samples: {name} must be an int >= {low}, got {value!r}")


class _Progress:
    """A one-line progress report on stderr, refreshed about 100 times per chain."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled = total, enabled
        self.every = max(1, total // 100)
        self.start = time.perf_counter()

    def update(self, step: int, accepted: int) -> None:
        if not self.enabled or (step % self.every and step != self.total):
            return
        rate = step / max(time.perf_counter() - self.start, 1e-9)
        sys.stderr.write(f"\rmcmc {step}/{self.total} steps, acceptance "
                         f"{accepted / max(step, 1):.2f}, {rate:.0f} steps/s")
        if step == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def collect_samples(kernel: Any, trace: Trace, num_samples: int, burn: int = 0, thin: int = 1,
                    key: Any = None, progress: bool = False,
                    clear_cache_every: int = 1000) -> Samples:
    """Run `kernel` from `trace` and keep every `thin`-th trace after `burn` steps.

    Runs burn + num_samples * thin kernel steps.

    Args:
        kernel: a kernel `(trace, key) -> (trace, accepted)`.
        trace: the initial trace.
        num_samples: how many traces to keep.
        burn: steps to discard first.
        thin: keep one trace every `thin` steps.
        key: a random key (None: the global stream); same key, same chain.
        progress: print a progress line on stderr.
        clear_cache_every: release the backend's buffer cache every this many
            steps (0: never).

    Returns:
        `Samples`, a list of `num_samples` traces with `.acceptance_rate`.

    Raises:
        KernelError: `kernel` is not a kernel.

    Example:
        >>> tr, _ = model.generate(args, obs, key=gm.key(0))
        >>> traces = collect_samples(mh_kernel(select("x")), tr, 1000, burn=200, key=gm.key(1))
    """
    kernel = as_kernel(kernel, "collect_samples")
    _check_counts(num_samples, burn, thin)
    if not isinstance(trace, Trace):
        raise TypeError(f"collect_samples: the initial trace must be a Trace, got "
                        f"{type(trace).__name__}")
    backend = get_backend()
    total = burn + num_samples * thin
    samples, accepted = Samples(), 0
    bar = _Progress(total, progress)
    materialize(backend, trace)
    for step, step_key in enumerate(_step_keys(resolve_key(key), total), start=1):
        new, moved = kernel(trace, step_key)
        if new is not trace:
            materialize(backend, new)
        trace = new
        accepted += bool(moved)
        if step > burn and (step - burn) % thin == 0:
            samples.append(trace)
        if clear_cache_every and step % clear_cache_every == 0:
            backend.clear_cache()
        bar.update(step, accepted)
    samples.acceptance_rate = accepted / total if total else float("nan")
    samples.num_steps = total
    return samples
