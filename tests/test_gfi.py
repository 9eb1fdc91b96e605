"""Gen's GFI identities on models with closed-form densities (default backend).

Every weight is checked against scipy's log densities of the same choices.
"""

import numpy as np
import pytest
from scipy import stats

import genmlx as gm
from genmlx import choicemap, select, dist, gen, trace
from genmlx.errors import AddressError, ArgumentError, GenMLXError
from genmlx.testing import assert_close, to_numpy
from tests.models import XS, YS, branching, inner, line, outer, switchy

RTOL = 1e-5  # float32 sums of ~7 log densities of magnitude < 50


def line_logp(cm, xs=XS):
    s, b = float(to_numpy(cm["slope"])), float(to_numpy(cm["intercept"]))
    lp = stats.norm(0, 2).logpdf(s) + stats.norm(0, 2).logpdf(b)
    for j, x in enumerate(xs):
        lp += stats.norm(s * x + b, 1).logpdf(float(to_numpy(cm["y", j])))
    return lp


OBS = choicemap({("y", j): y for j, y in enumerate(YS)})


def test_simulate_score_is_sum_of_log_densities():
    tr = line.simulate((XS,), key=gm.key(1))
    assert_close(tr.score, line_logp(tr.choices), rtol=RTOL)
    assert float(to_numpy(tr.retval)) == float(to_numpy(tr["slope"]))
    assert tr.gen_fn is line and tr.args == (XS,)


def test_same_key_same_trace_and_global_stream_reproducible():
    a, b = line.simulate((XS,), key=gm.key(7)), line.simulate((XS,), key=gm.key(7))
    assert a.choices == b.choices
    gm.seed(3)
    c = line.simulate((XS,))
    gm.seed(3)
    assert line.simulate((XS,)).choices == c.choices


def test_generate_weights():
    tr, w = line.generate((XS,), key=gm.key(2))
    assert float(to_numpy(w)) == 0.0
    full = OBS.set("slope", 1.5).set("intercept", 0.2)
    tr, w = line.generate((XS,), full, key=gm.key(2))
    assert_close(w, tr.score, rtol=RTOL)
    assert_close(w, line_logp(full), rtol=RTOL)
    tr, w = line.generate((XS,), OBS, key=gm.key(2))
    s, b = float(to_numpy(tr["slope"])), float(to_numpy(tr["intercept"]))
    expected = sum(stats.norm(s * x + b, 1).logpdf(y) for x, y in zip(XS, YS))
    assert_close(w, expected, rtol=RTOL)
    assert_close(tr.score, line_logp(tr.choices), rtol=RTOL)


def test_update_weight_is_score_difference_and_discard_holds_replaced():
    tr, _ = line.generate((XS,), OBS, key=gm.key(3))
    new, w, retdiff, discard = line.update(tr, choicemap(slope=2.0), key=gm.key(4))
    assert_close(w, new.score - tr.score, rtol=RTOL, atol=1e-4)
    assert_close(new.score, line_logp(new.choices), rtol=RTOL)
    assert discard == choicemap(slope=tr["slope"])
    assert float(to_numpy(new["slope"])) == 2.0
    assert float(to_numpy(tr["slope"])) != 2.0  # the old trace is untouched


def test_update_with_new_args_rescores_kept_choices():
    tr, _ = line.generate((XS,), OBS, key=gm.key(5))
    xs2 = [x * 1.1 for x in XS]
    new, w, _, discard = line.update(tr, args=(xs2,))
    assert discard.is_empty()
    assert_close(w, line_logp(new.choices, xs2) - line_logp(tr.choices), rtol=RTOL, atol=1e-4)


def test_update_control_flow_adds_and_removes_addresses():
    tr, _ = branching.generate((), choicemap(coin=1, a=0.5), key=gm.key(0))
    new, w, _, discard = branching.update(tr, choicemap(coin=0), key=gm.key(1))
    assert "a" not in new.choices and new.choices.has_value("b")
    assert discard == choicemap(coin=1, a=0.5)
    # weight = log p(t') - log p(t) - log q(b): the fresh b's density cancels
    expected = stats.bernoulli(0.3).logpmf(0) - stats.bernoulli(0.3).logpmf(1) \
        - stats.norm(0, 1).logpdf(0.5)
    assert_close(w, expected, rtol=RTOL)
    back, w_back, _, discard_back = branching.update(new, discard)
    assert back.choices == tr.choices


def test_regenerate_weight_is_mh_acceptance_ratio():
    tr, _ = line.generate((XS,), OBS, key=gm.key(6))
    new, w, _ = line.regenerate(tr, select("slope"), key=gm.key(7))
    prior = stats.norm(0, 2)
    s0, s1 = float(to_numpy(tr["slope"])), float(to_numpy(new["slope"]))
    expected = (line_logp(new.choices) - line_logp(tr.choices)) - (prior.logpdf(s1) - prior.logpdf(s0))
    assert_close(w, expected, rtol=1e-4, atol=1e-4)
    assert new["intercept"] is tr["intercept"]


