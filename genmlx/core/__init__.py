"""genmlx.core"""
