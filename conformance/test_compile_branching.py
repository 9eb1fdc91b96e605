"""Branching on a sampled value compiles: Switch and Mask with an array index/flag.

The outlier model (each point's `is_outlier ~ bernoulli(0.1)` picks, through a
Switch, between an inlier likelihood N(slope x + intercept, 1) and an outlier
one N(0, 10)) and its Mask version run every GFI operation under
`gm.compile` without falling back to the handler path (JAX and MLX), and give
what the handler path gives on the same key: choices, scores, weights,
retdiffs and discards. The compiled scores are also checked against scipy on
the selected branches, so both paths being wrong the same way would fail.

Tolerance: rtol 1e-5, atol 1e-4 (float32 sums of ~50 log densities; the
compiler may reorder the sums). Compiled objects live at module level and are
reused: XLA and MLX compile each operation's graph once, and the machine is
small, so the graphs are kept small (5 points on JAX, 4 on MLX; XLA's compile
time grows with the unrolled graph: every point runs both branches).
"""

import numpy as np
import pytest
from scipy import stats

import genmlx as gm
from genmlx import choicemap, dist, gen, select, trace
from genmlx.combinators import Mask, Mix, Switch
from genmlx.compile.compiled import traces_code
from genmlx.testing import assert_close, to_numpy, assert_same_choices

RTOL, ATOL = 1e-5, 1e-4


@gen
def inlier(x, slope, intercept):
    return trace("v", dist.gaussian(slope * x + intercept, 1.0))


@gen
def outlier(x, slope, intercept):
    return trace("v", dist.gaussian(0.0, 10.0))


SWITCH = Switch(inlier, outlier)
MASK_IN, MASK_OUT = Mask(inlier), Mask(outlier)


@gen
def switch_model(xs):
    slope = trace("slope", dist.gaussian(0.0, 10.0))
    intercept = trace("intercept", dist.gaussian(0.0, 10.0))
    for j, x in enumerate(xs):
        is_outlier = trace(("is_outlier", j), dist.bernoulli(0.1))
        trace(("y", j), SWITCH, is_outlier, x, slope, intercept)
    return slope


@gen
def mask_model(xs):
    slope = trace("slope", dist.gaussian(0.0, 10.0))
    intercept = trace("intercept", dist.gaussian(0.0, 10.0))
    for j, x in enumerate(xs):
        is_outlier = trace(("is_outlier", j), dist.bernoulli(0.1))
        trace(("in", j), MASK_IN, 1 - is_outlier, x, slope, intercept)
        trace(("out", j), MASK_OUT, is_outlier, x, slope, intercept)
    return slope


MODELS = {"switch": switch_model, "mask": mask_model}
OBS_AT = {"switch": [("y",)], "mask": [("in",), ("out",)]}
_COMPILED: dict = {}
_BASE: dict = {}


def points(b):
    n = 4 if b.name == "mlx" else 5
    xs = [float(x) for x in np.linspace(-2.0, 2.0, n)]
    ys = [0.5 + 1.5 * x + (9.0 if j % 3 == 1 else 0.0) for j, x in enumerate(xs)]
    return xs, ys


def compiled(name):
    key = (name, gm.get_backend().name)
    if key not in _COMPILED:
        _COMPILED[key] = gm.compile(MODELS[name])
    return _COMPILED[key]


def observations(name, ys):
    return choicemap({head + (j, "v"): y for head in OBS_AT[name] for j, y in enumerate(ys)})


def base(name, b):
    """(xs, compiled generate result, handler generate result) on the observations."""
    key = (name, b.name)
    if key not in _BASE:
        xs, ys = points(b)
        obs = observations(name, ys)
        _BASE[key] = (xs, compiled(name).generate((xs,), obs, key=gm.key(3)),
                      MODELS[name].generate((xs,), obs, key=gm.key(3)))
    return _BASE[key]


def same_choices(actual, expected, msg):
    assert_same_choices(actual, expected, rtol=RTOL, atol=ATOL, msg=msg)


def close(a, e):
    assert_close(a, e, rtol=RTOL, atol=ATOL)


def no_fallback(name, b):
    if traces_code(b):
        assert compiled(name).fallbacks == {}, compiled(name).fallbacks


def f(x):
    return float(to_numpy(x))


