"""The 29 distributions (plus the aliases normal and flip), one namespace.

    from genmlx import dist
    dist.gaussian(0.0, 1.0)

Each constructor's docstring states its parameterisation, support and density;
those docstrings are the contract.
"""

from genmlx.distributions.base import Distribution, Support
from genmlx.distributions.continuous import (
    beta_dist, beta_uniform_mixture, broadcasted_normal, cauchy, delta, exponential, gamma_dist,
    gaussian, inv_gamma, laplace, log_normal, normal, piecewise_uniform, student_t,
    truncated_normal, uniform,
)
from genmlx.distributions.discrete import (
    bernoulli, binomial, categorical, discrete_uniform, flip, geometric, neg_binomial, poisson,
)
from genmlx.distributions.mixture import homogeneous_mixture, mixture
from genmlx.distributions.multivariate import dirichlet, inv_wishart, multivariate_normal, wishart
from genmlx.distributions.product import product_distribution

CONSTRUCTORS = (
    "gaussian", "uniform", "bernoulli", "beta_dist", "gamma_dist", "exponential", "categorical",
    "poisson", "laplace", "student_t", "log_normal", "multivariate_normal", "dirichlet", "delta",
    "cauchy", "inv_gamma", "geometric", "neg_binomial", "binomial", "discrete_uniform",
    "truncated_normal", "piecewise_uniform", "beta_uniform_mixture", "wishart", "inv_wishart",
    "broadcasted_normal", "mixture", "homogeneous_mixture", "product_distribution",
)
ALIASES = {"normal": "gaussian", "flip": "bernoulli"}

__all__ = ["Distribution", "Support", *CONSTRUCTORS, *ALIASES]
