"""genmlx.dsl"""
