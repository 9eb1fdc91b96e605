"""Backend implementations, installed as `genmlx.backends` (one module per library).

Import a backend through `genmlx.get_backend(name)`, never directly: the
registry imports the module lazily, so a missing library costs nothing until
it is asked for.
"""
