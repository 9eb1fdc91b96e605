"""Batchedness is explicit on every backend: a site whose own size equals the number
of particles N is not mistaken for a per-particle one.

Every model here has sites of size SIZE and runs with N = SIZE particles (and
N != SIZE as a control). Each particle's score and each batched weight must equal
what the handler path (`assess`, `update`, the regenerate MH ratio) gives for that
particle's choices.
"""

import pytest

import genmlx as gm
from genmlx import choicemap, dist, gen, select, splice, trace
from genmlx.combinators import (
    Contramap, Map, Mask, Mix, Recurse, Scan, Switch, Unfold, VSwitch, repeat_gf, vmap_gf,
)
from genmlx.errors import VectorizationError
from genmlx.testing import assert_close, to_numpy

SIZE = 3
RTOL, ATOL = 1e-5, 1e-4


def close(actual, expected):
    assert_close(actual, expected, rtol=RTOL, atol=ATOL)


def vec(value=0.0):
    b = gm.get_backend()
    return b.xp.full((SIZE,), value, dtype=b.float_dtype)


def wide_site(address, mu, shared=False):
    """A site of SIZE values around `mu` (an array: 0-d, or [N] when batched)."""
    xp = gm.get_backend().xp
    if shared:
        return trace(address, dist.broadcasted_normal(vec(), vec(2.0)))
    return trace(address, dist.broadcasted_normal(xp.expand_dims(mu, -1) + vec(), vec(1.0)))


def particle_choices(choices, i, shared=()):
    """Particle i's choices: per-particle leaves sliced, `shared` leaves as they are."""
    return choicemap({p: (v if p in shared else v[i]) for p, v in choices.leaves()})


def regenerate_expected(model, args, old, new, selection):
    """The MH log-ratio of resampling `selection` from the prior, by the handler path."""
    t0 = model.generate(args, old).trace
    t1 = model.generate(args, new).trace
    return (t1.score - t0.score) - (model.project(t1, selection) - model.project(t0, selection))


# -- the DSL: vsimulate, vgenerate, batched update and regenerate --------------------------

@gen
def wide():
    xp = gm.get_backend().xp
    mu = trace("mu", dist.gaussian(0.0, 1.0))
    v = wide_site("v", mu)                 # per-particle parameters, size SIZE
    w = wide_site("w", mu, shared=True)    # shared parameters, size SIZE
    trace("y", dist.gaussian(xp.sum(v, axis=-1) + xp.sum(w, axis=-1), 1.0))
    return v


@pytest.mark.parametrize("n", [SIZE, SIZE + 1])
def test_vsimulate_site_of_size_n(backend, n):
    vtr = gm.vsimulate(wide, (), n=n, key=gm.key(0))
    assert tuple(vtr["v"].shape) == (n, SIZE) and tuple(vtr["w"].shape) == (n, SIZE)
    assert tuple(vtr.score.shape) == (n,) and tuple(vtr.retval.shape) == (n, SIZE)
    for i in range(n):
        choices = particle_choices(vtr.choices, i)
        close(vtr.score[i], wide.assess((), choices).weight)
        tr = vtr.particle(i)
        assert tuple(tr["v"].shape) == (SIZE,) and tuple(tr.retval.shape) == (SIZE,)
        close(tr.score, wide.assess((), tr.choices).weight)


