"""Exact inference by enumeration, for models whose latent choices all have finite support.

The product of supports is discovered by running the model: with the
assignment so far (and the observations) as constraints, `generate` runs the
model; the first unconstrained choice it makes (in execution order) has a
distribution fixed by the constrained choices before it, so its
`enumerate_support()` gives the branches to explore. Recursing on each value
visits every complete assignment exactly once, also when control flow makes
the set of addresses depend on earlier values. A complete assignment's
log p(latents, observations) is its trace's score.

Assignments whose run never reaches an observed address have probability
zero given the observations and are left out. (One limitation: if an observed
value steers which latent addresses come after it, and a partial assignment's
run skips that observed address, the discovery run samples it instead; the
scores stay exact but such models may be refused with an AddressError.)
"""

from __future__ import annotations

from typing import Any, NamedTuple

from genmlx._backend import get_backend
from genmlx._keys import resolve_key
from genmlx.core.address import Path, show, to_path
from genmlx.core.choicemap import EMPTY, ChoiceMap
from genmlx.core.trace import Trace
from genmlx.distributions.special import logsumexp
from genmlx.errors import AddressError
from genmlx.gfi.interface import GenerativeFunction
from genmlx.inference._sites import paths_in_execution_order
from genmlx.inference.mcmc.gibbs import finite_support

__all__ = ["ExactPosterior", "enumerate_posterior"]


class ExactPosterior(NamedTuple):
    """The exact posterior over complete latent assignments.

    Attributes:
        assignments: one ChoiceMap of latent choices per assignment with
            non-zero prior probability of the observations' addresses.
        traces: the model trace of each assignment (observations included).
        log_probs: [M] backend array, log p(assignment | observations).
        log_marginal_likelihood: 0-d backend array, log p(observations).
    """

    assignments: list
    traces: list
    log_probs: Any
    log_marginal_likelihood: Any

    def probabilities(self) -> list[float]:
        """The posterior probability of each assignment (Python floats)."""
        backend = get_backend()
        return [float(p) for p in backend.to_python(backend.xp.exp(self.log_probs))]

    def marginal(self, address: Any) -> dict:
        """{value: posterior probability} at `address` (None: the address is absent)."""
        backend = get_backend()
        path = to_path(address)
        out: dict = {}
        for assignment, p in zip(self.assignments, self.probabilities()):
            value = backend.to_python(assignment[path]) if path in assignment else None
            out[value] = out.get(value, 0.0) + p
        return out

    def expectation(self, fn: Any) -> float:
        """E[fn(assignment)] under the posterior, fn returning a number."""
        backend = get_backend()
        return sum(p * float(backend.to_python(fn(a)))
                   for a, p in zip(self.assignments, self.probabilities()))


def _free_paths(trace: Trace, assignment: ChoiceMap, observations: ChoiceMap) -> list[Path]:
    return [p for p in paths_in_execution_order(trace)
            if p not in assignment and p not in observations]


def _explore(model: GenerativeFunction, args: tuple, assignment: ChoiceMap,
             observations: ChoiceMap, key: Any) -> tuple[Trace | None, list[Path], Any]:
    """(trace, unconstrained latent paths, error) for one partial assignment.

    A None trace means the complete assignment never visits an observation.
    """
    try:
        trace, _ = model.generate(args, assignment.merge(observations), key=key)
        return trace, _free_paths(trace, assignment, observations), None
    except AddressError as exc:
        trace, _ = model.generate(args, assignment, key=key)
        unvisited = [p for p, _ in observations.leaves() if p not in trace.choices]
        if not unvisited:
            raise
        free = _free_paths(trace, assignment, observations)
        return (trace if free else None), free, exc


def enumerate_posterior(model: GenerativeFunction, args: tuple, observations: Any = EMPTY,
                        key: Any = None, max_assignments: int = 100_000) -> ExactPosterior:
    """The exact posterior of a finite-support model by enumerating every assignment.

    Args:
        model: the generative function (every latent choice finite and scalar).
        args: its arguments.
        observations: a ChoiceMap of observed values.
        key: a random key for the discovery runs (the result does not depend on it).
        max_assignments: refuse models with more complete assignments than this.

    Returns:
        `ExactPosterior(assignments, traces, log_probs, log_marginal_likelihood)`.

    Raises:
        ValueError: a latent choice has continuous or unbounded support (named),
            the enumeration exceeds `max_assignments`, or the observations have
            probability zero under every assignment.
        AddressError: an observation at an address no assignment visits.

    Example:
        >>> post = enumerate_posterior(sprinkler, (), choicemap(wet=1))
        >>> post.marginal("rain")   # {0: 0.64, 1: 0.36}
    """
    if isinstance(observations, dict):
        observations = ChoiceMap.from_mapping(observations)
    key = resolve_key(key)
    backend = get_backend()
    xp = backend.xp
    assignments, traces, scores = [], [], []
    unvisited_error = None
    stack = [EMPTY]
    while stack:
        assignment = stack.pop()
        trace, free, error = _explore(model, args, assignment, observations, key)
        unvisited_error = unvisited_error or error
        if trace is None:
            continue
        if not free:
            assignments.append(assignment)
            traces.append(trace)
            scores.append(xp.asarray(trace.score, dtype=backend.float_dtype))
            backend.eval(scores[-1])
            continue
        values = finite_support(trace, free[0], "enumerate_posterior")
        if len(assignments) + len(stack) + int(values.shape[0]) > max_assignments:
            raise ValueError(f"enumerate_posterior: more than max_assignments="
                             f"{max_assignments} assignments (while expanding "
                             f"{show(free[0])}); raise the limit or use MCMC.")
        for i in reversed(range(int(values.shape[0]))):
            stack.append(assignment.set(free[0], values[i]))
    if not assignments:
        raise unvisited_error or ValueError("enumerate_posterior: no assignment found")
    log_joint = xp.stack(scores)
    log_marginal = logsumexp(log_joint)
    if not bool(xp.isfinite(log_marginal)):
        raise ValueError("enumerate_posterior: the observations have probability zero under "
                         "every assignment (log marginal likelihood is -inf).")
    return ExactPosterior(assignments, traces, log_joint - log_marginal, log_marginal)
