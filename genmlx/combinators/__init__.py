"""genmlx.combinators"""