@pytest.mark.parametrize("n", [SIZE, SIZE + 1])
def test_vgenerate_shared_and_per_particle_constraints_of_size_n(backend, n):
    xp = gm.get_backend().xp
    per_particle_v = xp.reshape(xp.arange(n * SIZE, dtype=gm.get_backend().float_dtype),
                                (n, SIZE)) / 10.0
    # w is shared (shape (SIZE,), which equals (n,) when n == SIZE), v per particle, y shared
    obs = choicemap(v=per_particle_v, w=vec(0.5), y=0.25)
    vtr, weight = gm.vgenerate(wide, (), obs, n=n, key=gm.key(1))
    assert tuple(weight.shape) == (n,) and tuple(vtr["w"].shape) == (SIZE,)
    for i in range(n):
        choices = particle_choices(vtr.choices, i, shared={("w",), ("y",)})
        close(vtr.score[i], wide.assess((), choices).weight)
        prior_mu = dist.gaussian(0.0, 1.0).assess((), gm.ChoiceMap.leaf(vtr["mu"][i])).weight
        close(weight[i], wide.assess((), choices).weight - prior_mu)
        close(vtr.particle(i).score, vtr.score[i])


@pytest.mark.parametrize("n", [SIZE, SIZE + 1])
def test_batched_update_and_regenerate_with_sites_of_size_n(backend, n):
    xp = gm.get_backend().xp
    vtr = gm.vsimulate(wide, (), n=n, key=gm.key(2))
    new_v = xp.ones((n, SIZE), dtype=gm.get_backend().float_dtype)
    constraints = choicemap(v=new_v, w=vec(0.3))
    new, weight, _, discard = vtr.update(constraints)
    for i in range(n):
        old_i = vtr.particle(i)
        h = wide.update(old_i, choicemap(v=new_v[i], w=vec(0.3)))
        close(weight[i], h.weight)
        close(new.score[i], wide.assess((), particle_choices(new.choices, i, {("w",)})).weight)
        close(discard["w"][i], h.discard["w"])
    moved, weight, _ = vtr.regenerate(select("mu"), key=gm.key(3))
    for i in range(n):
        old_c, new_c = particle_choices(vtr.choices, i), particle_choices(moved.choices, i)
        close(weight[i], regenerate_expected(wide, (), old_c, new_c, select("mu")))


def test_where_and_gather_keep_shared_values_shared(backend):
    n = SIZE
    a, _ = gm.vgenerate(wide, (), choicemap(w=vec(0.5)), n=n, key=gm.key(4))
    b, _ = gm.vgenerate(wide, (), choicemap(w=vec(-0.5)), n=n, key=gm.key(5))
    mask = gm.get_backend().asarray([True, False, True])
    c = a.where(mask, b)
    assert tuple(c["w"].shape) == (n, SIZE)  # shared in a and in b, different: now per particle
    for i, src in enumerate([a, b, a]):
        close(c.particle(i)["w"], src["w"])
        close(c.particle(i)["v"], src["v"][i])
        close(c.score[i], src.score[i])
    g = a.gather(gm.get_backend().asarray([2, 2, 0, 1]))
    assert g.n == 4 and tuple(g["w"].shape) == (SIZE,) and tuple(g["v"].shape) == (4, SIZE)
    close(g.particle(1).score, a.particle(2).score)


# -- combinators inside a batched model ------------------------------------------------------

@gen
def kernel(mu):
    v = wide_site("v", gm.get_backend().xp.asarray(mu))
    wide_site("w", None, shared=True)
    return gm.get_backend().xp.mean(v, axis=-1)


@gen
def step(t, state):
    return kernel_body(state)


def kernel_body(state):
    v = wide_site("v", state)
    wide_site("w", None, shared=True)
    return 0.5 * gm.get_backend().xp.mean(v, axis=-1)


@gen
def scan_step(carry, x):
    v = wide_site("v", carry + x)
    wide_site("w", None, shared=True)
    return gm.get_backend().xp.mean(v, axis=-1), v


def _recursive(self):
    @gen
    def nest(depth, mu):
        v = wide_site("v", mu)
        wide_site("w", None, shared=True)
        if depth > 0:
            trace("next", self, depth - 1, gm.get_backend().xp.mean(v, axis=-1))
        return mu

    return nest


MAP, UNFOLD, SCAN = Map(kernel), Unfold(step), Scan(scan_step)
CONTRA = Contramap(kernel, lambda m: (2.0 * m,))
RECURSE = Recurse(_recursive, name="nest")


