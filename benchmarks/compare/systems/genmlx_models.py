"""The workloads' models as a GenMLX user writes them (module level, so traces
and results can be saved and pickled by reference)."""

from __future__ import annotations

import genmlx as gm
from genmlx import dist, gen, trace

from benchmarks.compare import workloads as wl


@gen
def linreg(xs):
    slope = trace("slope", dist.gaussian(0.0, wl.PRIOR_SD))
    intercept = trace("intercept", dist.gaussian(0.0, wl.PRIOR_SD))
    for j, x in enumerate(xs):
        trace(("y", j), dist.gaussian(slope * x + intercept, wl.NOISE_SD))
    return slope


@gen
def linreg_vec(x):
    """The same model with the observations as one vector-valued site (x an array)."""
    slope = trace("slope", dist.gaussian(0.0, wl.PRIOR_SD))
    intercept = trace("intercept", dist.gaussian(0.0, wl.PRIOR_SD))
    trace("y", dist.broadcasted_normal(slope * x + intercept, wl.NOISE_SD))
    return slope


@gen
def gmm(n, k):
    xp = gm.get_backend().xp
    # the means as one vector [..., K]; batched runs give [N, K], one run [K]
    means = xp.stack([trace(("mu", c), dist.gaussian(0.0, wl.PRIOR_SD)) for c in range(k)],
                     axis=-1)
    for i in range(n):
        z = trace(("z", i), dist.categorical([0.0] * k))        # uniform over 0..K-1
        # index the means vector by z, batch-agnostic (z is [] or [N])
        mu_z = xp.take_along_axis(means, xp.expand_dims(z, -1), axis=-1)[..., 0]
        trace(("y", i), dist.gaussian(mu_z, wl.NOISE_SD))
    return means


@gen
def rw_proposal(tr):
    """W2's random walk: isotropic Gaussian, sd 0.25, on (slope, intercept) jointly."""
    trace("slope", dist.gaussian(tr["slope"], wl.RW_SD))
    trace("intercept", dist.gaussian(tr["intercept"], wl.RW_SD))


def linreg_observations():
    d = wl.data()
    return gm.choicemap({("y", j): float(v) for j, v in enumerate(d.y)})


def linreg_vec_data():
    """(x array, observations {"y": y array}) on the current backend."""
    d, b = wl.data(), gm.get_backend()
    return b.asarray([float(v) for v in d.x]), gm.choicemap({"y": b.asarray([float(v) for v in d.y])})


def gmm_observations():
    d = wl.data()
    return gm.choicemap({("y", i): float(v) for i, v in enumerate(d.gmm_y)})
