"""Map, Unfold and Scan under `gm.compile` run their kernel through the backend's scan
(the stacked path of `genmlx.combinators._stacked`) and give what the eager, unrolled
path gives on the same key.

Every GFI operation (simulate, generate, update with a constraint at one step,
regenerate of a selection at some steps, assess, project, propose) is compared on
choices, scores, weights, retdiffs and discards on each installed backend (NumPy's
compile is the identity: the same calls run eagerly and the same checks pass).
Tolerance: rtol 1e-5, atol 1e-4 (float32 sums of at most ~100 log densities; the
stacked path adds them in the eager order, but a compiler may fuse differently).

On JAX the kernel body is traced once per run of steps with one constraint
structure, whatever T: the tests count kernel-body executions and look for the
scan in the jaxpr. MLX's scan is unrolled by `mx.compile` (compile time grows with
T there, by design of the backend), so MLX runs shorter chains. Compiled objects
are built once at module level and reused.
"""

import numpy as np
import pytest

import genmlx as gm
from genmlx import choicemap, dist, gen, select, trace
from genmlx.combinators import Map, Scan, Unfold
from genmlx.combinators._stacked import StackedInternalMixin
from genmlx.compile.compiled import traces_code
from genmlx.core.diff import NO_CHANGE
from genmlx.testing import assert_close, to_numpy, assert_same_choices

RTOL, ATOL = 1e-5, 1e-4
RUNS = {"hmm": 0, "scan": 0, "school": 0}


@gen
def hmm_step(t, z, logits, means):
    RUNS["hmm"] += 1
    znew = trace("z", dist.categorical(logits[z]))
    trace("y", dist.gaussian(means[znew], 1.0))
    return znew


@gen
def level_step(level, x):
    RUNS["scan"] += 1
    new = trace("level", dist.gaussian(0.9 * level + x, 1.0))
    obs = trace("obs", dist.gaussian(new, 0.5))
    return new, obs


@gen
def school(mu, tau, sigma):
    RUNS["school"] += 1
    theta = trace("theta", dist.gaussian(mu, tau))
    return trace("y", dist.gaussian(theta, sigma))


hmm, levels, schools = Unfold(hmm_step), Scan(level_step), Map(school)
SIGMAS = [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0]
SCHOOL_YS = [28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0]


@gen
def eight_schools(sigmas):
    mu = trace("mu", dist.gaussian(0.0, 5.0))
    tau = trace("tau", dist.log_normal(1.0, 1.0))
    n = len(sigmas)
    trace("schools", schools, [mu] * n, [tau] * n, sigmas)
    return mu


def steps_for(b):
    return 6 if b.name == "mlx" else 50


def hmm_case(b):
    steps = steps_for(b)
    logits = b.asarray([[np.log(0.9), np.log(0.1)], [np.log(0.2), np.log(0.8)]])
    means = b.asarray([-1.0, 2.0])
    rng = np.random.default_rng(0)
    obs = {(t, "y"): float(rng.normal()) for t in range(steps)}
    return (hmm, (steps, 0, logits, means), obs, select((1, "z"), (3, "z")), {(2, "z"): 1},
            hmm)


def scan_case(b):
    steps = min(steps_for(b), 20)
    xs = b.asarray(np.linspace(-1.0, 1.0, steps))
    rng = np.random.default_rng(1)
    obs = {(t, "obs"): float(rng.normal()) for t in range(steps)}
    return (levels, (0.0, xs), obs, select((2, "level"), (4, "level")), {(3, "level"): 0.5},
            levels)


def schools_case(b):
    obs = {("schools", j, "y"): y for j, y in enumerate(SCHOOL_YS)}
    return (eight_schools, (SIGMAS,), obs, select("mu", ("schools", 2, "theta")),
            {("schools", 3, "theta"): 1.0}, schools)


CASES = {"hmm_unfold": hmm_case, "level_scan": scan_case, "eight_schools_map": schools_case}
_COMPILED: dict = {}


def compiled(name, gen_fn):
    key = (name, gm.get_backend().name)
    if key not in _COMPILED:
        _COMPILED[key] = gm.compile(gen_fn)
    return _COMPILED[key]


def same_choices(actual, expected, msg):
    assert_same_choices(actual, expected, rtol=RTOL, atol=ATOL, msg=msg)


