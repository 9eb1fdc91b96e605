"""L1: `gm.compile(gen_fn)` runs every GFI operation as one compiled function per input
skeleton, and gives what the handler path gives on the same key.

Every operation (simulate, generate, update, regenerate, assess, propose, project)
is compared on choices, scores, weights, retdiffs and discards, on each installed
backend (NumPy has no compiler: the same calls run on the handler path, and the
same checks pass). Tolerance: rtol 1e-5, atol 1e-4 — float32 sums of at most ~100
log densities of magnitude < 100, where a reordering of the sum by the compiler
moves the result by a few ulp of the total.

Compiled objects are built once at module level and reused, because MLX takes
seconds to compile each graph on CPU.
"""

import numpy as np
import pytest

import genmlx as gm
from genmlx import EMPTY, choicemap, dist, gen, select, splice, trace
from genmlx.combinators import Map, Mask, Switch, Unfold
from genmlx.compile.compiled import traces_code
from genmlx.core.pytree import flatten, tree_where, unflatten
from genmlx.errors import ArgumentError, GenMLXError, InvalidKeyError, KeyStreamError
from genmlx.testing import assert_close, to_numpy, assert_same_choices
from tests.models import branching, switchy

RTOL, ATOL = 1e-5, 1e-4

XS = [float(x) for x in np.linspace(-2.0, 2.0, 20)]
YS = [0.5 + 1.5 * x + 0.3 * np.sin(7.0 * x) for x in XS]
LINE_OBS = {("y", j): float(y) for j, y in enumerate(YS)}


@gen
def linreg(xs):
    slope = trace("slope", dist.gaussian(0.0, 10.0))
    intercept = trace("intercept", dist.gaussian(0.0, 10.0))
    for j, x in enumerate(xs):
        trace(("y", j), dist.gaussian(slope * x + intercept, 1.0))
    return slope


@gen
def school(mu, tau, sigma):
    theta = trace("theta", dist.gaussian(mu, tau))
    return trace("y", dist.gaussian(theta, sigma))


schools = Map(school)
SIGMAS = [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0]
SCHOOL_YS = [28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0]


@gen
def eight_schools(sigmas):
    mu = trace("mu", dist.gaussian(0.0, 5.0))
    tau = trace("tau", dist.log_normal(1.0, 1.0))
    n = len(sigmas)
    trace("schools", schools, [mu] * n, [tau] * n, sigmas)
    return mu


SCHOOL_OBS = {("schools", j, "y"): y for j, y in enumerate(SCHOOL_YS)}


@gen
def hmm_step(t, z, logits, means):
    znew = trace("z", dist.categorical(logits[z]))
    trace("y", dist.gaussian(means[znew], 1.0))
    return znew


hmm = Unfold(hmm_step)


@gen
def inner(mu):
    return trace("v", dist.gaussian(mu, 1.0))


@gen
def nested():
    m = trace("m", dist.gaussian(0.0, 1.0))
    a = trace("sub", inner, m)
    b = splice(inner, a)
    return a + b


@gen
def low(mu):
    return trace("x", dist.gaussian(mu, 1.0))


@gen
def high(mu):
    return trace("x", dist.gaussian(mu + 10.0, 3.0))


@gen
def noisy(mu):
    return trace("x", dist.gaussian(mu, 2.0))


def hmm_case(b):
    # Unfold unrolls into one graph, and each of the seven operations compiles its own;
    # MLX compiles slowly on CPU: T = 5 there, T = 20 on JAX (T = 50 below)
    steps = 5 if b.name == "mlx" else 20
    logits = b.asarray([[np.log(0.9), np.log(0.1)], [np.log(0.2), np.log(0.8)]])
    means = b.asarray([-1.0, 2.0])
    rng = np.random.default_rng(0)
    obs = {(t, "y"): float(rng.normal()) for t in range(steps)}
    return hmm, (steps, 0, logits, means), obs, select((1, "z"), (3, "z")), {(2, "z"): 1}


