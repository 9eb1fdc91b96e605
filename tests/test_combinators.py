"""Combinators against equivalent hand-written @gen models (default backend).

Each combinator's simulate/generate/update/regenerate/assess/project is compared
with the hand-written model it stands for, on the same choices: scores, weights,
discards and retvals agree to float32 tolerance. Kernel bodies count their runs,
which shows that update with argdiffs skips the sub-calls that cannot change.
"""

import collections

import numpy as np
import pytest
from scipy import stats
from scipy.special import log_softmax

import genmlx as gm
from genmlx import EMPTY, SequenceDiff, choicemap, dist, gen, select, splice, trace
from genmlx.combinators import (
    Contramap, Dimap, Map, Mask, Mix, Recurse, Scan, Switch, Unfold, VSwitch, repeat_gf, vmap_gf,
)
from genmlx.errors import AddressError, ArgumentError
from genmlx.testing import assert_close, to_numpy

RTOL, ATOL = 1e-5, 1e-4  # float32 sums of < 40 log densities of magnitude < 30

runs = collections.Counter()


@pytest.fixture(autouse=True)
def _reset_counts():
    runs.clear()


def close(actual, expected, msg=""):
    assert_close(actual, expected, rtol=RTOL, atol=ATOL, msg=msg)


def f(x):
    return float(to_numpy(x))


def same_values(a, b):
    """Retvals (arrays, numbers, nested lists/tuples) equal elementwise."""
    if isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b)
        for x, y in zip(a, b):
            same_values(x, y)
    elif a is None or b is None:
        assert a is None and b is None
    else:
        assert_close(a, b, rtol=RTOL, atol=1e-6)


def regenerate_expected(hand, args, old_choices, new_choices, selection):
    """MH log-ratio of resampling `selection` from the prior, from the hand model."""
    old = hand.generate(args, old_choices).trace
    new = hand.generate(args, new_choices).trace
    return (new.score - old.score) - (hand.project(new, selection) - hand.project(old, selection))


# -- Unfold -----------------------------------------------------------------------------

@gen
def hmm_step(t, z, sigma):
    runs["hmm_step"] += 1
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


HMM = Unfold(hmm_step)
SIGMA = 0.5
HMM_ARGS = (5, 0.0, SIGMA)


def hmm_logp(choices, n, z0=0.0, sigma=SIGMA):
    lp, prev = 0.0, z0
    for t in range(n):
        z, y = f(choices[t, "z"]), f(choices[t, "y"])
        lp += stats.norm(prev, sigma).logpdf(z) + stats.norm(z, 1.0).logpdf(y)
        prev = z
    return lp


def hmm_pair(key=0, args=HMM_ARGS):
    tr = HMM.simulate(args, key=gm.key(key))
    return tr, hmm_hand.generate(args, tr.choices).trace


def test_unfold_simulate_score_assess_and_retval_match_hand_model():
    tr, hand = hmm_pair()
    close(tr.score, hmm_logp(tr.choices, 5))
    close(HMM.assess(HMM_ARGS, tr.choices).weight, hand.score)
    same_values(tr.retval, hand.retval)
    assert tr[3, "z"] is tr.retval[3] and tr[3] is tr.retval[3]
    assert len(tr.retval) == 5


def test_unfold_generate_weights():
    tr, hand = hmm_pair()
    _, w = HMM.generate(HMM_ARGS, tr.choices, key=gm.key(1))
    close(w, hand.score)
    obs = choicemap({(t, "y"): 0.3 * t for t in range(5)})
    tr2, w = HMM.generate(HMM_ARGS, obs, key=gm.key(2))
    expected = sum(stats.norm(f(tr2[t, "z"]), 1.0).logpdf(0.3 * t) for t in range(5))
    close(w, expected)
    assert f(HMM.generate(HMM_ARGS, key=gm.key(3)).weight) == 0.0


def test_unfold_update_matches_hand_and_reruns_only_changed_steps():
    tr, hand = hmm_pair()
    cons = choicemap({(2, "z"): 1.5})
    runs.clear()
    new, w, retdiff, discard = HMM.update(tr, cons, key=gm.key(4))
    # step 2 changed its state; step 3 kept its z (the same object), so the chain stops
    assert runs["hmm_step"] == 2
    h_new, h_w, _, h_discard = hmm_hand.update(hand, cons)
    close(w, h_w)
    assert discard == h_discard == choicemap({(2, "z"): tr[2, "z"]})
    assert new.choices == h_new.choices
    close(new.score, h_new.score)
    same_values(new.retval, h_new.retval)
    assert isinstance(retdiff, SequenceDiff) and retdiff.changed == frozenset({2})
    assert new.retval[4] is tr.retval[4] and f(tr[2, "z"]) != 1.5  # old trace untouched


def test_unfold_update_observation_only_reruns_one_step():
    tr, hand = hmm_pair()
    runs.clear()
    new, w, retdiff, _ = HMM.update(tr, choicemap({(4, "y"): 0.0}))
    assert runs["hmm_step"] == 1
    close(w, hmm_hand.update(hand, choicemap({(4, "y"): 0.0})).weight)
    assert new.retval is tr.retval and retdiff == gm.NO_CHANGE


