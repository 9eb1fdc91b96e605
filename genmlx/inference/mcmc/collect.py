"""Running a kernel: burn-in, thinning, a progress bar, flat memory, and resumable keys.

Memory discipline: every new trace's score and choice arrays are materialised
(`backend.eval`) at the step that made them, so no lazy graph outlives a step,
and the backend's buffer cache is released every `clear_cache_every` steps.
A chain of any length holds only the traces it keeps.

Keys: each step splits the chain's key into (next chain key, step key), so
the whole state of a chain is (trace, key). `Samples.final_state` holds it,
and a chain resumed from it takes exactly the steps the uninterrupted chain
would have taken.
"""

from __future__ import annotations

import sys
from typing import Any

from genmlx._backend import Backend, get_backend
from genmlx._keys import resolve_key, split
from genmlx.core.trace import Trace
from genmlx.inference.mcmc.kernel import as_kernel
from genmlx.inference.results import ChainState, Samples

__all__ = ["ChainState", "Samples", "collect_samples", "materialize", "progress_bar"]


def materialize(backend: Backend, trace: Trace) -> None:
    """Evaluate a trace's score and choice values (MLX lazy graphs end here)."""
    arrays = [v for _, v in trace.choices.leaves() if backend.is_array(v)]
    backend.eval(trace.score, *arrays)


def _check_counts(num_samples: Any, burn: Any, thin: Any) -> None:
    for name, value, low in (("samples", num_samples, 0), ("burn", burn, 0), ("thin", thin, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"collect_samples: {name} must be an int >= {low}, got {value!r}")


def progress_bar(total: int, progress: bool | None, desc: str, unit: str) -> Any:
    """A tqdm bar on stderr, or None when progress is off.

    Args:
        total: the number of updates expected.
        progress: True/False forces the bar on/off; None shows it only when
            stderr is a terminal (so logs, pipes and CI stay clean).
        desc: the bar's label.
        unit: what one update counts.
    """
    if progress is None:
        isatty = getattr(sys.stderr, "isatty", None)
        try:
            progress = bool(isatty()) if isatty is not None else False
        except ValueError:  # a closed stream
            progress = False
    if not progress:
        return None
    from tqdm import tqdm  # imported on first use: `import genmlx` stays fast

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                leave=True)


def collect_samples(kernel: Any, trace: Trace | ChainState, num_samples: int, burn: int = 0,
                    thin: int = 1, key: Any = None, progress: bool | None = None,
                    clear_cache_every: int = 1000) -> Samples:
    """Run `kernel` from `trace` and keep every `thin`-th trace after `burn` steps.

    Runs burn + num_samples * thin kernel steps. Step i splits the chain key
    into (next chain key, step key), so `collect_samples(kernel, s.final_state,
    m)` continues chain `s` exactly: its traces are those the uninterrupted
    chain would have kept (bit for bit on the same backend).

    Args:
        kernel: a kernel `(trace, key) -> (trace, accepted)`.
        trace: the initial trace, or a `ChainState` (its trace and key) to resume.
        num_samples: how many traces to keep.
        burn: steps to discard first.
        thin: keep one trace every `thin` steps.
        key: a random key (None: the global stream, or the `ChainState`'s key);
            same key, same chain.
        progress: a tqdm progress bar on stderr; None (the default) shows it
            only when stderr is a terminal.
        clear_cache_every: release the backend's buffer cache every this many
            steps (0: never).

    Returns:
        `Samples`, a list of `num_samples` traces with `.acceptance_rate`,
        `.num_steps` and `.final_state` (a `ChainState`).

    Raises:
        KernelError: `kernel` is not a kernel.
        ValueError: both a `ChainState` and a `key` are given.

    Example:
        >>> tr, _ = model.generate(args, obs, key=gm.key(0))
        >>> traces = collect_samples(mh_kernel(select("x")), tr, 1000, burn=200, key=gm.key(1))
        >>> more = collect_samples(mh_kernel(select("x")), traces.final_state, 1000)
    """
    kernel = as_kernel(kernel, "collect_samples")
    _check_counts(num_samples, burn, thin)
    if isinstance(trace, ChainState):
        if key is not None:
            raise ValueError("collect_samples: a ChainState carries its own key; pass either "
                             "a ChainState or a trace and a key, not both.")
        trace, key = trace.trace, trace.key
    if not isinstance(trace, Trace):
        raise TypeError(f"collect_samples: the initial trace must be a Trace or a ChainState, "
                        f"got {type(trace).__name__}")
    backend = get_backend()
    total = burn + num_samples * thin
    samples, accepted = Samples(), 0
    bar = progress_bar(total, progress, "mcmc", "step")
    materialize(backend, trace)
    chain_key = resolve_key(key)
    try:
        for step in range(1, total + 1):
            pair = split(chain_key, 2)
            chain_key, step_key = pair[0], pair[1]
            new, moved = kernel(trace, step_key)
            if new is not trace:
                materialize(backend, new)
            backend.eval(chain_key)  # MLX: the key chain must not grow a lazy graph
            trace = new
            accepted += bool(moved)
            if step > burn and (step - burn) % thin == 0:
                samples.append(trace)
            if clear_cache_every and step % clear_cache_every == 0:
                backend.clear_cache()
            if bar is not None:
                bar.update(1)
                if step % max(1, total // 100) == 0 or step == total:
                    bar.set_postfix(acceptance=f"{accepted / step:.2f}", refresh=False)
    finally:
        if bar is not None:
            bar.close()
    samples.acceptance_rate = accepted / total if total else float("nan")
    samples.num_steps = total
    samples.final_state = ChainState(trace, chain_key)
    return samples
