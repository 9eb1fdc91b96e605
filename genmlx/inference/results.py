"""What inference returns, and how to get draws out of it as NumPy arrays.

- `Samples`: one MCMC chain's kept traces (a list), with its acceptance rate
  and `final_state` (a `ChainState`: the last trace and the next key, from
  which the chain resumes exactly where it stopped).
- `Chains`: several chains of equal length (a list of `Samples`).
- `ImportanceResult`: weighted particles; unpacks as Gen's
  `(traces, log_normalized_weights, log_ml_estimate)`.
- `ResamplingResult`: traces resampled by weight, and the log-ML estimate.

`draws(result, address)` works on all of them, on lists of traces, and on
the vectorized results (`VectorizedTrace`, `VectorizedISResult`,
`ParticleState`, `VectorizedMHResult`):

- MCMC collections give `[num_chains, num_draws, *value_shape]` (one chain:
  `num_chains == 1`);
- particle collections give `[num_particles, *value_shape]`, and
  `weighted_draws(result, address)` gives those values with their log
  normalised weights.

Draws are host (NumPy) arrays whatever the backend, so they go straight into
NumPy, pandas, matplotlib or `numpy.save`.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, NamedTuple, Sequence

from genmlx._backend import get_backend, host_numpy
from genmlx.core.address import show, to_path
from genmlx.core.trace import Trace
from genmlx.distributions.special import logsumexp
from genmlx.errors import AddressError, ShapeError

__all__ = ["ChainState", "Chains", "ImportanceResult", "ResamplingResult", "Samples",
           "draws", "to_host_array", "to_inference_data", "weighted_draws"]

# The array libraries a backend array may come from, by the top-level module of its type.
_LIBRARY_BACKENDS = {"mlx": "mlx", "jax": "jax", "jaxlib": "jax"}


def to_host_array(x: Any) -> Any:
    """A NumPy array holding `x`: an array of any backend, a NumPy value or a number.

    Looks at the array's own library rather than the current backend, so an MLX
    array read while the NumPy backend is current still converts (and no array
    library is imported that the value does not already come from).
    """
    np = host_numpy()
    if isinstance(x, (np.ndarray, np.generic)):
        return np.asarray(x)
    backend = get_backend()
    if not backend.is_array(x):
        library = _LIBRARY_BACKENDS.get(type(x).__module__.split(".")[0])
        if library is not None:
            backend = get_backend(library)
    if backend.is_array(x):
        return backend.to_numpy(x)
    return np.asarray(x)


def _stack(values: list, what: str) -> Any:
    np = host_numpy()
    arrays = [to_host_array(v) for v in values]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ShapeError(f"draws: {what} has values of different shapes {sorted(shapes)}; "
                         "draws stacks values of one shape.")
    return np.stack(arrays) if arrays else np.zeros((0,))


def _trace_values(traces: Sequence[Any], address: Any, who: str) -> list:
    path = to_path(address)
    out = []
    for i, tr in enumerate(traces):
        try:
            out.append(tr[address])
        except AddressError:
            raise AddressError(f"{who}: trace {i} has no value at address {show(path)}; "
                               "draws reads an address every trace has.") from None
    return out


# -- MCMC --------------------------------------------------------------------------------------

class ChainState(NamedTuple):
    """Where a chain stands: its current trace and the key its next step splits.

    `collect_samples(kernel, state, n)` (or a driver's `resume=state`) continues
    the chain exactly as if it had never stopped; `genmlx.save` writes it to a
    file for a checkpoint.

    Attributes:
        trace: the chain's current trace.
        key: the random key of the next step.
    """

    trace: Trace
    key: Any


class Samples(list):
    """One chain's kept traces (a list), with the chain's acceptance rate and end state.

    Attributes:
        acceptance_rate: accepted steps / all steps (burn-in included).
        num_steps: the number of kernel steps run.
        final_state: the `ChainState` after the last step (None when built by hand).
    """

    acceptance_rate: float = float("nan")
    num_steps: int = 0
    final_state: ChainState | None = None

    @property
    def num_chains(self) -> int:
        return 1

    def draws(self, address: Any) -> Any:
        """The values at `address`, a NumPy array [1, num_draws, *value_shape].

        Raises:
            AddressError: some trace has no value at `address` (its index is named).
            ShapeError: the values differ in shape between traces.

        Example:
            >>> traces = mcmc.mh(model, (xs,), obs, samples=500, key=gm.key(0))
            >>> traces.draws("slope").shape
            (1, 500)
        """
        values = _trace_values(self, address, "Samples.draws")
        return _stack(values, f"address {show(to_path(address))}")[None]


class Chains(list):
    """Several chains (`Samples`) of equal length, for draws [num_chains, num_draws, ...].

    `diagnostics.summarize(chains)` reads it as one chain per element.

    Example:
        >>> chains = Chains(mcmc.mh(model, args, obs, samples=500, key=k)
        ...                 for k in gm.split(gm.key(0), 4))
        >>> chains.draws("slope").shape
        (4, 500)
    """

    def __init__(self, chains: Any = ()):
        super().__init__(chains)
        lengths = {len(c) for c in self}
        if len(lengths) > 1:
            raise ValueError(f"Chains: every chain must have the same number of draws, got "
                             f"{sorted(lengths)}")

    @property
    def num_chains(self) -> int:
        return len(self)

    @property
    def acceptance_rates(self) -> list[float]:
        """Each chain's acceptance rate (NaN for a plain list of traces)."""
        return [getattr(c, "acceptance_rate", float("nan")) for c in self]

    def draws(self, address: Any) -> Any:
        """The values at `address`, a NumPy array [num_chains, num_draws, *value_shape]."""
        np = host_numpy()
        if not self:
            return np.zeros((0, 0))
        rows = [_stack(_trace_values(c, address, f"Chains.draws (chain {i})"),
                       f"address {show(to_path(address))}") for i, c in enumerate(self)]
        if len({r.shape for r in rows}) > 1:
            raise ShapeError(f"Chains.draws: address {show(to_path(address))} has values of "
                             "different shapes in different chains.")
        return np.stack(rows)


# -- importance sampling -----------------------------------------------------------------------

class ImportanceResult:
    """Weighted particles from importance sampling.

    Unpacks like Gen's `importance_sampling`, to the *normalised* log weights:

        traces, log_normalized_weights, log_ml_estimate = importance_sampling(...)

    so code ported from Gen cannot read the unnormalised ones by position.

    Attributes:
        traces: one trace per particle (a list).
        log_normalized_weights: [N] backend array, log w_i - logsumexp(log w);
            logsumexp of it is 0.
        log_ml_estimate: 0-d backend array, log mean exp(log w): the log of an
            unbiased estimate of p(observations).
        log_unnormalized_weights: [N] backend array, the importance weights log w_i.
        log_weights: the same as `log_unnormalized_weights` (the name the rest
            of GenMLX uses, e.g. `VectorizedISResult.log_weights`).
        log_marginal_likelihood: the same as `log_ml_estimate`.
    """

    __slots__ = ("traces", "log_normalized_weights", "log_ml_estimate",
                 "log_unnormalized_weights")
    _fields = ("traces", "log_normalized_weights", "log_ml_estimate")

    def __init__(self, traces: list, log_unnormalized_weights: Any):
        xp = get_backend().xp
        lw = log_unnormalized_weights
        n = int(lw.shape[0])
        total = logsumexp(lw)
        normalized = lw - total
        if not bool(xp.isfinite(total)):
            # every weight -inf (or a NaN): no particle carries any mass, so the
            # normalised weights are undefined; NaN says so instead of -inf - -inf.
            normalized = xp.full_like(lw, float("nan"))
        object.__setattr__(self, "traces", list(traces))
        object.__setattr__(self, "log_unnormalized_weights", lw)
        object.__setattr__(self, "log_normalized_weights", normalized)
        object.__setattr__(self, "log_ml_estimate", total - math.log(n))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"ImportanceResult is immutable (cannot set {name!r})")

    # -- the tuple protocol (Gen's return value) ----------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        return iter((self.traces, self.log_normalized_weights, self.log_ml_estimate))

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index: Any) -> Any:
        return (self.traces, self.log_normalized_weights, self.log_ml_estimate)[index]

    def _asdict(self) -> dict:
        return dict(zip(self._fields, self))

    # -- aliases -------------------------------------------------------------------------------
    @property
    def log_weights(self) -> Any:
        """The unnormalised log weights (alias of `log_unnormalized_weights`)."""
        return self.log_unnormalized_weights

    @property
    def log_marginal_likelihood(self) -> Any:
        """The log marginal-likelihood estimate (alias of `log_ml_estimate`)."""
        return self.log_ml_estimate

    @property
    def num_particles(self) -> int:
        return len(self.traces)

    # -- summaries -----------------------------------------------------------------------------
    def normalized_weights(self) -> Any:
        """exp(log_normalized_weights), an [N] backend array summing to 1."""
        return get_backend().xp.exp(self.log_normalized_weights)

    def effective_sample_size(self) -> float:
        """(sum w)^2 / sum w^2 (see `diagnostics.ess_importance`)."""
        from genmlx.inference.diagnostics import ess_importance

        return ess_importance(self.log_unnormalized_weights)

    def draws(self, address: Any) -> Any:
        """The particles' values at `address`, a NumPy array [N, *value_shape] (unweighted:
        pair them with `weighted_draws` or `log_normalized_weights`)."""
        return _stack(_trace_values(self.traces, address, "ImportanceResult.draws"),
                      f"address {show(to_path(address))}")

    def weighted_draws(self, address: Any) -> tuple[Any, Any]:
        """(values [N, ...], log normalised weights [N]), both NumPy arrays.

        Example:
            >>> values, logw = result.weighted_draws("slope")
            >>> posterior_mean = (numpy.exp(logw) * values).sum()
        """
        return self.draws(address), to_host_array(self.log_normalized_weights)

    def __repr__(self) -> str:
        lml = float(to_host_array(self.log_ml_estimate))
        return (f"ImportanceResult({len(self.traces)} particles, log_ml_estimate={lml:.6g}, "
                f"ess={self.effective_sample_size():.1f})")