def test_unfold_grow_and_shrink_match_hand_model():
    tr, hand = hmm_pair()
    grow = choicemap({(t, a): 0.1 * t for t in (5, 6) for a in ("z", "y")})
    runs.clear()
    new, w, _, discard = HMM.update(tr, grow, args=(7, 0.0, SIGMA))
    assert runs["hmm_step"] == 2 and discard.is_empty()
    h_new, h_w, _, _ = hmm_hand.update(hand, grow, args=(7, 0.0, SIGMA))
    close(w, h_w)
    close(new.score, h_new.score)
    assert new.choices == h_new.choices
    # new steps with only y constrained: weight = the y densities given the fresh z
    new, w, _, _ = HMM.update(tr, choicemap({(5, "y"): 1.0}), args=(6, 0.0, SIGMA))
    close(w, stats.norm(f(new[5, "z"]), 1.0).logpdf(1.0))
    close(new.score, hmm_logp(new.choices, 6))
    runs.clear()
    new, w, retdiff, discard = HMM.update(tr, args=(3, 0.0, SIGMA))
    assert runs["hmm_step"] == 0
    h_new, h_w, _, h_discard = hmm_hand.update(hand, args=(3, 0.0, SIGMA))
    close(w, h_w)
    assert discard == h_discard and new.choices == h_new.choices
    assert retdiff.new_length == 3 and len(new.retval) == 3


def test_unfold_changed_params_and_init_match_hand_model():
    tr, hand = hmm_pair()
    runs.clear()
    new, w, _, _ = HMM.update(tr, args=(5, 0.0, 2.0), argdiffs=(gm.NO_CHANGE, gm.NO_CHANGE,
                                                                gm.UNKNOWN_CHANGE))
    assert runs["hmm_step"] == 5
    close(w, hmm_hand.update(hand, args=(5, 0.0, 2.0)).weight)
    close(new.score, hmm_logp(new.choices, 5, sigma=2.0))
    runs.clear()
    new, w, _, _ = HMM.update(tr, args=(5, 1.0, SIGMA))
    assert runs["hmm_step"] == 1  # step 0 re-scored; its z object is kept, so the chain stops
    close(w, hmm_hand.update(hand, args=(5, 1.0, SIGMA)).weight)
    runs.clear()
    new, w, retdiff, _ = HMM.update(tr, args=tr.args, argdiffs=(gm.NO_CHANGE,) * 3)
    assert runs["hmm_step"] == 0 and f(w) == 0.0 and retdiff == gm.NO_CHANGE


def test_unfold_regenerate_and_project():
    tr, hand = hmm_pair()
    sel = select((1, "z"))
    runs.clear()
    new, w, _ = HMM.regenerate(tr, sel, key=gm.key(5))
    assert runs["hmm_step"] == 2
    close(w, regenerate_expected(hmm_hand, HMM_ARGS, tr.choices, new.choices, sel))
    close(new.score, hmm_logp(new.choices, 5))
    assert new[3, "z"] is tr[3, "z"]
    runs.clear()
    new, w, _ = HMM.regenerate(tr, gm.NONE)
    assert runs["hmm_step"] == 0 and f(w) == 0.0
    ys = select(*[(t, "y") for t in range(5)])
    close(HMM.project(tr, ys), hmm_hand.project(hand, ys))
    close(HMM.project(tr, gm.ALL), tr.score)
    assert f(HMM.project(tr, gm.NONE)) == 0.0


def test_unfold_long_chain_update_of_last_step_runs_one_kernel():
    args = (200, 0.0, SIGMA)
    tr = HMM.simulate(args, key=gm.key(6))
    runs.clear()
    new, w, _, _ = HMM.update(tr, choicemap({(199, "z"): 0.0}))
    assert runs["hmm_step"] == 1
    close(new.score, tr.score + w)  # no fresh choices: weight = new score - old score
    close(HMM.assess(args, new.choices).weight, new.score)


def test_unfold_propose_and_edit_come_from_the_base():
    choices, w, retval = HMM.propose(HMM_ARGS, key=gm.key(7))
    close(w, hmm_logp(choices, 5))
    tr, _ = hmm_pair()
    new, w, _, back = HMM.edit(tr, gm.ConstraintEdit(choicemap({(0, "z"): 0.2})))
    restored, w_back, _, _ = HMM.edit(new, back)
    assert restored.choices == tr.choices
    close(w_back, -f(w))


def test_unfold_batched_matches_unbatched_per_particle():
    xp = gm.get_backend().xp
    vtr = HMM.vsimulate(HMM_ARGS, 4, key=gm.key(8))
    assert tuple(vtr.score.shape) == (4,) and tuple(vtr[2, "z"].shape) == (4,)
    for i in range(4):
        single = choicemap({p: v[i] for p, v in vtr.choices.leaves()})
        close(vtr.score[i], HMM.assess(HMM_ARGS, single).weight)
    obs = choicemap({(t, "y"): xp.full((4,), 0.5) for t in range(5)})
    vtr, w = HMM.vgenerate(HMM_ARGS, obs, 4, key=gm.key(9))
    for i in range(4):
        expected = sum(stats.norm(f(vtr[t, "z"][i]), 1.0).logpdf(0.5) for t in range(5))
        close(w[i], expected)
    runs.clear()
    new, w, _, _ = HMM.vupdate(vtr, choicemap({(4, "z"): xp.zeros(4)}))
    assert runs["hmm_step"] == 1 and tuple(w.shape) == (4,)
    close(new.score, vtr.score + w)


