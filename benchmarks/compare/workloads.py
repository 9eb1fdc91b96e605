"""The workloads of benchmarks/data/README.md: data, settings and exact answers, in one place.

Every system reads its data from here, so all of them run on the same numbers.
The exact answers are the README's (float64, from the JSON files); the
functions below recompute them independently (closed form, enumeration, forward
algorithm) so a test can check the constants rather than trust them.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")

# ---------------------------------------------------------------------------
# exact answers (benchmarks/data/README.md; full precision from the JSON files)

EXACT = {
    "linreg_log_ml": -33.17586897377991,
    "linreg_post_mean": (1.8675790775749779, 0.3166633247137665),   # (slope, intercept)
    "linreg_post_sd": (0.18416585863084858, 0.22355091700494795),
    "hmm_log_ml": -74.15122845001066,
    "gmm_log_ml": -19.739945576035165,
}

# ---------------------------------------------------------------------------
# settings

PRIOR_SD = 10.0          # linreg slope/intercept and GMM means
NOISE_SD = 1.0
RW_SD = 0.25             # W2/W5 isotropic random-walk proposal on (slope, intercept)
W2_STEPS = 5000
W2_KEEP = 4500           # ESS over the last 4,500 steps
W5_CHAINS = 1000
W5_STEPS = 1000


@dataclass(frozen=True)
class Workload:
    id: str
    title: str
    sizes: tuple            # README sizes
    size_label: str         # what a size counts
    fields: tuple           # correctness fields, in table order


WORKLOADS = {
    "W1": Workload("W1", "importance sampling from the prior, linear regression (log-ML)",
                   (1_000, 10_000, 100_000, 1_000_000), "N particles",
                   ("logml_abs_err", "E_slope", "is_ess")),
    "X1": Workload("X1", "importance sampling from the prior, GMM (means and assignments)",
                   (1_000, 10_000, 100_000), "N particles", ("logml_abs_err", "is_ess")),
    "W4": Workload("W4", "bootstrap particle filter, HMM T=50, multinomial resampling every step",
                   (100, 1_000, 10_000), "N particles", ("logml_abs_err",)),
    "W2": Workload("W2", "random-walk MH on linear regression, sd 0.25 on (slope, intercept), "
                   "from (0, 0)", (W2_STEPS,), "steps", ("ess_slope", "E_slope", "acceptance")),
    "W5": Workload("W5", "1,000 independent W2 chains x 1,000 steps, all chains at once",
                   (W5_CHAINS,), "chains (x 1,000 steps)", ("rhat_slope", "E_slope",
                                                             "acceptance")),
}
ORDER = ("W1", "X1", "W4", "W2", "W5")

# sizes for a run that fits in minutes on a shared 2-core CPU ("moderate") and for
# the tests ("tiny")
PRESETS = {
    "readme": {w: WORKLOADS[w].sizes for w in ORDER},
    "moderate": {"W1": (1_000, 10_000, 100_000, 1_000_000), "X1": (1_000, 10_000, 100_000),
                 "W4": (100, 1_000, 10_000), "W2": (W2_STEPS,), "W5": (W5_CHAINS,)},
    "tiny": {"W1": (100_000,), "X1": (100_000,), "W4": (1_000,), "W2": (W2_STEPS,),
             "W5": (100,)},
}


# ---------------------------------------------------------------------------
# data

def _load(name: str) -> dict:
    with open(os.path.join(DATA_DIR, f"{name}.json")) as f:
        return json.load(f)


@dataclass(frozen=True)
class Data:
    """Every data set, as float64 NumPy arrays (systems cast to float32 themselves)."""

    x: np.ndarray           # linreg inputs [20]
    y: np.ndarray           # linreg outputs [20]
    hmm_y: np.ndarray       # [50]
    hmm_init: np.ndarray    # [2]
    hmm_trans: np.ndarray   # [2, 2]
    hmm_means: np.ndarray   # [2]
    hmm_sd: float
    gmm_y: np.ndarray       # [8]
    gmm_k: int


@lru_cache(maxsize=1)
def data() -> Data:
    lin, hmm, gmm = _load("linreg"), _load("hmm"), _load("gmm")
    c = hmm["config"]
    return Data(x=np.asarray(lin["x"], float), y=np.asarray(lin["y"], float),
                hmm_y=np.asarray(hmm["y"], float), hmm_init=np.asarray(c["init"], float),
                hmm_trans=np.asarray(c["trans"], float), hmm_means=np.asarray(c["means"], float),
                hmm_sd=float(c["sd"]), gmm_y=np.asarray(gmm["y"], float),
                gmm_k=int(gmm["config"]["K"]))


def json_exact() -> dict:
    """The exact answers as the JSON files state them (for the consistency test)."""
    lin, hmm, gmm = _load("linreg")["exact"], _load("hmm")["exact"], _load("gmm")["exact"]
    return {"linreg_log_ml": lin["log_ml"],
            "linreg_post_mean": (lin["post_mean_slope"], lin["post_mean_intercept"]),
            "linreg_post_sd": (lin["post_sd_slope"], lin["post_sd_intercept"]),
            "hmm_log_ml": hmm["log_ml"], "gmm_log_ml": gmm["log_ml"]}


# ---------------------------------------------------------------------------
# exact answers recomputed (float64)

def _mvn_logpdf(y: np.ndarray, cov: np.ndarray) -> float:
    sign, logdet = np.linalg.slogdet(cov)
    assert sign > 0
    return float(-0.5 * (y @ np.linalg.solve(cov, y) + logdet + len(y) * math.log(2 * math.pi)))


def linreg_exact() -> dict:
    """Conjugate Gaussian: y ~ N(0, noise^2 I + prior^2 A A^T), A = [x, 1]."""
    d = data()
    a = np.stack([d.x, np.ones_like(d.x)], axis=1)
    log_ml = _mvn_logpdf(d.y, NOISE_SD ** 2 * np.eye(len(d.y)) + PRIOR_SD ** 2 * a @ a.T)
    cov = np.linalg.inv(a.T @ a / NOISE_SD ** 2 + np.eye(2) / PRIOR_SD ** 2)
    mean = cov @ a.T @ d.y / NOISE_SD ** 2
    return {"log_ml": log_ml, "post_mean": tuple(mean), "post_sd": tuple(np.sqrt(np.diag(cov)))}


def gmm_exact() -> float:
    """log p(y): sum over all K^n assignments; given one, each cluster's points are
    jointly Gaussian with the mean integrated out (cov = sd^2 I + prior^2 11^T)."""
    d = data()
    y, k = d.gmm_y, d.gmm_k
    terms = []
    for z in itertools.product(range(k), repeat=len(y)):
        z = np.asarray(z)
        total = -len(y) * math.log(k)
        for c in range(k):
            yc = y[z == c]
            if len(yc):
                total += _mvn_logpdf(yc, NOISE_SD ** 2 * np.eye(len(yc))
                                     + PRIOR_SD ** 2 * np.ones((len(yc), len(yc))))
        terms.append(total)
    terms = np.asarray(terms)
    m = terms.max()
    return float(m + math.log(np.exp(terms - m).sum()))


def hmm_exact() -> float:
    """The forward algorithm in log space."""
    d = data()

    def log_emit(yt: float) -> np.ndarray:
        return (-0.5 * ((yt - d.hmm_means) / d.hmm_sd) ** 2 - math.log(d.hmm_sd)
                - 0.5 * math.log(2 * math.pi))

    log_alpha = np.log(d.hmm_init) + log_emit(d.hmm_y[0])
    log_trans = np.log(d.hmm_trans)
    for yt in d.hmm_y[1:]:
        prev = log_alpha[:, None] + log_trans          # [from, to]
        m = prev.max(axis=0)
        log_alpha = m + np.log(np.exp(prev - m).sum(axis=0)) + log_emit(yt)
    m = log_alpha.max()
    return float(m + math.log(np.exp(log_alpha - m).sum()))


@lru_cache(maxsize=1)
def rw_stationary_acceptance(draws: int = 2_000_000, seed: int = 0) -> float:
    """E[min(1, p(theta') / p(theta))] for theta from the (exactly Gaussian) linreg
    posterior and theta' = theta + N(0, RW_SD^2 I): the acceptance rate a correct W2
    chain settles at. Monte Carlo in float64, SE < 3e-4."""
    ex = linreg_exact()
    mean, sd = np.asarray(ex["post_mean"]), np.asarray(ex["post_sd"])
    rng = np.random.default_rng(seed)
    theta = mean + sd * rng.standard_normal((draws, 2))
    prop = theta + RW_SD * rng.standard_normal((draws, 2))
    # the posterior covariance is diagonal (x is symmetric about 0)
    log_ratio = -0.5 * np.sum(((prop - mean) / sd) ** 2 - ((theta - mean) / sd) ** 2, axis=1)
    return float(np.mean(np.exp(np.minimum(log_ratio, 0.0))))