# name -> builder(backend) -> (gen_fn, args, observations, selection, update constraints)
CASES = {
    "linreg": lambda b: (linreg, (XS,), LINE_OBS, select("slope"), {"intercept": 0.25}),
    "eight_schools": lambda b: (eight_schools, (SIGMAS,), SCHOOL_OBS, select("mu", "tau"),
                                {("schools", 3, "theta"): 1.0}),
    "hmm_unfold": hmm_case,
    "nested_call_and_splice": lambda b: (nested, (), {"v": 0.5}, select("m"), {"m": 0.1}),
    "switch": lambda b: (Switch(low, high), (1, 0.5), {"x": 9.0}, select("x"), {"x": 11.0}),
    "mask": lambda b: (Mask(noisy), (True, 0.5), {"x": 1.0}, select("x"), {"x": -1.0}),
}
_COMPILED: dict = {}


def traces(b):
    """True where compile traces the function (NumPy's compile is the identity)."""
    return traces_code(b)


def compiled(name, gen_fn):
    key = (name, gm.get_backend().name)
    if key not in _COMPILED:
        _COMPILED[key] = gm.compile(gen_fn)
    return _COMPILED[key]


def same_choices(actual, expected, msg):
    assert_same_choices(actual, expected, rtol=RTOL, atol=ATOL, msg=msg)


@pytest.mark.parametrize("name", list(CASES))
def test_every_operation_equals_the_handler_path(backend, name):
    gen_fn, args, obs, selection, change = CASES[name](backend)
    fast = compiled(name, gen_fn)
    key = gm.key(11)
    obs = choicemap(obs)

    tr, w = fast.generate(args, obs, key=key)
    tr_e, w_e = gen_fn.generate(args, obs, key=key)
    assert tr.gen_fn is fast
    same_choices(tr.choices, tr_e.choices, f"{name}.generate")
    assert_close(tr.score, tr_e.score, rtol=RTOL, atol=ATOL)
    assert_close(w, w_e, rtol=RTOL, atol=ATOL)

    sim, sim_e = fast.simulate(args, key=key), gen_fn.simulate(args, key=key)
    same_choices(sim.choices, sim_e.choices, f"{name}.simulate")
    assert_close(sim.score, sim_e.score, rtol=RTOL, atol=ATOL)

    new, uw, retdiff, discard = fast.update(tr, choicemap(change), key=key)
    new_e, uw_e, retdiff_e, discard_e = gen_fn.update(tr_e, choicemap(change), key=key)
    same_choices(new.choices, new_e.choices, f"{name}.update")
    same_choices(discard, discard_e, f"{name}.update discard")
    assert_close(uw, uw_e, rtol=RTOL, atol=ATOL)
    assert retdiff == retdiff_e

    new, rw, retdiff = fast.regenerate(tr, selection, key=gm.key(12))
    new_e, rw_e, retdiff_e = gen_fn.regenerate(tr_e, selection, key=gm.key(12))
    same_choices(new.choices, new_e.choices, f"{name}.regenerate")
    assert_close(rw, rw_e, rtol=RTOL, atol=ATOL)
    assert retdiff == retdiff_e

    assert_close(fast.assess(args, tr.choices).weight, gen_fn.assess(args, tr_e.choices).weight,
                 rtol=RTOL, atol=ATOL)
    assert_close(fast.project(tr, selection), gen_fn.project(tr_e, selection),
                 rtol=RTOL, atol=ATOL)
    choices, pw, _ = fast.propose(args, key=key)
    choices_e, pw_e, _ = gen_fn.propose(args, key=key)
    same_choices(choices, choices_e, f"{name}.propose")
    assert_close(pw, pw_e, rtol=RTOL, atol=ATOL)
    if traces(backend):
        assert fast.fallbacks == {}, fast.fallbacks


def test_a_new_float_value_reuses_the_compiled_function(backend):
    fast = compiled("linreg", linreg)
    fast.generate((XS,), choicemap(LINE_OBS), key=gm.key(0))
    entries = len(fast._calls)
    shifted = {k: v + 1.0 for k, v in LINE_OBS.items()}
    tr, w = fast.generate((XS,), choicemap(shifted), key=gm.key(0))
    assert len(fast._calls) == entries
    assert_close(w, linreg.generate((XS,), choicemap(shifted), key=gm.key(0)).weight,
                 rtol=RTOL, atol=ATOL)