def test_unfold_inside_batched_gen_model():
    @gen
    def model(sigma):
        z0 = trace("z0", dist.gaussian(0.0, 1.0))
        return trace("chain", HMM, 3, z0, sigma)

    vtr = model.vsimulate((SIGMA,), 5, key=gm.key(10))
    assert tuple(vtr["chain", 2, "z"].shape) == (5,)
    for i in range(5):
        single = choicemap({p: v[i] for p, v in vtr.choices.leaves()})
        close(vtr.score[i], model.assess((SIGMA,), single).weight)


def test_unfold_bad_input():
    with pytest.raises(ArgumentError, match="Unfold.*>= 0"):
        HMM.simulate((-1, 0.0, SIGMA))
    with pytest.raises(ArgumentError, match="Unfold.*int"):
        HMM.simulate((2.5, 0.0, SIGMA))
    with pytest.raises(AddressError, match=r"Unfold\(hmm_step\).generate.*7/z"):
        HMM.generate(HMM_ARGS, choicemap({(7, "z"): 0.0}))
    tr = HMM.simulate(HMM_ARGS)
    with pytest.raises(AddressError, match="Unfold.*5/y"):
        HMM.update(tr, choicemap({(5, "y"): 0.0}))
    with pytest.raises(AddressError, match="Unfold.*'z'"):
        HMM.update(tr, choicemap(z=0.0))
    with pytest.raises(AddressError, match="Unfold.*step 2 .*address y"):
        HMM.assess(HMM_ARGS, tr.choices.without((2, "y")))


# -- Scan -------------------------------------------------------------------------------

@gen
def level_step(level, x):
    runs["level_step"] += 1
    level = trace("level", dist.gaussian(level + x, 1.0))
    return level, trace("obs", dist.gaussian(level, 0.5))


@gen
def scan_hand(carry, xs):
    ys = []
    for t, x in enumerate(xs):
        carry, y = trace(t, level_step, carry, x)
        ys.append(y)
    return carry, ys


SCAN = Scan(level_step)
XS = [0.1, -0.2, 0.3, 0.4]


def test_scan_matches_hand_model():
    tr = SCAN.simulate((0.0, XS), key=gm.key(0))
    hand = scan_hand.generate((0.0, XS), tr.choices).trace
    close(tr.score, hand.score)
    close(SCAN.assess((0.0, XS), tr.choices).weight, hand.score)
    same_values(tr.retval, hand.retval)
    final, ys = tr.retval
    assert final is tr[3, "level"] and ys[1] is tr[1, "obs"]
    close(SCAN.generate((0.0, XS), tr.choices).weight, hand.score)
    obs = choicemap({(t, "obs"): 0.2 for t in range(4)})
    tr_obs, w = SCAN.generate((0.0, XS), obs, key=gm.key(4))
    close(w, scan_hand.project(scan_hand.generate((0.0, XS), tr_obs.choices).trace,
                               select(*[(t, "obs") for t in range(4)])))
    cons = choicemap({(1, "level"): 2.0})
    runs.clear()
    new, w, _, discard = SCAN.update(tr, cons)
    assert runs["level_step"] == 2
    h_new, h_w, _, h_discard = scan_hand.update(hand, cons)
    close(w, h_w)
    assert discard == h_discard and new.choices == h_new.choices
    same_values(new.retval, h_new.retval)
    sel = select((2, "level"))
    new, w, _ = SCAN.regenerate(tr, sel, key=gm.key(1))
    close(w, regenerate_expected(scan_hand, (0.0, XS), tr.choices, new.choices, sel))
    close(SCAN.project(tr, select((0, "obs"))), scan_hand.project(hand, select((0, "obs"))))


def test_scan_changed_xs_reruns_only_changed_steps():
    tr = SCAN.simulate((0.0, XS), key=gm.key(2))
    hand = scan_hand.generate((0.0, XS), tr.choices).trace
    xs2 = list(XS)
    xs2[2] = 1.0
    runs.clear()
    new, w, _, _ = SCAN.update(tr, args=(0.0, xs2),
                               argdiffs=(gm.NO_CHANGE, SequenceDiff(4, 4, frozenset({2}))))
    assert runs["level_step"] == 1
    close(w, scan_hand.update(hand, args=(0.0, xs2)).weight)
    runs.clear()
    SCAN.update(tr, args=(0.0, xs2))  # no argdiffs: list elements compared by identity
    assert runs["level_step"] == 1
    runs.clear()
    new, w, _, _ = SCAN.update(tr, choicemap({(4, "obs"): 0.0}), args=(0.0, XS + [0.5]))
    assert runs["level_step"] == 1 and len(new.retval[1]) == 5
    close(new.score, SCAN.assess((0.0, XS + [0.5]), new.choices).weight)