def test_regenerate_with_changing_addresses_matches_hand_ratio():
    tr, _ = switchy.generate((), choicemap(k=1, x=1, obs=1), key=gm.key(0))
    for i in range(50):  # find a key that flips k, so x disappears and z appears
        new, w, _ = switchy.regenerate(tr, select("k"), key=gm.key(100 + i))
        if int(to_numpy(new["k"])) == 0:
            break
    z = int(to_numpy(new["z"]))
    # p(t')q(t|t') / p(t)q(t'|t) = p(obs | z) / p(obs | x=1)
    expected = np.log(0.9 if z else 0.1) - np.log(0.9)
    assert_close(w, expected, rtol=RTOL)
    assert "x" not in new.choices


@pytest.mark.slow
def test_mh_by_regenerate_targets_exact_posterior_with_control_flow():
    # Exact posterior of k given obs=1: (.4*.7*.9 + .4*.3*.1) / Z with Z = .42
    exact = (0.4 * 0.7 * 0.9 + 0.4 * 0.3 * 0.1) / 0.42
    tr, _ = switchy.generate((), choicemap(obs=1), key=gm.key(1))
    keys = gm.split(gm.key(2), 6000)
    u = np.log(np.random.default_rng(0).uniform(size=6000))
    ks = []
    for i in range(6000):
        sel = select("k") if i % 2 == 0 else select("x", "z")
        new, w, _ = switchy.regenerate(tr, sel, key=keys[i])
        if u[i] < float(to_numpy(w)):
            tr = new
        ks.append(int(to_numpy(tr["k"])))
    est = np.mean(ks[500:])
    # iid SE at 5500 draws is 0.0065; with the chain's autocorrelation (integrated time < 6
    # measured on this kernel) the SE is below 0.016, so 0.05 is > 3 SE.
    assert abs(est - exact) < 0.05, (est, exact)


def test_assess_project_propose():
    full = OBS.set("slope", 1.5).set("intercept", 0.2)
    w, retval = line.assess((XS,), full)
    assert_close(w, line_logp(full), rtol=RTOL)
    assert float(to_numpy(retval)) == 1.5
    tr, _ = line.generate((XS,), full)
    assert_close(line.project(tr, select("slope")), stats.norm(0, 2).logpdf(1.5), rtol=RTOL)
    assert_close(line.project(tr, gm.Selection.all()), tr.score, rtol=RTOL)
    assert float(to_numpy(line.project(tr, gm.Selection.none()))) == 0.0
    choices, w, retval = line.propose((XS,), key=gm.key(3))
    assert_close(w, line_logp(choices), rtol=RTOL)


def test_edit_agrees_with_update_and_regenerate():
    tr, _ = line.generate((XS,), OBS, key=gm.key(8))
    new, w, _, back = line.edit(tr, gm.ConstraintEdit(choicemap(slope=2.0)), key=gm.key(9))
    u_new, u_w, _, u_discard = line.update(tr, choicemap(slope=2.0), key=gm.key(9))
    assert new.choices == u_new.choices and float(to_numpy(w)) == float(to_numpy(u_w))
    restored, w_back, _, _ = line.edit(new, back)
    assert restored.choices == tr.choices
    assert_close(w_back, -w, rtol=RTOL, atol=1e-5)
    new, w, _, back = line.edit(tr, gm.SelectionEdit(select("slope")), key=gm.key(10))
    r_new, r_w, _ = line.regenerate(tr, select("slope"), key=gm.key(10))
    assert new.choices == r_new.choices and float(to_numpy(w)) == float(to_numpy(r_w))


def test_proposal_edit_weight_is_mh_ratio():
    @gen
    def drift(tr):
        trace("slope", dist.gaussian(tr["slope"], 0.5))

    tr, _ = line.generate((XS,), OBS, key=gm.key(11))
    new, w, _, back = line.edit(tr, gm.ProposalEdit(drift, drift), key=gm.key(12))
    s0, s1 = float(to_numpy(tr["slope"])), float(to_numpy(new["slope"]))
    q = lambda a, b: stats.norm(a, 0.5).logpdf(b)
    expected = line_logp(new.choices) - line_logp(tr.choices) + q(s1, s0) - q(s0, s1)
    assert_close(w, expected, rtol=1e-4, atol=1e-4)
    assert back.forward is drift


