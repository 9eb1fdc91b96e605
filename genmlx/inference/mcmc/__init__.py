"""Markov chain Monte Carlo on the GFI: kernels, their composition, and drivers.

Three layers, NumPyro-style (a pure functional core with a thin shell):

- step functions `*_step(trace, ..., key) -> (trace, accepted)`: one move;
- kernels `*_kernel(...)`: the same move as a `Kernel`, a callable
  `(trace, key) -> (trace, accepted)`, composable with `chain`, `cycle`,
  `mix`, `repeat` and `seed`, run by `collect_samples`;
- drivers `mh`, `mh_custom`, `gibbs`, `elliptical_slice`, `involutive_mh`:
  `(model, args, observations, ..., samples, burn, key, thin)` -> list of traces
  (`Samples`: `.draws(address)` gives NumPy [1, samples, ...], `.final_state`
  the `ChainState` to resume from; `Chains` groups several chains).

Example:
    >>> from genmlx.inference import mcmc
    >>> traces = mcmc.mh(model, (xs,), obs, selection=select("slope", "intercept"),
    ...                  samples=500, burn=100, key=gm.key(0))
"""

from genmlx.inference.mcmc.collect import (
    ChainState, Samples, collect_samples, materialize, progress_bar,
)
from genmlx.inference.mcmc.composition import chain, cycle, mix, repeat, seed
from genmlx.inference.mcmc.drivers import (
    elliptical_slice, gibbs, involutive_mh, mh, mh_custom, run_kernel,
)
from genmlx.inference.mcmc.elliptical_slice import elliptical_slice_kernel, elliptical_slice_step
from genmlx.inference.mcmc.gibbs import gibbs_kernel, gibbs_step
from genmlx.inference.mcmc.involutive import (
    InvolutionError, involutive_mh_kernel, involutive_mh_step,
)
from genmlx.inference.mcmc import fused
from genmlx.inference.mcmc.kernel import Kernel, KernelError, accept_reject, as_kernel
from genmlx.inference.mcmc.mh import mh_kernel, mh_step
from genmlx.inference.mcmc.mh_custom import mh_custom_kernel, mh_custom_step
from genmlx.inference.results import Chains

__all__ = [
    "ChainState", "Chains", "InvolutionError", "Kernel", "KernelError", "Samples",
    "accept_reject", "as_kernel", "chain", "collect_samples", "cycle", "elliptical_slice",
    "elliptical_slice_kernel", "elliptical_slice_step", "fused", "gibbs", "gibbs_kernel", "gibbs_step",
    "involutive_mh", "involutive_mh_kernel", "involutive_mh_step", "materialize", "mh",
    "mh_custom", "mh_custom_kernel", "mh_custom_step", "mh_kernel", "mh_step", "mix", "repeat",
    "progress_bar", "run_kernel", "seed",
]
