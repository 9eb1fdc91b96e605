"""One-call MCMC on a model: initialise by `generate` on the observations, then
`collect_samples` with a kernel. Each returns a list of traces (`Samples`).

    traces = mcmc.mh(model, (xs,), observations, selection=select("slope", "intercept"),
                     samples=500, burn=100, key=gm.key(0))
    traces.draws("slope")                       # NumPy [1, 500]
    more = mcmc.mh(model, (xs,), observations, selection=select("slope", "intercept"),
                   samples=500, burn=0, resume=traces.final_state)   # the same chain, continued
"""

from __future__ import annotations

from typing import Any, Callable

from genmlx._keys import resolve_key, split
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.selection import ALL, Selection, select
from genmlx.core.trace import Trace
from genmlx.gfi.interface import GenerativeFunction
from genmlx.inference._sites import check_selection, latent_paths
from genmlx.inference.mcmc.collect import ChainState, Samples, collect_samples
from genmlx.inference.mcmc.elliptical_slice import elliptical_slice_kernel
from genmlx.inference.mcmc.gibbs import gibbs_kernel
from genmlx.inference.mcmc.involutive import involutive_mh_kernel
from genmlx.inference.mcmc.kernel import Kernel
from genmlx.inference.mcmc.mh import mh_kernel
from genmlx.inference.mcmc.mh_custom import mh_custom_kernel

__all__ = ["mh", "mh_custom", "gibbs", "elliptical_slice", "involutive_mh", "run_kernel"]


def _as_observations(observations: Any) -> ChoiceMap:
    if observations is None:
        return EMPTY
    if isinstance(observations, ChoiceMap):
        return observations
    if isinstance(observations, dict):
        return ChoiceMap.from_mapping(observations)
    raise TypeError(f"observations must be a ChoiceMap (choicemap({{...}})), got "
                    f"{type(observations).__name__}")


def _initial(model: GenerativeFunction, args: tuple, observations: ChoiceMap, key: Any,
             initial_trace: Trace | None) -> Trace:
    if initial_trace is not None:
        return initial_trace
    if not isinstance(model, GenerativeFunction):
        raise TypeError(f"expected a generative function (@gen), got {type(model).__name__}")
    return model.generate(args, observations, key=key).trace


def run_kernel(model: GenerativeFunction, args: tuple, observations: Any,
               make_kernel: Callable[[Trace, ChoiceMap], Kernel], samples: int, burn: int,
               thin: int, key: Any, progress: bool | None = None,
               initial_trace: Trace | None = None,
               resume: ChainState | None = None) -> Samples:
    """generate an initial trace (or take `resume`'s), build the kernel from it, collect samples.

    With `resume`, the chain continues from `resume.trace` with `resume.key`
    (neither `key` nor `initial_trace` may be given): the result is what the
    chain that produced `resume` would have kept next.
    """
    observations = _as_observations(observations)
    if resume is not None:
        if not isinstance(resume, ChainState):
            raise TypeError(f"resume must be a ChainState (samples.final_state), got "
                            f"{type(resume).__name__}")
        if key is not None or initial_trace is not None:
            raise ValueError("resume continues a chain with its own trace and key; pass "
                             "neither key nor initial_trace with it.")
        kernel = make_kernel(resume.trace, observations)
        return collect_samples(kernel, resume, samples, burn, thin, progress=progress)
    k_init, k_chain = split(resolve_key(key), 2)
    trace = _initial(model, args, observations, k_init, initial_trace)
    kernel = make_kernel(trace, observations)
    return collect_samples(kernel, trace, samples, burn, thin, key=k_chain, progress=progress)


def _unobserved(observations: ChoiceMap) -> Selection:
    paths = observations.addresses()
    return ~select(*paths) if paths else ALL


