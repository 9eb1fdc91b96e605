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