def test_scan_over_array_and_bad_input():
    xp = gm.get_backend().xp
    xs = xp.asarray(XS)
    tr = SCAN.simulate((0.0, xs), key=gm.key(3))
    close(tr.score, scan_hand.assess((0.0, XS), tr.choices).weight)
    with pytest.raises(ArgumentError, match="Scan.*sequence"):
        SCAN.simulate((0.0, 3.0))
    with pytest.raises(ArgumentError, match=r"Scan.*\(init_carry, xs\)"):
        SCAN.simulate((0.0, XS, 1.0))

    @gen
    def not_a_pair(c, x):
        return trace("c", dist.gaussian(c, 1.0))

    with pytest.raises(ArgumentError, match="Scan.*carry, y"):
        Scan(not_a_pair).simulate((0.0, XS))


# -- Map ----------------------------------------------------------------------------------

@gen
def point(x, noise):
    runs["point"] += 1
    slope = trace("slope", dist.gaussian(1.0, 0.5))
    return trace("y", dist.gaussian(slope * x, noise))


@gen
def map_hand(xs, noises):
    return [trace(i, point, x, s) for i, (x, s) in enumerate(zip(xs, noises))]


MAP = Map(point)
PX, PN = [1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 1.0, 1.0]


def test_map_matches_hand_model():
    tr = MAP.simulate((PX, PN), key=gm.key(0))
    hand = map_hand.generate((PX, PN), tr.choices).trace
    close(tr.score, hand.score)
    close(MAP.assess((PX, PN), tr.choices).weight, hand.score)
    same_values(tr.retval, hand.retval)
    obs = choicemap({(i, "y"): 2.0 * x for i, x in enumerate(PX)})
    tr2, w = MAP.generate((PX, PN), obs, key=gm.key(1))
    expected = sum(stats.norm(f(tr2[i, "slope"]) * x, s).logpdf(2.0 * x)
                   for i, (x, s) in enumerate(zip(PX, PN)))
    close(w, expected)
    cons = choicemap({(2, "slope"): 0.0})
    runs.clear()
    new, w, retdiff, discard = MAP.update(tr, cons)
    assert runs["point"] == 1
    h_new, h_w, _, h_discard = map_hand.update(hand, cons)
    close(w, h_w)
    assert discard == h_discard and new.choices == h_new.choices
    assert retdiff == gm.NO_CHANGE and new.retval is tr.retval  # y kept: retval unchanged
    sel = select((1, "slope"), (3, "y"))
    new, w, _ = MAP.regenerate(tr, sel, key=gm.key(2))
    close(w, regenerate_expected(map_hand, (PX, PN), tr.choices, new.choices, sel))
    close(MAP.project(tr, sel), map_hand.project(hand, sel))
    assert tr[1] is tr.retval[1]


def test_map_argdiffs_rerun_only_changed_elements():
    tr = MAP.simulate((PX, PN), key=gm.key(3))
    hand = map_hand.generate((PX, PN), tr.choices).trace
    px2 = list(PX)
    px2[1] = 10.0
    runs.clear()
    new, w, retdiff, _ = MAP.update(tr, args=(px2, PN),
                                    argdiffs=(SequenceDiff(4, 4, frozenset({1})), gm.NO_CHANGE))
    assert runs["point"] == 1
    close(w, map_hand.update(hand, args=(px2, PN)).weight)
    runs.clear()
    MAP.update(tr, args=(px2, PN))  # identity of list elements finds element 1
    assert runs["point"] == 1
    runs.clear()
    grow = choicemap({(4, "slope"): 1.0, (4, "y"): 5.0})
    new, w, _, _ = MAP.update(tr, grow, args=(PX + [5.0], PN + [1.0]))
    assert runs["point"] == 1
    close(w, map_hand.update(hand, grow, args=(PX + [5.0], PN + [1.0])).weight)
    new, w, _, discard = MAP.update(tr, args=(PX[:2], PN[:2]))
    h = map_hand.update(hand, args=(PX[:2], PN[:2]))
    close(w, h.weight)
    assert discard == h.discard and len(new.retval) == 2


def test_map_batched_and_bad_input():
    vtr = MAP.vsimulate((PX, PN), 3, key=gm.key(4))
    assert tuple(vtr.score.shape) == (3,)
    for i in range(3):
        single = choicemap({p: v[i] for p, v in vtr.choices.leaves()})
        close(vtr.score[i], MAP.assess((PX, PN), single).weight)
    with pytest.raises(ArgumentError, match=r"Map\(point\).*lengths \[4, 3\]"):
        MAP.simulate((PX, PN[:3]))
    with pytest.raises(AddressError, match="Map.*9/y"):
        MAP.generate((PX, PN), choicemap({(9, "y"): 0.0}))
    with pytest.raises(ArgumentError, match="Map.*at least 1"):
        MAP.simulate(())


# -- Switch ----------------------------------------------------------------------------

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


SWITCH = Switch(low, high)