def test_value_dependent_structure_falls_back_with_the_reason(backend):
    fast = gm.compile(branching)
    for seed in range(4):
        tr, tr_e = fast.simulate((), key=gm.key(seed)), branching.simulate((), key=gm.key(seed))
        same_choices(tr.choices, tr_e.choices, "branching.simulate")
        assert_close(tr.score, tr_e.score, rtol=RTOL, atol=ATOL)
    if traces(backend):
        assert "if coin:" in fast.fallbacks["simulate"]
    else:
        assert "no compiler" in fast.fallbacks["simulate"]
    shown = gm.schema(switchy, (), key=gm.key(0))
    assert not shown.static and "depends" in shown.reason


def test_schema_lists_addresses_distributions_and_shapes(backend):
    shown = gm.schema(eight_schools, (SIGMAS,), key=gm.key(0))
    assert shown.static and shown.reason is None
    assert shown.addresses()[:2] == [("mu",), ("tau",)]
    assert ("schools", 7, "y") in shown.addresses()
    kinds = {s.address: (s.kind, s.distribution) for s in shown.sites}
    assert kinds[("tau",)] == ("choice", "log_normal")
    assert kinds[("schools",)][0] == "call"
    assert "tau: log_normal () float32" in str(shown)


def test_a_trace_of_another_generative_function_is_refused(backend):
    fast = compiled("linreg", linreg)
    other = nested.simulate((), key=gm.key(0))
    with pytest.raises(ArgumentError, match="made by nested"):
        fast.update(other, EMPTY, key=gm.key(0))


def test_traces_of_the_handler_path_are_accepted(backend):
    fast = compiled("linreg", linreg)
    tr = linreg.simulate((XS,), key=gm.key(2))
    new, w, _, _ = fast.update(tr, choicemap({"slope": 0.5}), key=gm.key(3))
    new_e, w_e, _, _ = linreg.update(tr, choicemap({"slope": 0.5}), key=gm.key(3))
    assert_close(w, w_e, rtol=RTOL, atol=ATOL)
    assert new.gen_fn is fast


@pytest.mark.parametrize("bad", [7, 1.5, "key"])
def test_a_key_that_is_not_a_key_is_a_clear_error(backend, bad):
    with pytest.raises(InvalidKeyError, match=r"gm\.key"):
        linreg.simulate((XS,), key=bad)


def test_a_key_of_the_wrong_shape_or_dtype_is_a_clear_error(backend):
    for bad in (backend.asarray([1.0, 2.0]), backend.split(gm.key(0), 3)):
        with pytest.raises(InvalidKeyError, match=r"shape \(2,\)"):
            linreg.simulate((XS,), key=bad)
    assert to_numpy(linreg.simulate((XS,), key=gm.key(0)).score).shape == ()


def test_hmm_of_fifty_steps_generates_and_updates_compiled_on_jax():
    with gm.use_backend("jax") as b:
        _, args, obs, _, change = hmm_case(b)
        args = (50,) + args[1:]
        rng = np.random.default_rng(1)
        obs = choicemap({(t, "y"): float(rng.normal()) for t in range(50)})
        fast = compiled("hmm50", hmm)
        tr, w = fast.generate(args, obs, key=gm.key(4))
        tr_e, w_e = hmm.generate(args, obs, key=gm.key(4))
        same_choices(tr.choices, tr_e.choices, "hmm50.generate")
        assert_close(w, w_e, rtol=RTOL, atol=ATOL)
        new, uw, _, discard = fast.update(tr, choicemap(change), key=gm.key(5))
        new_e, uw_e, _, discard_e = hmm.update(tr_e, choicemap(change), key=gm.key(5))
        same_choices(discard, discard_e, "hmm50.update discard")
        assert_close(uw, uw_e, rtol=RTOL, atol=ATOL)
        assert fast.fallbacks == {}