def mh(model: GenerativeFunction, args: tuple, observations: Any = EMPTY,
       selection: Selection | None = None, samples: int = 500, burn: int = 100,
       key: Any = None, proposal: GenerativeFunction | None = None, thin: int = 1, *,
       proposal_args: tuple = (), strict: bool = True, progress: bool | None = None,
       initial_trace: Trace | None = None, resume: ChainState | None = None) -> Samples:
    """Metropolis-Hastings on `model` given `observations`; returns the kept traces.

    Without `proposal`, each step resamples `selection` from the prior
    (`regenerate`; default: every unobserved address). With `proposal`, a
    generative function called as `proposal(trace, *proposal_args)`, each step
    is Gen's custom-proposal MH (`mh_custom`).

    Args:
        model: the generative function.
        args: its arguments (a tuple).
        observations: a ChoiceMap of observed values.
        selection: addresses to resample (prior-proposal MH only).
        samples: traces to keep; burn: steps discarded first; thin: keep every
            `thin`-th step.
        key: a random key (None: the global stream); same key, same chain.
        proposal: a custom proposal generative function (then no selection).
        proposal_args: further arguments of the proposal.
        strict: (prior-proposal MH) raise when `selection` names an address
            the trace does not have.
        progress: a tqdm progress bar on stderr (None: only when stderr is a terminal).
        initial_trace: start here instead of at `model.generate(args, observations)`.
        resume: a `ChainState` (`samples.final_state`, or one loaded with
            `genmlx.load`) to continue; then pass no `key` or `initial_trace`.

    Returns:
        `Samples`: a list of traces with `.acceptance_rate`, `.final_state`
        and `.draws(address)` (NumPy [1, samples, ...]).

    Raises:
        AddressError: the selection names an address the model's trace lacks,
            or an observation is at an address the model never visits.

    Example:
        >>> traces = mh(model, (xs,), obs, selection=select("slope", "intercept"),
        ...             samples=500, burn=100, key=gm.key(0))
    """
    if proposal is not None:
        if selection is not None:
            raise ValueError("mh: pass either selection (resample from the prior) or proposal "
                             "(a custom proposal generative function), not both.")

        def make(trace: Trace, observations: ChoiceMap) -> Kernel:
            return mh_custom_kernel(proposal, tuple(proposal_args))
    else:
        def make(trace: Trace, observations: ChoiceMap) -> Kernel:
            chosen = _unobserved(observations) if selection is None else selection
            if strict:
                check_selection(trace, chosen, "mh")
            return mh_kernel(chosen, strict)
    return run_kernel(model, args, observations, make, samples, burn, thin, key, progress,
                      initial_trace, resume)


def mh_custom(model: GenerativeFunction, args: tuple, observations: Any,
              proposal: GenerativeFunction, proposal_args: tuple = (), samples: int = 500,
              burn: int = 100, key: Any = None, thin: int = 1, *, progress: bool | None = None,
              initial_trace: Trace | None = None,
              resume: ChainState | None = None) -> Samples:
    """MH with a custom proposal `proposal(trace, *proposal_args)`; see `mh`."""
    return mh(model, args, observations, None, samples, burn, key, proposal, thin,
              proposal_args=proposal_args, progress=progress, initial_trace=initial_trace,
              resume=resume)


def gibbs(model: GenerativeFunction, args: tuple, observations: Any = EMPTY,
          addresses: Any = None, samples: int = 500, burn: int = 100, key: Any = None,
          thin: int = 1, *, progress: bool | None = None,
          initial_trace: Trace | None = None,
          resume: ChainState | None = None) -> Samples:
    """Systematic-scan Gibbs over finite-support `addresses` (default: every unobserved one).

    Raises:
        ValueError: an address is continuous or has unbounded support (named).
    """
    def make(trace: Trace, observations: ChoiceMap) -> Kernel:
        chosen = latent_paths(trace, observations) if addresses is None else addresses
        return gibbs_kernel(chosen)
    return run_kernel(model, args, observations, make, samples, burn, thin, key, progress,
                      initial_trace, resume)


def elliptical_slice(model: GenerativeFunction, args: tuple, observations: Any = EMPTY,
                     addresses: Any = None, samples: int = 500, burn: int = 100,
                     key: Any = None, thin: int = 1, *, progress: bool | None = None,
                     initial_trace: Trace | None = None,
                     resume: ChainState | None = None) -> Samples:
    """Elliptical slice sampling on Gaussian-prior `addresses` (default: every unobserved one).

    Raises:
        ValueError: an address's prior is not Gaussian (named).
    """
    def make(trace: Trace, observations: ChoiceMap) -> Kernel:
        chosen = latent_paths(trace, observations) if addresses is None else addresses
        return elliptical_slice_kernel(chosen)
    return run_kernel(model, args, observations, make, samples, burn, thin, key, progress,
                      initial_trace, resume)


def involutive_mh(model: GenerativeFunction, args: tuple, observations: Any,
                  proposal: GenerativeFunction, involution: Callable,
                  proposal_args: tuple = (), samples: int = 500, burn: int = 100,
                  key: Any = None, thin: int = 1, *, check: bool = False,
                  progress: bool | None = None, initial_trace: Trace | None = None,
                  resume: ChainState | None = None) -> Samples:
    """Involutive MH with an auxiliary `proposal` and an `involution`.

    See `genmlx.inference.mcmc.involutive` for the involution's signature.
    """
    def make(trace: Trace, observations: ChoiceMap) -> Kernel:
        return involutive_mh_kernel(proposal, involution, tuple(proposal_args), check)
    return run_kernel(model, args, observations, make, samples, burn, thin, key, progress,
                      initial_trace, resume)