def test_switch_matches_hand_model():
    for index in (0, 1):
        tr = SWITCH.simulate((index, 0.3), key=gm.key(index))
        hand = switch_hand.generate((index, 0.3), tr.choices).trace
        close(tr.score, hand.score)
        close(SWITCH.assess((index, 0.3), tr.choices).weight, hand.score)
        same_values(tr.retval, hand.retval)
    tr = SWITCH.simulate((1, 0.3), key=gm.key(5))
    hand = switch_hand.generate((1, 0.3), tr.choices).trace
    close(SWITCH.generate((1, 0.3), tr.choices).weight, hand.score)
    tr_b, w = SWITCH.generate((1, 0.3), choicemap(b=0.7), key=gm.key(8))
    close(w, stats.norm(f(tr_b["a"]), 0.5).logpdf(0.7))
    new, w, _, discard = SWITCH.update(tr, choicemap(b=1.0))
    h = switch_hand.update(hand, choicemap(b=1.0))
    close(w, h.weight)
    assert discard == h.discard and new.choices == h.trace.choices
    # changing the branch: disjoint addresses, so the hand model's weights are Switch's
    new, w, retdiff, discard = SWITCH.update(tr, choicemap(x=0.2), args=(0, 0.3))
    h = switch_hand.update(hand, choicemap(x=0.2), args=(0, 0.3))
    close(w, h.weight)
    assert discard == h.discard == tr.choices and new.choices == h.trace.choices
    new, w, _ = SWITCH.regenerate(tr, gm.NONE, args=(0, 0.3), key=gm.key(6))
    assert f(w) == 0.0 and set(new.choices.addresses()) == {("x",)}
    sel = select("a")
    new, w, _ = SWITCH.regenerate(tr, sel, key=gm.key(7))
    close(w, regenerate_expected(switch_hand, (1, 0.3), tr.choices, new.choices, sel))
    close(SWITCH.project(tr, sel), switch_hand.project(hand, sel))
    assert tr["a"] is tr.choices["a"]


def test_switch_bad_input():
    with pytest.raises(ArgumentError, match=r"Switch\(low, high\).*index 2 is out of range"):
        SWITCH.simulate((2, 0.0))
    with pytest.raises(ArgumentError, match="Switch.*int"):
        SWITCH.simulate((0.5, 0.0))
    with pytest.raises(AddressError, match="a"):
        SWITCH.generate((0, 0.0), choicemap(a=1.0))


# -- Mask ------------------------------------------------------------------------------

@gen
def mask_hand(flag, mu):
    if flag:
        return splice(high, mu)
    return None


MASK = Mask(high)


def test_mask_matches_hand_model():
    tr = MASK.simulate((True, 0.5), key=gm.key(0))
    hand = mask_hand.generate((True, 0.5), tr.choices).trace
    close(tr.score, hand.score)
    close(MASK.generate((True, 0.5), tr.choices).weight, hand.score)
    assert f(MASK.generate((False, 0.5)).weight) == 0.0
    off = MASK.simulate((False, 0.5))
    assert off.retval is None and off.choices.is_empty() and f(off.score) == 0.0
    new, w, _, discard = MASK.update(tr, args=(False, 0.5))
    h = mask_hand.update(hand, args=(False, 0.5))
    close(w, h.weight)
    assert discard == h.discard == tr.choices and new.retval is None
    full = choicemap(a=0.1, b=0.2)
    back, w, _, _ = MASK.update(off, full, args=(True, 0.5))
    h_off = mask_hand.generate((False, 0.5)).trace
    close(w, mask_hand.update(h_off, full, args=(True, 0.5)).weight)
    close(back.score, MASK.assess((True, 0.5), full).weight)
    new, w, _ = MASK.regenerate(tr, gm.NONE, args=(False, 0.5))
    assert f(w) == 0.0
    new, w, _ = MASK.regenerate(tr, select("b"), key=gm.key(1))
    close(w, regenerate_expected(mask_hand, (True, 0.5), tr.choices, new.choices, select("b")))
    close(MASK.project(tr, select("a")), mask_hand.project(hand, select("a")))
    assert f(MASK.assess((False, 0.5), EMPTY).weight) == 0.0


def test_mask_bad_input():
    with pytest.raises(AddressError, match="Mask.*flag is false"):
        MASK.generate((False, 0.5), choicemap(a=1.0))
    with pytest.raises(ArgumentError, match="Mask.*flag"):
        MASK.simulate(([True, False], 0.5))


# -- Mix -------------------------------------------------------------------------------

@gen
def mix_hand(log_weights, mu):
    k = trace("component", dist.categorical(log_weights))
    if k == 0:
        return trace(("value", "x"), dist.gaussian(mu - 1.0, 1.0))
    a = trace(("value", "a"), dist.gaussian(mu + 1.0, 2.0))
    return a + trace(("value", "b"), dist.gaussian(a, 0.5))


MIX = Mix(low, high)


