"""Exact integer samplers (Poisson, binomial) and accurate log masses for them.

MLX has no Poisson or binomial sampler, so both are built here from uniform
draws, once, against the backend namespace, and stay exact for any rate or
count (not a normal approximation, not a fixed number of inversion steps):

- small means (rate < 10, n min(p, 1-p) < 10): sequential-search inversion.
  Each step advances every unfinished element by one; eager backends stop
  when all are done, traced ones (compile/jit/vmap) run the 36 steps (51 in
  float64) after which every search with such a mean has ended.
- large means: Hörmann's transformed rejection, PTRS for Poisson (1993) and
  BTRS for the binomial (1993), proposing in vectorised blocks with a fixed
  key per block. Eager backends stop once every element is accepted; under
  tracing (no concrete check possible) 24 proposals run and an element is
  still unaccepted with probability below 3e-13.

Eager and traced runs give the same draws for the same key: stopping early
only skips steps that change nothing.

The log masses use Loader's saddle-point form (`stirlerr`, `bd0`; the method
behind R's dbinom/dpois and scipy's binom), which avoids the cancellation of
`k log(lam) - lgamma(k + 1)` between numbers of size 1e5 that costs float32
two decimal digits at rate 1e4.
"""

from __future__ import annotations

import functools
import math
from typing import Sequence

from genmlx._backend import Array, Backend
from genmlx.distributions.samplers import _all_true, open_uniform
from genmlx.distributions.special import lgamma

__all__ = ["poisson", "binomial", "poisson_log_mass", "binomial_log_mass", "stirlerr", "bd0"]

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
# Below this mean, inversion (a few dozen steps at most); above it, rejection.
_INVERSION_MEAN = 10.0
# Transformed rejection accepts at least 0.70 of proposals (measured: 0.71 for
# BTRS at n p = 10, 0.75 for PTRS at rate 10, 0.89 at large means). Proposals
# come in blocks of 4 (one block shape: JAX compiles its eager operations per
# shape); under tracing 6 blocks (24 proposals) run, leaving an element
# unaccepted with probability <= 0.3**24 = 3e-13; eager backends add blocks
# until every element is accepted.
_BLOCK_SIZE = 4
_TRACED_BLOCKS = 6
_MAX_BLOCKS = 16
# Sequential search: steps between "all done?" checks (eager backends).
_CHECK_EVERY = 4


# ---------------------------------------------------------------------------
# Loader's pieces of the log mass

def _stirlerr_exact(k: int) -> float:
    return math.lgamma(k + 1.0) - (k + 0.5) * math.log(k) + k - _HALF_LOG_2PI if k else 0.0


# stirlerr at 0..9 (float64; the value at 0 is never used: callers treat 0 apart).
_STIRLERR_TABLE = [_stirlerr_exact(k) for k in range(10)]


def stirlerr(x: Array, xp, integer: bool = False) -> Array:
    """lgamma(x + 1) - ((x + 0.5) log x - x + log(2 pi) / 2), for x > 0.

    The error of Stirling's formula: a 4-term series for x >= 10; below, a
    table when `integer` (x integer-valued: no lgamma), else lgamma.
    """
    big = x >= 10.0
    xb = xp.where(big, x, 10.0)
    inv = 1.0 / xb
    inv2 = inv * inv
    series = inv * (1.0 / 12 - inv2 * (1.0 / 360 - inv2 * (1.0 / 1260 - inv2 / 1680)))
    if integer:
        index = xp.astype(xp.clip(xp.where(big, 0.0, x), 0.0, 9.0), xp.int32)
        direct = xp.take(xp.asarray(_STIRLERR_TABLE, dtype=x.dtype), index)
    else:
        xs = xp.where(big, 1.0, xp.where(x > 0, x, 1.0))
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
    inner = -stirlerr(ks, xp, True) - bd0(ks, lam, xp) - _HALF_LOG_2PI - 0.5 * xp.log(ks)
    value = xp.where(zero_k, -rate, inner)
    return xp.where(zero_rate, xp.where(zero_k, 0.0, -math.inf), value)