def closed_form(name, choices, xs):
    """log p(choices) from scipy, counting each point's selected branch only."""
    slope, intercept = f(choices["slope"]), f(choices["intercept"])
    lp = stats.norm(0, 10).logpdf(slope) + stats.norm(0, 10).logpdf(intercept)
    for j, x in enumerate(xs):
        o = int(f(choices["is_outlier", j]))
        lp += stats.bernoulli(0.1).logpmf(o)
        head = "y" if name == "switch" else ("out" if o else "in")
        v = f(choices[head, j, "v"])
        lp += stats.norm(0, 10).logpdf(v) if o else stats.norm(slope * x + intercept, 1).logpdf(v)
    return lp


def shown(name, choices, xs):
    """Only the selected branch's addresses are in the choices (Mask: the on one)."""
    for j in range(len(xs)):
        o = int(f(choices["is_outlier", j]))
        if name == "mask":
            assert choices.has_value(("out" if o else "in", j, "v"))
            assert not choices.has_value(("in" if o else "out", j, "v"))


NAMES = list(MODELS)


@pytest.mark.parametrize("name", NAMES)
def test_simulate_and_propose(backend, name):
    xs, _ = points(backend)
    fast, model = compiled(name), MODELS[name]
    tr, tr_e = fast.simulate((xs,), key=gm.key(0)), model.simulate((xs,), key=gm.key(0))
    same_choices(tr.choices, tr_e.choices, f"{name}.simulate")
    close(tr.score, tr_e.score)
    close(tr.score, closed_form(name, tr.choices, xs))
    shown(name, tr.choices, xs)
    choices, w, _ = fast.propose((xs,), key=gm.key(1))
    choices_e, w_e, _ = model.propose((xs,), key=gm.key(1))
    same_choices(choices, choices_e, f"{name}.propose")
    close(w, w_e)
    close(w, closed_form(name, choices, xs))
    no_fallback(name, backend)


@pytest.mark.parametrize("name", NAMES)
def test_generate_assess_project(backend, name):
    xs, ((tr, w), (tr_e, w_e)) = base(name, backend)[0], base(name, backend)[1:]
    same_choices(tr.choices, tr_e.choices, f"{name}.generate")
    close(w, w_e)
    close(tr.score, tr_e.score)
    close(tr.score, closed_form(name, tr.choices, xs))
    fast, model = compiled(name), MODELS[name]
    close(fast.assess((xs,), tr.choices).weight, model.assess((xs,), tr_e.choices).weight)
    close(fast.assess((xs,), tr.choices).weight, tr.score)
    sel = select("slope", ("is_outlier", 1))
    close(fast.project(tr, sel), model.project(tr_e, sel))
    no_fallback(name, backend)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("change", ["flip", "slope"])
def test_update(backend, name, change):
    xs, (tr, _), (tr_e, _) = base(name, backend)
    b = gm.get_backend()
    flipped = 1 - int(f(tr_e["is_outlier", 1]))
    cons = {("is_outlier", 1): b.asarray(flipped, dtype=b.int_dtype)} \
        if change == "flip" else {"slope": 0.75}
    if change == "flip" and name == "mask":
        # the Mask switched on would draw its value fresh from the parent's key stream,
        # which the handler path advances only for sub-calls whose arguments changed
        # *by identity*, and compiled traces do not keep identity across trace scopes;
        # constraining the value keeps the comparison about the weights
        cons[("out" if flipped else "in", 1, "v")] = 2.0
    cons = choicemap(cons)
    new, w, retdiff, discard = compiled(name).update(tr, cons, key=gm.key(5))
    new_e, w_e, retdiff_e, discard_e = MODELS[name].update(tr_e, cons, key=gm.key(5))
    same_choices(new.choices, new_e.choices, f"{name}.update")
    same_choices(discard, discard_e, f"{name}.update discard")
    close(w, w_e)
    close(new.score, new_e.score)
    assert retdiff == retdiff_e
    close(new.score, closed_form(name, new.choices, xs))
    # Gen's weight: log p(new) - log p(old) (no fresh choices in the Switch model, whose
    # branches share their address; the Mask model draws the newly switched-on one)
    if name == "switch":
        close(w, closed_form(name, new.choices, xs) - closed_form(name, tr.choices, xs))
    shown(name, new.choices, xs)
    no_fallback(name, backend)


