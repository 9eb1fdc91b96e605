"""Exact integer samplers (Poisson, binomial) and accurate log masses for them.

MLX has no Poisson or binomial sampler, so both are built here from uniform
draws, once, against the backend namespace, and stay exact for any rate or
count (not a normal approximation, not a fixed number of inversion steps):

- small means (rate < 10, n min(p, 1-p) < 10): sequential-search inversion.
  Each step advances every unfinished element by one; the loop ends when all
  are done, which for such means happens within a few dozen steps.
- large means: Hörmann's transformed rejection, PTRS for Poisson (1993) and
  BTRS for the binomial (1993), in vectorised rounds with a fixed key per
  round. Eager backends stop once every element is accepted; under
  compile/jit/vmap (no concrete check possible) a fixed number of rounds runs
  and an element is still unaccepted with probability below 1e-13.

The log masses use Loader's saddle-point form (`stirlerr`, `bd0`; the method
behind R's dbinom/dpois and scipy's binom), which avoids the cancellation of
`k log(lam) - lgamma(k + 1)` between numbers of size 1e5 that costs float32
two decimal digits at rate 1e4.
"""

from __future__ import annotations

import math
from typing import Sequence

from genmlx._backend import Array, Backend
from genmlx.distributions.samplers import _all_true
from genmlx.distributions.special import lgamma

__all__ = ["poisson", "binomial", "poisson_log_mass", "binomial_log_mass", "stirlerr", "bd0"]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# Below this mean, inversion (a few dozen steps at most); above it, rejection.
_INVERSION_MEAN = 10.0
# Transformed rejection accepts at least 0.79 of proposals (BTRS at large
# n p q; PTRS accepts more), so an element survives k rounds unaccepted with
# probability <= 0.21**k: 0.21**20 = 2.8e-14 under tracing, 0.21**64 eager.
_TRACED_ROUNDS = 20
_MAX_ROUNDS = 64
# Sequential search: steps between "all done?" checks, and the hard bound.
_CHECK_EVERY = 4
_MAX_STEPS = 256
_TRACED_STEPS = 64


# ---------------------------------------------------------------------------
# Loader's pieces of the log mass

def stirlerr(x: Array, xp) -> Array:
    """lgamma(x + 1) - ((x + 0.5) log x - x + log(2 pi) / 2), for x > 0.

    The error of Stirling's formula: a 4-term series for x >= 10, lgamma below.
    """
    big = x >= 10.0
    xb = xp.where(big, x, 10.0)
    xs = xp.where(big, 1.0, xp.where(x > 0, x, 1.0))
    inv = 1.0 / xb
    inv2 = inv * inv
    series = inv * (1.0 / 12 - inv2 * (1.0 / 360 - inv2 * (1.0 / 1260 - inv2 / 1680)))
    direct = lgamma(xs + 1.0) - (xs + 0.5) * xp.log(xs) + xs - _HALF_LOG_2PI
    return xp.where(big, series, direct)


def bd0(x: Array, m: Array, xp) -> Array:
    """x log(x / m) + m - x (the deviance term), for x >= 0 and m > 0.

    Written as m phi(t) with t = (x - m) / m and phi(t) = (1 + t) log1p(t) - t,
    accurate when x is close to m.
    """
    pos = x > 0
    t = xp.where(pos, (x - m) / m, 0.0)
    return xp.where(pos, m * ((1.0 + t) * xp.log1p(t) - t), m)


def poisson_log_mass(k: Array, rate: Array, xp) -> Array:
    """log Poisson(k; rate) for integer-valued float k >= 0 and rate >= 0 (no support check)."""
    zero_k = k == 0
    zero_rate = rate == 0
    ks = xp.where(zero_k, 1.0, k)
    lam = xp.where(zero_rate, 1.0, rate)
    inner = -stirlerr(ks, xp) - bd0(ks, lam, xp) - _HALF_LOG_2PI - 0.5 * xp.log(ks)
    value = xp.where(zero_k, -rate, inner)
    return xp.where(zero_rate, xp.where(zero_k, 0.0, -math.inf), value)


