"""Importance sampling and importance resampling on the GFI (Gen's definitions).

Without a proposal, each particle is `generate(args, observations)`: the
unobserved choices come from the prior and the weight is log p(observations |
those choices). With a custom proposal, a generative function run as
`proposal(*proposal_args)` whose choices name model addresses, each particle
proposes u, runs `generate(args, observations ∪ u)` and takes

    log w = [log p(u, observations, rest) - log q_default(rest)] - log q(u),

the model's generate weight less the proposal's score: Gen's definition, an
unbiased estimate of p(observations) when the proposal covers the posterior.

log_marginal_likelihood = log mean exp(log w): its exponential is unbiased for
p(observations).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from genmlx._backend import get_backend
from genmlx._keys import resolve_key, split
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.trace import Trace
from genmlx.distributions.special import logsumexp
from genmlx.errors import AddressError
from genmlx.gfi.interface import GenerativeFunction

__all__ = ["ImportanceResult", "ResamplingResult", "importance_sampling",
           "importance_resampling", "log_mean_exp"]


class ImportanceResult(NamedTuple):
    """Weighted particles.

    Attributes:
        traces: one trace per particle.
        log_weights: [N] backend array of log importance weights.
        log_marginal_likelihood: 0-d backend array, log mean exp(log_weights).
    """

    traces: list
    log_weights: Any
    log_marginal_likelihood: Any

    def normalized_weights(self) -> Any:
        """softmax(log_weights), an [N] backend array summing to 1."""
        xp = get_backend().xp
        return xp.exp(self.log_weights - logsumexp(self.log_weights))

    def effective_sample_size(self) -> float:
        """(sum w)^2 / sum w^2 (see `diagnostics.ess_importance`)."""
        from genmlx.inference.diagnostics import ess_importance

        return ess_importance(self.log_weights)


class ResamplingResult(NamedTuple):
    """Traces resampled by weight, and the log marginal-likelihood estimate.

    Attributes:
        traces: the resampled traces (`num_samples` of them).
        log_marginal_likelihood: 0-d backend array from the particle weights.
    """

    traces: list
    log_marginal_likelihood: Any

    @property
    def trace(self) -> Trace:
        """The first resampled trace (Gen's `importance_resampling` returns one)."""
        return self.traces[0]


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
                        proposal_args: tuple = (), key: Any = None) -> ImportanceResult:
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

    Returns:
        `ImportanceResult(traces, log_weights [N], log_marginal_likelihood)`.

    Raises:
        AddressError: an observation (or proposed choice) at an address the
            model never visits, or a proposal that samples an observed address.

    Example:
        >>> res = importance_sampling(model, (xs,), obs, 1000, key=gm.key(0))
        >>> float(res.log_marginal_likelihood)
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
    for i in range(num_particles):
        trace, weight = _particle(model, args, observations, proposal, proposal_args, keys[i])
        weight = xp.asarray(weight, dtype=backend.float_dtype)
        backend.eval(trace.score, weight)  # one particle's graph at a time
        traces.append(trace)
        weights.append(weight)
    log_weights = xp.stack(weights)
    return ImportanceResult(traces, log_weights, log_mean_exp(log_weights))


def importance_resampling(model: GenerativeFunction, args: tuple, observations: Any,
                          num_particles: int, proposal: GenerativeFunction | None = None,
                          proposal_args: tuple = (), key: Any = None,
                          num_samples: int = 1) -> ResamplingResult:
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
                                 proposal_args, k_is)
    if not math.isfinite(float(backend.to_python(result.log_marginal_likelihood))):
        raise ValueError("importance_resampling: every particle has weight zero (or a NaN "
                         "weight); the observations are impossible under every proposed trace. "
                         "Use more particles or a proposal that covers the posterior.")
    indices = backend.categorical(k_pick, result.log_weights, (int(num_samples),))
    chosen = [result.traces[int(i)] for i in backend.to_python(indices)]
    return ResamplingResult(chosen, result.log_marginal_likelihood)
