"""NumPyro (pip install -e '.[compare]'): the models written in NumPyro, the
inference built from its public pieces, each whole call under one jax.jit.

- W1 / X1: prior draws with `Predictive`, weights with `log_likelihood` (the
  observed sites' log densities given each draw), summed per particle.
- W2 / W5: NumPyro's MCMC has no plain random-walk MH kernel, so a jitted RW
  kernel loop (lax.scan; vmap over chains) runs on NumPyro's own
  `log_density` of the model.
- W4: n/a, NumPyro has no particle filter.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache

import numpy as np

from benchmarks.compare import workloads as wl
from benchmarks.compare.systems import Task, Unsupported


def unavailable() -> str | None:
    if importlib.util.find_spec("numpyro") is None:
        return "numpyro is not installed (pip install -e '.[compare]')"
    return None


def variants(backends) -> list[str]:
    return ["jax"]


def _linreg_model():
    import numpyro
    import numpyro.distributions as dist

    def linreg(x, y=None):
        slope = numpyro.sample("slope", dist.Normal(0.0, wl.PRIOR_SD))
        intercept = numpyro.sample("intercept", dist.Normal(0.0, wl.PRIOR_SD))
        with numpyro.plate("data", x.shape[0]):
            numpyro.sample("y", dist.Normal(slope * x + intercept, wl.NOISE_SD), obs=y)

    return linreg


def _gmm_model(k: int):
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    def gmm(n, y=None):
        means = numpyro.sample("means", dist.Normal(0.0, wl.PRIOR_SD).expand([k]).to_event(1))
        with numpyro.plate("data", n):
            z = numpyro.sample("z", dist.Categorical(probs=jnp.ones(k) / k))
            numpyro.sample("y", dist.Normal(means[z], wl.NOISE_SD), obs=y)

    return gmm


def _f32(a):
    import jax.numpy as jnp

    return jnp.asarray(a, jnp.float32)


@lru_cache(maxsize=None)
def _w1(n: int):
    import jax
    import jax.numpy as jnp
    from numpyro.infer import Predictive
    from numpyro.infer.util import log_likelihood

    d = wl.data()
    x, y = _f32(d.x), _f32(d.y)
    model = _linreg_model()
    # parallel=True: vmap over the draws (the default is a sequential lax.map)
    prior = Predictive(model, num_samples=n, return_sites=["slope", "intercept"], parallel=True)

    @jax.jit
    def run(key):
        draws = prior(key, x)
        log_w = jnp.sum(log_likelihood(model, draws, x, y, parallel=True)["y"], axis=-1)
        return log_w, draws["slope"]

    return run


@lru_cache(maxsize=None)
def _x1(n: int):
    import jax
    import jax.numpy as jnp
    from numpyro.infer import Predictive
    from numpyro.infer.util import log_likelihood

    d = wl.data()
    y = _f32(d.gmm_y)
    model = _gmm_model(d.gmm_k)
    prior = Predictive(model, num_samples=n, return_sites=["means", "z"], parallel=True)

    @jax.jit
    def run(key):
        draws = prior(key, len(d.gmm_y))
        return (jnp.sum(log_likelihood(model, draws, len(d.gmm_y), y,
                                           parallel=True)["y"], axis=-1),)

    return run


def _rw_chain(steps: int):
    """RW-MH from (0, 0) on NumPyro's log density of the linreg model."""
    import jax
    import jax.numpy as jnp
    from numpyro.infer.util import log_density

    d = wl.data()
    x, y = _f32(d.x), _f32(d.y)
    model = _linreg_model()

    def logp(theta):
        return log_density(model, (x, y), {}, {"slope": theta[0], "intercept": theta[1]})[0]

    def chain(key):
        def step(carry, k):
            theta, lp = carry
            k_prop, k_u = jax.random.split(k)
            prop = theta + wl.RW_SD * jax.random.normal(k_prop, (2,))
            lp_prop = logp(prop)
            accept = jnp.log(jax.random.uniform(k_u)) < lp_prop - lp
            return ((jnp.where(accept, prop, theta), jnp.where(accept, lp_prop, lp)),
                    (jnp.where(accept, prop[0], theta[0]), accept))

        theta0 = jnp.zeros((2,), jnp.float32)
        _, (slopes, accepts) = jax.lax.scan(step, (theta0, logp(theta0)),
                                            jax.random.split(key, steps))
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


def build(workload: str, size: int, variant: str) -> Task:
    import jax

    if workload == "W4":
        raise Unsupported("NumPyro has no particle filter")
    makers = {"W1": _w1, "X1": _x1, "W2": _w2, "W5": _w5}
    if workload not in makers:
        raise Unsupported(f"numpyro: no {workload}")
    fn = makers[workload](size)
    note = {"W2": "RW kernel loop over numpyro log_density",
            "W5": "RW kernel loop over numpyro log_density, vmap",
            "W1": "Predictive + log_likelihood", "X1": "Predictive + log_likelihood"}[workload]

    def run(seed: int) -> dict:
        out = jax.device_get(fn(jax.random.key(seed)))
        if workload in ("W1", "X1"):
            return dict(zip(("log_w", "slope"), (np.asarray(a) for a in out)))
        return {"slope": np.asarray(out[0]), "accept": np.asarray(out[1])}

    return Task(run, note=note)