@gen
def indexed_model():
    mu = trace("mu", dist.gaussian(0.0, 1.0))
    trace("map", MAP, [mu, mu + 1.0])
    trace("unfold", UNFOLD, 2, mu)
    trace("scan", SCAN, mu, [0.0, 1.0])
    trace("contra", CONTRA, mu)
    trace("rec", RECURSE, 1, mu)
    return mu


INDEXED_SITE = ("map", 1, "v")


@pytest.mark.parametrize("n", [SIZE, SIZE + 1])
def test_map_unfold_scan_contramap_recurse_batched(backend, n):
    xp = gm.get_backend().xp
    vtr = gm.vsimulate(indexed_model, (), n=n, key=gm.key(6))
    for path in [("map", 1, "v"), ("unfold", 1, "v"), ("scan", 0, "v"), ("contra", "v"),
                 ("rec", "next", "v"), ("map", 1, "w"), ("unfold", 1, "w"), ("scan", 0, "w"),
                 ("contra", "w"), ("rec", "next", "w")]:
        assert tuple(vtr[path].shape) == (n, SIZE), path
    for i in range(n):
        close(vtr.score[i], indexed_model.assess((), particle_choices(vtr.choices, i)).weight)
    new_v = xp.ones((n, SIZE), dtype=gm.get_backend().float_dtype)
    paths = [("map", 0, "v"), ("unfold", 1, "v"), ("scan", 1, "v"), ("contra", "v"),
             ("rec", "next", "v"), ("map", 1, "w"), ("rec", "w")]
    new, weight, _, _ = vtr.update(choicemap({p: new_v for p in paths}))
    for i in range(n):
        old_i = indexed_model.generate((), particle_choices(vtr.choices, i)).trace
        h = indexed_model.update(old_i, choicemap({p: new_v[i] for p in paths}))
        close(weight[i], h.weight)
        close(new.score[i], indexed_model.assess((), particle_choices(new.choices, i)).weight)
    moved, weight, _ = vtr.regenerate(select("mu", ("unfold", 0, "v")), key=gm.key(7))
    for i in range(n):
        old_c, new_c = particle_choices(vtr.choices, i), particle_choices(moved.choices, i)
        close(weight[i], regenerate_expected(indexed_model, (), old_c, new_c,
                                             select("mu", ("unfold", 0, "v"))))


def test_map_unfold_scan_at_the_top_level(backend):
    n = SIZE
    for gf, args, path in [(MAP, ([0.0, 1.0],), (1, "v")),
                           (UNFOLD, (2, gm.get_backend().asarray(0.5)), (1, "v")),
                           (SCAN, (gm.get_backend().asarray(0.0), [0.0, 1.0]), (1, "v"))]:
        vtr = gm.vsimulate(gf, args, n=n, key=gm.key(8))
        assert tuple(vtr[path].shape) == (n, SIZE)
        for i in range(n):
            tr = vtr.particle(i)
            close(tr.score, gf.assess(args, tr.choices).weight)
            close(vtr.score[i], tr.score)


@gen
def low(mu):
    return wide_site("x", mu - 1.0)


@gen
def high(mu):
    wide_site("c", None, shared=True)
    return wide_site("a", mu + 1.0)


SWITCH, MASK, MIX = Switch(low, high), Mask(high), Mix(low, high)
VSW = VSwitch(low, high)


@gen
def branchy(log_weights):
    mu = trace("mu", dist.gaussian(0.0, 1.0))
    k = trace("k", dist.bernoulli(0.5))
    trace("s", SWITCH, k, mu)
    trace("m", MASK, k, mu)
    trace("vs", VSW, k, mu)
    return trace("mix", MIX, log_weights, mu)


