"""genmlx.vectorized"""