class ResamplingResult(NamedTuple):
    """Traces resampled by weight, and the log marginal-likelihood estimate.

    Attributes:
        traces: the resampled traces (`num_samples` of them, equally weighted).
        log_marginal_likelihood: 0-d backend array from the particle weights.
    """

    traces: list
    log_marginal_likelihood: Any

    @property
    def trace(self) -> Trace:
        """The first resampled trace (Gen's `importance_resampling` returns one)."""
        return self.traces[0]

    @property
    def log_ml_estimate(self) -> Any:
        """Alias of `log_marginal_likelihood` (Gen's name)."""
        return self.log_marginal_likelihood

    def draws(self, address: Any) -> Any:
        """The resampled values at `address`, a NumPy array [num_samples, *value_shape]."""
        return _stack(_trace_values(self.traces, address, "ResamplingResult.draws"),
                      f"address {show(to_path(address))}")


# -- one entry point for every result ----------------------------------------------------------

def _vectorized_types() -> tuple:
    from genmlx.inference.vectorized import ParticleState, VectorizedISResult, VectorizedMHResult
    from genmlx.vectorized.api import VectorizedTrace

    return VectorizedTrace, (VectorizedISResult, ParticleState), VectorizedMHResult


def _batched_values(vtrace: Any, address: Any) -> Any:
    np = host_numpy()
    try:
        value = to_host_array(vtrace[address])
    except AddressError:
        raise AddressError(f"draws: the particles have no value at address "
                           f"{show(to_path(address))}") from None
    n = int(vtrace.n)
    if value.ndim == 0 or value.shape[0] != n:
        # a value every particle shares (an observation) is stored once: repeat it
        value = np.broadcast_to(value, (n,) + value.shape).copy()
    return value