def branchy_particle(choices, i):
    """Particle i's choices of the unbatched model: only the branches it takes."""
    k = int(to_numpy(choices["k"])[i])
    c = int(to_numpy(choices["mix", "component"])[i])
    taken = {("mu",), ("k",), ("mix", "component"), ("s", "a" if k else "x"),
             ("mix", "value", "a" if c else "x"), ("vs", "a" if k else "x")}
    taken |= {("m", "a"), ("m", "c"), ("s", "c"), ("vs", "c")} if k else set()
    taken |= {("mix", "value", "c")} if c else set()
    return choicemap({p: v[i] for p, v in choices.leaves() if p in taken})


@pytest.mark.parametrize("n", [SIZE, SIZE + 1])
def test_switch_mask_mix_vswitch_batched(backend, n):
    xp = gm.get_backend().xp
    lw = xp.log(gm.get_backend().asarray([0.4, 0.6]))
    vtr = gm.vsimulate(branchy, (lw,), n=n, key=gm.key(9))
    for path in [("s", "x"), ("m", "a"), ("m", "c"), ("vs", "c"), ("mix", "value", "c")]:
        assert tuple(vtr[path].shape) == (n, SIZE), path
    for i in range(n):
        close(vtr.score[i], branchy.assess((lw,), branchy_particle(vtr.choices, i)).weight)
    k_on = xp.ones((n,), dtype=gm.get_backend().int_dtype)
    new, weight, _, _ = vtr.update(choicemap(k=k_on))
    for i in range(n):
        old_i = branchy.generate((lw,), branchy_particle(vtr.choices, i)).trace
        close(weight[i], branchy.update(old_i, choicemap(k=1)).weight)
        close(new.score[i], branchy.assess((lw,), branchy_particle(new.choices, i)).weight)
    moved, weight, _ = vtr.regenerate(select("mu"), key=gm.key(10))
    for i in range(n):
        old_c, new_c = branchy_particle(vtr.choices, i), branchy_particle(moved.choices, i)
        close(weight[i], regenerate_expected(branchy, (lw,), old_c, new_c, select("mu")))


def test_vswitch_at_the_top_level_with_an_index_of_size_n(backend):
    n = SIZE
    b = gm.get_backend()
    index = b.asarray([0, 1, 1], dtype=b.int_dtype)
    mu = b.asarray(0.2)
    vtr = VSW.vsimulate((index, mu), n, key=gm.key(11))
    assert tuple(vtr["x"].shape) == (n, SIZE)
    assert tuple(vtr["c"].shape) == (n, SIZE)
    for i, k in enumerate([0, 1, 1]):
        own = {("a",), ("c",)} if k else {("x",)}
        choices = choicemap({p: v[i] for p, v in vtr.choices.leaves() if p in own})
        close(vtr.score[i], SWITCH.assess((k, mu), choices).weight)


def test_vmap_gf_and_repeat_gf_with_n_equal_to_site_size(backend):
    b = gm.get_backend()
    mus = b.asarray([0.0, 1.0, 2.0])  # N = SIZE elements
    tr = vmap_gf(kernel).simulate((mus,), key=gm.key(12))
    assert tuple(tr["v"].shape) == (SIZE, SIZE) and tuple(tr["w"].shape) == (SIZE, SIZE)
    expected = sum(kernel.assess((mus[i],), choicemap(v=tr["v"][i], w=tr["w"][i])).weight
                   for i in range(SIZE))
    close(tr.score, expected)

    @gen
    def shared_kernel():
        return wide_site("w", None, shared=True)

    rep = repeat_gf(shared_kernel, SIZE)
    tr = rep.simulate((), key=gm.key(13))
    assert tuple(tr["w"].shape) == (SIZE, SIZE)
    expected = sum(shared_kernel.assess((), choicemap(w=tr["w"][i])).weight for i in range(SIZE))
    close(tr.score, expected)
    close(rep.assess((), tr.choices).weight, tr.score)


# -- the skeleton: re-probing, and what it cannot classify -----------------------------------