def same_values(actual, expected, msg):
    if isinstance(expected, (list, tuple)):
        assert isinstance(actual, type(expected)) and len(actual) == len(expected), msg
        for x, y in zip(actual, expected):
            same_values(x, y, msg)
    else:
        assert_close(actual, expected, rtol=RTOL, atol=ATOL, msg=msg)


def stacked_inside(tr, combinator):
    """The combinator's own trace inside `tr` (itself, or the call at "schools")."""
    if tr.gen_fn is combinator or getattr(tr.gen_fn, "inner", None) is combinator:
        return tr
    return tr.internal.records[("schools",)].subtrace


@pytest.mark.parametrize("name", list(CASES))
def test_every_operation_equals_the_eager_path(backend, name):
    gen_fn, args, obs, selection, change, combinator = CASES[name](backend)
    fast = compiled(name, gen_fn)
    key, obs = gm.key(11), choicemap(obs)

    tr, w = fast.generate(args, obs, key=key)
    tr_e, w_e = gen_fn.generate(args, obs, key=key)
    same_choices(tr.choices, tr_e.choices, f"{name}.generate")
    assert_close(tr.score, tr_e.score, rtol=RTOL, atol=ATOL)
    assert_close(w, w_e, rtol=RTOL, atol=ATOL)
    same_values(tr.retval, tr_e.retval, f"{name}.generate retval")
    inner = stacked_inside(tr, combinator)
    assert isinstance(inner.internal, StackedInternalMixin) == traces_code(backend)
    # step/element lookups and subtraces read through the stacked form
    sub, sub_e = inner.internal.subtraces[2], stacked_inside(tr_e, combinator).internal.subtraces[2]
    same_choices(sub.choices, sub_e.choices, f"{name} subtrace 2")
    assert_close(sub.score, sub_e.score, rtol=RTOL, atol=ATOL)

    sim, sim_e = fast.simulate(args, key=key), gen_fn.simulate(args, key=key)
    same_choices(sim.choices, sim_e.choices, f"{name}.simulate")
    assert_close(sim.score, sim_e.score, rtol=RTOL, atol=ATOL)

    new, uw, retdiff, discard = fast.update(tr, choicemap(change), key=key)
    new_e, uw_e, retdiff_e, discard_e = gen_fn.update(tr_e, choicemap(change), key=key)
    same_choices(new.choices, new_e.choices, f"{name}.update")
    same_choices(discard, discard_e, f"{name}.update discard")
    assert not discard.is_empty()
    assert_close(uw, uw_e, rtol=RTOL, atol=ATOL)
    assert_close(new.score, new_e.score, rtol=RTOL, atol=ATOL)
    assert retdiff == retdiff_e

    # an edited trace edits again (the stacked form round-trips through compiled calls)
    again, uw2, _, _ = fast.update(new, choicemap(change), key=key)
    again_e, uw2_e, _, _ = gen_fn.update(new_e, choicemap(change), key=key)
    assert_close(uw2, uw2_e, rtol=RTOL, atol=ATOL)
    same_choices(again.choices, again_e.choices, f"{name}.update twice")

    regen, rw, retdiff = fast.regenerate(tr, selection, key=gm.key(12))
    regen_e, rw_e, retdiff_e = gen_fn.regenerate(tr_e, selection, key=gm.key(12))
    same_choices(regen.choices, regen_e.choices, f"{name}.regenerate")
    assert_close(rw, rw_e, rtol=RTOL, atol=ATOL)
    assert_close(regen.score, regen_e.score, rtol=RTOL, atol=ATOL)
    assert retdiff == retdiff_e

    w_a, ret_a = fast.assess(args, tr.choices)
    w_ae, ret_ae = gen_fn.assess(args, tr_e.choices)
    assert_close(w_a, w_ae, rtol=RTOL, atol=ATOL)
    same_values(ret_a, ret_ae, f"{name}.assess retval")
    assert_close(fast.project(tr, selection), gen_fn.project(tr_e, selection),
                 rtol=RTOL, atol=ATOL)
    choices, pw, _ = fast.propose(args, key=key)
    choices_e, pw_e, _ = gen_fn.propose(args, key=key)
    same_choices(choices, choices_e, f"{name}.propose")
    assert_close(pw, pw_e, rtol=RTOL, atol=ATOL)
    if traces_code(backend):
        assert fast.fallbacks == {}, fast.fallbacks
        assert not getattr(combinator, "stacked_fallbacks", {}), combinator.stacked_fallbacks


