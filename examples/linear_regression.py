"""Bayesian linear regression with Metropolis-Hastings (GenMLX's first example).

Data from y = 2x + 0.1 + noise; MH over slope and intercept, 500 samples after
100 burn-in. Run: python examples/linear_regression.py [--backend numpy|jax|mlx]
"""

import argparse

import genmlx as gm
from genmlx import choicemap, dist, gen, select, trace
from genmlx.inference import mcmc


@gen
def model(xs):
    slope = trace("slope", dist.gaussian(0.0, 10.0))
    intercept = trace("intercept", dist.gaussian(0.0, 10.0))
    for j, x in enumerate(xs):
        trace(("y", j), dist.gaussian(slope * x + intercept, 1.0))
    return slope


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", default=None, help="mlx (default), numpy or jax")
    parser.add_argument("--seed", type=int, default=0)
    opts = parser.parse_args()
    if opts.backend:
        gm.set_backend(opts.backend)
    backend = gm.get_backend()

    xs = [1.0, 2.0, 3.0, 4.0, 5.0]
    observations = choicemap({("y", 0): 2.1, ("y", 1): 3.9, ("y", 2): 6.2,
                              ("y", 3): 7.8, ("y", 4): 10.1})
    print(f"Running MH inference on backend '{backend.name}' (500 samples, 100 burn-in)...")
    traces = mcmc.mh(model, (xs,), observations, selection=select("slope", "intercept"),
                     samples=500, burn=100, key=gm.key(opts.seed))
    slopes = [backend.to_python(tr["slope"]) for tr in traces]
    intercepts = [backend.to_python(tr["intercept"]) for tr in traces]
    print(f"Posterior slope mean: {sum(slopes) / len(slopes):.3f} (true: ~2.0)")
    print(f"Posterior intercept mean: {sum(intercepts) / len(intercepts):.3f} (true: ~0.1)")


if __name__ == "__main__":
    main()
