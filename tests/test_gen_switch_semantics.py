"""Gen.jl's rules for Switch, Mask and VSwitch when the branch index or flag changes.

Each test states one rule in its docstring and checks it against scipy, on the
concrete (Python int/bool) path and on the array path (a 0-d array index, the
one compiled code takes), which must agree.
"""

import numpy as np
import pytest
from scipy import stats

import genmlx as gm
from genmlx import EMPTY, choicemap, dist, gen, select, trace
from genmlx.combinators import Mask, Switch, VSwitch
from genmlx.combinators.switch import SelectedChoices
from genmlx.testing import assert_close, to_numpy

RTOL, ATOL = 1e-5, 1e-4


@gen
def first(mu):
    x = trace("x", dist.gaussian(mu, 1.0))
    trace("y", dist.gaussian(x, 2.0))
    return x


@gen
def second(mu):
    x = trace("x", dist.gaussian(mu + 3.0, 0.5))
    trace("z", dist.gaussian(-x, 1.0))
    return x


SW = Switch(first, second)
VSW = VSwitch(first, second)


def f(v):
    return float(to_numpy(v))


def close(a, e):
    assert_close(a, e, rtol=RTOL, atol=ATOL)


def as_array(k):
    b = gm.get_backend()
    return b.asarray(k, dtype=b.int_dtype)


def lp_first(x, y, mu=0.0):
    return stats.norm(mu, 1).logpdf(x) + stats.norm(x, 2).logpdf(y)


def lp_second(x, z, mu=0.0):
    return stats.norm(mu + 3, 0.5).logpdf(x) + stats.norm(-x, 1).logpdf(z)


@pytest.mark.parametrize("array", [False, True], ids=["int", "array"])
def test_update_to_a_new_branch_keeps_shared_addresses(array):
    """Gen's Switch update with a new index runs the new branch with the old branch's
    choices as constraints where the addresses coincide: the shared x keeps its
    value, z is drawn fresh. Weight = log p_new(x, z) - log p_old(x, y) minus the
    fresh z's own density, i.e. log p_second(x) - log p_first(x, y); the discard
    holds y, the only old choice the new branch does not use."""
    idx = (lambda k: as_array(k)) if array else (lambda k: k)
    tr = SW.simulate((idx(0), 0.0), key=gm.key(0))
    x, y = f(tr["x"]), f(tr["y"])
    new, w, _, discard = SW.update(tr, EMPTY, args=(idx(1), 0.0), key=gm.key(1))
    assert f(new["x"]) == x
    z = f(new["z"])
    assert set(new.choices.addresses()) == {("x",), ("z",)}
    close(w, stats.norm(3, 0.5).logpdf(x) - lp_first(x, y))
    close(new.score, lp_second(x, z))
    assert set(discard.addresses()) == {("y",)} and f(discard["y"]) == y


@pytest.mark.parametrize("array", [False, True], ids=["int", "array"])
def test_update_to_a_new_branch_with_constraints(array):
    """Constraints override the carried-over values: a constrained shared address takes
    the constraint (its old value goes to the discard, as any replaced choice) and
    counts with its new density in the weight."""
    idx = (lambda k: as_array(k)) if array else (lambda k: k)
    tr = SW.simulate((idx(0), 0.0), key=gm.key(2))
    x, y = f(tr["x"]), f(tr["y"])
    new, w, _, discard = SW.update(tr, choicemap(x=2.5, z=-1.0), args=(idx(1), 0.0),
                                   key=gm.key(3))
    assert f(new["x"]) == 2.5 and f(new["z"]) == -1.0
    close(w, lp_second(2.5, -1.0) - lp_first(x, y))
    assert set(discard.addresses()) == {("x",), ("y",)} and f(discard["x"]) == x


@pytest.mark.parametrize("array", [False, True], ids=["int", "array"])
def test_regenerate_to_a_new_branch_keeps_unselected_shared_addresses(array):
    """Gen's Switch regenerate with a new index keeps the old values at shared addresses
    that are not selected; selected and fresh choices come from the prior, whose
    density cancels in the MH ratio. Weight = new minus old log density of the kept
    values: log p_second(x) - log p_first(x). Selecting x resamples it: weight 0."""
    idx = (lambda k: as_array(k)) if array else (lambda k: k)
    tr = SW.simulate((idx(0), 0.0), key=gm.key(4))
    x = f(tr["x"])
    new, w, _ = SW.regenerate(tr, gm.NONE, args=(idx(1), 0.0), key=gm.key(5))
    assert f(new["x"]) == x
    close(w, stats.norm(3, 0.5).logpdf(x) - stats.norm(0, 1).logpdf(x))
    new, w, _ = SW.regenerate(tr, select("x"), args=(idx(1), 0.0), key=gm.key(5))
    assert f(new["x"]) != x
    close(w, 0.0)


