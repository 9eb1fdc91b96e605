"""Sequential vs vectorized (L0) inference: IS, SMC init and MH, per backend.

Prints a table of wall times and speedup ratios from one run. Sequential loops
are timed up to `--max-sequential` particles; beyond that the per-particle
cost measured at the largest timed N is extrapolated linearly (marked `~`).

Run: python benchmarks/compare_vectorized.py [--backends mlx,numpy,jax]
"""

from __future__ import annotations

import argparse
import time

import genmlx as gm
from benchmarks.workloads import LINE_OBS, XS, line
from genmlx import select
from genmlx.inference.vectorized import smc_init, vectorized_importance_sampling, vectorized_mh


def timed(fn, repeats: int = 3) -> float:
    fn()  # warm-up (compilation caches, allocator)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def sequential_is(n: int, backend) -> None:
    keys = gm.split(gm.key(0), n)
    weights = [line.generate((XS,), LINE_OBS, key=keys[i]).weight for i in range(n)]
    backend.eval(*weights)


def vectorized_is(n: int, backend) -> None:
    backend.eval(vectorized_importance_sampling(line, (XS,), LINE_OBS, n, key=gm.key(0)).log_weights)


def vectorized_smc(n: int, backend) -> None:
    backend.eval(smc_init(line, (XS,), LINE_OBS, n, key=gm.key(0)).log_weights)


def sequential_mh(chains: int, steps: int, backend) -> None:
    keys = gm.split(gm.key(1), chains * steps + chains)
    u = backend.uniform(gm.key(2), (chains * steps,))
    for c in range(chains):
        tr, _ = line.generate((XS,), LINE_OBS, key=keys[c])
        for s in range(steps):
            new, w, _ = line.regenerate(tr, select("slope"), key=keys[chains + c * steps + s])
            if backend.to_python(backend.xp.log(u[c * steps + s]) < w):
                tr = new
        backend.eval(tr.score)


def vectorized_mh_run(chains: int, steps: int, backend) -> None:
    res = vectorized_mh(line, (XS,), LINE_OBS, select("slope"), chains, steps, key=gm.key(1))
    backend.eval(res.traces.score)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default=",".join(gm.installed_backends()))
    parser.add_argument("--max-sequential", type=int, default=1000)
    parser.add_argument("--mh-steps", type=int, default=20)
    opts = parser.parse_args()
    for name in opts.backends.split(","):
        with gm.use_backend(name) as b:
            print(f"\n## backend {name}")
            print("| N | sequential IS s | vectorized IS s | IS speedup | SMC init s | SMC speedup |")
            print("|---|---|---|---|---|---|")
            per_particle = None
            for n in [100, 1000, 10_000, 100_000, 1_000_000]:
                if n <= opts.max_sequential:
                    seq = timed(lambda: sequential_is(n, b), repeats=1)
                    per_particle = seq / n
                    seq_txt = f"{seq:.3g}"
                else:
                    seq = per_particle * n
                    seq_txt = f"~{seq:.3g}"
                vec = timed(lambda: vectorized_is(n, b))
                smc = timed(lambda: vectorized_smc(n, b))
                print(f"| {n:.0e} | {seq_txt} | {vec:.3g} | {seq / vec:.0f}x | {smc:.3g} | {seq / smc:.0f}x |")
            steps = opts.mh_steps
            print(f"\n| chains | sequential MH s ({steps} steps) | vectorized MH s | speedup |")
            print("|---|---|---|---|")
            per_chain = None
            for chains in [1, 10, 100, 1000]:
                if chains <= 10:
                    seq = timed(lambda: sequential_mh(chains, steps, b), repeats=1)
                    per_chain = seq / chains
                    seq_txt = f"{seq:.3g}"
                else:
                    seq = per_chain * chains
                    seq_txt = f"~{seq:.3g}"
                vec = timed(lambda: vectorized_mh_run(chains, steps, b), repeats=1)
                print(f"| {chains} | {seq_txt} | {vec:.3g} | {seq / vec:.0f}x |")


if __name__ == "__main__":
    main()
