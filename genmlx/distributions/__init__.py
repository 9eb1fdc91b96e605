"""genmlx.distributions"""
