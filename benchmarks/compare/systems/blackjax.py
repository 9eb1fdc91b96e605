"""BlackJAX (pip install -e '.[compare]'): W2 / W5 with `blackjax.rmh`, the
random-walk Rosenbluth-Metropolis-Hastings kernel, stepped in a lax.scan (vmap
over chains), on the linreg log joint written in JAX (BlackJAX has no modelling
language: it samples a log density you hand it).

W1 / X1 / W4: n/a, BlackJAX is a library of samplers for a given log density;
it has no importance sampling from a model's prior and no state-space particle
filter (its SMC tempers a static target).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache

import numpy as np

from benchmarks.compare import workloads as wl
from benchmarks.compare.systems import Task, Unsupported
from benchmarks.compare.systems.hand_jax import linreg_log_joint


def unavailable() -> str | None:
    if importlib.util.find_spec("blackjax") is None:
        return "blackjax is not installed (pip install -e '.[compare]')"
    return None


def variants(backends) -> list[str]:
    return ["jax"]


def _rw_chain(steps: int):
    import blackjax
    import jax
    import jax.numpy as jnp

    d = wl.data()
    x, y = jnp.asarray(d.x, jnp.float32), jnp.asarray(d.y, jnp.float32)

    def propose(key, position):
        # symmetric, so rmh needs no proposal density
        return position + wl.RW_SD * jax.random.normal(key, position.shape, position.dtype)

    kernel = blackjax.rmh(lambda theta: linreg_log_joint(theta, x, y), propose)

    def chain(key):
        def step(state, k):
            state, info = kernel.step(k, state)
            return state, (state.position[0], info.is_accepted)

        state0 = kernel.init(jnp.zeros((2,), jnp.float32))
        _, (slopes, accepts) = jax.lax.scan(step, state0, jax.random.split(key, steps))
        return slopes, jnp.mean(accepts.astype(jnp.float32))

    return chain


@lru_cache(maxsize=None)
def _w2(steps: int):
    import jax

    return jax.jit(_rw_chain(steps))


@lru_cache(maxsize=None)
def _w5(chains: int):
    import jax

    chain = _rw_chain(wl.W5_STEPS)
    return jax.jit(lambda key: jax.vmap(chain)(jax.random.split(key, chains)))


_NA = {"W1": "BlackJAX has no importance sampling from a model's prior (samplers only)",
       "X1": "BlackJAX has no importance sampling from a model's prior (samplers only)",
       "W4": "BlackJAX has no state-space particle filter (its SMC tempers a static target)"}


def build(workload: str, size: int, variant: str) -> Task:
    import jax

    if workload in _NA:
        raise Unsupported(_NA[workload])
    fn = {"W2": _w2, "W5": _w5}[workload](size)

    def run(seed: int) -> dict:
        slopes, accept = jax.device_get(fn(jax.random.key(seed)))
        return {"slope": np.asarray(slopes), "accept": np.asarray(accept)}

    return Task(run, note="blackjax.rmh in lax.scan" + (", vmap" if workload == "W5" else ""))