def test_nested_calls_and_splice_give_hierarchical_choices():
    tr = outer.simulate((), key=gm.key(0))
    assert set(map(tuple, tr.choices.addresses())) == {("m",), ("sub", "v"), ("v",)}
    m, a, b = (float(to_numpy(tr[p])) for p in ["m", ("sub", "v"), "v"])
    expected = stats.norm(0, 1).logpdf(m) + stats.norm(m, 1).logpdf(a) + stats.norm(a, 1).logpdf(b)
    assert_close(tr.score, expected, rtol=RTOL)
    assert float(to_numpy(tr["sub"])) == a  # a traced call's address gives its retval
    new, w, _, discard = outer.update(tr, choicemap({("sub", "v"): 0.0}))
    assert discard == choicemap({("sub", "v"): tr["sub", "v"]})
    assert_close(w, new.score - tr.score, rtol=RTOL, atol=1e-5)
    sub_only = outer.project(tr, select("sub"))
    assert_close(sub_only, stats.norm(m, 1).logpdf(a), rtol=RTOL)


# -- bad input -----------------------------------------------------------------------

def test_constraint_on_unvisited_address_names_it():
    with pytest.raises(AddressError, match="slop"):
        line.generate((XS,), choicemap(slop=1.0))
    tr = line.simulate((XS,))
    with pytest.raises(AddressError, match="y/9"):
        line.update(tr, choicemap({("y", 9): 1.0}))


def test_duplicate_address_names_it():
    @gen
    def dup():
        trace("x", dist.gaussian(0.0, 1.0))
        trace("x", dist.gaussian(0.0, 1.0))

    with pytest.raises(AddressError, match="x was traced twice"):
        dup.simulate(())


def test_assess_with_missing_choice_names_it():
    with pytest.raises(AddressError, match="intercept"):
        line.assess((XS,), OBS.set("slope", 1.0))


def test_non_generative_function_and_wrong_arg_count():
    @gen
    def bad():
        trace("x", lambda: 1.0)

    with pytest.raises(GenMLXError, match="expected a distribution or a generative function"):
        bad.simulate(())
    with pytest.raises(ArgumentError, match="line"):
        line.simulate((XS, 2))
    with pytest.raises(ArgumentError, match="tuple"):
        line.simulate(XS)


def test_failed_update_leaves_trace_unchanged():
    tr, _ = line.generate((XS,), OBS, key=gm.key(0))
    before = tr.choices
    score = float(to_numpy(tr.score))
    with pytest.raises(AddressError):
        line.update(tr, choicemap(nope=1.0))
    assert tr.choices == before and float(to_numpy(tr.score)) == score


def test_trace_outside_body_is_an_error():
    with pytest.raises(GenMLXError, match="outside a generative function"):
        trace("x", dist.gaussian(0.0, 1.0))


def test_param_reads_store_and_with_params_replaces():
    @gen
    def p():
        mu = gm.param("mu", 0.5)
        return trace("x", dist.gaussian(mu, 1.0))

    tr, w = p.generate((), choicemap(x=1.0))
    assert_close(w, stats.norm(0.5, 1).logpdf(1.0), rtol=RTOL)
    tr, w = p.with_params(mu=gm.get_backend().asarray(1.0)).generate((), choicemap(x=1.0))
    assert_close(w, stats.norm(1.0, 1).logpdf(1.0), rtol=RTOL)


@gen
def low(mu):
    return trace("x", dist.gaussian(mu, 1.0))


@gen
def high(mu):
    return trace("x", dist.gaussian(mu + 10.0, 1.0))


@gen
def which(k):
    return trace("v", low if k else high, 0.0)


def test_update_replacing_a_callee_removes_the_old_call():
    tr, _ = which.generate((1,), choicemap({("v", "x"): 0.5}))
    new, w, _, discard = which.update(tr, choicemap({("v", "x"): 9.0}), args=(0,))
    # old call removed (-log N(0.5; 0, 1)), new call generated with its constraint (+log N(9; 10, 1))
    expected = stats.norm(10, 1).logpdf(9.0) - stats.norm(0, 1).logpdf(0.5)
    assert_close(w, expected, rtol=RTOL)
    assert discard == choicemap({("v", "x"): 0.5})


def test_update_replacing_a_call_by_a_choice_discards_the_call():
    @gen
    def mixed(k):
        if k:
            return trace("v", low, 0.0)
        return trace("v", dist.gaussian(0.0, 2.0))

    tr, _ = mixed.generate((1,), choicemap({("v", "x"): 0.5}))
    new, w, _, discard = mixed.update(tr, choicemap(v=1.0), args=(0,))
    assert_close(w, stats.norm(0, 2).logpdf(1.0) - stats.norm(0, 1).logpdf(0.5), rtol=RTOL)
    assert discard == choicemap({("v", "x"): 0.5})


def test_incomplete_generative_functions_and_distributions_fail_at_construction():
    from genmlx.distributions.base import Distribution

    class OnlySimulate(gm.GenerativeFunction):
        def simulate(self, args, key=None):
            return None

    class NoLogProb(Distribution):
        def _draw(self, key, shape):
            return None

    with pytest.raises(TypeError, match="abstract"):
        OnlySimulate()
    with pytest.raises(TypeError, match="log_prob"):
        NoLogProb()
