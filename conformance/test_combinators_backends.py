"""Every combinator on every backend: the GFI against the equivalent hand-written
@gen model on the same choices, and the same choices scored by the float64 NumPy
backend."""

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
from scipy import stats

import genmlx as gm
from genmlx import ChoiceMap, choicemap, dist, gen, select, splice, trace
from genmlx.combinators import (
    Contramap, Dimap, Map, Mask, Mix, Recurse, Scan, Switch, Unfold, VSwitch, repeat_gf, vmap_gf,
)
from genmlx.testing import assert_close, to_numpy

RTOL, ATOL = 1e-5, 1e-4  # float32 sums of < 20 log densities of magnitude < 30
CROSS_RTOL = 1e-4  # float32 on the backend vs float64 on NumPy


def close(actual, expected, rtol=RTOL, msg=""):
    assert_close(actual, expected, rtol=rtol, atol=ATOL, msg=msg)


# -- kernels and their hand-written equivalents -----------------------------------------

@gen
def hmm_step(t, z, sigma):
    z = trace("z", dist.gaussian(z, sigma))
    trace("y", dist.gaussian(z, 1.0))
    return z


@gen
def hmm_hand(n, z, sigma):
    states = []
    for t in range(n):
        z = trace(t, hmm_step, t, z, sigma)
        states.append(z)
    return states


@gen
def level_step(level, x):
    level = trace("level", dist.gaussian(level + x, 1.0))
    return level, trace("obs", dist.gaussian(level, 0.5))


@gen
def scan_hand(carry, xs):
    ys = []
    for t, x in enumerate(xs):
        carry, y = trace(t, level_step, carry, x)
        ys.append(y)
    return carry, ys


@gen
def point(x, noise):
    slope = trace("slope", dist.gaussian(1.0, 0.5))
    return trace("y", dist.gaussian(slope * x, noise))


@gen
def map_hand(xs, noises):
    return [trace(i, point, x, s) for i, (x, s) in enumerate(zip(xs, noises))]


@gen
def low(mu):
    return trace("x", dist.gaussian(mu - 1.0, 1.0))


@gen
def high(mu):
    a = trace("a", dist.gaussian(mu + 1.0, 2.0))
    return a + trace("b", dist.gaussian(a, 0.5))


@gen
def switch_hand(index, mu):
    return splice(low, mu) if index == 0 else splice(high, mu)


@gen
def mask_hand(flag, mu):
    return splice(high, mu) if flag else None


@gen
def mix_hand(log_weights, mu):
    k = trace("component", dist.categorical(log_weights))
    if k == 0:
        return trace(("value", "x"), dist.gaussian(mu - 1.0, 1.0))
    a = trace(("value", "a"), dist.gaussian(mu + 1.0, 2.0))
    return a + trace(("value", "b"), dist.gaussian(a, 0.5))


def make_tree(self):
    @gen
    def tree(depth):
        value = trace("value", dist.gaussian(0.0, 1.0))
        if depth == 0 or trace("leaf", dist.bernoulli(0.4)):
            return value
        return value + trace("left", self, depth - 1) + trace("right", self, depth - 1)
    return tree


@gen
def tree_hand(depth):
    value = trace("value", dist.gaussian(0.0, 1.0))
    if depth == 0 or trace("leaf", dist.bernoulli(0.4)):
        return value
    return value + trace("left", tree_hand, depth - 1) + trace("right", tree_hand, depth - 1)


@gen
def noisy(mu):
    x = trace("x", dist.gaussian(mu, 1.0))
    return trace("y", dist.gaussian(x, 0.5))


@gen
def dimap_hand(mu):
    return 10.0 * splice(high, 2.0 * mu)


@gen
def contramap_hand(a, b):
    return splice(high, a + b)


def xp():
    return gm.get_backend().xp


@dataclass
class Case:
    """A combinator, its hand-written model, arguments, and one edit of each kind."""

    combinator: Any
    hand: Any
    args: Callable[[], tuple]
    constraints: Callable[[], ChoiceMap]
    selection: Any
    start: Callable[[], ChoiceMap] | None = None
    hand_args: Callable[[], tuple] | None = None


BRANCHY = {"leaf": 0, "value": 0.1, ("left", "leaf"): 1, ("left", "value"): 0.5,
           ("right", "leaf"): 1, ("right", "value"): -0.3}

CASES = {
    "Unfold": Case(Unfold(hmm_step), hmm_hand, lambda: (4, 0.0, 0.5),
                   lambda: choicemap({(1, "z"): 0.7}), select((2, "z"))),
    "Scan": Case(Scan(level_step), scan_hand, lambda: (0.0, [0.1, -0.2, 0.3]),
                 lambda: choicemap({(0, "level"): 0.5}), select((1, "obs"))),
    "Map": Case(Map(point), map_hand, lambda: ([1.0, 2.0, 3.0], [0.5, 0.5, 1.0]),
                lambda: choicemap({(1, "slope"): 0.0}), select((2, "y"))),
    "Switch": Case(Switch(low, high), switch_hand, lambda: (1, 0.3),
                   lambda: choicemap(b=1.0), select("a")),
    "Mask": Case(Mask(high), mask_hand, lambda: (True, 0.3), lambda: choicemap(a=0.0),
                 select("b")),
    "Mix": Case(Mix(low, high), mix_hand, lambda: (xp().log(xp().asarray([0.3, 0.7])), 0.2),
                lambda: choicemap({("value", "b"): 0.0}), select(("value", "a")),
                start=lambda: choicemap({"component": 1, ("value", "a"): 0.5,
                                         ("value", "b"): 1.0})),
    "Recurse": Case(Recurse(make_tree, name="tree"), tree_hand, lambda: (2,),
                    lambda: choicemap({("right", "value"): 0.0}), select(("left", "value")),
                    start=lambda: choicemap(BRANCHY)),
    "vmap_gf": Case(vmap_gf(noisy), noisy, lambda: (xp().asarray([0.0, 1.0, 2.0]),),
                    lambda: choicemap(x=xp().asarray([0.1, 0.2, 0.3])), select("x")),
    "repeat_gf": Case(repeat_gf(noisy, 3), noisy, lambda: (0.5,),
                      lambda: choicemap(y=xp().zeros(3)), select("x"),
                      hand_args=lambda: (xp().full((3,), 0.5),)),
    "Dimap": Case(Dimap(high, lambda mu: (2.0 * mu,), lambda r: 10.0 * r), dimap_hand,
                  lambda: (0.5,), lambda: choicemap(a=0.0), select("b")),
    "Contramap": Case(Contramap(high, lambda a, b: (a + b,)), contramap_hand,
                      lambda: (0.25, 0.5), lambda: choicemap(a=0.0), select("b")),
}