def binomial_log_mass(k: Array, n: Array, p: Array, xp) -> Array:
    """log Binomial(k; n, p) for 0 <= k <= n (real-valued allowed) and p in [0, 1].

    No support check. Real k and n serve the negative binomial.
    """
    q = 1.0 - p
    interior_p = xp.logical_and(p > 0, p < 1)
    ps = xp.where(interior_p, p, 0.5)
    qs = 1.0 - ps
    at_zero = k == 0
    at_n = k == n
    interior = xp.logical_not(xp.logical_or(at_zero, at_n))
    ks = xp.where(interior, k, 1.0)
    ns = xp.where(interior, n, 2.0)
    rest = ns - ks
    inner = (stirlerr(ns, xp) - stirlerr(ks, xp) - stirlerr(rest, xp)
             - bd0(ks, ns * ps, xp) - bd0(rest, ns * qs, xp)
             + 0.5 * (xp.log(ns) - xp.log(ks) - xp.log(rest)) - _HALF_LOG_2PI)
    inner = xp.where(interior_p, inner, -math.inf)
    # n log q at k = 0 and n log p at k = n, with 0 log 0 = 0.
    log_q = xp.log(xp.where(q > 0, q, 1.0))
    log_p = xp.log(xp.where(p > 0, p, 1.0))
    n_log_q = xp.where(q > 0, n * log_q, xp.where(n == 0, 0.0, -math.inf))
    n_log_p = xp.where(p > 0, n * log_p, xp.where(n == 0, 0.0, -math.inf))
    return xp.where(at_zero, n_log_q, xp.where(at_n, n_log_p, inner))


# ---------------------------------------------------------------------------
# samplers

def poisson(backend: Backend, key: Array, rate: Array, shape: Sequence[int]) -> Array:
    """Exact Poisson(rate) draws of `shape` (rate broadcasts to it), as floats.

    Inversion for rate < 10, PTRS (Hörmann 1993) above. Rate 0 gives 0.
    """
    xp = backend.xp
    shape = tuple(shape)
    rate = xp.broadcast_to(rate, shape)
    small = rate < _INVERSION_MEAN
    key_inv, key_rej = backend.split(key, 2)
    k_small = _poisson_inversion(backend, key_inv, xp.where(small, rate, 0.0), shape)
    k_large = _poisson_ptrs(backend, key_rej, xp.where(small, _INVERSION_MEAN, rate), small,
                            shape)
    return xp.where(small, k_small, k_large)


def _poisson_inversion(backend: Backend, key: Array, rate: Array, shape: tuple) -> Array:
    xp = backend.xp
    u = backend.uniform(key, shape, rate.dtype)
    eps = xp.finfo(rate.dtype).eps
    mass = xp.exp(-rate)

    def done(k, mass, cdf):
        # Once the mass left is below rounding of the cdf, the cdf cannot
        # climb further; stopping there moves at most eps of probability.
        stalled = xp.logical_and(k > rate, mass <= eps * cdf)
        return xp.logical_or(u < cdf, stalled)

    def grow(k, mass, cdf):
        mass = mass * rate / (k + 1.0)
        return k + 1.0, mass, cdf + mass

    return _search(backend, done, grow, (xp.zeros(shape, dtype=rate.dtype), mass, mass))


def _poisson_ptrs(backend: Backend, key: Array, rate: Array, skip: Array, shape: tuple) -> Array:
    xp = backend.xp
    dtype = rate.dtype
    keys = backend.split(key, 2 * _MAX_ROUNDS)
    b = 0.931 + 2.53 * xp.sqrt(rate)
    a = -0.059 + 0.02483 * b
    log_inv_alpha = xp.log(1.1239 + 1.1328 / (b - 3.4))
    v_r = 0.9277 - 3.6224 / (b - 2.0)

    def propose(r):
        u = backend.uniform(keys[2 * r], shape, dtype) - 0.5
        v = backend.uniform(keys[2 * r + 1], shape, dtype)
        us = 0.5 - xp.abs(u)
        k = xp.floor((2.0 * a / us + b) * u + rate + 0.43)
        quick = xp.logical_and(us >= 0.07, v <= v_r)
        valid = xp.logical_and(k >= 0, xp.logical_not(xp.logical_and(us < 0.013, v > us)))
        ks = xp.where(valid, k, 0.0)
        lhs = xp.log(v) + log_inv_alpha - xp.log(a / (us * us) + b)
        slow = xp.logical_and(valid, lhs <= poisson_log_mass(ks, rate, xp))
        return k, xp.logical_or(quick, slow)

    return _rejection(backend, propose, skip, rate)