@pytest.mark.parametrize("array", [False, True], ids=["bool", "array"])
def test_mask_on_to_off_and_off_to_on(array):
    """Gen's Mask: on -> off removes the callee: discard = all its choices, weight =
    -old score. off -> on runs the callee as a generate: fresh choices add nothing
    (weight 0), constrained ones add their log density."""
    mask = Mask(first)
    flag = (lambda v: as_array(int(v))) if array else (lambda v: v)
    on = mask.simulate((flag(True), 0.0), key=gm.key(6))
    x, y = f(on["x"]), f(on["y"])
    off, w, _, discard = mask.update(on, EMPTY, args=(flag(False), 0.0), key=gm.key(7))
    close(w, -lp_first(x, y))
    assert dict(discard.leaves()).keys() == {("x",), ("y",)}
    assert off.choices.is_empty() and f(off.score) == 0.0
    back, w, _, discard = mask.update(off, EMPTY, args=(flag(True), 0.0), key=gm.key(8))
    close(w, 0.0)
    assert discard.is_empty() and set(back.choices.addresses()) == {("x",), ("y",)}
    back, w, _, _ = mask.update(off, choicemap(y=0.5), args=(flag(True), 0.0), key=gm.key(8))
    close(w, stats.norm(f(back["x"]), 2).logpdf(0.5))
    _, w, _ = mask.regenerate(on, gm.NONE, args=(flag(False), 0.0), key=gm.key(9))
    close(w, 0.0)


def test_vswitch_moves_each_particle_by_gens_rule():
    """VSwitch applies Switch's rule per particle: a particle whose index changes keeps
    its shared x and gets weight log p_second(x) - log p_first(x, y); the others keep
    their branch's update weight (0 with nothing constrained)."""
    xp = gm.get_backend().xp
    old = xp.asarray([0, 0, 1], dtype=xp.int32)
    vtr = VSW.vsimulate((old, 0.0), 3, key=gm.key(10))
    new, w, _, discard = VSW.vupdate(vtr, EMPTY, args=(xp.asarray([1, 0, 1], dtype=xp.int32),
                                                       0.0), key=gm.key(11))
    x0, y0 = f(vtr["x"][0]), f(vtr["y"][0])
    assert f(new["x"][0]) == x0
    close(w[0], stats.norm(3, 0.5).logpdf(x0) - lp_first(x0, y0))
    close(w[1], 0.0)
    close(w[2], 0.0)
    close(new.score[0], lp_second(x0, f(new["z"][0])))
    assert ("y",) in discard.addresses()


def test_array_index_shows_only_the_selected_branch_and_agrees_with_int():
    """An array index runs every branch but the trace is the selected branch's: its
    score, retval and choices (an address set read from the index on demand) equal
    the concrete path's on the same choices."""
    tr = SW.simulate((as_array(1), 0.0), key=gm.key(12))
    assert isinstance(tr.choices, SelectedChoices)
    assert set(tr.choices.addresses()) == {("x",), ("z",)}
    concrete = SW.generate((1, 0.0), tr.choices).trace
    close(tr.score, concrete.score)
    close(tr.retval, concrete.retval)
    close(SW.assess((as_array(1), 0.0), tr.choices).weight, concrete.score)
    close(SW.project(tr, select("z")), SW.project(concrete, select("z")))


def test_array_index_out_of_range_gives_nan_and_missing_choices_nan():
    """A traced index cannot be checked on the host: out of range gives a NaN score, and
    assess of a selected branch lacking one of its choices gives NaN."""
    tr = SW.simulate((as_array(2), 0.0), key=gm.key(13))
    assert np.isnan(f(tr.score))
    assert np.isnan(f(SW.assess((as_array(1), 0.0), choicemap(x=0.1)).weight))