def portable(choices):
    """The choices as NumPy values of their own dtype, to move them to another backend."""
    backend = gm.get_backend()
    return choicemap({path: np.asarray(backend.to_numpy(v)) for path, v in choices.leaves()})


def start_pair(case, key):
    args = case.args()
    hand_args = case.hand_args() if case.hand_args else args
    if case.start is None:
        tr = case.combinator.simulate(args, key=key)
    else:
        tr = case.combinator.generate(args, case.start(), key=key).trace
    return args, hand_args, tr, case.hand.generate(hand_args, tr.choices).trace


@pytest.mark.parametrize("name", list(CASES))
def test_combinator_matches_hand_model_on_every_backend(backend, name):
    case = CASES[name]
    args, hand_args, tr, hand = start_pair(case, gm.key(0))
    comb = case.combinator
    close(tr.score, hand.score, msg="simulate score vs hand")
    close(comb.assess(args, tr.choices).weight, hand.score, msg="assess")
    close(comb.generate(args, tr.choices, key=gm.key(1)).weight, hand.score, msg="generate")
    new, w, _, discard = comb.update(tr, case.constraints(), key=gm.key(2))
    h_new, h_w, _, h_discard = case.hand.update(hand, case.constraints())
    close(w, h_w, msg="update weight")
    close(new.score, h_new.score, msg="updated score")
    assert discard == h_discard and new.choices == h_new.choices
    new, w, _ = comb.regenerate(tr, case.selection, key=gm.key(3))
    h_new = case.hand.generate(hand_args, new.choices).trace
    expected = (h_new.score - hand.score) - (case.hand.project(h_new, case.selection)
                                             - case.hand.project(hand, case.selection))
    close(w, expected, msg="regenerate weight")
    close(comb.project(tr, case.selection), case.hand.project(hand, case.selection),
          msg="project")


@pytest.mark.parametrize("name", list(CASES))
def test_same_choices_same_score_as_numpy(backend, name):
    case = CASES[name]
    args, _, tr, _ = start_pair(case, gm.key(4))
    choices, score = portable(tr.choices), to_numpy(tr.score)
    np_args = tuple(np.asarray(to_numpy(a)) if backend.is_array(a) else a for a in args)
    with gm.use_backend("numpy", float_dtype="float64") as ref:
        ref_args = tuple(ref.asarray(a) if isinstance(a, np.ndarray) else a for a in np_args)
        ref_score = case.combinator.assess(ref_args, choices).weight
        assert_close(ref_score, score, rtol=CROSS_RTOL, atol=ATOL)


def test_unfold_closed_form_and_incremental_update(backend):
    hmm = CASES["Unfold"].combinator
    tr = hmm.simulate((6, 0.0, 0.5), key=gm.key(5))
    zs = [float(to_numpy(tr[t, "z"])) for t in range(6)]
    ys = [float(to_numpy(tr[t, "y"])) for t in range(6)]
    expected = sum(stats.norm(p, 0.5).logpdf(z) for p, z in zip([0.0] + zs[:-1], zs)) \
        + sum(stats.norm(z, 1.0).logpdf(y) for z, y in zip(zs, ys))
    close(tr.score, expected)
    new, w, _, _ = hmm.update(tr, choicemap({(5, "z"): 0.0}))
    close(w, stats.norm(zs[4], 0.5).logpdf(0.0) + stats.norm(0.0, 1.0).logpdf(ys[5])
          - stats.norm(zs[4], 0.5).logpdf(zs[5]) - stats.norm(zs[5], 1.0).logpdf(ys[5]))
    vtr = hmm.vsimulate((3, 0.0, 0.5), 4, key=gm.key(6))
    for i in range(4):
        single = choicemap({p: v[i] for p, v in vtr.choices.leaves()})
        close(vtr.score[i], hmm.assess((3, 0.0, 0.5), single).weight)


def test_vswitch_per_particle_matches_switch(backend):
    vsw, sw = VSwitch(low, high), CASES["Switch"].combinator
    index = xp().asarray([0, 1, 1], dtype=xp().int32)
    vtr = vsw.vsimulate((index, 0.3), 3, key=gm.key(7))
    addresses = {0: {("x",)}, 1: {("a",), ("b",)}}
    for i, k in enumerate([0, 1, 1]):
        choices = choicemap({p: v[i] for p, v in vtr.choices.leaves() if p in addresses[k]})
        close(vtr.score[i], sw.assess((k, 0.3), choices).weight)
    new, w, _, _ = vsw.vupdate(vtr, choicemap(b=xp().zeros(3)))
    close(new.score, vtr.score + w)
