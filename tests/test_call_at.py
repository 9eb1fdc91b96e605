"""call_at / choice_at (Gen.jl's CallAt / ChoiceAt) against hand-written @gen models.

Gen.jl's rule: `call_at(f, K)` is the generative function with args (key, args...)
that calls f(args...) and places every choice f makes under the address `key`;
`choice_at(d, K)` draws one value of d at address `key`. Each GFI method must
therefore give what the @gen model `trace(key, f, *args)` gives: the same
choices, scores and weights (update and regenerate included), and the same
discards. Where a method draws fresh random values the two runs see different
keys, so the comparison is either made deterministic (every fresh choice
constrained) or made through Gen's weight identity for prior resampling:
regenerate weight = (new score - old score) - (project(new, s) - project(old, s)).
"""

import pytest

import genmlx as gm
from genmlx import call_at, choice_at, choicemap, dist, gen, select, trace
from genmlx.core.diff import NO_CHANGE, UNKNOWN_CHANGE
from genmlx.errors import AddressError, ArgumentError
from genmlx.testing import assert_close


@gen
def callee(mu):
    a = trace("a", dist.gaussian(mu, 1.0))
    b = trace("b", dist.gaussian(a, 0.5))
    return a + b


AT = call_at(callee, int)


@gen
def by_hand(k, mu):
    return trace(k, callee, mu)


def twin(tr):
    """The hand-written model's trace holding exactly the choices of `tr`."""
    twin_tr, _ = by_hand.generate(tr.args, tr.choices, key=gm.key(99))
    assert_close(twin_tr.score, tr.score, rtol=1e-6)
    return twin_tr


def test_simulate_propose_and_assess_match_the_hand_written_model():
    tr = AT.simulate((3, 0.5), key=gm.key(0))
    assert sorted(tr.choices.addresses()) == [(3, "a"), (3, "b")]
    weight, retval = by_hand.assess((3, 0.5), tr.choices)
    assert_close(tr.score, weight, rtol=1e-6)
    assert_close(tr.retval, retval, rtol=1e-6)
    assert_close(tr[3], tr.retval) and assert_close(tr[3, "a"], tr.choices[3, "a"])
    w2, r2 = AT.assess((3, 0.5), tr.choices)
    assert_close(w2, weight, rtol=1e-6) and assert_close(r2, retval, rtol=1e-6)
    choices, w, r = AT.propose((7, -1.0), key=gm.key(1))
    assert sorted(choices.addresses()) == [(7, "a"), (7, "b")]
    assert_close(w, by_hand.assess((7, -1.0), choices).weight, rtol=1e-6)
    assert_close(r, by_hand.assess((7, -1.0), choices).retval, rtol=1e-6)


def test_generate_weights_match():
    partial = choicemap({(2, "a"): 0.3})
    tr, w = AT.generate((2, 1.0), partial, key=gm.key(0))
    tr_h, w_h = by_hand.generate((2, 1.0), partial, key=gm.key(5))
    assert_close(w, w_h, rtol=1e-6)  # log N(0.3; 1, 1): the unconstrained b adds nothing
    assert_close(tr[2, "a"], 0.3)
    full = choicemap({(2, "a"): 0.3, (2, "b"): -0.2})
    assert_close(AT.generate((2, 1.0), full, key=gm.key(0)).weight,
                 by_hand.generate((2, 1.0), full, key=gm.key(0)).weight, rtol=1e-6)
    with pytest.raises(AddressError, match="only under the key 2"):
        AT.generate((2, 1.0), choicemap({(4, "a"): 0.3}))


def _same_update(tr, constraints, args):
    new, w, retdiff, discard = AT.update(tr, constraints, args, key=gm.key(11))
    new_h, w_h, _, discard_h = by_hand.update(twin(tr), constraints, args, key=gm.key(12))
    assert_close(w, w_h, rtol=1e-5, atol=1e-6)
    assert discard == discard_h
    return new, new_h, retdiff


def test_update_weights_and_discards_match():
    tr = AT.simulate((1, 0.0), key=gm.key(2))
    # constrain a choice, same key and args
    new, new_h, _ = _same_update(tr, choicemap({(1, "a"): 2.0}), None)
    assert new.choices == new_h.choices and new.choices[1, "b"] == tr.choices[1, "b"]
    # change an argument only
    new, new_h, _ = _same_update(tr, choicemap(), (1, 1.5))
    assert new.choices == tr.choices
    # change the key: the old choices are discarded, the new ones fully constrained
    moved = choicemap({(5, "a"): 0.1, (5, "b"): 0.4})
    new, new_h, retdiff = _same_update(tr, moved, (5, 0.0))
    assert new.choices == moved and retdiff is UNKNOWN_CHANGE
    # change the key with only part of the new call constrained: the fresh choice
    # comes from the prior and the weight does not depend on it
    new, new_h, _ = _same_update(tr, choicemap({(5, "a"): 0.1}), (5, 0.0))
    assert sorted(new.choices.addresses()) == [(5, "a"), (5, "b")]
    with pytest.raises(AddressError, match="only under the key 1"):
        AT.update(tr, choicemap({(2, "a"): 0.0}))


def _regen_identity(old, new, weight, selection, gf):
    expected = (new.score - old.score) - (gf.project(new, selection) - gf.project(old, selection))
    assert_close(weight, expected, rtol=1e-5, atol=1e-5)


