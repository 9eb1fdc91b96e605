"""The handler path's per-site work is flat in the number of sites.

Work is counted, never timed: (a) GenMLX's own Python function calls (a profiler
hook that keeps calls whose code lives in the `genmlx` package), and (b) the
entries of every choicemap node built (the size of the children mapping passed to
`ChoiceMap.__init__`). Inserting choices one at a time into an immutable map
copies a node per insert, so (b) grows quadratically with the number of sites; a
one-pass build keeps it linear. Both counts are compared per site between a
25-site and a 1,000-site chain (each Gaussian site depends on the previous one).
"""

from __future__ import annotations

import os
import sys

import pytest

import genmlx as gm
from genmlx import choicemap, dist, gen, trace
from genmlx.core.choicemap import ChoiceMap

SMALL, LARGE = 25, 1000
_GENMLX_DIR = os.path.dirname(gm.__file__) + os.sep


def chain(n: int):
    @gen
    def model():
        x = trace(0, dist.gaussian(0.0, 1.0))
        for i in range(1, n):
            x = trace(i, dist.gaussian(x, 1.0))
        return x

    return model


def nested_chain(n: int):
    """The same chain at hierarchical addresses ("x", i): the eager one-pass build."""

    @gen
    def model():
        x = trace(("x", 0), dist.gaussian(0.0, 1.0))
        for i in range(1, n):
            x = trace(("x", i), dist.gaussian(x, 1.0))
        return x

    return model


def observations(n: int, nested: bool = False):
    return choicemap({(("x", i) if nested else i): 0.1 * i for i in range(0, n, 2)})


class NodeEntries:
    """Counts the children of every ChoiceMap node constructed while active."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.entries = 0
        self.nodes = 0
        original = ChoiceMap.__init__
        counter = self

        def counting_init(self_, children=None, **kwargs):
            counter.nodes += 1
            counter.entries += len(children or {})
            original(self_, children, **kwargs)

        monkeypatch.setattr(ChoiceMap, "__init__", counting_init)

    def reset(self) -> None:
        self.entries = self.nodes = 0


def genmlx_calls(fn) -> int:
    """Python-level calls into GenMLX's own code made by `fn()`."""
    count = 0

    def hook(frame, event, arg):
        nonlocal count
        if event == "call" and frame.f_code.co_filename.startswith(_GENMLX_DIR):
            count += 1

    sys.setprofile(hook)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return count


def run(op: str, n: int, nested: bool = False):
    model = (nested_chain if nested else chain)(n)
    key = gm.key(0)
    if op == "simulate":
        return model.simulate((), key=key)
    obs = observations(n, nested)
    return model.generate((), obs, key=key).trace


@pytest.mark.parametrize("op", ["simulate", "generate"])
@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
def test_choicemap_entries_are_linear(monkeypatch, op, nested):
    """Building (and reading) the trace's choicemap touches O(1) node entries per site."""
    per_site = {}
    for n in (SMALL, LARGE):
        model = (nested_chain if nested else chain)(n)
        obs = observations(n, nested) if op == "generate" else None
        counter = NodeEntries(monkeypatch)
        key = gm.key(0)
        tr = model.simulate((), key=key) if op == "simulate" else \
            model.generate((), obs, key=key).trace
        if not nested:
            # flat addresses: nothing is built until the choices are read
            assert counter.nodes == 0
        choices = tr.choices
        assert len(choices.addresses()) == n
        assert tr.choices is choices  # built once, then cached
        per_site[n] = counter.entries / n
        monkeypatch.undo()
    # one-pass: each site is one leaf entry plus (nested) one child entry: <= 2 per
    # site at both sizes; a copy per insert would give ~n/2 entries per site
    assert per_site[LARGE] <= 2.5, per_site
    assert per_site[LARGE] <= per_site[SMALL] + 0.5, per_site


@pytest.mark.parametrize("op", ["simulate", "generate"])
@pytest.mark.parametrize("nested", [False, True], ids=["flat", "nested"])
def test_genmlx_calls_per_site_are_flat(op, nested):
    """GenMLX's Python calls per site (choices read included) do not grow with the
    number of sites."""

    def work(n: int) -> int:
        return genmlx_calls(lambda: run(op, n, nested).choices)

    work(SMALL)  # warm imports and caches out of the count
    small, large = work(SMALL) / SMALL, work(LARGE) / LARGE
    assert large <= 1.1 * small, (small, large)


def test_choices_equal_one_at_a_time_insertion():
    """The one-pass choicemap equals inserting each site with set_submap (merge), in
    the same order, for flat, nested and called sites."""

    @gen
    def inner(m):
        a = trace("a", dist.gaussian(m, 1.0))
        trace(("b", 0), dist.gaussian(a, 1.0))
        return a

    @gen
    def model():
        x = trace("x", dist.gaussian(0.0, 1.0))
        trace(("y", 0), dist.gaussian(x, 1.0))
        trace(("y", 1), dist.gaussian(x, 1.0))
        trace("sub", inner, x)
        trace(("sub", "c"), dist.gaussian(x, 1.0))  # merges into the callee's map
        trace(("z", "deep", 3), dist.gaussian(x, 2.0))
        return x

    tr = model.simulate((), key=gm.key(3))
    expected = ChoiceMap()
    for path, rec in tr.internal.records.items():
        sub = rec.subtrace.choices if hasattr(rec, "subtrace") else ChoiceMap.leaf(rec.value)
        expected = expected.set_submap(path, sub, merge=True)
    assert tr.choices.addresses() == expected.addresses()
    assert tr.choices == expected


def test_clashing_addresses_still_raise_at_the_run():
    """A value at a prefix of another address is an AddressError from the run itself
    (the choicemap is built eagerly when paths nest), as before."""

    @gen
    def model():
        trace("a", dist.gaussian(0.0, 1.0))
        trace(("a", "b"), dist.gaussian(0.0, 1.0))

    with pytest.raises(gm.errors.AddressError, match="prefix"):
        model.simulate((), key=gm.key(0))


@gen
def five():
    x = trace(0, dist.gaussian(0.0, 1.0))
    for i in range(1, 5):
        x = trace(i, dist.gaussian(x, 1.0))
    return x


def test_deferred_choices_survive_pickle_and_stay_immutable():
    import dataclasses
    import pickle

    tr = five.simulate((), key=gm.key(1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        tr.choices = ChoiceMap()
    again = pickle.loads(pickle.dumps(tr))
    assert again.choices == tr.choices
    assert dataclasses.replace(tr, score=tr.score).choices == tr.choices
