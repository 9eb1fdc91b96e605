"""The systems compared, one module each, all with the same three functions:

    unavailable() -> str | None        why the system cannot run here (None: it can)
    variants(backends) -> list[str]    the rows it contributes ("jax", "mlx eager", ...)
    build(workload, size, variant) -> Task   raises Unsupported(reason)

A `Task`'s `run(seed)` does one whole inference call on a fresh key made from
`seed` and returns NumPy arrays, so the call ends only when the result is on the
host. What it returns, per workload:

    W1  {"log_w": [N], "slope": [N]}      raw log importance weights, slope per particle
    X1  {"log_w": [N]}
    W4  {"log_ml": float}                 the filter's log-marginal-likelihood estimate
    W2  {"slope": [steps], "accept": float}          slope after every step
    W5  {"slope": [chains, steps], "accept": [chains]}
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

SYSTEMS = ("hand_jax", "numpyro", "blackjax", "genmlx")


class Unsupported(Exception):
    """The system cannot run this workload (the message is the reason shown as n/a)."""


@dataclass
class Task:
    run: Callable[[int], dict]
    note: str = ""
    # timings are multiplied by this: a reduced run extrapolated to the full size
    # (the table marks such times with "~")
    time_scale: float = 1.0


def get(name: str):
    if name not in SYSTEMS:
        raise KeyError(f"unknown system {name!r}; known: {', '.join(SYSTEMS)}")
    return importlib.import_module(f"benchmarks.compare.systems.{name}")
