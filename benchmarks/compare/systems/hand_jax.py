"""Hand-written jitted JAX of each workload's math: the floor a PPL's overhead is
measured against. One jit per (workload, size); float32; no library but jax."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from benchmarks.compare import workloads as wl
from benchmarks.compare.systems import Task, Unsupported

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def unavailable() -> str | None:
    try:
        import jax  # noqa: F401
    except ImportError:
        return "jax is not installed (pip install -e '.[jax]')"
    return None


def variants(backends) -> list[str]:
    return ["jax"]


def _normal_logpdf(x, mean, sd):
    import jax.numpy as jnp

    z = (x - mean) / sd
    return -0.5 * z * z - jnp.log(sd) - _HALF_LOG_2PI


def linreg_log_joint(theta, x, y):
    """log p(slope, intercept, y) for theta = [slope, intercept] (shared with the
    numpyro-free BlackJAX target so the two run the same density)."""
    import jax.numpy as jnp

    slope, intercept = theta[0], theta[1]
    prior = _normal_logpdf(slope, 0.0, wl.PRIOR_SD) + _normal_logpdf(intercept, 0.0, wl.PRIOR_SD)
    return prior + jnp.sum(_normal_logpdf(y, slope * x + intercept, wl.NOISE_SD))


def _consts():
    import jax.numpy as jnp

    d = wl.data()
    f32 = jnp.float32
    return d, jnp.asarray(d.x, f32), jnp.asarray(d.y, f32)


@lru_cache(maxsize=None)
def _w1(n: int):
    import jax
    import jax.numpy as jnp

    _, x, y = _consts()

    @jax.jit
    def run(key):
        k_s, k_b = jax.random.split(key)
        slope = wl.PRIOR_SD * jax.random.normal(k_s, (n,))
        intercept = wl.PRIOR_SD * jax.random.normal(k_b, (n,))
        mean = slope[:, None] * x + intercept[:, None]           # [N, 20]
        return jnp.sum(_normal_logpdf(y, mean, wl.NOISE_SD), axis=1), slope

    return run


@lru_cache(maxsize=None)
def _x1(n: int):
    import jax
    import jax.numpy as jnp

    d = wl.data()
    y = jnp.asarray(d.gmm_y, jnp.float32)

    @jax.jit
    def run(key):
        k_mu, k_z = jax.random.split(key)
        means = wl.PRIOR_SD * jax.random.normal(k_mu, (n, d.gmm_k))
        z = jax.random.randint(k_z, (n, len(d.gmm_y)), 0, d.gmm_k)    # uniform categorical
        mu_z = jnp.take_along_axis(means, z, axis=1)                 # [N, 8]
        return (jnp.sum(_normal_logpdf(y, mu_z, wl.NOISE_SD), axis=1),)

    return run


@lru_cache(maxsize=None)
def _w4(n: int):
    import jax
    import jax.numpy as jnp

    d = wl.data()
    f32 = jnp.float32
    ys = jnp.asarray(d.hmm_y, f32)
    means = jnp.asarray(d.hmm_means, f32)
    log_init = jnp.log(jnp.asarray(d.hmm_init, f32))
    log_trans = jnp.log(jnp.asarray(d.hmm_trans, f32))
    log_n = math.log(n)

    def weigh(z, yt):
        return _normal_logpdf(yt, means[z], d.hmm_sd)

    def increment(log_w):
        m = jnp.max(log_w)
        return m + jnp.log(jnp.sum(jnp.exp(log_w - m))) - log_n

    def resample(key, z, log_w):
        # multinomial: N iid uniforms through the inverse CDF (O(N log N); the
        # Gumbel-max form would need an [N, N] array)
        w = jnp.exp(log_w - jnp.max(log_w))
        cdf = jnp.cumsum(w)
        u = jax.random.uniform(key, (n,)) * cdf[-1]
        idx = jnp.minimum(jnp.searchsorted(cdf, u, side="right"), n - 1)
        return z[idx]

    @jax.jit
    def run(key):
        k0, k_rest = jax.random.split(key)
        z = jax.random.categorical(k0, log_init, shape=(n,))
        log_w = weigh(z, ys[0])

        def step(carry, inputs):
            z, log_w, log_ml = carry
            k, yt = inputs
            k_res, k_move = jax.random.split(k)
            log_ml = log_ml + increment(log_w)
            z = resample(k_res, z, log_w)
            z = jax.random.categorical(k_move, log_trans[z])        # bootstrap proposal
            return (z, weigh(z, yt), log_ml), None

        keys = jax.random.split(k_rest, len(d.hmm_y) - 1)
        (_, log_w, log_ml), _ = jax.lax.scan(step, (z, log_w, jnp.zeros((), f32)),
                                             (keys, ys[1:]))
        return log_ml + increment(log_w)

    return run


def _rw_chain(steps: int):
    """One random-walk MH chain from (0, 0) as a lax.scan: (key) -> (slopes, accept rate)."""
    import jax
    import jax.numpy as jnp

    _, x, y = _consts()

    def chain(key):
        def step(carry, k):
            theta, lp = carry
            k_prop, k_u = jax.random.split(k)
            prop = theta + wl.RW_SD * jax.random.normal(k_prop, (2,))
            lp_prop = linreg_log_joint(prop, x, y)
            accept = jnp.log(jax.random.uniform(k_u)) < lp_prop - lp
            theta = jnp.where(accept, prop, theta)
            lp = jnp.where(accept, lp_prop, lp)
            return (theta, lp), (theta[0], accept)

        theta0 = jnp.zeros((2,), jnp.float32)
        _, (slopes, accepts) = jax.lax.scan(step, (theta0, linreg_log_joint(theta0, x, y)),
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

    makers = {"W1": _w1, "X1": _x1, "W4": _w4, "W2": _w2, "W5": _w5}
    if workload not in makers:
        raise Unsupported(f"hand_jax has no {workload}")
    fn = makers[workload](size)

    def run(seed: int) -> dict:
        out = fn(jax.random.key(seed))
        out = jax.device_get(out)       # blocks until the result is on the host
        if workload in ("W1", "X1"):
            return dict(zip(("log_w", "slope"), (np.asarray(a) for a in out)))
        if workload == "W4":
            return {"log_ml": float(out)}
        return {"slope": np.asarray(out[0]), "accept": np.asarray(out[1])}

    return Task(run)