def test_a_stacked_trace_reads_like_an_eager_one(backend):
    # T = 8: shrinking the chain runs the unrolled path, which compiles T kernel copies
    gen_fn, args, obs, _, _, _ = hmm_case(backend)
    args, obs = (8,) + args[1:], {k: v for k, v in obs.items() if k[0] < 8}
    fast = compiled("hmm_small", gen_fn)
    tr, _ = fast.generate(args, choicemap(obs), key=gm.key(3))
    tr_e, _ = gen_fn.generate(args, choicemap(obs), key=gm.key(3))
    n = args[0]
    assert len(tr.retval) == n and len(tr.internal.subtraces) == n
    for t in (0, n - 1):
        assert_close(tr[t, "z"], tr_e[t, "z"])
        assert_close(tr[t], tr_e[t])
        assert_close(tr.internal.subtraces[t].retval, tr_e.internal.subtraces[t].retval)
    # the eager (uncompiled) GFI accepts a stacked trace, and growing T works on it
    grown, gw, _, _ = gen_fn.update(tr, choicemap({(n, "y"): 0.3}), (n + 1,) + args[1:],
                                    key=gm.key(4))
    grown_e, gw_e, _, _ = gen_fn.update(tr_e, choicemap({(n, "y"): 0.3}), (n + 1,) + args[1:],
                                        key=gm.key(4))
    same_choices(grown.choices, grown_e.choices, "grown")
    assert_close(gw, gw_e, rtol=RTOL, atol=ATOL)
    # compiled too: a new step count runs the unrolled path on the materialized steps
    shrunk, sw, _, discard = fast.update(tr, choicemap(), (n - 1,) + args[1:], key=gm.key(5))
    shrunk_e, sw_e, _, discard_e = gen_fn.update(tr_e, choicemap(), (n - 1,) + args[1:],
                                                 key=gm.key(5))
    assert_close(sw, sw_e, rtol=RTOL, atol=ATOL)
    same_choices(discard, discard_e, "shrunk discard")


def test_an_update_with_nothing_to_do_changes_nothing(backend):
    gen_fn, args, obs, _, _, _ = hmm_case(backend)
    fast = compiled("hmm_unfold", gen_fn)
    tr, _ = fast.generate(args, choicemap(obs), key=gm.key(3))
    new, w, retdiff, discard = fast.update(tr, choicemap(), key=gm.key(4))
    assert retdiff is NO_CHANGE and discard.is_empty()
    assert_close(w, 0.0)
    same_choices(new.choices, tr.choices, "no-op update")


def _jax_runs(name, make_fn, steps_list):
    """Kernel-body executions while compiling generate for each T (fresh compiles)."""
    counts = {}
    with gm.use_backend("jax") as b:
        for steps in steps_list:
            fn, args, obs = make_fn(b, steps)
            fast = gm.compile(fn)
            RUNS[name] = 0
            tr, w = fast.generate(args, choicemap(obs), key=gm.key(0))
            counts[steps] = RUNS[name]
            assert fast.fallbacks == {}
            assert to_numpy(w).shape == ()
            assert isinstance(tr.internal, StackedInternalMixin)
            assert not getattr(fn, "stacked_fallbacks", {}), fn.stacked_fallbacks
    return counts


def _hmm_of(b, steps):
    logits = b.asarray([[np.log(0.9), np.log(0.1)], [np.log(0.2), np.log(0.8)]])
    means = b.asarray([-1.0, 2.0])
    return Unfold(hmm_step), (steps, 0, logits, means), {(t, "y"): 0.5 for t in range(steps)}


def _scan_of(b, steps):
    return (Scan(level_step), (0.0, b.asarray(np.linspace(-1.0, 1.0, steps))),
            {(t, "obs"): 0.1 for t in range(steps)})


def _map_of(b, steps):
    return (Map(school), (b.asarray(np.zeros(steps)), b.asarray(np.ones(steps)),
                          b.asarray(np.full(steps, 2.0))),
            {(i, "y"): 1.0 for i in range(steps)})


@pytest.mark.parametrize("name,make", [("hmm", _hmm_of), ("scan", _scan_of),
                                       ("school", _map_of)])
def test_jax_traces_the_kernel_once_whatever_t(name, make):
    """Compile time flat in T: the kernel body runs once while tracing generate, for
    T = 50 and T = 500 alike (the unrolled path ran it T times)."""
    counts = _jax_runs(name, make, (50, 500))
    assert counts == {50: 1, 500: 1}, counts