def test_jax_jit_and_vmap_take_and_return_traces():
    import jax

    with gm.use_backend("jax"):
        obs = choicemap(LINE_OBS)
        run = jax.jit(lambda key: linreg.generate((XS,), obs, key=key))
        tr, w = run(gm.key(6))
        tr_e, w_e = linreg.generate((XS,), obs, key=gm.key(6))
        assert isinstance(tr, gm.Trace)
        same_choices(tr.choices, tr_e.choices, "jax.jit generate")
        assert_close(w, w_e, rtol=RTOL, atol=ATOL)
        # a trace goes back in: jitted update of the jitted trace
        step = jax.jit(lambda t, key: linreg.update(t, choicemap({"slope": 0.5}), key=key))
        new, uw, _, discard = step(tr, gm.key(7))
        assert_close(uw, linreg.update(tr_e, choicemap({"slope": 0.5}), key=gm.key(7)).weight,
                     rtol=RTOL, atol=ATOL)
        assert_close(discard["slope"], tr_e["slope"])
        batched = jax.vmap(lambda key: linreg.simulate((XS,), key=key))(gm.split(gm.key(8), 4))
        assert to_numpy(batched.score).shape == (4,)
        assert_close(batched.score[2], linreg.simulate((XS,), key=gm.split(gm.key(8), 4)[2]).score,
                     rtol=RTOL, atol=ATOL)


def test_the_global_key_stream_refuses_compiled_callers_and_stays_usable(grad_backend):
    backend = grad_backend  # the backends whose compile traces (NumPy's runs eagerly)
    run = backend.compile(lambda x: linreg.simulate((XS,)).score + x)
    with pytest.raises(KeyStreamError, match="key="):
        run(backend.asarray(0.0))
    gm.seed(3)
    assert to_numpy(linreg.simulate((XS,)).score).shape == ()  # no tracer left behind


def test_where_selects_whole_traces_of_one_skeleton(backend):
    a = linreg.simulate((XS,), key=gm.key(1))
    b = linreg.simulate((XS,), key=gm.key(2))
    for accept, expected in ((True, a), (False, b)):
        picked = tree_where(backend.xp, backend.asarray(accept), a, b)
        same_choices(picked.choices, expected.choices, f"where({accept})")
        assert_close(picked.score, expected.score)
    with pytest.raises(GenMLXError, match="different skeletons"):
        tree_where(backend.xp, backend.asarray(True), a, nested.simulate((), key=gm.key(0)))


def test_flatten_round_trip_keeps_values_and_identity(backend):
    tr = nested.simulate((), key=gm.key(9))
    leaves, skeleton = flatten(tr)
    back = unflatten(skeleton, leaves)
    same_choices(back.choices, tr.choices, "round trip")
    assert_close(back.score, tr.score)
    rec = back.internal.records[("v",)]
    assert back.retval is not None and rec.value is back.choices["v"]
    again, skeleton2 = flatten(back)
    assert skeleton2 == skeleton and len(again) == len(leaves)


@pytest.mark.parametrize("name", ["linreg", "eight_schools"])
def test_vectorized_operations_compile_and_equal_the_handler_path(backend, name):
    """N = 8 equals the number of schools: batchedness must come from the skeleton,
    not from a leading size."""
    gen_fn, args, obs, selection, change = CASES[name](backend)
    fast, n, key = compiled(name, gen_fn), 8, gm.key(21)
    vtr, w = gm.vgenerate(fast, args, choicemap(obs), n=n, key=key)
    vtr_e, w_e = gm.vgenerate(gen_fn, args, choicemap(obs), n=n, key=key)
    same_choices(vtr.choices, vtr_e.choices, f"{name}.vgenerate")
    assert_close(w, w_e, rtol=RTOL, atol=ATOL)
    assert to_numpy(w).shape == (n,)
    new, uw, _, _ = vtr.update(choicemap(change), key=gm.key(22))
    new_e, uw_e, _, _ = vtr_e.update(choicemap(change), key=gm.key(22))
    same_choices(new.choices, new_e.choices, f"{name}.vupdate")
    assert_close(uw, uw_e, rtol=RTOL, atol=ATOL)
    regen, rw, _ = vtr.regenerate(selection, key=gm.key(23))
    regen_e, rw_e, _ = vtr_e.regenerate(selection, key=gm.key(23))
    same_choices(regen.choices, regen_e.choices, f"{name}.vregenerate")
    assert_close(rw, rw_e, rtol=RTOL, atol=ATOL)
    sims = gm.vsimulate(fast, args, n=n, key=key)
    assert_close(sims.score, gm.vsimulate(gen_fn, args, n=n, key=key).score, rtol=RTOL, atol=ATOL)
    one = sims.particle(3)
    assert_close(one.score, gen_fn.assess(args, one.choices).weight, rtol=RTOL, atol=ATOL)
    if traces(backend):
        assert fast.fallbacks == {}, fast.fallbacks
