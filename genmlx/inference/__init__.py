"""Inference built only on the GFI: importance sampling, MCMC, exact enumeration,
diagnostics, and vectorized (L0) algorithms."""

from genmlx.inference import diagnostics, exact, importance, mcmc, vectorized

__all__ = ["diagnostics", "exact", "importance", "mcmc", "vectorized"]