@pytest.mark.parametrize("name", NAMES)
def test_regenerate(backend, name):
    xs, (tr, _), (tr_e, _) = base(name, backend)
    sel = select("slope", ("is_outlier", 0), ("is_outlier", 2))
    new, w, retdiff = compiled(name).regenerate(tr, sel, key=gm.key(7))
    new_e, w_e, retdiff_e = MODELS[name].regenerate(tr_e, sel, key=gm.key(7))
    same_choices(new.choices, new_e.choices, f"{name}.regenerate")
    close(w, w_e)
    close(new.score, new_e.score)
    assert retdiff == retdiff_e
    shown(name, new.choices, xs)
    no_fallback(name, backend)


# -- address sets that differ between branches, and Mix ---------------------------------

@gen
def left(mu):
    return trace("a", dist.gaussian(mu - 2.0, 1.0))


@gen
def right(mu):
    b = trace("b", dist.gaussian(mu + 2.0, 1.0))
    return b + trace("c", dist.gaussian(b, 0.5))


TWO = Switch(left, right)
MIX = Mix(left, right)


@gen
def pick_model():
    k = trace("k", dist.bernoulli(0.5))
    return trace("s", TWO, k, 0.25)


@gen
def mix_model(log_weights):
    return trace("m", MIX, log_weights, 0.0)


def test_disjoint_branches_compile_and_show_the_selected_addresses(backend):
    """Branches with different addresses: the compiled trace's choices are resolved on
    the host from the index afterwards, and only the selected branch's show."""
    fast = compiled_other("pick", pick_model)
    for seed in range(4):
        tr, tr_e = fast.simulate((), key=gm.key(seed)), pick_model.simulate((), key=gm.key(seed))
        same_choices(tr.choices, tr_e.choices, "pick.simulate")
        k = int(f(tr["k"]))
        assert set(tr.choices.addresses()) == ({("k",), ("s", "a")} if k == 0 else
                                               {("k",), ("s", "b"), ("s", "c")})
        close(tr.score, tr_e.score)
        flip = choicemap(k=gm.get_backend().asarray(1 - k, dtype=gm.get_backend().int_dtype))
        new, w, _, discard = fast.update(tr, flip, key=gm.key(9))
        new_e, w_e, _, discard_e = pick_model.update(tr_e, flip, key=gm.key(9))
        same_choices(new.choices, new_e.choices, "pick.update")
        same_choices(discard, discard_e, "pick.update discard")
        close(w, w_e)
        # the old branch's choices are discarded (no address is shared)
        assert {p[1:] for p in discard.addresses() if p[0] == "s"} == (
            {("a",)} if k == 0 else {("b",), ("c",)})
    if traces_code(backend):
        assert fast.fallbacks == {}, fast.fallbacks


def test_mix_compiles(backend):
    fast = compiled_other("mix", mix_model)
    xp = gm.get_backend().xp
    lw = xp.log(xp.asarray([0.3, 0.7]))
    tr, tr_e = fast.simulate((lw,), key=gm.key(2)), mix_model.simulate((lw,), key=gm.key(2))
    same_choices(tr.choices, tr_e.choices, "mix.simulate")
    close(tr.score, tr_e.score)
    c = int(f(tr["m", "component"]))
    expected = np.log([0.3, 0.7][c]) + (
        stats.norm(-2, 1).logpdf(f(tr["m", "value", "a"])) if c == 0 else
        stats.norm(2, 1).logpdf(f(tr["m", "value", "b"]))
        + stats.norm(f(tr["m", "value", "b"]), 0.5).logpdf(f(tr["m", "value", "c"])))
    close(tr.score, expected)
    if traces_code(backend):
        assert fast.fallbacks == {}, fast.fallbacks


def compiled_other(name, model):
    key = (name, gm.get_backend().name)
    if key not in _COMPILED:
        _COMPILED[key] = gm.compile(model)
    return _COMPILED[key]


@gen
def noisy(mu):
    return trace("x", dist.gaussian(mu, 1.0))


NOISY_MASK = Mask(noisy)


@gen
def batched_mask_model():
    k = trace("k", dist.bernoulli(0.5))
    return trace("m", NOISY_MASK, k, 0.5)


def test_compiled_vsimulate_with_a_batched_mask(backend):
    """VSwitch reads nothing on the host under tracing, so a batched Mask compiles."""
    fast = compiled_other("batched_mask", batched_mask_model)
    v, v_e = fast.vsimulate((), 6, key=gm.key(0)), batched_mask_model.vsimulate((), 6, key=gm.key(0))
    same_choices(v.choices, v_e.choices, "batched_mask.vsimulate")
    close(v.score, v_e.score)
    if traces_code(backend):
        assert "vsimulate" not in fast.fallbacks, fast.fallbacks
