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