def binomial(backend: Backend, key: Array, n: Array, p: Array, shape: Sequence[int]) -> Array:
    """Exact Binomial(n, p) draws of `shape` (float n and p broadcast to it), as floats.

    Draws for min(p, 1 - p); inversion when n min(p, 1-p) < 10, BTRS
    (Hörmann 1993) above; reflected (n - k) when p > 1/2. Exact for n up to
    2^24 in float32 (integers above that are not representable).
    """
    xp = backend.xp
    shape = tuple(shape)
    n = xp.broadcast_to(n, shape)
    p = xp.broadcast_to(p, shape)
    flip = p > 0.5
    pm = xp.where(flip, 1.0 - p, p)
    small = n * pm < _INVERSION_MEAN
    key_inv, key_rej = backend.split(key, 2)
    k_small = _binomial_inversion(backend, key_inv, xp.where(small, n, 0.0),
                                  xp.where(small, pm, 0.0), shape)
    k_large = _binomial_btrs(backend, key_rej, xp.where(small, 2 * _INVERSION_MEAN, n),
                             xp.where(small, 0.5, pm), small, shape)
    k = xp.where(small, k_small, k_large)
    return xp.where(flip, n - k, k)


def _binomial_inversion(backend: Backend, key: Array, n: Array, p: Array, shape: tuple) -> Array:
    xp = backend.xp
    u = backend.uniform(key, shape, p.dtype)
    eps = xp.finfo(p.dtype).eps
    odds = p / (1.0 - p)  # p <= 1/2 here
    mass = xp.exp(n * xp.log1p(-p))

    def done(k, mass, cdf):
        stalled = xp.logical_and(k > n * p, mass <= eps * cdf)  # as for the Poisson
        return xp.logical_or(xp.logical_or(u < cdf, stalled), k >= n)

    def grow(k, mass, cdf):
        mass = mass * odds * (n - k) / (k + 1.0)
        return k + 1.0, mass, cdf + mass

    return _search(backend, done, grow, (xp.zeros(shape, dtype=p.dtype), mass, mass))


def _binomial_btrs(backend: Backend, key: Array, n: Array, p: Array, skip: Array,
                   shape: tuple) -> Array:
    xp = backend.xp
    dtype = p.dtype
    keys = backend.split(key, 2 * _MAX_ROUNDS)
    spq = xp.sqrt(n * p * (1.0 - p))
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    v_r = 0.92 - 4.2 / b
    log_alpha = xp.log((2.83 + 5.1 / b) * spq)
    mode = xp.floor((n + 1.0) * p)
    log_mass_mode = binomial_log_mass(mode, n, p, xp)

    def propose(r):
        u = backend.uniform(keys[2 * r], shape, dtype) - 0.5
        v = backend.uniform(keys[2 * r + 1], shape, dtype)
        us = 0.5 - xp.abs(u)
        k = xp.floor((2.0 * a / us + b) * u + c)
        valid = xp.logical_and(k >= 0, k <= n)
        quick = xp.logical_and(valid, xp.logical_and(us >= 0.07, v <= v_r))
        ks = xp.where(valid, k, 0.0)
        lhs = xp.log(v) + log_alpha - xp.log(a / (us * us) + b)
        ratio = binomial_log_mass(ks, n, p, xp) - log_mass_mode
        return k, xp.logical_or(quick, xp.logical_and(valid, lhs <= ratio))

    return _rejection(backend, propose, skip, c)


# ---------------------------------------------------------------------------
# loops: bounded, vectorised, the same draws eager or traced

def _rejection(backend: Backend, propose, skip: Array, fallback: Array) -> Array:
    """Keep each element's first accepted proposal; round r always uses key r."""
    xp = backend.xp
    out = xp.floor(fallback)  # reached with probability < 1e-13 (traced) or never (eager)
    accepted = skip
    for r in range(_MAX_ROUNDS):
        k, ok = propose(r)
        out = xp.where(xp.logical_and(ok, xp.logical_not(accepted)), k, out)
        accepted = xp.logical_or(accepted, ok)
        done = _all_true(backend, accepted)
        if done or (done is None and r + 1 >= _TRACED_ROUNDS):
            break
    return out


def _search(backend: Backend, done, grow, state: tuple) -> Array:
    """Sequential search: advance every unfinished element by one step until all are done.

    `done(*state)` marks finished elements and `grow(*state)` is one step;
    finished elements are frozen. Eager backends check every few steps;
    traced ones run a fixed number of steps (the stall guard in `done` ends
    every search with mean < 10 within about 50 steps).
    """
    xp = backend.xp
    for i in range(_MAX_STEPS):
        finished = done(*state)
        if i % _CHECK_EVERY == 0:
            all_done = _all_true(backend, finished)
            if all_done or (all_done is None and i >= _TRACED_STEPS):
                break
        state = tuple(xp.where(finished, old, new) for old, new in zip(state, grow(*state)))
    return state[0]
