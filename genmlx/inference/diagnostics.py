"""MCMC and importance-sampling diagnostics: ESS, split R-hat, quantiles, summaries.

Chains are host data: inputs (backend arrays of any backend, NumPy arrays or
nested lists, shaped [num_chains, num_draws] or [num_draws]) are copied to the
float64 NumPy backend's namespace once, at this boundary; the formulas use only
array-API names of that namespace.

References: Vehtari, Gelman, Simpson, Carpenter and Bürkner (2021),
"Rank-normalization, folding, and localization: an improved R-hat for
assessing convergence of MCMC", Bayesian Analysis 16(2) -- split chains,
rank normalisation, folding, bulk and tail ESS, and Geyer's initial monotone
sequence for the autocorrelation sum (as in Stan and ArviZ).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any, Sequence

from genmlx._backend import available_backends, get_backend
from genmlx.core.address import show, to_path
from genmlx.core.trace import Trace

__all__ = ["ess", "ess_importance", "r_hat", "quantiles", "summarize", "to_host"]

DEFAULT_QUANTILES = (0.025, 0.25, 0.5, 0.75, 0.975)


def _host_backend() -> Any:
    return get_backend("numpy:float64")


def to_host(x: Any) -> Any:
    """A float64 array of the NumPy backend holding `x` (any backend's array, or lists)."""
    host = _host_backend()
    xp = host.xp
    if not host.is_array(x):
        for name in (get_backend().name,) + tuple(available_backends()):
            try:
                backend = get_backend(name)
            except Exception:  # not installed: it cannot own the array
                continue
            if backend.is_array(x):
                x = backend.to_numpy(x)
                break
        else:
            if isinstance(x, (list, tuple)):
                x = [_item(v) for v in x]
    return xp.asarray(x, dtype=xp.float64)


def _item(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [_item(u) for u in v]
    if hasattr(v, "shape") and not isinstance(v, (int, float)):
        return to_host(v).tolist()
    return v


def _chains(samples: Any, who: str) -> Any:
    x = to_host(samples)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise ValueError(f"{who}: expected draws shaped [num_chains, num_draws] or "
                         f"[num_draws], got shape {tuple(x.shape)}")
    if x.shape[1] < 4:
        raise ValueError(f"{who}: needs at least 4 draws per chain, got {x.shape[1]}")
    return x


# -- the building blocks of Vehtari et al. (2021) ----------------------------------------

def _split(x: Any) -> Any:
    """Each chain cut into its first and second half (the middle draw of odd chains dropped)."""
    xp = _host_backend().xp
    half = x.shape[1] // 2
    return xp.concat([x[:, :half], x[:, x.shape[1] - half:]], axis=0)


def _ranks(x: Any) -> Any:
    """Ranks 1..n over all elements, ties given their average rank."""
    xp = _host_backend().xp
    flat = xp.reshape(x, (-1,))
    unique = xp.unique_all(flat)
    upper = xp.cumulative_sum(xp.astype(unique.counts, xp.float64))
    average = upper - (xp.astype(unique.counts, xp.float64) - 1.0) / 2.0
    return xp.reshape(xp.take(average, xp.reshape(unique.inverse_indices, (-1,))), x.shape)


def _z_scale(x: Any) -> Any:
    """Rank normalisation: Phi^-1((rank - 3/8) / (n + 1/4))."""
    xp = _host_backend().xp
    n = x.shape[0] * x.shape[1]
    p = (_ranks(x) - 0.375) / (n + 0.25)
    inv = NormalDist().inv_cdf
    z = [inv(float(v)) for v in xp.reshape(p, (-1,)).tolist()]
    return xp.reshape(xp.asarray(z, dtype=xp.float64), x.shape)


def _autocovariance(x: Any) -> Any:
    """Per chain: acov[t] = (1/n) sum_i (x_i - mean)(x_{i+t} - mean), via the FFT."""
    xp = _host_backend().xp
    n = x.shape[1]
    centred = x - xp.mean(x, axis=1, keepdims=True)
    size = 1 << (2 * n - 1).bit_length()
    spectrum = xp.fft.rfft(centred, n=size, axis=1)
    power = spectrum * xp.conj(spectrum)
    return xp.fft.irfft(power, n=size, axis=1)[:, :n] / n


def _ess_raw(x: Any) -> float:
    """ESS of [chains, draws] with Geyer's initial positive and monotone sequences."""
    xp = _host_backend().xp
    num_chains, n = x.shape
    if float(xp.max(x) - xp.min(x)) < 1e-15:
        return float(num_chains * n)
    acov = _autocovariance(x)
    mean_acov = xp.mean(acov, axis=0).tolist()
    within = mean_acov[0] * n / (n - 1.0)
    var_plus = within * (n - 1.0) / n
    if num_chains > 1:
        var_plus += float(xp.var(xp.mean(x, axis=1), correction=1))
    rho = [0.0] * n
    rho[0] = 1.0
    even, odd = 1.0, 1.0 - (within - mean_acov[1]) / var_plus
    rho[1] = odd
    t = 1
    while t < n - 3 and even + odd > 0.0:  # initial positive sequence of pair sums
        even = 1.0 - (within - mean_acov[t + 1]) / var_plus
        odd = 1.0 - (within - mean_acov[t + 2]) / var_plus
        if even + odd >= 0.0:
            rho[t + 1], rho[t + 2] = even, odd
        t += 2
    max_t = t - 2
    if even > 0.0:
        rho[max_t + 1] = even
    t = 1
    while t <= max_t - 2:  # initial monotone sequence
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = rho[t + 2] = (rho[t - 1] + rho[t]) / 2.0
        t += 2
    total = num_chains * n
    tau = -1.0 + 2.0 * sum(rho[: max_t + 1]) + sum(rho[max_t + 1: max_t + 2])
    tau = max(tau, 1.0 / math.log10(total))
    return total / tau


def _rhat_raw(x: Any) -> float:
    """sqrt(((n - 1)/n W + B/n) / W) for [chains, draws]."""
    xp = _host_backend().xp
    n = x.shape[1]
    between = n * float(xp.var(xp.mean(x, axis=1), correction=1))
    within = float(xp.mean(xp.var(x, axis=1, correction=1)))
    if within == 0.0:
        return float("nan")
    return math.sqrt((between / within + n - 1.0) / n)


def _quantile(flat: list[float], q: float) -> float:
    """Linear interpolation between order statistics (NumPy's default, Hyndman-Fan type 7)."""
    pos = q * (len(flat) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(flat) - 1)
    return flat[lo] + (pos - lo) * (flat[hi] - flat[lo])


# -- public API ------------------------------------------------------------------------------

def ess(samples: Any, method: str = "bulk") -> float:
    """Effective sample size of MCMC draws (Vehtari et al. 2021).

    Args:
        samples: draws shaped [num_chains, num_draws] or [num_draws].
        method: "bulk" (rank-normalised split chains, the default), "tail"
            (the smaller ESS of the 5% and 95% quantile indicators) or "mean"
            (split chains without rank normalisation: the ESS for the mean).

    Returns:
        The ESS as a float.

    Example:
        >>> ess([[0.1, 0.5, ...], [0.3, -0.2, ...]])
    """
    x = _chains(samples, "ess")
    if method == "bulk":
        return _ess_raw(_z_scale(_split(x)))
    if method == "mean":
        return _ess_raw(_split(x))
    if method == "tail":
        xp = _host_backend().xp
        flat = sorted(xp.reshape(x, (-1,)).tolist())
        return min(_ess_raw(_split(xp.astype(x <= _quantile(flat, q), xp.float64)))
                   for q in (0.05, 0.95))
    raise ValueError(f"ess: method must be 'bulk', 'tail' or 'mean', got {method!r}")


def r_hat(samples: Any, method: str = "rank") -> float:
    """Split R-hat over chains (Vehtari et al. 2021).

    Args:
        samples: draws shaped [num_chains, num_draws] (a single chain is split
            in two).
        method: "rank" (the default: the larger of the rank-normalised split
            R-hat and the folded one, which also detects differing scales) or
            "split" (the classic split R-hat of the raw draws).

    Returns:
        R-hat (1 at convergence; values above 1.01 signal trouble).
    """
    x = _chains(samples, "r_hat")
    if method == "split":
        return _rhat_raw(_split(x))
    if method != "rank":
        raise ValueError(f"r_hat: method must be 'rank' or 'split', got {method!r}")
    xp = _host_backend().xp
    split = _split(x)
    flat = sorted(xp.reshape(split, (-1,)).tolist())
    folded = xp.abs(split - _quantile(flat, 0.5))
    return max(_rhat_raw(_z_scale(split)), _rhat_raw(_z_scale(folded)))


def ess_importance(log_weights: Any) -> float:
    """(sum w)^2 / sum w^2 of importance weights given as log weights (stably).

    Example:
        >>> ess_importance(result.log_weights)   # between 1 and N
    """
    xp = _host_backend().xp
    lw = xp.reshape(to_host(log_weights), (-1,))
    finite = lw[xp.isfinite(lw)]
    if finite.shape[0] == 0:
        return 0.0
    w = xp.exp(finite - xp.max(finite))
    return float(xp.sum(w) ** 2 / xp.sum(w * w))


def quantiles(samples: Any, qs: Sequence[float] = DEFAULT_QUANTILES) -> list[float]:
    """Sample quantiles (linear interpolation, NumPy's default) of all draws pooled.

    Example:
        >>> quantiles([1.0, 2.0, 3.0, 4.0], (0.5,))
        [2.5]
    """
    xp = _host_backend().xp
    flat = sorted(xp.reshape(to_host(samples), (-1,)).tolist())
    if not flat:
        raise ValueError("quantiles: no draws")
    for q in qs:
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantiles: each q must be in [0, 1], got {q!r}")
    return [_quantile(flat, float(q)) for q in qs]


def _as_chains(traces: Any) -> list[list[Trace]]:
    if traces and isinstance(traces[0], Trace):
        return [list(traces)]
    chains = [list(c) for c in traces]
    if not chains or any(not c or not isinstance(c[0], Trace) for c in chains):
        raise TypeError("summarize: expected a list of traces (one chain) or a list of lists "
                        "of traces (one per chain)")
    lengths = {len(c) for c in chains}
    if len(lengths) != 1:
        raise ValueError(f"summarize: chains must have equal lengths, got {sorted(lengths)}")
    return chains


def _scalar_addresses(trace: Trace) -> list:
    backend = get_backend()
    out = []
    for path, value in trace.choices.leaves():
        if backend.is_array(value) and tuple(value.shape) != ():
            continue
        out.append(path)
    return out


def _draws(chains: list[list[Trace]], path: Any) -> list[list[float]]:
    backend = get_backend()
    rows = []
    for c in chains:
        row = []
        for tr in c:
            if path not in tr.choices:
                raise ValueError(f"summarize: address {show(path)} is absent from some traces; "
                                 "summarise addresses every trace has.")
            value = backend.to_python(tr[path])
            if isinstance(value, list):
                raise ValueError(f"summarize: address {show(path)} holds an array; summarize "
                                 "handles scalar choices.")
            row.append(float(value))
        rows.append(row)
    return rows


def summarize(traces: Any, addresses: Sequence[Any] | None = None,
              qs: Sequence[float] = (0.025, 0.5, 0.975)) -> dict:
    """Posterior summary per address: mean, sd, quantiles, bulk/tail ESS and R-hat.

    Args:
        traces: a list of traces (one chain) or a list of equal-length lists
            (one per chain).
        addresses: the scalar addresses to summarise (default: every scalar
            choice of the first trace, observed ones included).
        qs: the quantiles to report, as keys "q2.5", "q50", ...

    Returns:
        {address: {"mean", "sd", "q..." per q, "ess_bulk", "ess_tail", "r_hat"}},
        keyed by the addresses as given (tuple paths for defaults).

    Example:
        >>> summarize([chain1, chain2], ["slope", "intercept"])["slope"]["r_hat"]
    """
    chains = _as_chains(traces)
    keys = list(addresses) if addresses is not None else _scalar_addresses(chains[0][0])
    out = {}
    for address in keys:
        path = to_path(address)
        rows = _draws(chains, path)
        flat = [v for row in rows for v in row]
        mean = sum(flat) / len(flat)
        sd = math.sqrt(sum((v - mean) ** 2 for v in flat) / max(len(flat) - 1, 1))
        entry = {"mean": mean, "sd": sd}
        entry.update({f"q{100 * q:g}": v for q, v in zip(qs, quantiles(flat, qs))})
        entry["ess_bulk"] = ess(rows, "bulk")
        entry["ess_tail"] = ess(rows, "tail")
        entry["r_hat"] = r_hat(rows)
        out[address] = entry
    return out
