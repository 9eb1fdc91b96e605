"""Fixtures for the cross-backend suite: every test runs inside a scoped backend."""

import pytest

import genmlx

BACKENDS = genmlx.installed_backends()


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Each installed backend in turn (float32), scoped with use_backend."""
    with genmlx.use_backend(request.param) as b:
        yield b


@pytest.fixture
def numpy64():
    """The float64 NumPy reference backend, scoped."""
    with genmlx.use_backend("numpy", float_dtype="float64") as b:
        yield b


@pytest.fixture(params=[b for b in BACKENDS if genmlx.get_backend(b).has("grad")])
def grad_backend(request):
    """Each installed backend that has autodiff, scoped."""
    with genmlx.use_backend(request.param) as b:
        yield b