def draws(result: Any, address: Any) -> Any:
    """The draws at `address` of any inference result, as a NumPy array.

    Args:
        result: `Samples` or a list of traces (one chain), `Chains` or a list of
            lists of traces, `ImportanceResult`, `ResamplingResult`,
            `VectorizedTrace`, `VectorizedISResult`, `ParticleState` or
            `VectorizedMHResult`.
        address: the address (`"slope"`, `("y", 0)`, ...).

    Returns:
        MCMC results: [num_chains, num_draws, *value_shape] (`VectorizedMHResult`:
        the addresses it recorded, one chain per batch element). Particle
        results: [num_particles, *value_shape].

    Raises:
        AddressError: a trace lacks the address (or a vectorized MH run did not
            record it).
        TypeError: `result` is none of the above.

    Example:
        >>> gm.draws(mcmc.mh(model, (xs,), obs, samples=100, key=gm.key(0)), "slope").shape
        (1, 100)
    """
    if hasattr(result, "draws") and callable(result.draws):
        return result.draws(address)
    vtrace_type, particle_types, vmh_type = _vectorized_types()
    if isinstance(result, vtrace_type):
        return _batched_values(result, address)
    if isinstance(result, particle_types):
        return _batched_values(result.traces, address)
    if isinstance(result, vmh_type):
        path = to_path(address)
        if path not in result.samples:
            raise AddressError(f"draws: vectorized_mh recorded {[show(p) for p in result.samples]}"
                               f", not {show(path)}; pass it in record=.")
        stacked = to_host_array(result.samples[path])  # [num_samples, num_chains, ...]
        return host_numpy().swapaxes(stacked, 0, 1)
    if isinstance(result, (list, tuple)) and result:
        if all(isinstance(t, Trace) for t in result):
            return Samples(result).draws(address)
        if all(isinstance(c, (list, tuple)) for c in result):
            return Chains(result).draws(address)
    raise TypeError(f"draws: expected an inference result or a list of traces, got "
                    f"{type(result).__name__}")