def test_mix_matches_hand_model_and_closed_form():
    xp = gm.get_backend().xp
    lw = xp.log(xp.asarray([0.3, 0.7]))
    for key in range(4):
        tr = MIX.simulate((lw, 0.2), key=gm.key(key))
        hand = mix_hand.generate((lw, 0.2), tr.choices).trace
        close(tr.score, hand.score)
        same_values(tr.retval, hand.retval)
    full = choicemap({"component": 0, ("value", "x"): 0.4})
    w, retval = MIX.assess((lw, 0.2), full)
    close(w, np.log(0.3) + stats.norm(-0.8, 1.0).logpdf(0.4))
    tr, w = MIX.generate((lw, 0.2), full)
    close(w, tr.score)
    assert f(tr["component"]) == 0 and f(tr["value", "x"]) == f(retval)
    hand = mix_hand.generate((lw, 0.2), full).trace
    cons = choicemap({"component": 1, ("value", "a"): 1.0, ("value", "b"): 1.5})
    new, w, _, discard = MIX.update(tr, cons)
    h = mix_hand.update(hand, cons)
    close(w, h.weight)
    assert discard == h.discard and new.choices == h.trace.choices
    close(MIX.project(tr, select("component")), log_softmax([np.log(0.3), np.log(0.7)])[0])
    sel = select(("value", "x"))
    new, w, _ = MIX.regenerate(tr, sel, key=gm.key(9))
    close(w, regenerate_expected(mix_hand, (lw, 0.2), tr.choices, new.choices, sel))


# -- Recurse -----------------------------------------------------------------------------

def make_tree(self):
    @gen
    def tree(depth):
        runs["tree"] += 1
        value = trace("value", dist.gaussian(0.0, 1.0))
        if depth == 0 or trace("leaf", dist.bernoulli(0.4)):
            return value
        return value + trace("left", self, depth - 1) + trace("right", self, depth - 1)
    return tree


TREE = Recurse(make_tree, name="tree")


@gen
def tree_hand(depth):
    value = trace("value", dist.gaussian(0.0, 1.0))
    if depth == 0 or trace("leaf", dist.bernoulli(0.4)):
        return value
    return value + trace("left", tree_hand, depth - 1) + trace("right", tree_hand, depth - 1)


def test_recurse_matches_hand_recursive_model():
    branchy = choicemap({"leaf": 0, "value": 0.1, ("left", "leaf"): 1, ("left", "value"): 0.5,
                         ("right", "leaf"): 0, ("right", "value"): -0.3,
                         ("right", "left", "value"): 1.0, ("right", "right", "value"): 2.0})
    tr, w = TREE.generate((2,), branchy)
    hand = tree_hand.generate((2,), branchy).trace
    close(tr.score, hand.score)
    close(w, hand.score)
    close(TREE.assess((2,), branchy).weight, hand.score)
    same_values(tr.retval, hand.retval)
    assert f(tr["right", "left", "value"]) == 1.0 and f(tr["left"]) == 0.5
    cons = choicemap({("right", "left", "value"): 0.0})
    new, w, _, discard = TREE.update(tr, cons)
    h = tree_hand.update(hand, cons)
    close(w, h.weight)
    assert discard == h.discard and new.choices == h.trace.choices
    sel = select(("right", "value"))
    new, w, _ = TREE.regenerate(tr, sel, key=gm.key(1))
    close(w, regenerate_expected(tree_hand, (2,), tr.choices, new.choices, sel))
    close(TREE.project(tr, select("left")), tree_hand.project(hand, select("left")))
    sim = TREE.simulate((3,), key=gm.key(2))
    close(sim.score, tree_hand.assess((3,), sim.choices).weight)


def test_recurse_bad_input():
    with pytest.raises(TypeError, match="Recurse"):
        Recurse(lambda self: 3).simulate(())


# -- vmap_gf and repeat_gf ---------------------------------------------------------------

@gen
def noisy(mu):
    x = trace("x", dist.gaussian(mu, 1.0))
    return trace("y", dist.gaussian(x, 0.5))


@gen
def noisy_batched(mus):
    x = trace("x", dist.gaussian(mus, 1.0))
    return trace("y", dist.gaussian(x, 0.5))


VMAP = vmap_gf(noisy)


def test_vmap_gf_matches_batched_hand_model_and_map():
    xp = gm.get_backend().xp
    mus = xp.asarray([0.0, 1.0, 2.0])
    tr = VMAP.simulate((mus,), key=gm.key(0))
    assert tuple(tr["x"].shape) == (3,) and tr.score.ndim == 0
    hand = noisy_batched.generate((mus,), tr.choices).trace
    close(tr.score, hand.score)
    close(VMAP.assess((mus,), tr.choices).weight, hand.score)
    per_element = choicemap({(i, a): tr[a][i] for i in range(3) for a in ("x", "y")})
    close(tr.score, Map(noisy).assess(([0.0, 1.0, 2.0],), per_element).weight)
    obs = choicemap(y=xp.asarray([0.5, 0.5, 0.5]))
    tr2, w = VMAP.generate((mus,), obs, key=gm.key(1))
    close(w, stats.norm(to_numpy(tr2["x"]), 0.5).logpdf(0.5).sum())
    cons = choicemap(x=xp.asarray([0.1, 0.2, 0.3]))
    new, w, _, discard = VMAP.update(tr, cons)
    h = noisy_batched.update(hand, cons)
    close(w, h.weight)
    assert discard == h.discard and new.choices == h.trace.choices
    new, w, _ = VMAP.regenerate(tr, select("x"), key=gm.key(2))
    close(w, regenerate_expected(noisy_batched, (mus,), tr.choices, new.choices, select("x")))
    close(VMAP.project(tr, select("y")), noisy_batched.project(hand, select("y")))
    new, w, _, _ = VMAP.update(tr, args=(mus + 1.0,))
    close(w, noisy_batched.update(hand, args=(mus + 1.0,)).weight)


