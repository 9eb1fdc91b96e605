"""Models shared by the benchmarks."""

from genmlx import choicemap, dist, gen, trace

XS = [1.0, 2.0, 3.0, 4.0, 5.0]
YS = [2.1, 3.9, 6.2, 7.8, 10.1]
LINE_OBS = choicemap({("y", j): y for j, y in enumerate(YS)})


@gen
def line(xs):
    slope = trace("slope", dist.gaussian(0.0, 2.0))
    intercept = trace("intercept", dist.gaussian(0.0, 2.0))
    for j, x in enumerate(xs):
        trace(("y", j), dist.gaussian(slope * x + intercept, 1.0))
    return slope


@gen
def chain25():
    """25 Gaussian sites, each depending on the previous one."""
    x = trace(0, dist.gaussian(0.0, 1.0))
    for i in range(1, 25):
        x = trace(i, dist.gaussian(x, 1.0))
    return x


CHAIN25_OBS = choicemap({i: 0.1 * i for i in range(0, 25, 2)})


def chain_model(n: int):
    """n Gaussian sites, each depending on the previous one (per-site cost at any size)."""

    @gen
    def chain():
        x = trace(0, dist.gaussian(0.0, 1.0))
        for i in range(1, n):
            x = trace(i, dist.gaussian(x, 1.0))
        return x

    return chain


def chain_observations(n: int):
    return choicemap({i: 0.1 * i for i in range(0, n, 2)})


def linreg_data():
    """The 20-point linear regression data set (x, y) of benchmarks/data/linreg.json."""
    import json
    import os

    with open(os.path.join(os.path.dirname(__file__), "data", "linreg.json")) as f:
        data = json.load(f)
    return data["x"], data["y"]


@gen
def linreg(xs):
    slope = trace("slope", dist.gaussian(0.0, 10.0))
    intercept = trace("intercept", dist.gaussian(0.0, 10.0))
    for j, x in enumerate(xs):
        trace(("y", j), dist.gaussian(slope * x + intercept, 1.0))
    return slope


@gen
def hmm_step(t, z, logits, means):
    znew = trace("z", dist.categorical(logits[z]))
    trace("y", dist.gaussian(means[znew], 1.0))
    return znew
