"""genmlx.gfi"""
