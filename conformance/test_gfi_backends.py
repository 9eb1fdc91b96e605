"""Same model, same choices: every backend gives the NumPy float64 scores and weights."""

import pytest

import genmlx as gm
from genmlx import choicemap, select
from genmlx.testing import assert_close, to_numpy
from tests.models import XS, YS, branching, line, outer, switchy

FULL = choicemap({("y", j): y for j, y in enumerate(YS)}).set("slope", 1.7).set("intercept", 0.3)
RTOL, ATOL = 2e-6, 2e-5  # float32 vs float64 on sums of ~7 terms of size < 50


def reference(fn):
    with gm.use_backend("numpy", float_dtype="float64"):
        return to_numpy(fn())


def test_scores_and_weights_match_numpy64(backend):
    run = lambda: line.generate((XS,), FULL, key=gm.key(0)).weight
    assert_close(run(), reference(run), rtol=RTOL, atol=ATOL)
    run = lambda: line.assess((XS,), FULL).weight
    assert_close(run(), reference(run), rtol=RTOL, atol=ATOL)

    def update_weight():
        tr, _ = line.generate((XS,), FULL)
        return line.update(tr, choicemap(slope=2.2, intercept=-0.1)).weight

    assert_close(update_weight(), reference(update_weight), rtol=RTOL, atol=ATOL)

    def project():
        tr, _ = line.generate((XS,), FULL)
        return line.project(tr, select("slope", ("y", 2)))

    assert_close(project(), reference(project), rtol=RTOL, atol=ATOL)


def test_control_flow_update_matches_numpy64(backend):
    def weight():
        tr, _ = branching.generate((), choicemap(coin=1, a=0.5))
        return branching.update(tr, choicemap(coin=0, b=4.0)).weight

    assert_close(weight(), reference(weight), rtol=RTOL, atol=ATOL)


def test_nested_and_spliced_scores_match_numpy64(backend):
    cm = choicemap({"m": 0.3, ("sub", "v"): -0.2, "v": 1.1})
    run = lambda: outer.assess((), cm).weight
    assert_close(run(), reference(run), rtol=RTOL, atol=ATOL)


def test_discrete_enumerable_model_matches_numpy64(backend):
    run = lambda: switchy.assess((), choicemap(k=0, z=1, obs=1)).weight
    assert_close(run(), reference(run), rtol=RTOL, atol=ATOL)
