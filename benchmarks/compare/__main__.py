"""python -m benchmarks.compare [options]: run the comparison and write the markdown table."""

from __future__ import annotations

import argparse
import os
import sys

from benchmarks.compare import harness, workloads as wl
from benchmarks.compare.systems import SYSTEMS

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.md")


def _sizes(preset: str, override: list[str]) -> dict:
    sizes = dict(wl.PRESETS[preset])
    for item in override:             # e.g. W1=1000,10000
        wid, _, values = item.partition("=")
        if wid not in wl.WORKLOADS or not values:
            raise SystemExit(f"--size {item!r}: expected WORKLOAD=N[,N...], workloads "
                             f"{', '.join(wl.ORDER)}")
        sizes[wid] = tuple(int(float(v)) for v in values.split(","))
    return sizes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__)
    p.add_argument("--workloads", default=",".join(wl.ORDER),
                   help=f"comma-separated subset of {','.join(wl.ORDER)}")
    p.add_argument("--systems", default=",".join(SYSTEMS),
                   help=f"comma-separated subset of {','.join(SYSTEMS)}")
    p.add_argument("--backends", default=None,
                   help="GenMLX backends (default: every installed one of mlx,numpy,jax)")
    p.add_argument("--preset", default="moderate", choices=sorted(wl.PRESETS),
                   help="sizes: readme (benchmarks/data/README.md), moderate, tiny")
    p.add_argument("--size", action="append", default=[], metavar="W=N[,N...]",
                   help="override one workload's sizes, e.g. --size W1=1e3,1e4 (repeatable)")
    p.add_argument("--repeats", type=int, default=5, help="timed steady-state calls per cell")
    p.add_argument("--budget", type=float, default=10.0,
                   help="seconds of timed calls per cell before stopping early (>= 3 calls)")
    p.add_argument("--out", default=DEFAULT_OUT, help="markdown file to write")
    opts = p.parse_args(argv)
    workloads = [w for w in opts.workloads.split(",") if w]
    systems = [s for s in opts.systems.split(",") if s]
    for w in workloads:
        if w not in wl.WORKLOADS:
            raise SystemExit(f"unknown workload {w!r}; known: {', '.join(wl.ORDER)}")
    for s in systems:
        if s not in SYSTEMS:
            raise SystemExit(f"unknown system {s!r}; known: {', '.join(SYSTEMS)}")
    if opts.backends is None:
        backends = None       # the genmlx system takes every installed backend
    else:
        backends = [b for b in opts.backends.split(",") if b]
    rows, info = harness.run(workloads, systems, backends, _sizes(opts.preset, opts.size),
                             repeats=opts.repeats, budget_s=opts.budget,
                             log=lambda m: print(m, file=sys.stderr, flush=True))
    table = harness.render(rows, info, "python -m benchmarks.compare " + " ".join(
        argv if argv is not None else sys.argv[1:]))
    with open(opts.out, "w") as f:
        f.write(table)
    print(table)
    print(f"written to {opts.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