def test_regenerate_weights_follow_gen_and_match():
    tr = AT.simulate((4, 0.0), key=gm.key(3))
    tr_h = twin(tr)
    for sel in (select((4, "a")), select((4, "b")), select(4)):
        new, w, _ = AT.regenerate(tr, sel, key=gm.key(4))
        new_h, w_h, _ = by_hand.regenerate(tr_h, sel, key=gm.key(4))
        _regen_identity(tr, new, w, sel, AT)
        _regen_identity(tr_h, new_h, w_h, sel, by_hand)
        assert sorted(new.choices.addresses()) == [(4, "a"), (4, "b")]
        unselected = [p for p in tr.choices.addresses() if p not in sel]
        assert all(new.choices[p] == tr.choices[p] for p in unselected)
        selected = [p for p in tr.choices.addresses() if p in sel]
        assert selected and all(new.choices[p] != tr.choices[p] for p in selected)
    assert_close(AT.project(tr, select((4, "a"))), by_hand.project(tr_h, select((4, "a"))),
                 rtol=1e-6)
    # nothing selected, new argument: deterministic, must equal the @gen weight
    new, w, _ = AT.regenerate(tr, select(), (4, 2.0), key=gm.key(5))
    new_h, w_h, _ = by_hand.regenerate(tr_h, select(), (4, 2.0), key=gm.key(6))
    assert_close(w, w_h, rtol=1e-6) and new.choices == tr.choices
    # a new key: the call runs afresh there, weight 0 in both
    new, w, _ = AT.regenerate(tr, select(), (9, 0.0), key=gm.key(7))
    new_h, w_h, _ = by_hand.regenerate(tr_h, select(), (9, 0.0), key=gm.key(8))
    assert float(w) == 0.0 == float(w_h)
    assert sorted(new.choices.addresses()) == [(9, "a"), (9, "b")]


@gen
def draw_by_hand(k, mu, sigma):
    return trace(k, dist.gaussian(mu, sigma))


GAUSS_AT = choice_at(dist.gaussian, str)


def test_choice_at_full_gfi_matches_the_hand_written_model():
    args = ("x", 1.0, 2.0)
    tr = GAUSS_AT.simulate(args, key=gm.key(0))
    assert tr.choices.addresses() == [("x",)] and tr["x"] == tr.retval
    assert_close(tr.score, draw_by_hand.assess(args, tr.choices).weight, rtol=1e-6)
    assert_close(GAUSS_AT.assess(args, choicemap(x=0.5)).weight,
                 draw_by_hand.assess(args, choicemap(x=0.5)).weight, rtol=1e-6)
    c = choicemap(x=0.5)
    assert_close(GAUSS_AT.generate(args, c).weight, draw_by_hand.generate(args, c).weight,
                 rtol=1e-6)
    assert float(GAUSS_AT.generate(args, choicemap(), key=gm.key(1)).weight) == 0.0
    tr_h, _ = draw_by_hand.generate(args, tr.choices)
    for constraints, new_args in ((c, None), (choicemap(), ("x", 0.0, 0.5)),
                                  (choicemap(y=0.25), ("y", 0.0, 1.0))):
        new, w, _, discard = GAUSS_AT.update(tr, constraints, new_args)
        new_h, w_h, _, discard_h = draw_by_hand.update(tr_h, constraints, new_args)
        assert_close(w, w_h, rtol=1e-6) and discard == discard_h and new.choices == new_h.choices
    # regenerate: the selected draw is resampled (weight 0), an unselected one rescored
    new, w, _ = GAUSS_AT.regenerate(tr, select("x"), key=gm.key(2))
    assert float(w) == 0.0 and new["x"] != tr["x"]
    new, w, _ = GAUSS_AT.regenerate(tr, select(), ("x", 0.0, 0.5))
    new_h, w_h, _ = draw_by_hand.regenerate(tr_h, select(), ("x", 0.0, 0.5))
    assert_close(w, w_h, rtol=1e-6) and new["x"] == tr["x"]
    assert_close(GAUSS_AT.project(tr, select("x")), tr.score)
    assert float(GAUSS_AT.project(tr, select("y"))) == 0.0
    choices, w, r = GAUSS_AT.propose(("z", 0.0, 1.0), key=gm.key(3))
    assert choices.addresses() == [("z",)] and r == choices["z"]
    assert_close(w, dist.gaussian(0.0, 1.0).log_prob(r))


def test_choice_at_with_a_bound_distribution_and_inside_a_model():
    coin = choice_at(dist.bernoulli(0.3))
    tr = coin.simulate((0,), key=gm.key(0))
    assert tr.choices.addresses() == [(0,)]

    @gen
    def flips(n):
        return [trace(("flip", i), coin, i) for i in range(n)]

    tr = flips.simulate((3,), key=gm.key(1))
    assert sorted(tr.choices.addresses()) == [("flip", i, i) for i in range(3)]
    assert_close(tr.score, flips.assess((3,), tr.choices).weight)
    with pytest.raises(ArgumentError, match="bound"):
        coin.simulate((0, 0.5))


def test_key_errors_are_clear():
    with pytest.raises(ArgumentError, match="must be of type"):
        AT.simulate(("three", 0.0))
    with pytest.raises(ArgumentError, match="str or an int"):
        call_at(callee).simulate((1.5, 0.0))
    with pytest.raises(ArgumentError, match="at least 1"):
        AT.simulate(())
    assert call_at(callee).simulate(("any", 0.0), key=gm.key(0)).choices.has_submap("any")


def test_retdiff_passes_through_unchanged_calls():
    tr = AT.simulate((1, 0.0), key=gm.key(2))
    _, w, retdiff, discard = AT.update(tr, choicemap(), None)
    assert float(w) == 0.0 and discard.is_empty()
    assert retdiff in (NO_CHANGE, UNKNOWN_CHANGE)
