"""Choicemaps and selections: immutable, hierarchical, with readable errors."""

import pytest

from genmlx import ChoiceMap, choicemap, select, Selection
from genmlx.errors import AddressError


def test_build_from_paths_and_nested_dicts_agree():
    a = choicemap({("y", 0): 2.1, ("y", 1): 3.9, "slope": 1.0})
    b = choicemap({"y": {0: 2.1, 1: 3.9}, "slope": 1.0})
    assert a == b
    assert a["y", 0] == 2.1 and a[("y", 1)] == 3.9 and a["slope"] == 1.0
    assert a.get_submap("y") == choicemap({0: 2.1, 1: 3.9})
    assert a.has_value("slope") and not a.has_value("y") and a.has_submap("y")


def test_set_returns_new_map_and_leaves_original():
    a = choicemap(slope=1.0)
    b = a.set(("y", 3), 5.0)
    assert "y" not in a and b["y", 3] == 5.0 and a["slope"] == 1.0
    assert b.set("slope", 2.0)["slope"] == 2.0 and b["slope"] == 1.0


def test_merge_unions_and_rejects_overlap():
    a, b = choicemap({("y", 0): 1.0}), choicemap({("y", 1): 2.0, "z": 3.0})
    m = a.merge(b)
    assert sorted(map(str, m.addresses())) == sorted(map(str, [("y", 0), ("y", 1), ("z",)]))
    with pytest.raises(AddressError, match="y/0"):
        a.merge(choicemap({("y", 0): 9.0}))


def test_leaves_to_dict_len_and_repr():
    m = choicemap({("a", "b"): 1.0, "c": 2.0})
    assert list(m.leaves()) == [(("a", "b"), 1.0), (("c",), 2.0)]
    assert m.to_dict() == {"a": {"b": 1.0}, "c": 2.0}
    assert len(m) == 2
    assert "a/b: 1" in repr(m)


def test_missing_address_error_names_it():
    with pytest.raises(AddressError, match="nope"):
        choicemap(a=1.0)["nope"]
    with pytest.raises(TypeError, match="components must be str or int"):
        choicemap(a=1.0)[1.5]


def test_leaf_cannot_hold_submaps():
    with pytest.raises(AddressError, match="prefix"):
        choicemap(a=1.0).set(("a", "b"), 2.0)


def test_without_removes_paths():
    m = choicemap({("y", 0): 1.0, ("y", 1): 2.0})
    assert m.without(("y", 0)) == choicemap({("y", 1): 2.0})
    assert m.without(("y", 0)).without(("y", 1)).is_empty()


def test_selection_algebra():
    s = select("slope", ("y", 0))
    assert "slope" in s and ("y", 0) in s and ("y", 1) not in s and "intercept" not in s
    assert ("slope", "deep") in s  # selecting an address selects everything below it
    assert "intercept" in ~s and "slope" not in ~s
    u = s | select("intercept")
    assert "intercept" in u and "slope" in u
    i = s & select("slope")
    assert "slope" in i and ("y", 0) not in i
    assert "anything" in Selection.all() and "anything" not in Selection.none()
    assert (~Selection.all()).is_none()
    assert select("y").sub("y").at_leaf()


# -- Gen parity: has_submap and get_selected ----------------------------------------------

def test_has_submap_is_false_where_a_value_sits():
    """Gen.jl rule: a choicemap address holds either a value or a submap, never both, and
    `has_submap` answers only for submaps: at a value address it is false (ask
    `has_value` there), at a node of choices true, and at an absent address false."""
    cm = choicemap({"x": 1.0, ("y", 0): 2.0, ("y", 1, "z"): 3.0})
    assert not cm.has_submap("x") and cm.has_value("x")
    assert cm.has_submap("y") and not cm.has_value("y")
    assert cm.has_submap(("y", 1)) and not cm.has_submap(("y", 0))
    assert not cm.has_submap("absent") and not cm.has_submap(("x", "below_a_value"))
    assert not choicemap().has_submap("x")


def test_get_selected_filters_hierarchically():
    """Gen.jl rule: get_selected(choices, selection) keeps exactly the values whose
    address is in the selection; selecting an address selects everything under it,
    and the result has no empty nodes."""
    from genmlx import get_selected

    cm = choicemap({"x": 1.0, ("y", 0): 2.0, ("y", 1): 3.0, ("z", "a", "b"): 4.0, "w": 5.0})
    assert get_selected(cm, select("x", ("y", 1))) == choicemap({"x": 1.0, ("y", 1): 3.0})
    assert get_selected(cm, select("y")) == choicemap({("y", 0): 2.0, ("y", 1): 3.0})
    assert get_selected(cm, select(("z", "a"))) == choicemap({("z", "a", "b"): 4.0})
    assert get_selected(cm, Selection.all()) == cm
    assert get_selected(cm, Selection.none()).is_empty()
    # complement, union and intersection go through the same sub/at_leaf protocol
    assert get_selected(cm, ~select("y", "z")) == choicemap({"x": 1.0, "w": 5.0})
    assert get_selected(cm, select("y") & select(("y", 0), "x")) == choicemap({("y", 0): 2.0})
    assert cm.get_selected(select("w", "nothing_here")) == choicemap({"w": 5.0})
    # a selection below a value does not select the value; nothing empty is left behind
    assert get_selected(cm, select(("x", "deeper"))).is_empty()
    assert not get_selected(cm, select(("y", 7))).has_submap("y")
    assert get_selected(ChoiceMap.leaf(2.0), Selection.all()) == ChoiceMap.leaf(2.0)
