"""genmlx.inference.mcmc"""
