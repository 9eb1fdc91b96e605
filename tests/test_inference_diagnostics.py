"""Diagnostics against an independent transcription of Vehtari et al. (2021) in NumPy/SciPy.

The reference below is written from the paper's formulas, deliberately
differently from genmlx.inference.diagnostics: direct O(n^2) autocovariance
sums instead of the FFT, scipy's rankdata and ndtri, numpy's quantile and var.
(It was also checked once, outside the suite, against ArviZ 0.23's
_ess_bulk/_ess_tail/_ess_mean/_rhat_rank: equal to 1e-12.)
"""

import numpy as np
import pytest
from scipy import special, stats

import genmlx as gm
from genmlx import choicemap, dist, gen, trace
from genmlx.inference import diagnostics
from genmlx.inference.mcmc import mh

# -- reference implementation ----------------------------------------------------------------


def ref_split(x):
    half = x.shape[1] // 2
    return np.vstack([x[:, :half], x[:, x.shape[1] - half:]])


def ref_z(x):
    r = stats.rankdata(x, method="average").reshape(x.shape)
    return special.ndtri((r - 3 / 8) / (x.size + 1 / 4))


def ref_ess(x):
    """Eq. (10)-(11) of Vehtari et al.: rho_t = 1 - (W - mean_m acov_m(t)) / var_plus,
    summed with Geyer's initial positive then monotone pair sequences."""
    m, n = x.shape
    if np.ptp(x) == 0:
        return float(m * n), np.ones(n)
    xc = x - x.mean(axis=1, keepdims=True)
    acov = np.array([[np.dot(xc[j, : n - t], xc[j, t:]) / n for t in range(n)] for j in range(m)])
    w = acov[:, 0].mean() * n / (n - 1)
    var_plus = w * (n - 1) / n + (np.var(x.mean(axis=1), ddof=1) if m > 1 else 0.0)
    rho = 1.0 - (w - acov.mean(axis=0)) / var_plus
    # pair sums P_k = rho_2k + rho_2k+1, kept while positive, then made monotone
    pairs = []
    for k in range(n // 2):
        if 2 * k + 1 >= n - 1 and k > 0:
            break
        p = rho[2 * k] + rho[2 * k + 1]
        if p <= 0 and k > 0:
            break
        pairs.append(p)
    for k in range(1, len(pairs)):
        pairs[k] = min(pairs[k], pairs[k - 1])
    tau = -1.0 + 2.0 * sum(pairs)
    return m * n / max(tau, 1.0 / np.log10(m * n)), rho


def ref_rhat(x):
    n = x.shape[1]
    b = n * np.var(x.mean(axis=1), ddof=1)
    w = np.mean(np.var(x, axis=1, ddof=1))
    return np.sqrt(((n - 1) / n * w + b / n) / w)


def ref_rhat_rank(x):
    s = ref_split(x)
    return max(ref_rhat(ref_z(s)), ref_rhat(ref_z(np.abs(s - np.median(s)))))


def ref_ess_tail(x):
    out = []
    for q in (0.05, 0.95):
        out.append(ref_ess(ref_split((x <= np.quantile(x, q)).astype(float)))[0])
    return min(out)


@pytest.fixture(scope="module")
def chains():
    rng = np.random.default_rng(20211)
    out = {}
    # AR(1) chains with phi = 0.7: ESS well below n; one chain shifted (R-hat > 1)
    e = rng.standard_normal((4, 300))
    x = np.zeros_like(e)
    for t in range(1, 300):
        x[:, t] = 0.7 * x[:, t - 1] + e[:, t]
    x[2] += 0.8
    out["ar"] = x
    out["iid"] = rng.standard_normal((3, 200))
    # anticorrelated chain (ESS > n) and heavy ties
    out["anti"] = np.array([[(-1.0) ** t + 0.1 * rng.standard_normal() for t in range(120)]])
    out["ties"] = rng.integers(0, 3, size=(2, 80)).astype(float)
    return out


# The reference's pair-sum formulation truncates where Stan's loop does, except that
# Stan/ArviZ add one trailing positive even-lag autocorrelation; the two agree to a few
# percent (checked below), while exact agreement is checked against an explicit
# transcription of that loop in `stan_loop_ess`.

def stan_loop_ess(x):
    m, n = x.shape
    if np.ptp(x) == 0:  # a constant chain (e.g. an always-true quantile indicator)
        return float(m * n)
    _, rho_raw = ref_ess(x)
    rho = np.zeros(n)
    rho[0] = 1.0
    even, odd = 1.0, rho_raw[1]
    rho[1] = odd
    t = 1
    while t < n - 3 and even + odd > 0:
        even, odd = rho_raw[t + 1], rho_raw[t + 2]
        if even + odd >= 0:
            rho[t + 1], rho[t + 2] = even, odd
        t += 2
    max_t = t - 2
    if even > 0:
        rho[max_t + 1] = even
    t = 1
    while t <= max_t - 2:
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = rho[t + 2] = (rho[t - 1] + rho[t]) / 2
        t += 2
    tau = -1 + 2 * rho[: max_t + 1].sum() + rho[max_t + 1: max_t + 2].sum()
    return m * n / max(tau, 1 / np.log10(m * n))


@pytest.mark.parametrize("name", ["ar", "iid", "anti", "ties"])
def test_ess_matches_reference(chains, name):
    x = chains[name]
    bulk = stan_loop_ess(ref_z(ref_split(x)))
    assert diagnostics.ess(x) == pytest.approx(bulk, rel=1e-9)
    assert diagnostics.ess(x, method="mean") == pytest.approx(stan_loop_ess(ref_split(x)),
                                                              rel=1e-9)
    tail = min(stan_loop_ess(ref_split((x <= np.quantile(x, q)).astype(float)))
               for q in (0.05, 0.95))
    assert diagnostics.ess(x, method="tail") == pytest.approx(tail, rel=1e-9)
    # the pair-sum reading of the paper agrees with the loop to within its extra term
    assert diagnostics.ess(x) == pytest.approx(ref_ess(ref_z(ref_split(x)))[0], rel=0.1)


def test_ess_values_make_sense(chains):
    # AR(1) with phi = .7 has integrated time (1 + .7) / (1 - .7) = 5.67: ESS ~ 1200 / 5.67
    assert 120 < diagnostics.ess(chains["ar"][[0, 1, 3]], method="mean") < 320
    assert 450 < diagnostics.ess(chains["iid"]) < 800  # ~ n = 600
    assert diagnostics.ess(chains["anti"], method="mean") > 120  # antithetic: beyond n


@pytest.mark.parametrize("name", ["ar", "iid", "ties"])
def test_r_hat_matches_reference(chains, name):
    x = chains[name]
    assert diagnostics.r_hat(x) == pytest.approx(ref_rhat_rank(x), rel=1e-12)
    assert diagnostics.r_hat(x, method="split") == pytest.approx(ref_rhat(ref_split(x)),
                                                                 rel=1e-12)


def test_r_hat_flags_the_shifted_chain(chains):
    assert diagnostics.r_hat(chains["ar"]) > 1.05
    assert diagnostics.r_hat(chains["iid"]) < 1.02


def test_ess_importance_and_quantiles():
    with np.errstate(divide="ignore"):
        lw = np.log(np.array([1.0, 2.0, 3.0, 0.0, 4.0]))  # one zero weight (-inf)
    w = np.exp(lw)
    assert diagnostics.ess_importance(lw) == pytest.approx(w.sum() ** 2 / (w ** 2).sum())
    assert diagnostics.ess_importance(gm.get_backend().asarray([-1000.0, -1000.0])) == \
        pytest.approx(2.0)
    x = np.random.default_rng(1).standard_normal(101)
    qs = (0.0, 0.025, 0.33, 0.5, 0.975, 1.0)
    assert diagnostics.quantiles(x, qs) == pytest.approx(list(np.quantile(x, qs)), rel=1e-12)
    assert diagnostics.quantiles(gm.get_backend().asarray([1.0, 2.0, 3.0, 4.0]), (0.5,)) == [2.5]


def test_bad_input():
    with pytest.raises(ValueError, match="method"):
        diagnostics.ess(np.zeros((2, 10)), method="nope")
    with pytest.raises(ValueError, match="at least 4"):
        diagnostics.r_hat([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="shape"):
        diagnostics.ess(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        diagnostics.quantiles([1.0, 2.0], (1.5,))


@gen
def normal_model():
    mu = trace("mu", dist.gaussian(0.0, 1.0))
    trace("y", dist.gaussian(mu, 1.0))


def test_summarize_traces_from_chains():
    chains = [mh(normal_model, (), choicemap(y=1.0), samples=40, burn=10, key=gm.key(i))
              for i in range(2)]
    summary = diagnostics.summarize(chains, ["mu"])
    draws = np.array([[float(gm.get_backend().to_python(t["mu"])) for t in c] for c in chains])
    row = summary["mu"]
    assert row["mean"] == pytest.approx(draws.mean(), rel=1e-6)
    assert row["sd"] == pytest.approx(draws.std(ddof=1), rel=1e-6)
    assert row["q2.5"] == pytest.approx(np.quantile(draws, 0.025), rel=1e-6)
    assert row["r_hat"] == pytest.approx(ref_rhat_rank(draws), rel=1e-9)
    assert row["ess_bulk"] == pytest.approx(stan_loop_ess(ref_z(ref_split(draws))), rel=1e-9)
    one = diagnostics.summarize(chains[0])  # one chain; default: every scalar choice
    assert set(one) == {("mu",), ("y",)}
    assert one["y",]["sd"] == 0.0 and np.isnan(one["y",]["r_hat"])  # the observation
    with pytest.raises(ValueError, match="equal lengths"):
        diagnostics.summarize([chains[0], chains[1][:5]])
