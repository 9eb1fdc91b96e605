"""Inference built only on the GFI: importance sampling, MCMC, exact enumeration,
diagnostics, and vectorized (L0) algorithms. `results` holds the result types and
`draws` / `weighted_draws`, which turn any result into NumPy arrays."""

from genmlx.inference import diagnostics, exact, importance, mcmc, results, vectorized
from genmlx.inference.results import draws, to_inference_data, weighted_draws

__all__ = ["diagnostics", "draws", "exact", "importance", "mcmc", "results",
           "to_inference_data", "vectorized", "weighted_draws"]
