"""Run workloads x systems x sizes, time them by the README's rules, check every
answer against the exact one, and render a markdown table.

Timing (benchmarks/data/README.md): the first call of a task is the compile time
(trace + compile + one run); one more untimed warm-up call; then the median of
repeated calls, each on a fresh key and each ending when its result is on the
host. Every call's result (the first and the warm-up included) feeds the
correctness fields, so speed is never reported without the answer it bought.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
import statistics
import subprocess
import time
import traceback
from dataclasses import dataclass, field

import numpy as np

from benchmarks.compare import metrics, workloads as wl
from benchmarks.compare import systems as registry
from benchmarks.compare.systems import Task, Unsupported

Z = 4.0   # checks allow Z standard errors
# R-hat of a correct sampler is about sqrt(1 + tau / n) for chains of n draws with
# integrated autocorrelation time tau: W5's split halves (250 draws, tau ~ 7 for
# this RW) sit near 1.014, so the usual 1.01 would fail correct code; unmixed
# chains (a stuck start, a wrong kernel) are far above 1.05.
RHAT_MAX = 1.05
MIN_POOLED_ESS = 20


@dataclass
class Row:
    workload: str
    size: int
    system: str
    variant: str
    compile_s: float | None = None
    median_s: float | None = None
    timed_calls: int = 0
    extrapolated: bool = False
    fields: dict = field(default_factory=dict)
    check: str = ""
    note: str = ""
    na: str | None = None       # "n/a" reason (or an error) instead of figures


# ---------------------------------------------------------------------------
# correctness

def _ok(bad: list[str]) -> str:
    return "ok" if not bad else "FAIL: " + "; ".join(bad)


def _accept_tol(p: float, n: int, floor: float) -> float:
    """Z binomial SEs of an acceptance rate over n steps, the variance inflated 4x for
    the accept indicators' autocorrelation; never below `floor` (the start at (0, 0)
    is off the stationary distribution for the first few dozen steps)."""
    return max(floor, Z * math.sqrt(4 * p * (1 - p) / max(n, 1)))


def evaluate(workload: str, results: list[dict]) -> tuple[dict, str]:
    """Correctness fields (means over the calls) and a check against the exact answers.

    The check allows Z standard errors, each estimated from the run itself:
    - IS: the calls' weights pooled (they are iid runs of the same estimator); the
      pooled log-ML's delta-method SE sqrt((N/ESS - 1)/N), E[slope]'s post_sd/sqrt(ESS).
      Below a pooled ESS of MIN_POOLED_ESS the SE estimate itself is unreliable (the
      log-ML's error is skewed down by a heavy tail): not checked.
    - filter: log-ML over calls, SE = sd/sqrt(calls) with Student's t quantile
      (99.9%) for the few calls, plus the known downward bias of the log of an
      unbiased estimator, about var/2.
    - MH: E[slope] with SE = post_sd/sqrt(sum of ESS); acceptance against the
      stationary rate (workloads.rw_stationary_acceptance) within _accept_tol.
    - many chains: split R-hat of slope over each chain's second half below RHAT_MAX.
    """
    f: dict = {}
    bad: list[str] = []
    if workload in ("W1", "X1"):
        exact = wl.EXACT["linreg_log_ml" if workload == "W1" else "gmm_log_ml"]
        errs = [metrics.log_mean_exp(r["log_w"]) - exact for r in results]
        f["logml_abs_err"] = float(np.mean(np.abs(errs)))
        f["is_ess"] = float(np.mean([metrics.is_ess(r["log_w"]) for r in results]))
        pooled = np.concatenate([np.asarray(r["log_w"], np.float64) for r in results])
        pooled_ess = metrics.is_ess(pooled)
        if workload == "W1":
            slopes = np.concatenate([np.asarray(r["slope"], np.float64) for r in results])
            f["E_slope"] = float(np.mean([np.sum(metrics.normalized_weights(r["log_w"])
                                                 * np.asarray(r["slope"], np.float64))
                                          for r in results]))
        if not all(np.all(np.isfinite(r["log_w"])) for r in results):
            bad.append("non-finite log weights")
        elif pooled_ess < MIN_POOLED_ESS:
            return f, f"unchecked (pooled ESS {pooled_ess:.1f} < {MIN_POOLED_ESS})"
        else:
            err = metrics.log_mean_exp(pooled) - exact
            se = metrics.log_ml_se(pooled)
            if abs(err) > Z * se + 0.01:
                bad.append(f"pooled log-ML off by {err:+.3f} (SE {se:.3f})")
            if workload == "W1":
                e_slope = float(np.sum(metrics.normalized_weights(pooled) * slopes))
                se_s = wl.EXACT["linreg_post_sd"][0] / math.sqrt(pooled_ess)
                if abs(e_slope - wl.EXACT["linreg_post_mean"][0]) > Z * se_s + 0.005:
                    bad.append(f"pooled E[slope] {e_slope:.4f} (SE {se_s:.4f})")
        return f, _ok(bad)
    if workload == "W4":
        vals = np.asarray([r["log_ml"] for r in results], np.float64)
        err = vals - wl.EXACT["hmm_log_ml"]
        f["logml_abs_err"] = float(np.mean(np.abs(err)))
        f["logml_sd"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else float("nan")
        if not np.all(np.isfinite(vals)):
            bad.append("non-finite log-ML")
        elif len(vals) >= 3:
            from scipy.stats import t as student_t

            # few calls: the sample sd is itself noisy, so Student's t quantile
            # (two-sided 99.9%) rather than Z
            sd = f["logml_sd"]
            crit = float(student_t.ppf(0.9995, len(vals) - 1))
            if abs(err.mean()) > crit * sd / math.sqrt(len(vals)) + sd * sd / 2 + 0.01:
                bad.append(f"mean log-ML off by {err.mean():+.3f} (sd {sd:.3f})")
        return f, _ok(bad)
    post_mean, post_sd = wl.EXACT["linreg_post_mean"][0], wl.EXACT["linreg_post_sd"][0]
    stationary = wl.rw_stationary_acceptance()
    if workload == "W2":
        n = len(results[0]["slope"])
        keep = wl.W2_KEEP if n == wl.W2_STEPS else int(round(n * wl.W2_KEEP / wl.W2_STEPS))
        kept = [np.asarray(r["slope"], np.float64)[-keep:] for r in results]
        esses = [metrics.ess(k) for k in kept]
        f["ess_slope"] = float(np.mean(esses))
        f["E_slope"] = float(np.mean([k.mean() for k in kept]))
        f["acceptance"] = float(np.mean([float(r["accept"]) for r in results]))
        se = post_sd / math.sqrt(max(sum(esses), 1e-9))
        if abs(f["E_slope"] - post_mean) > Z * se + 0.005:
            bad.append(f"E[slope] {f['E_slope']:.4f} (SE {se:.4f})")
        tol = _accept_tol(stationary, n * len(results), 0.04)
        if abs(f["acceptance"] - stationary) > tol:
            bad.append(f"acceptance {f['acceptance']:.3f} vs stationary {stationary:.3f} "
                       f"(tol {tol:.3f})")
        return f, _ok(bad)
    if workload == "W5":
        rhats, means, accs = [], [], []
        for r in results:
            draws = np.asarray(r["slope"], np.float64)
            second = draws[:, draws.shape[1] // 2:]
            rhats.append(metrics.split_rhat(second))
            means.append(second.mean(axis=1))
            accs.append(float(np.mean(r["accept"])))
        f["rhat_slope"] = float(np.mean(rhats))
        chain_means = np.concatenate(means)
        f["E_slope"] = float(chain_means.mean())
        f["acceptance"] = float(np.mean(accs))
        se = float(chain_means.std(ddof=1) / math.sqrt(len(chain_means)))
        if not f["rhat_slope"] < RHAT_MAX:
            bad.append(f"R-hat {f['rhat_slope']:.3f}")
        if abs(f["E_slope"] - post_mean) > Z * se + 0.005:
            bad.append(f"E[slope] {f['E_slope']:.4f} (SE {se:.4f})")
        tol = _accept_tol(stationary, draws.size * len(results), 0.03)
        if abs(f["acceptance"] - stationary) > tol:
            bad.append(f"acceptance {f['acceptance']:.3f} vs stationary {stationary:.3f} "
                       f"(tol {tol:.3f})")
        return f, _ok(bad)
    raise KeyError(workload)


# ---------------------------------------------------------------------------
# timing

def measure(task: Task, repeats: int, budget_s: float) -> tuple[float, list[float], list[dict]]:
    """(compile seconds, steady-state call seconds, every call's result)."""
    results = []
    start = time.perf_counter()
    results.append(task.run(0))
    compile_s = time.perf_counter() - start
    results.append(task.run(1))                         # untimed warm-up
    times: list[float] = []
    spent = 0.0
    seed = 2
    while len(times) < repeats:
        start = time.perf_counter()
        results.append(task.run(seed))
        times.append(time.perf_counter() - start)
        spent += times[-1]
        seed += 1
        # a slow cell stops early: at least 3 calls unless one call alone eats the budget
        if spent > budget_s and (len(times) >= 3 or spent > 2 * budget_s / 3):
            break
    return compile_s, times, results


def run_cell(workload: str, size: int, system: str, variant: str, repeats: int,
             budget_s: float, log=print) -> Row:
    row = Row(workload, size, system, variant)
    module = registry.get(system)
    try:
        task = module.build(workload, size, variant)
    except Unsupported as exc:
        row.na = f"n/a ({exc})"
        return row
    row.note = task.note
    try:
        compile_s, times, results = measure(task, repeats, budget_s)
    except Unsupported as exc:
        row.na = f"n/a ({exc})"
        return row
    except Exception as exc:  # noqa: BLE001 - a failing system is a result, shown in the table
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        row.na = f"error: {detail[:300]}"
        log(traceback.format_exc())
        return row
    row.compile_s = compile_s * task.time_scale
    row.median_s = statistics.median(times) * task.time_scale
    row.timed_calls = len(times)
    row.extrapolated = task.time_scale != 1.0
    row.fields, row.check = evaluate(workload, results)
    return row


def run(workloads, systems, backends, sizes: dict, repeats: int = 5, budget_s: float = 10.0,
        log=print) -> tuple[list[Row], dict]:
    """Every (workload, size, system, variant) cell; returns the rows and the run's info."""
    info = {"load_before": os.getloadavg(), "started": datetime.datetime.now().isoformat(
        timespec="seconds"), "unavailable": {}}
    rows: list[Row] = []
    for system in systems:
        reason = registry.get(system).unavailable()
        if reason:
            info["unavailable"][system] = reason
    for workload in workloads:
        for size in sizes[workload]:
            for system in systems:
                module = registry.get(system)
                if system in info["unavailable"]:
                    rows.append(Row(workload, size, system, "-",
                                    na=f"n/a ({info['unavailable'][system]})"))
                    continue
                cells = []
                for variant in module.variants(backends):
                    t0 = time.perf_counter()
                    row = run_cell(workload, size, system, variant, repeats, budget_s, log)
                    cells.append(row)
                    log(f"[{workload} {size:>8} {system:9} {variant:22}] "
                        f"{_fmt_time(row.median_s, row.extrapolated) if row.na is None else row.na}"
                        f"  {row.check}  ({time.perf_counter() - t0:.1f}s)")
                # one row when every variant is n/a for the same reason
                if len(cells) > 1 and all(c.na and c.na.startswith("n/a") for c in cells) \
                        and len({c.na for c in cells}) == 1:
                    cells = [Row(workload, size, system, "all", na=cells[0].na)]
                rows.extend(cells)
    info["load_after"] = os.getloadavg()
    info["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    return rows, info


# ---------------------------------------------------------------------------
# the table

FIELD_NAMES = {"logml_abs_err": "log-ML abs err", "logml_sd": "log-ML sd", "E_slope": "E[slope]",
               "is_ess": "IS-ESS", "ess_slope": "ESS(slope)", "acceptance": "accept",
               "rhat_slope": "R-hat(slope)"}


def _fmt_time(t: float | None, approx: bool = False) -> str:
    if t is None:
        return ""
    s = f"{t * 1e3:.3g} ms" if t < 1 else f"{t:.3g} s"
    return ("~" if approx else "") + s


def _fmt(v: float) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.4g}"


def _versions() -> str:
    out = []
    for mod in ("numpy", "jax", "mlx.core", "numpyro", "blackjax"):
        try:
            m = __import__(mod, fromlist=["x"])
            out.append(f"{mod.split('.')[0]} {m.__version__}")
        except Exception:  # noqa: BLE001 - absent or broken: just not listed
            pass
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, cwd=os.path.dirname(__file__), timeout=5).stdout.strip()
        out.append(f"genmlx @ {rev}" if rev else "genmlx")
    except Exception:  # noqa: BLE001
        pass
    return ", ".join(out)


def render(rows: list[Row], info: dict, command: str = "") -> str:
    la, lb = info["load_before"], info["load_after"]
    lines = [
        "# GenMLX performance comparison",
        "",
        f"- run: {info['started']} to {info['finished']}" + (f"; `{command}`" if command else ""),
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}",
        f"- load average (1/5/15 min) before: {la[0]:.2f} / {la[1]:.2f} / {la[2]:.2f}; "
        f"after: {lb[0]:.2f} / {lb[1]:.2f} / {lb[2]:.2f} (shared machine: compare rows of "
        "this run with each other, as ratios)",
        f"- versions: {_versions()}",
        "- compile = first call (trace + compile + one run); steady = median of the timed "
        "calls (n) after one untimed warm-up, fresh key each, result on the host; "
        "x best = steady / fastest steady in the same size; ~ = extrapolated from a "
        "shorter run (see note). check = the answers against the exact ones "
        "(benchmarks/compare/harness.py: evaluate).",
    ]
    for system, reason in info.get("unavailable", {}).items():
        lines.append(f"- {system}: not run ({reason})")
    for wid in wl.ORDER:
        wrows = [r for r in rows if r.workload == wid]
        if not wrows:
            continue
        w = wl.WORKLOADS[wid]
        fields = list(w.fields) + (["logml_sd"] if wid == "W4" else [])
        exact = {"W1": f"exact log p(y) = {wl.EXACT['linreg_log_ml']:.5f}, E[slope] = "
                       f"{wl.EXACT['linreg_post_mean'][0]:.5f}",
                 "X1": f"exact log p(y) = {wl.EXACT['gmm_log_ml']:.5f}",
                 "W4": f"exact log p(y) = {wl.EXACT['hmm_log_ml']:.5f}",
                 "W2": f"E[slope] = {wl.EXACT['linreg_post_mean'][0]:.5f}, stationary "
                       f"acceptance {wl.rw_stationary_acceptance():.3f}; ESS over the last "
                       f"{wl.W2_KEEP} steps",
                 "W5": f"E[slope] = {wl.EXACT['linreg_post_mean'][0]:.5f}, stationary "
                       f"acceptance {wl.rw_stationary_acceptance():.3f}; split R-hat over "
                       f"the last {wl.W5_STEPS // 2} steps"}[wid]
        lines += ["", f"## {wid}: {w.title}", "", f"Size = {w.size_label}; {exact}.", ""]
        head = (["size", "system", "variant", "compile", "steady (n)", "x best", "compile x best"]
                + [FIELD_NAMES[f] for f in fields] + ["check", "note"])
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for size in sorted({r.size for r in wrows}):
            srows = [r for r in wrows if r.size == size]
            best = min((r.median_s for r in srows if r.median_s), default=None)
            best_c = min((r.compile_s for r in srows if r.compile_s), default=None)
            for r in srows:
                if r.na is not None:
                    cells = [f"{size:,}", r.system, r.variant, r.na] + [""] * (len(head) - 4)
                else:
                    cells = [f"{size:,}", r.system, r.variant,
                             _fmt_time(r.compile_s, r.extrapolated),
                             f"{_fmt_time(r.median_s, r.extrapolated)} ({r.timed_calls})",
                             f"{r.median_s / best:.3g}", f"{r.compile_s / best_c:.3g}"]
                    cells += [_fmt(r.fields.get(f)) for f in fields] + [r.check, r.note]
                lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"
