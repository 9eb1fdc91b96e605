"""genmlx.inference"""
