"""Importance sampling and importance resampling on the GFI (Gen's definitions).

Without a proposal, each particle is `generate(args, observations)`: the
unobserved choices come from the prior and the weight is log p(observations |
those choices). With a custom proposal, a generative function run as
`proposal(*proposal_args)` whose choices name model addresses, each particle
proposes u, runs `generate(args, observations ∪ u)` and takes

    log w = [log p(u, observations, rest) - log q_default(rest)] - log q(u),

the model's generate weight less the proposal's score: Gen's definition, an
unbiased estimate of p(observations) when the proposal covers the posterior.

log_ml_estimate = log mean exp(log w): its exponential is unbiased for
p(observations).

`importance_sampling` returns an `ImportanceResult` that unpacks as Gen's
`(traces, log_normalized_weights, log_ml_estimate)`: positional code ported
from Gen reads the normalised weights, never the raw ones. The raw weights are
`result.log_unnormalized_weights` (alias `log_weights`).
"""

from __future__ import annotations

import math
from typing import Any

from genmlx._backend import get_backend
from genmlx._keys import resolve_key, split
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.trace import Trace
from genmlx.distributions.special import logsumexp
from genmlx.errors import AddressError
from genmlx.gfi.interface import GenerativeFunction
from genmlx.inference.mcmc.collect import progress_bar
from genmlx.inference.results import ImportanceResult, ResamplingResult

__all__ = ["ImportanceResult", "ResamplingResult", "importance_sampling",
           "importance_resampling", "log_mean_exp"]


def log_mean_exp(log_weights: Any) -> Any:
    """log (1/N) sum exp(log_weights), stable; -inf when every weight is -inf."""
    n = int(log_weights.shape[0])
    return logsumexp(log_weights) - math.log(n)


def _as_observations(observations: Any) -> ChoiceMap:
    if observations is None:
        return EMPTY
    if isinstance(observations, dict):
        return ChoiceMap.from_mapping(observations)
    if not isinstance(observations, ChoiceMap):
        raise TypeError(f"importance_sampling: observations must be a ChoiceMap, got "
                        f"{type(observations).__name__}")
    return observations


def _particle(model: GenerativeFunction, args: tuple, observations: ChoiceMap,
              proposal: GenerativeFunction | None, proposal_args: tuple,
              key: Any) -> tuple[Trace, Any]:
    if proposal is None:
        return model.generate(args, observations, key=key)
    k_propose, k_generate = split(key, 2)
    proposed, proposal_score, _ = proposal.propose(tuple(proposal_args), key=k_propose)
    try:
        constraints = observations.merge(proposed)
    except AddressError as exc:
        raise AddressError(f"importance_sampling: the proposal "
                           f"{getattr(proposal, 'name', proposal)} samples an observed "
                           f"address ({exc}); a proposal must only propose latent choices."
                           ) from None
    trace, weight = model.generate(args, constraints, key=k_generate)
    return trace, weight - proposal_score


def importance_sampling(model: GenerativeFunction, args: tuple, observations: Any,
                        num_particles: int, proposal: GenerativeFunction | None = None,
                        proposal_args: tuple = (), key: Any = None,
                        progress: bool | None = None) -> ImportanceResult:
    """Weighted traces from the prior (or `proposal`), conditioned on `observations`.

    Args:
        model: the generative function.
        args: its arguments (a tuple).
        observations: a ChoiceMap of observed values.
        num_particles: N, the number of particles.
        proposal: optional generative function, run as `proposal(*proposal_args)`,
            whose choices are model addresses (merged with the observations).
        proposal_args: its arguments.
        key: a random key (None: the global stream); same key, same result.
        progress: a tqdm progress bar on stderr; None (the default) shows it
            only when stderr is a terminal.

    Returns:
        `ImportanceResult`, unpacking as `(traces, log_normalized_weights [N],
        log_ml_estimate)` (Gen's order); `.log_unnormalized_weights` holds the
        raw log weights, `.draws(address)` / `.weighted_draws(address)` the
        particles' values as NumPy arrays.

    Raises:
        AddressError: an observation (or proposed choice) at an address the
            model never visits, or a proposal that samples an observed address.

    Example:
        >>> traces, log_norm_w, log_ml = importance_sampling(model, (xs,), obs, 1000,
        ...                                                  key=gm.key(0))
    """
    if isinstance(num_particles, bool) or not isinstance(num_particles, int) \
            or num_particles < 1:
        raise ValueError(f"importance_sampling: num_particles must be a positive int, got "
                         f"{num_particles!r}")
    observations = _as_observations(observations)
    backend = get_backend()
    xp = backend.xp
    keys = split(resolve_key(key), num_particles)
    traces, weights = [], []
    bar = progress_bar(num_particles, progress, "importance", "particle")
    try:
        for i in range(num_particles):
            trace, weight = _particle(model, args, observations, proposal, proposal_args,
                                      keys[i])
            weight = xp.asarray(weight, dtype=backend.float_dtype)
            backend.eval(trace.score, weight)  # one particle's graph at a time
            traces.append(trace)
            weights.append(weight)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return ImportanceResult(traces, xp.stack(weights))


def importance_resampling(model: GenerativeFunction, args: tuple, observations: Any,
                          num_particles: int, proposal: GenerativeFunction | None = None,
                          proposal_args: tuple = (), key: Any = None,
                          num_samples: int = 1, progress: bool | None = None
                          ) -> ResamplingResult:
    """Importance sampling, then `num_samples` traces drawn by normalised weight.

    Sampling is with replacement (independent categorical draws), so the
    traces are approximately from the posterior for large `num_particles`.

    Returns:
        `ResamplingResult(traces, log_marginal_likelihood)`; `.trace` is the first.

    Example:
        >>> tr = importance_resampling(model, (xs,), obs, 1000, key=gm.key(0)).trace
    """
    backend = get_backend()
    k_is, k_pick = split(resolve_key(key), 2)
    result = importance_sampling(model, args, observations, num_particles, proposal,
                                 proposal_args, k_is, progress)
    if not math.isfinite(float(backend.to_python(result.log_ml_estimate))):
        raise ValueError("importance_resampling: every particle has weight zero (or a NaN "
                         "weight); the observations are impossible under every proposed trace. "
                         "Use more particles or a proposal that covers the posterior.")
    indices = backend.categorical(k_pick, result.log_unnormalized_weights, (int(num_samples),))
    chosen = [result.traces[int(i)] for i in backend.to_python(indices)]
    return ResamplingResult(chosen, result.log_ml_estimate)