def test_vmap_gf_in_axes_and_repeat_gf():
    xp = gm.get_backend().xp

    @gen
    def scaled(mu, scale):
        return trace("x", dist.gaussian(mu, scale))

    tr = vmap_gf(scaled, in_axes=(0, None)).simulate((xp.asarray([0.0, 5.0]), 2.0),
                                                      key=gm.key(3))
    close(tr.score, stats.norm([0.0, 5.0], 2.0).logpdf(to_numpy(tr["x"])).sum())
    rep = repeat_gf(scaled, 4)
    tr = rep.simulate((1.0, 0.5), key=gm.key(4))
    assert tuple(tr["x"].shape) == (4,)
    close(tr.score, stats.norm(1.0, 0.5).logpdf(to_numpy(tr["x"])).sum())
    close(rep.assess((1.0, 0.5), tr.choices).weight, tr.score)
    new, w, _, _ = rep.update(tr, choicemap(x=xp.zeros(4)))
    close(w, new.score - tr.score)


def test_vmap_gf_bad_input():
    xp = gm.get_backend().xp
    with pytest.raises(ArgumentError, match="vmap_gf.*leading sizes"):
        vmap_gf(lambda_free_two_args()).simulate((xp.zeros(2), xp.zeros(3)))
    with pytest.raises(ArgumentError, match="vmap_gf.*in_axes"):
        vmap_gf(noisy, in_axes=1)
    with pytest.raises(AddressError, match="vmap_gf.*y"):
        VMAP.assess((xp.zeros(2),), choicemap(x=xp.zeros(2)))
    with pytest.raises(ArgumentError, match="repeat_gf"):
        repeat_gf(noisy, 0)


def lambda_free_two_args():
    @gen
    def two(a, b):
        return trace("x", dist.gaussian(a + b, 1.0))
    return two


# -- VSwitch -----------------------------------------------------------------------------

VSW = VSwitch(low, high)


def particle(choices, i, addresses):
    return choicemap({p: v[i] for p, v in choices.leaves() if p in addresses})


ADDRS = {0: {("x",)}, 1: {("a",), ("b",)}}


def test_vswitch_scores_are_switch_scores_per_particle():
    xp = gm.get_backend().xp
    index = xp.asarray([0, 1, 1, 0], dtype=xp.int32)
    vtr = VSW.vsimulate((index, 0.3), 4, key=gm.key(0))
    assert tuple(vtr.score.shape) == (4,)
    for i, k in enumerate([0, 1, 1, 0]):
        choices = particle(vtr.choices, i, ADDRS[k])
        close(vtr.score[i], SWITCH.assess((k, 0.3), choices).weight)
        same_values(vtr.retval[i], SWITCH.assess((k, 0.3), choices).retval)
    summed = VSW.simulate((index, 0.3), key=gm.key(0))
    close(summed.score, xp.sum(vtr.score))
    close(VSW.assess((index, 0.3), summed.choices).weight, summed.score)
    obs = choicemap(b=xp.full((4,), 1.0))
    vtr2, w = VSW.vgenerate((index, 0.3), obs, 4, key=gm.key(1))
    for i, k in enumerate([0, 1, 1, 0]):
        expected = 0.0 if k == 0 else stats.norm(f(vtr2["a"][i]), 0.5).logpdf(1.0)
        close(w[i], expected)
    close(VSW.project(summed, select("x")),
          sum(stats.norm(-0.7, 1).logpdf(f(summed["x"][i])) for i in (0, 3)))


def test_vswitch_update_and_regenerate_per_particle():
    xp = gm.get_backend().xp
    index = xp.asarray([0, 1, 1, 0], dtype=xp.int32)
    vtr = VSW.vsimulate((index, 0.3), 4, key=gm.key(2))
    cons = choicemap(b=xp.zeros(4))
    new, w, _, discard = VSW.vupdate(vtr, cons)
    for i, k in enumerate([0, 1, 1, 0]):
        old_c = particle(vtr.choices, i, ADDRS[k])
        hand = switch_hand.generate((k, 0.3), old_c).trace
        h_w = switch_hand.update(hand, choicemap(b=0.0) if k else EMPTY).weight
        close(w[i], h_w)
    assert set(discard.addresses()) == {("b",)}
    # particle 0 moves to branch 1: Switch's weights (generate - old score)
    moved = xp.asarray([1, 1, 1, 0], dtype=xp.int32)
    new, w, _, discard = VSW.vupdate(vtr, cons, args=(moved, 0.3))
    gen_w = stats.norm(f(new["a"][0]), 0.5).logpdf(0.0)
    close(w[0], gen_w - f(vtr.score[0]))
    for i, k in enumerate([1, 1, 1, 0]):
        close(new.score[i], SWITCH.assess((k, 0.3), particle(new.choices, i, ADDRS[k])).weight)
    assert ("x",) in discard.addresses()
    new, w, _ = VSW.vregenerate(vtr, select("a"), key=gm.key(3))
    for i in (1, 2):
        sel = select("a")
        old_c, new_c = (particle(t.choices, i, ADDRS[1]) for t in (vtr, new))
        close(w[i], regenerate_expected(switch_hand, (1, 0.3), old_c, new_c, sel))
    for i in (0, 3):
        close(w[i], 0.0)