@gen
def coin_model():
    """Which address exists depends on the coin: a shared constraint decides it."""
    coin = trace("coin", dist.bernoulli(0.5))
    if coin:
        return wide_site("a", gm.get_backend().xp.asarray(1.0))
    return wide_site("b", gm.get_backend().xp.asarray(-1.0))


def test_shared_constraint_that_picks_the_structure_reprobes(backend):
    for coin, site in [(1, "a"), (0, "b")]:
        vtr, weight = gm.vgenerate(coin_model, (), choicemap(coin=coin), n=SIZE, key=gm.key(14))
        assert tuple(vtr[site].shape) == (SIZE, SIZE)
        for i in range(SIZE):
            choices = choicemap({"coin": coin, site: vtr[site][i]})
            close(vtr.score[i], coin_model.assess((), choices).weight)
            close(weight[i], dist.bernoulli(0.5).assess((), gm.ChoiceMap.leaf(coin)).weight)


def test_float_argument_that_sizes_a_site_reprobes(backend):
    @gen
    def sized(scale):
        b = gm.get_backend()
        size = int(scale * 2)
        return trace("v", dist.broadcasted_normal(b.xp.zeros((size,), dtype=b.float_dtype), 1.0))

    for scale in (1.0, 1.5):  # the probe cache keys floats by type: the second run re-probes
        vtr = gm.vsimulate(sized, (scale,), n=SIZE, key=gm.key(15))
        assert tuple(vtr["v"].shape) == (SIZE, int(scale * 2))
        for i in range(SIZE):
            close(vtr.score[i], sized.assess((scale,), choicemap(v=vtr["v"][i])).weight)


def test_unclassifiable_site_names_the_address(backend):
    @gen
    def reads_batch_shape():
        b = gm.get_backend()
        x = trace("x", dist.gaussian(0.0, 1.0))
        loc = b.xp.zeros(tuple(x.shape) + tuple(x.shape), dtype=b.float_dtype)
        return trace("bad", dist.broadcasted_normal(loc, 1.0))

    with pytest.raises(VectorizationError, match=r"bad.*batch shape"):
        gm.vsimulate(reads_batch_shape, (), n=SIZE, key=gm.key(16))


def test_spliced_sites_of_size_n(backend):
    @gen
    def outer():
        mu = trace("mu", dist.gaussian(0.0, 1.0))
        return splice(kernel, mu)

    vtr = gm.vsimulate(outer, (), n=SIZE, key=gm.key(17))
    assert tuple(vtr["v"].shape) == (SIZE, SIZE) and tuple(vtr["w"].shape) == (SIZE, SIZE)
    for i in range(SIZE):
        tr = vtr.particle(i)
        close(tr.score, outer.assess((), tr.choices).weight)


@gen
def point(x):
    return trace("y", dist.gaussian(x, 1.0))


@gen
def point_step(carry, x):
    return carry + x, trace("y", dist.gaussian(carry + x, 1.0))


MAP_POINT, SCAN_POINT = Map(point), Scan(point_step)


@gen
def sequence_model():
    xs = trace("xs", dist.broadcasted_normal(vec(), vec(1.0)))  # per particle: [N, SIZE]
    trace("map", MAP_POINT, xs)
    return trace("scan", SCAN_POINT, gm.get_backend().asarray(0.0), xs)


@pytest.mark.parametrize("n", [SIZE, SIZE + 1])
def test_map_and_scan_over_per_particle_arrays_read_the_element_axis(backend, n):
    vtr = gm.vsimulate(sequence_model, (), n=n, key=gm.key(18))
    assert len(vtr.trace.internal.records[("map",)].subtrace.internal.subtraces) == SIZE
    for i in range(n):
        tr = vtr.particle(i)
        close(tr.score, sequence_model.assess((), tr.choices).weight)
        close(tr["scan", SIZE - 1, "y"], vtr["scan", SIZE - 1, "y"][i])
