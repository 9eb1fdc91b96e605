"""Correctness fields computed on the host, the same code for every system.

Written here (NumPy, float64) rather than taken from any system under test, so
a bug in one system's diagnostics cannot make its own answers look right.
"""

from __future__ import annotations

import math

import numpy as np


def log_mean_exp(log_w: np.ndarray) -> float:
    log_w = np.asarray(log_w, dtype=np.float64)
    m = np.max(log_w)
    if not np.isfinite(m):
        return float(m)
    return float(m + math.log(np.mean(np.exp(log_w - m))))


def normalized_weights(log_w: np.ndarray) -> np.ndarray:
    log_w = np.asarray(log_w, dtype=np.float64)
    w = np.exp(log_w - np.max(log_w))
    return w / w.sum()


def is_ess(log_w: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2."""
    w = normalized_weights(log_w)
    return float(1.0 / np.sum(w * w))


def log_ml_se(log_w: np.ndarray) -> float:
    """Delta-method standard error of log(mean w): sqrt(Var(w) / (N mean(w)^2))
    = sqrt((N / ESS - 1) / N), from the run's own weights."""
    n = len(log_w)
    return math.sqrt(max(n / is_ess(log_w) - 1.0, 0.0) / n)


def _autocorr(x: np.ndarray) -> np.ndarray:
    """Autocorrelation at every lag (FFT, zero-padded to avoid wrap-around)."""
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    n = len(x)
    f = np.fft.rfft(x, 2 * n)
    acov = np.fft.irfft(f * np.conj(f))[:n] / n
    return acov / acov[0] if acov[0] > 0 else np.zeros(n)


def ess(x: np.ndarray) -> float:
    """Effective sample size of one chain: n / (1 + 2 sum rho_t), the sum cut by
    Geyer's initial monotone positive sequence (pairs of lags)."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n < 4 or np.var(x) == 0:
        return 0.0 if n else float("nan")
    rho = _autocorr(x)
    pairs = rho[: (n // 2) * 2].reshape(-1, 2).sum(axis=1)   # Gamma_k = rho_2k + rho_2k+1
    total, prev = 0.0, math.inf
    for g in pairs:
        if g <= 0:
            break
        g = min(g, prev)          # monotone
        total += g
        prev = g
    tau = -1.0 + 2.0 * total      # = 1 + 2 sum_{t>=1} rho_t
    return float(n / max(tau, 1.0 / math.log10(max(n, 10))))


def split_rhat(chains: np.ndarray) -> float:
    """Split R-hat (Gelman et al., BDA3) of draws [chains, steps]: every chain cut in
    two halves, then sqrt(((n-1)/n W + B/n) / W)."""
    chains = np.asarray(chains, dtype=np.float64)
    half = chains.shape[1] // 2
    parts = np.concatenate([chains[:, :half], chains[:, half:2 * half]], axis=0)
    n = parts.shape[1]
    means = parts.mean(axis=1)
    within = parts.var(axis=1, ddof=1).mean()
    between = n * means.var(ddof=1)
    if within == 0:
        return float("inf") if between > 0 else float("nan")
    return float(math.sqrt(((n - 1) / n * within + between / n) / within))