def weighted_draws(result: Any, address: Any) -> tuple[Any, Any]:
    """(values [N, ...], log normalised weights [N]) of a particle collection, as NumPy arrays.

    Args:
        result: `ImportanceResult`, `VectorizedISResult` or `ParticleState`.
        address: the address.

    Raises:
        TypeError: `result` carries no weights.
    """
    if isinstance(result, ImportanceResult):
        return result.weighted_draws(address)
    _, particle_types, _ = _vectorized_types()
    if isinstance(result, particle_types):
        lw = to_host_array(result.log_weights).astype("float64")
        finite_max = lw.max() if lw.size else 0.0
        log_total = finite_max + math.log(float(host_numpy().exp(lw - finite_max).sum()))
        return _batched_values(result.traces, address), lw - log_total
    raise TypeError(f"weighted_draws: expected a weighted particle collection "
                    f"(ImportanceResult, VectorizedISResult, ParticleState), got "
                    f"{type(result).__name__}")


# -- ArviZ ---------------------------------------------------------------------------------------

def to_inference_data(result: Any, addresses: Sequence[Any] | None = None) -> Any:
    """An `arviz.InferenceData` whose posterior holds the draws of MCMC `result`.

    Needs the optional extra: `pip install "genmlx[arviz]"`.

    Args:
        result: `Samples` / a list of traces, `Chains` / a list of lists,
            `ResamplingResult` (one chain of resampled draws) or
            `VectorizedMHResult` (its recorded addresses).
        addresses: the addresses to export (default: every choice of the first
            trace; for `VectorizedMHResult`, every recorded address). Variables
            are named by their paths, `"slope"`, `"y/0"`.

    Returns:
        `arviz.InferenceData` with a `posterior` group shaped (chain, draw, ...).

    Raises:
        ImportError: ArviZ is not installed (the message says how to install it).
        TypeError: a weighted particle collection; resample it first
            (`importance_resampling`) or use `weighted_draws`.

    Example:
        >>> idata = to_inference_data(mcmc.mh(model, args, obs, samples=1000, key=gm.key(0)))
        >>> arviz.summary(idata)
    """
    try:
        import arviz
    except ImportError as exc:
        raise ImportError("to_inference_data needs ArviZ, an optional dependency: "
                          "pip install 'genmlx[arviz]' (or pip install arviz)") from exc
    _, particle_types, vmh_type = _vectorized_types()
    if isinstance(result, ImportanceResult) or isinstance(result, particle_types):
        raise TypeError("to_inference_data: weighted particles are not posterior draws; "
                        "resample them (importance_resampling) or use weighted_draws")
    if addresses is None:
        if isinstance(result, vmh_type):
            addresses = list(result.samples)
        else:
            first = _first_trace(result)
            addresses = [p for p, _ in first.choices.leaves()]
    posterior = {}
    for address in addresses:
        values = draws(result, address)
        if isinstance(result, ResamplingResult):
            values = values[None]  # one chain of equally weighted draws
        posterior[show(to_path(address))] = values
    return arviz.from_dict(posterior=posterior)


def _first_trace(result: Any) -> Trace:
    items = result.traces if isinstance(result, ResamplingResult) else result
    while isinstance(items, (list, tuple)) and items and not isinstance(items, Trace):
        items = items[0]
    if not isinstance(items, Trace):
        raise TypeError(f"to_inference_data: expected MCMC draws (Samples, Chains, lists of "
                        f"traces, ResamplingResult, VectorizedMHResult), got "
                        f"{type(result).__name__}")
    return items
