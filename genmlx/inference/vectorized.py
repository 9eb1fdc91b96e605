"""Vectorized inference on L0 batched execution: one body run per step for all
particles or chains.

- `vectorized_importance_sampling`: N particles from one `vgenerate`.
- `vectorized_importance_resampling`: resample by the normalised weights.
- `smc_init`: the particle state that an SMC sweep starts from.
- `vectorized_mh`: many independent MH chains; accept/reject per chain with
  `where`, one batched `regenerate` per step for all chains.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

from genmlx._backend import get_backend
from genmlx._keys import resolve_key
from genmlx.core.address import to_path
from genmlx.core.choicemap import ChoiceMap
from genmlx.core.selection import Selection
from genmlx.distributions.special import logsumexp
from genmlx.vectorized.api import VectorizedTrace, vgenerate

__all__ = ["VectorizedISResult", "ParticleState", "VectorizedMHResult",
           "vectorized_importance_sampling", "vectorized_importance_resampling", "smc_init",
           "vectorized_mh"]


class VectorizedISResult(NamedTuple):
    traces: VectorizedTrace
    log_weights: Any
    log_marginal_likelihood: Any


class ParticleState(NamedTuple):
    """Particles, their log weights, and the running log marginal-likelihood estimate."""

    traces: VectorizedTrace
    log_weights: Any
    log_marginal_likelihood: Any


class VectorizedMHResult(NamedTuple):
    traces: VectorizedTrace  # the chains' final states
    samples: dict  # address -> [num_samples, num_chains, ...] backend array
    acceptance_rate: Any  # [num_chains]


def _log_mean_exp(log_w: Any) -> Any:
    return logsumexp(log_w) - math.log(int(log_w.shape[0]))


def vectorized_importance_sampling(model: Any, args: tuple, observations: ChoiceMap,
                                   num_particles: int, key: Any = None) -> VectorizedISResult:
    """Importance sampling with the prior as proposal, all particles in one body run.

    Returns log_weights [N] = log p(observations | particle) and the estimate
    log p(observations) ~= log mean exp(log_weights), unbiased in p (not in log p).
    """
    traces, log_w = vgenerate(model, args, observations, num_particles, key=key)
    return VectorizedISResult(traces, log_w, _log_mean_exp(log_w))


def vectorized_importance_resampling(model: Any, args: tuple, observations: ChoiceMap,
                                     num_particles: int, num_samples: int = 1,
                                     key: Any = None) -> VectorizedTrace:
    """`num_samples` particles drawn (with replacement) in proportion to their weights."""
    backend = get_backend()
    k_is, k_pick = backend.split(resolve_key(key), 2)
    result = vectorized_importance_sampling(model, args, observations, num_particles, k_is)
    idx = backend.categorical(k_pick, result.log_weights, (int(num_samples),))
    return result.traces.gather(idx)


def smc_init(model: Any, args: tuple, observations: ChoiceMap, num_particles: int,
             key: Any = None) -> ParticleState:
    """The initial SMC particle state from one `vgenerate`."""
    traces, log_w = vgenerate(model, args, observations, num_particles, key=key)
    return ParticleState(traces, log_w, _log_mean_exp(log_w))


def vectorized_mh(model: Any, args: tuple, observations: ChoiceMap, selection: Selection,
                  num_chains: int, num_samples: int, burn: int = 0,
                  record: Sequence[Any] = (), key: Any = None) -> VectorizedMHResult:
    """`num_chains` independent MH chains (prior proposals on `selection`), all
    advanced by one batched `regenerate` per step.

    Each chain starts from its own `generate` draw; at every step chain i moves
    to its proposal when log u_i < w_i (the per-chain acceptance log-ratio).
    The addresses in `record` are stored after burn-in.
    """
    backend = get_backend()
    xp = backend.xp
    keys = backend.split(resolve_key(key), num_samples + burn + 1)
    traces, _ = vgenerate(model, args, observations, num_chains, key=keys[0])
    accepted = xp.zeros((num_chains,), dtype=backend.float_dtype)
    paths = [to_path(a) for a in record]
    samples: dict = {p: [] for p in paths}
    for step in range(num_samples + burn):
        k_prop, k_u = backend.split(keys[step + 1], 2)
        proposal, log_ratio, _ = traces.regenerate(selection, key=k_prop)
        accept = xp.log(backend.uniform(k_u, (num_chains,))) < log_ratio
        traces = proposal.where(accept, traces)
        accepted = accepted + xp.astype(accept, backend.float_dtype)
        backend.eval(traces.score, accepted, *[v for _, v in traces.choices.leaves()])
        if step >= burn:
            for p in paths:
                samples[p].append(traces[p])
    stacked = {p: xp.stack(v) for p, v in samples.items() if v}
    return VectorizedMHResult(traces, stacked, accepted / float(num_samples + burn))