def test_vswitch_inside_batched_model_and_bad_input():
    xp = gm.get_backend().xp

    @gen
    def model():
        k = trace("k", dist.bernoulli(0.3))
        return trace("v", VSW, k, 0.0)

    vtr = model.vsimulate((), 6, key=gm.key(4))
    for i in range(6):
        k = int(to_numpy(vtr["k"])[i])
        choices = particle(vtr.choices.get_submap("v"), i, ADDRS[k])
        expected = stats.bernoulli(0.3).logpmf(k) + SWITCH.assess((k, 0.0), choices).weight
        close(vtr.score[i], expected)
    with pytest.raises(ArgumentError, match="VSwitch.*out of range"):
        VSW.simulate((xp.asarray([0, 2], dtype=xp.int32), 0.0))
    with pytest.raises(AddressError, match="VSwitch.*nope"):
        VSW.generate((xp.asarray([0, 1], dtype=xp.int32), 0.0), choicemap(nope=xp.zeros(2)))


# -- Contramap and Dimap ---------------------------------------------------------------

def test_contramap_and_dimap_match_hand_model():
    @gen
    def dimap_hand(mu):
        return 10.0 * splice(high, 2.0 * mu)

    dm = Dimap(high, lambda mu: (2.0 * mu,), lambda r: 10.0 * r)
    tr = dm.simulate((0.5,), key=gm.key(0))
    hand = dimap_hand.generate((0.5,), tr.choices).trace
    close(tr.score, hand.score)
    same_values(tr.retval, hand.retval)
    close(dm.assess((0.5,), tr.choices).weight, hand.score)
    close(dm.generate((0.5,), tr.choices).weight, hand.score)
    new, w, _, discard = dm.update(tr, choicemap(a=0.0), args=(0.7,))
    h = dimap_hand.update(hand, choicemap(a=0.0), args=(0.7,))
    close(w, h.weight)
    assert discard == h.discard
    same_values(new.retval, h.trace.retval)
    new, w, _ = dm.regenerate(tr, select("b"), key=gm.key(1))
    close(w, regenerate_expected(dimap_hand, (0.5,), tr.choices, new.choices, select("b")))
    close(dm.project(tr, select("a")), dimap_hand.project(hand, select("a")))
    cm = Contramap(low, lambda a, b: (a + b,))
    tr = cm.simulate((0.25, 0.5), key=gm.key(2))
    close(tr.score, stats.norm(-0.25, 1.0).logpdf(f(tr["x"])))
    assert tr.retval is tr["x"]
    with pytest.raises(ArgumentError, match="Contramap.*tuple"):
        Contramap(low, lambda a: a).simulate((0.0,))


def test_unfold_through_contramap_keeps_incremental_updates():
    wrapped = Contramap(HMM, lambda n: (n, 0.0, SIGMA))
    tr = wrapped.simulate((6,), key=gm.key(3))
    runs.clear()
    new, w, _, _ = wrapped.update(tr, choicemap({(5, "y"): 0.0}), args=tr.args)
    assert runs["hmm_step"] == 1
    close(new.score, tr.score + w)


# -- Switch, Mask and Mix batched (through VSwitch) -------------------------------------

SW_IN, MASK_IN, MIX_IN = Switch(low, high), Mask(low), Mix(low, high)


@gen
def branchy_model(log_weights):
    k = trace("k", dist.bernoulli(0.5))
    trace("s", SW_IN, k, 0.0)
    trace("m", MASK_IN, k, 0.0)
    return trace("mix", MIX_IN, log_weights, 0.0)


def branchy_particle(choices, i):
    """Particle i's choices of the unbatched model (only the taken branches)."""
    k, c = int(to_numpy(choices["k"])[i]), int(to_numpy(choices["mix", "component"])[i])
    taken = {("k",), ("mix", "component")} | {("s",) + a for a in ADDRS[k]}
    taken |= {("m", "x")} if k else set()
    taken |= {("mix", "value") + a for a in ADDRS[c]}
    return choicemap({p: v[i] for p, v in choices.leaves() if p in taken})


def test_switch_mask_mix_run_batched_inside_a_vectorized_model():
    xp = gm.get_backend().xp
    lw = xp.log(xp.asarray([0.4, 0.6]))
    vtr = branchy_model.vsimulate((lw,), 6, key=gm.key(5))
    for i in range(6):
        close(vtr.score[i], branchy_model.assess((lw,), branchy_particle(vtr.choices, i)).weight)
    k_old = to_numpy(vtr["k"])
    new, w, _, discard = branchy_model.vupdate(vtr, choicemap(k=xp.ones(6, dtype=xp.int32)))
    for i in range(6):
        close(new.score[i], branchy_model.assess((lw,), branchy_particle(new.choices, i)).weight)
        # k: 0 -> 1 drops s/x (Switch: -old score) and adds fresh s/y and m/x (weight 0)
        expected = 0.0 if k_old[i] else -stats.norm(-1.0, 1.0).logpdf(f(vtr["s", "x"][i]))
        close(w[i], expected)
    assert ("s", "x") in discard.addresses()