def test_the_jaxpr_holds_a_scan_and_one_kernel_body():
    import jax

    with gm.use_backend("jax") as b:
        fn, args, obs = _hmm_of(b, 200)
        obs = choicemap(obs)
        with gm._backend.tracing("test"):
            RUNS["hmm"] = 0
            jaxpr = jax.make_jaxpr(lambda k: fn.generate(args, obs, key=k).weight)(gm.key(0))
        text = str(jaxpr)
        assert "scan" in text and RUNS["hmm"] == 1
        # one categorical draw per traced body, not 200
        assert text.count("argmax") == 1, text.count("argmax")


def test_update_and_regenerate_trace_a_few_bodies_on_jax():
    """A constraint at one step of T = 200: three runs of steps (before, at, after),
    each one scan; regenerating two steps: four runs from the first selected step."""
    with gm.use_backend("jax") as b:
        fn, args, obs = _hmm_of(b, 200)
        fast = gm.compile(fn)
        tr, _ = fast.generate(args, choicemap(obs), key=gm.key(0))
        RUNS["hmm"] = 0
        _, w, retdiff, discard = fast.update(tr, choicemap({(100, "z"): 1}), key=gm.key(1))
        assert RUNS["hmm"] <= 3 and fast.fallbacks == {}
        RUNS["hmm"] = 0
        _, rw, _ = fast.regenerate(tr, select((10, "z"), (20, "z")), key=gm.key(2))
        assert RUNS["hmm"] <= 4 and fast.fallbacks == {}
        _, w_e, retdiff_e, discard_e = fn.update(tr, choicemap({(100, "z"): 1}), key=gm.key(1))
        assert_close(w, w_e, rtol=RTOL, atol=ATOL)
        assert retdiff == retdiff_e
        same_choices(discard, discard_e, "T=200 update discard")
        _, rw_e, _ = fn.regenerate(tr, select((10, "z"), (20, "z")), key=gm.key(2))
        assert_close(rw, rw_e, rtol=RTOL, atol=ATOL)


def test_steps_with_and_without_constraints_run_in_segments(backend):
    """Observations missing over a block of steps: three runs of steps of one
    constraint structure (observed, unobserved, observed), one scan each."""
    steps = steps_for(backend)
    fn, args, _ = _hmm_of(backend, steps)
    gap = range(steps // 3, 2 * steps // 3)
    obs = choicemap({(t, "y"): 0.25 * t for t in range(steps) if t not in gap})
    fast = compiled("hmm_gap", fn)
    RUNS["hmm"] = 0
    tr, w = fast.generate(args, obs, key=gm.key(7))
    if backend.name == "jax":
        assert RUNS["hmm"] == 3
    tr_e, w_e = fn.generate(args, obs, key=gm.key(7))
    same_choices(tr.choices, tr_e.choices, "gap generate")
    assert_close(w, w_e, rtol=RTOL, atol=ATOL)
    assert_close(tr.score, tr_e.score, rtol=RTOL, atol=ATOL)
    if traces_code(backend):
        assert isinstance(tr.internal, StackedInternalMixin)
        assert fast.fallbacks == {} and not fn.stacked_fallbacks


def test_new_parameters_rerun_every_step_with_gens_weight(backend):
    """Changed kernel parameters (an argdiff of UNKNOWN_CHANGE): every step is re-scored
    through the scan; weight = log p(t'; new args) - log p(t; old args)."""
    gen_fn, args, obs, _, _, _ = hmm_case(backend)
    fast = compiled("hmm_unfold", gen_fn)
    tr, _ = fast.generate(args, choicemap(obs), key=gm.key(3))
    tr_e, _ = gen_fn.generate(args, choicemap(obs), key=gm.key(3))
    new_args = args[:3] + (backend.asarray([-0.5, 1.5]),)
    diffs = (NO_CHANGE, NO_CHANGE, NO_CHANGE, gm.UNKNOWN_CHANGE)
    new, w, retdiff, _ = fast.update(tr, choicemap(), new_args, diffs, key=gm.key(4))
    new_e, w_e, retdiff_e, _ = gen_fn.update(tr_e, choicemap(), new_args, diffs, key=gm.key(4))
    assert_close(w, w_e, rtol=RTOL, atol=ATOL)
    assert_close(new.score, new_e.score, rtol=RTOL, atol=ATOL)
    assert_close(w, new_e.score - tr_e.score, rtol=RTOL, atol=ATOL)
    assert retdiff == retdiff_e
