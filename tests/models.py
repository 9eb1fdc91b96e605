"""Small models with closed-form densities, shared by the GFI tests."""

from genmlx import dist, gen, splice, trace

XS = [1.0, 2.0, 3.0, 4.0, 5.0]
YS = [2.1, 3.9, 6.2, 7.8, 10.1]


@gen
def line(xs):
    slope = trace("slope", dist.gaussian(0.0, 2.0))
    intercept = trace("intercept", dist.gaussian(0.0, 2.0))
    for j, x in enumerate(xs):
        trace(("y", j), dist.gaussian(slope * x + intercept, 1.0))
    return slope


@gen
def branching():
    """Control flow changes which addresses exist: 'a' when coin is 1, 'b' otherwise."""
    coin = trace("coin", dist.bernoulli(0.3))
    if coin:
        return trace("a", dist.gaussian(0.0, 1.0))
    return trace("b", dist.gaussian(5.0, 2.0))


@gen
def switchy():
    """An enumerable model whose latent address depends on k (x when k=1, z when k=0)."""
    k = trace("k", dist.bernoulli(0.4))
    x = trace("x", dist.bernoulli(0.7)) if k else trace("z", dist.bernoulli(0.2))
    trace("obs", dist.bernoulli(0.9 if x else 0.1))
    return k


@gen
def inner(mu):
    return trace("v", dist.gaussian(mu, 1.0))


@gen
def outer():
    m = trace("m", dist.gaussian(0.0, 1.0))
    a = trace("sub", inner, m)
    b = splice(inner, a)  # inlines the address "v"
    return a + b