def binomial_log_mass(k: Array, n: Array, p: Array, xp, integer: bool = True) -> Array:
    """log Binomial(k; n, p) for 0 <= k <= n and p in [0, 1]; no support check.

    `integer=False` allows real k and n (the negative binomial's use).
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
    inner = (stirlerr(ns, xp, integer) - stirlerr(ks, xp, integer) - stirlerr(rest, xp, integer)
             - bd0(ks, ns * ps, xp) - bd0(rest, ns * qs, xp)
             + 0.5 * (xp.log(ns) - xp.log(ks) - xp.log(rest)) - _HALF_LOG_2PI)
    inner = xp.where(interior_p, inner, -math.inf)
    # n log q at k = 0 and n log p at k = n, with 0 log 0 = 0.
    log_q = xp.log1p(-xp.where(q > 0, p, 0.0))  # log1p: accurate for small p
    log_p = xp.log(xp.where(p > 0, p, 1.0))
    n_log_q = xp.where(q > 0, n * log_q, xp.where(n == 0, 0.0, -math.inf))
    n_log_p = xp.where(p > 0, n * log_p, xp.where(n == 0, 0.0, -math.inf))
    return xp.where(at_zero, n_log_q, xp.where(at_n, n_log_p, inner))


# ---------------------------------------------------------------------------
# samplers

def poisson(backend: Backend, key: Array, rate: Array, shape: Sequence[int]) -> Array:
    """Exact Poisson(rate) draws of `shape` (rate broadcasts to it), as floats.

    Inversion for rate < 10, PTRS (Hörmann 1993) above. Rate 0 gives 0.
    Exact while draws are representable: rates up to ~2^24 in float32.
    """
    xp = backend.xp
    shape = tuple(shape)
    rate = xp.broadcast_to(rate, shape)
    small = rate < _INVERSION_MEAN
    key_inv, key_rej = backend.split(key, 2)
    k_small = _poisson_inversion(backend, key_inv, xp.where(small, rate, 0.0))
    k_large = _poisson_ptrs(backend, key_rej, xp.where(small, _INVERSION_MEAN, rate), small)
    return xp.where(small, k_small, k_large)


def _poisson_inversion(backend: Backend, key: Array, rate: Array) -> Array:
    xp = backend.xp
    u = backend.uniform(key, tuple(rate.shape), rate.dtype)
    return _search(backend, u, xp.exp(-rate), rate, lambda j: rate / (j + 1.0))


def _poisson_ptrs(backend: Backend, key: Array, rate: Array, skip: Array) -> Array:
    xp = backend.xp
    b = 0.931 + 2.53 * xp.sqrt(rate)
    a = -0.059 + 0.02483 * b
    log_inv_alpha = xp.log(1.1239 + 1.1328 / (b - 3.4))
    v_r = 0.9277 - 3.6224 / (b - 2.0)

    def propose(u, v):
        us = 0.5 - xp.abs(u)
        k = xp.floor((2.0 * a / us + b) * u + rate + 0.43)
        quick = xp.logical_and(us >= 0.07, v <= v_r)
        valid = xp.logical_and(k >= 0, xp.logical_not(xp.logical_and(us < 0.013, v > us)))
        ks = xp.where(valid, k, 0.0)
        lhs = xp.log(v) + log_inv_alpha - xp.log(a / (us * us) + b)
        slow = xp.logical_and(valid, lhs <= poisson_log_mass(ks, rate, xp))
        return k, xp.logical_or(quick, slow)

    return _rejection(backend, key, propose, skip, rate)


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
                                  xp.where(small, pm, 0.0))
    k_large = _binomial_btrs(backend, key_rej, xp.where(small, 2 * _INVERSION_MEAN, n),
                             xp.where(small, 0.5, pm), small)
    k = xp.where(small, k_small, k_large)
    return xp.where(flip, n - k, k)


def _binomial_inversion(backend: Backend, key: Array, n: Array, p: Array) -> Array:
    xp = backend.xp
    u = backend.uniform(key, tuple(p.shape), p.dtype)
    odds = p / (1.0 - p)  # p <= 1/2 here
    # mass(j + 1) = mass(j) (n - j) / (j + 1) p / q; past j = n the search is done
    return _search(backend, u, xp.exp(n * xp.log1p(-p)), n * p,
                   lambda j: odds * (n - j) / (j + 1.0), last=n)


def _binomial_btrs(backend: Backend, key: Array, n: Array, p: Array, skip: Array) -> Array:
    xp = backend.xp
    spq = xp.sqrt(n * p * (1.0 - p))
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    v_r = 0.92 - 4.2 / b
    log_alpha = xp.log((2.83 + 5.1 / b) * spq)
    mode = xp.floor((n + 1.0) * p)
    log_mass_mode = binomial_log_mass(mode, n, p, xp)

    def propose(u, v):
        us = 0.5 - xp.abs(u)
        k = xp.floor((2.0 * a / us + b) * u + c)
        valid = xp.logical_and(k >= 0, k <= n)
        quick = xp.logical_and(valid, xp.logical_and(us >= 0.07, v <= v_r))
        ks = xp.where(valid, k, 0.0)
        lhs = xp.log(v) + log_alpha - xp.log(a / (us * us) + b)
        ratio = binomial_log_mass(ks, n, p, xp) - log_mass_mode
        return k, xp.logical_or(quick, xp.logical_and(valid, lhs <= ratio))

    return _rejection(backend, key, propose, skip, c)


# ---------------------------------------------------------------------------
# loops: bounded, vectorised, the same draws eager or traced

def _rejection(backend: Backend, key: Array, propose, skip: Array, fallback: Array) -> Array:
    """Keep each element's first accepted proposal, proposing in blocks.

    Block b stacks `_BLOCK_SIZE` proposals per element on a new leading axis
    and keeps the first accepted one. Block b's key depends on b alone, so the
    eager early stop (once every element is accepted) never changes a draw.
    Blocks keep a traced graph small: six blocks hold 24 proposals (24
    sequential rounds made JAX's compile ~5x slower).
    """
    xp = backend.xp
    out = xp.floor(fallback)  # reached with probability < 1e-13 (traced) or never (eager)
    accepted = skip
    if _all_true(backend, skip):  # every element takes the other method
        return out
    shape = tuple(fallback.shape)
    eps = float(xp.finfo(fallback.dtype).eps)
    size = _BLOCK_SIZE
    for i in range(_MAX_BLOCKS):
        key, key_u, key_v = backend.split(key, 3)
        # u in [-1/2 + eps, 1/2 - eps] keeps 1/us finite; only proposals far in the
        # tails (rejected whatever us) are touched. v in (0, 1) keeps log v finite.
        u = xp.clip(backend.uniform(key_u, (size,) + shape, fallback.dtype) - 0.5,
                    -0.5 + eps, 0.5 - eps)
        v = open_uniform(backend, key_v, (size,) + shape, fallback.dtype)
        k, ok = propose(u, v)
        first = xp.argmax(xp.astype(ok, xp.int32), axis=0)  # first accepted (0 if none)
        pick = xp.take_along_axis(k, first[None, ...], axis=0)[0]
        hit = xp.any(ok, axis=0)
        out = xp.where(xp.logical_and(hit, xp.logical_not(accepted)), pick, out)
        accepted = xp.logical_or(accepted, hit)
        _evaluate(backend, out, accepted)
        done = _all_true(backend, accepted)
        if done or (done is None and i + 1 >= _TRACED_BLOCKS):
            break
    return out


def _search(backend: Backend, u: Array, mass: Array, mean: Array, ratio,
            last: Array | None = None) -> Array:
    """Sequential-search inversion: the smallest j with u < cdf(j).

    `mass` is the mass at 0 and `ratio(j)` gives mass(j + 1) / mass(j); j is a
    Python number, so each step is a few elementwise operations. An element
    is done once u < cdf(j), once j reaches `last`, or once the cdf has
    stalled (past the mean, the mass left is below the rounding of the cdf:
    stopping there moves at most eps of probability). Done is monotone in j,
    so the draw is the number of steps an element was not done, and stopping
    early (eager, once all are done) never changes a draw.
    """
    xp = backend.xp
    eps = float(xp.finfo(u.dtype).eps)
    cdf = mass
    draw = xp.zeros(tuple(u.shape), dtype=u.dtype)
    for j in range(_search_steps(eps)):
        stalled = xp.logical_and(mean < j, mass <= eps * cdf)
        done = xp.logical_or(u < cdf, stalled)
        if last is not None:
            done = xp.logical_or(done, last <= j)
        if j % _CHECK_EVERY == 0:
            _evaluate(backend, done, draw, mass, cdf)
            if _all_true(backend, done):
                break
        draw = draw + xp.astype(xp.logical_not(done), u.dtype)
        mass = mass * ratio(j)
        cdf = cdf + mass
    return draw


@functools.lru_cache(maxsize=None)
def _search_steps(eps: float) -> int:
    """Steps after which every search with mean < 10 has stalled: the first j > 10
    with Poisson(j; 10) <= eps / 4 (the Poisson tail bounds the binomial's at
    equal mean), plus a margin. 36 in float32, 51 in float64."""
    j, log_mass = 0, -_INVERSION_MEAN
    while j <= _INVERSION_MEAN or log_mass > math.log(eps / 4.0):
        j += 1
        log_mass += math.log(_INVERSION_MEAN / j)
    return j + 4


def _evaluate(backend: Backend, *arrays: Array) -> None:
    """Materialise the loop state (MLX is lazy) so that later steps build on values,
    not on an ever longer graph; a no-op under tracing."""
    try:
        backend.eval(*arrays)
    except (TypeError, ValueError):  # traced (compile / vmap): nothing to materialise
        pass
