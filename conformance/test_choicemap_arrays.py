"""Gen.jl's to_array / from_array on every backend: flattening a choicemap's values
into one 1-D array in a fixed order, and rebuilding the choicemap from it."""

import numpy as np
import pytest

import genmlx as gm
from genmlx import choicemap, dist, from_array, gen, to_array, trace
from genmlx.errors import AddressError, ShapeError
from genmlx.testing import to_numpy


def test_to_array_order_and_round_trip_with_scalars_and_vectors(backend):
    """Gen.jl rule: to_array lays the values out in one fixed address order, each value
    contributing all its elements (row-major), and from_array(template, array) reads
    them back in the same order into a choicemap shaped like the template; the two
    are inverse. Here the order is the template's addresses() order (depth first,
    insertion order), or an explicit address list."""
    vec = backend.asarray([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    cm = choicemap({"a": 0.5, ("b", 0): vec, ("b", 1): backend.asarray([7.0, 8.0]), "c": -1.0})
    arr = to_array(cm, cm)
    assert tuple(arr.shape) == (10,) and arr.dtype == backend.float_dtype
    np.testing.assert_array_equal(to_numpy(arr), [0.5, 1, 2, 3, 4, 5, 6, 7, 8, -1])
    back = from_array(cm, arr)
    assert back.addresses() == cm.addresses()
    assert back == choicemap({"a": 0.5, ("b", 0): vec, ("b", 1): [7.0, 8.0], "c": -1.0})
    assert tuple(back[("b", 0)].shape) == (2, 3)
    # a new array in the same layout gives new values at the same addresses
    moved = from_array(cm, arr * 2.0)
    np.testing.assert_array_equal(to_numpy(moved[("b", 1)]), [14.0, 16.0])
    assert float(moved["a"]) == 1.0
    # an explicit address list fixes another order
    np.testing.assert_array_equal(to_numpy(to_array(cm, ["c", ("b", 1), "a"])), [-1, 7, 8, 0.5])
    np.testing.assert_array_equal(to_numpy(to_array(cm)), to_numpy(arr))
    assert tuple(to_array(choicemap(), []).shape) == (0,)


def test_round_trip_of_a_trace_keeps_discrete_dtypes_and_scores(backend):
    """from_array(template, to_array(choices, template)) rebuilds the same choices: a
    model assesses them to the same score, and an integer site comes back integer."""
    @gen
    def model():
        trace("mu", dist.gaussian(0.0, 1.0))
        trace("k", dist.poisson(3.0))
        trace("v", dist.multivariate_normal([0.0, 1.0], [[1.0, 0.2], [0.2, 1.0]]))

    tr = model.simulate((), key=gm.key(3))
    arr = to_array(tr.choices, tr.choices)
    assert tuple(arr.shape) == (4,)
    back = from_array(tr.choices, arr)
    assert back["k"].dtype == backend.int_dtype
    assert back == tr.choices
    np.testing.assert_allclose(to_numpy(model.assess((), back).weight), to_numpy(tr.score),
                               rtol=1e-6)


def test_size_and_shape_mismatches_raise_clear_errors(backend):
    template = choicemap({"a": 0.0, "b": backend.asarray([0.0, 0.0, 0.0])})
    with pytest.raises(ShapeError, match=r"has 3 entries.*hold 4"):
        from_array(template, backend.asarray([1.0, 2.0, 3.0]))
    with pytest.raises(ShapeError, match=r"has 5 entries.*hold 4"):
        from_array(template, backend.asarray([1.0, 2.0, 3.0, 4.0, 5.0]))
    with pytest.raises(ShapeError, match="1-D"):
        from_array(template, backend.asarray([[1.0, 2.0], [3.0, 4.0]]))
    other = choicemap({"a": 1.0, "b": backend.asarray([1.0, 2.0])})
    with pytest.raises(ShapeError, match=r"value at b has shape \(2,\).*shape \(3,\)"):
        to_array(other, template)
    with pytest.raises(AddressError, match="no value at address zz"):
        to_array(other, ["a", "zz"])
    with pytest.raises(TypeError, match="list of addresses"):
        to_array(other, ("a", "b"))
