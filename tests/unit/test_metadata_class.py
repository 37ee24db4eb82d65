"""turbogrpc.aio.Metadata behaves as grpc.aio.Metadata: every public method is run on both with
the same arguments and must give the same result (or raise the same kind of error). Also what
only ours has or does differently (on purpose): equality with grpc.aio's Metadata, set_all
copying its argument, and `as_pairs`, which turns user metadata into what the engine takes."""

from __future__ import annotations

import collections.abc

import grpc.aio
import pytest

from turbogrpc import UsageError
from turbogrpc.aio import Metadata
from turbogrpc._core._metadata import as_pairs

ENTRIES = (("a", "1"), ("b", "2"), ("a", "3"), ("c-bin", b"\x00\x01"), ("b", "4"))


def both(*args):
    return Metadata(*args), grpc.aio.Metadata(*args)


def outcome(operation):
    """What `operation()` returns, or the type of what it raises."""
    try:
        return "ok", operation()
    except Exception as exc:  # noqa: BLE001 - compared between the two classes
        return "raised", type(exc)


def state(md):
    """Everything observable about a Metadata, comparable between the two classes."""
    return {
        "tuple": tuple(md),
        "len": len(md),
        "repr": repr(md).split("(", 1)[1],  # the class name differs only by module
        "keys": list(md.keys()),
        "values": list(md.values()),
        "items": list(md.items()),
    }


def test_construction_iteration_len_repr():
    ours, theirs = both(*ENTRIES)
    assert state(ours) == state(theirs)
    # grouped by key, in first-seen order
    assert tuple(ours) == (("a", "1"), ("a", "3"), ("b", "2"), ("b", "4"), ("c-bin", b"\x00\x01"))
    assert len(ours) == 5
    assert repr(ours) == ("Metadata((('a', '1'), ('a', '3'), ('b', '2'), ('b', '4'), "
                          "('c-bin', b'\\x00\\x01')))")
    assert state(Metadata()) == state(grpc.aio.Metadata())
    assert repr(Metadata()) == "Metadata(())"
    assert isinstance(ours, collections.abc.Collection)


@pytest.mark.parametrize("raw", [None, (), [], ENTRIES, list(ENTRIES), iter(ENTRIES[:2])])
def test_from_tuple(raw):
    if hasattr(raw, "__next__"):  # an iterator can be consumed once: make one per class
        ours, theirs = Metadata.from_tuple(iter(ENTRIES[:2])), grpc.aio.Metadata.from_tuple(
            iter(ENTRIES[:2]))
    else:
        ours, theirs = Metadata.from_tuple(raw), grpc.aio.Metadata.from_tuple(raw)
    assert type(ours) is Metadata
    assert state(ours) == state(theirs)


def test_add_get_get_all():
    ours, theirs = both(*ENTRIES)
    for md in (ours, theirs):
        md.add("a", "5")
        md.add("new", "x")
    assert state(ours) == state(theirs)
    for key in ("a", "b", "new", "missing", "c-bin"):
        assert outcome(lambda: ours[key]) == outcome(lambda: theirs[key]), key
        assert ours.get(key) == theirs.get(key)
        assert ours.get(key, "dflt") == theirs.get(key, "dflt")
        assert ours.get_all(key) == theirs.get_all(key)
    assert ours["a"] == "1" and ours.get_all("a") == ["1", "3", "5"]
    assert ours.get("missing", "dflt") == "dflt" and ours.get_all("missing") == []
    with pytest.raises(KeyError):
        ours["missing"]


def test_setitem_replaces_the_first_value_only():
    ours, theirs = both(*ENTRIES)
    held_ours, held_theirs = ours.get_all("a"), theirs.get_all("a")
    for md in (ours, theirs):
        md["a"] = "first"
        md["fresh"] = "v"
    assert state(ours) == state(theirs)
    assert ours.get_all("a") == ["first", "3"]
    # a list got from get_all() before is not changed by the assignment (grpc.aio makes a new one)
    assert held_ours == held_theirs == ["1", "3"]


def test_delitem_and_delete_all():
    ours, theirs = both(*ENTRIES)
    for md in (ours, theirs):
        del md["a"]
    assert state(ours) == state(theirs)
    assert ours.get_all("a") == ["3"]
    for md in (ours, theirs):
        del md["a"]  # the last value: the key goes
        md.delete_all("b")
    assert state(ours) == state(theirs)
    assert "a" not in ours and "b" not in ours and len(ours) == 1
    for key in ("a", "missing"):
        assert outcome(lambda: ours.__delitem__(key)) == outcome(lambda: theirs.__delitem__(key))
        assert outcome(lambda: ours.delete_all(key)) == outcome(
            lambda: theirs.delete_all(key))
    with pytest.raises(KeyError):
        del ours["missing"]
    with pytest.raises(KeyError):
        ours.delete_all("missing")


def test_set_all():
    ours, theirs = both(*ENTRIES)
    for md in (ours, theirs):
        md.set_all("a", ["x", "y"])
        md.set_all("z", ["only"])
        md.set_all("b", [])
    assert state(ours) == state(theirs)
    assert ours.get_all("a") == ["x", "y"]
    # an empty list keeps the key, with no value: indexing fails, get() gives the default
    for md in (ours, theirs):
        assert "b" in md
        assert md.get("b", "dflt") == "dflt"
        with pytest.raises(KeyError):
            md["b"]
        md["b"] = "back"
        assert md.get_all("b") == ["back"]


def test_set_all_copies_its_argument():
    """Different on purpose: grpc.aio stores the caller's list itself (later changes to that list
    show, and a tuple breaks add()); ours keeps a copy."""
    values = ["x"]
    md = Metadata()
    md.set_all("k", values)
    values.append("later")
    assert md.get_all("k") == ["x"]
    md.set_all("t", ("from", "tuple"))
    md.add("t", "more")
    assert md.get_all("t") == ["from", "tuple", "more"]


@pytest.mark.parametrize("key", ["a", "c-bin", "missing", b"a", 1, None, ("a",)])
def test_contains(key):
    ours, theirs = both(*ENTRIES)
    assert (key in ours) == (key in theirs)
    assert (key in ours) == (key in ("a", "b", "c-bin"))


def test_keys_values_items_views():
    ours, theirs = both(*ENTRIES)
    assert list(ours.keys()) == ["a", "b", "c-bin"] == list(theirs.keys())
    assert list(ours.values()) == [["1", "3"], ["2", "4"], [b"\x00\x01"]] == list(theirs.values())
    assert list(ours.items()) == list(theirs.items())
    assert "a" in ours.keys() and ("a", ["1", "3"]) in ours.items()
    assert isinstance(ours.keys(), collections.abc.KeysView)
    assert isinstance(ours.values(), collections.abc.ValuesView)
    assert isinstance(ours.items(), collections.abc.ItemsView)
    keys = ours.keys()
    ours.add("d", "live")
    assert "d" in keys  # views, not copies


def test_equality():
    ours, theirs = both(*ENTRIES)
    same = Metadata(*ENTRIES)
    assert ours == same and not ours != same
    assert ours == tuple(ours) and theirs == tuple(theirs)
    assert ours != ENTRIES  # a tuple compares in grouped order
    assert (ours == list(ours)) is False and (theirs == list(theirs)) is False
    assert ours != "a" and ours != None  # noqa: E711
    # order matters, in both
    swapped = both(("b", "2"), ("a", "1"))
    straight = both(("a", "1"), ("b", "2"))
    assert (swapped[0] == straight[0]) == (swapped[1] == straight[1]) is False
    values_swapped = both(("a", "2"), ("a", "1"))
    values_straight = both(("a", "1"), ("a", "2"))
    assert (values_swapped[0] == values_straight[0]) is False
    assert (values_swapped[1] == values_straight[1]) is False
    # not hashable (mutable), as grpc.aio's
    with pytest.raises(TypeError):
        hash(ours)
    with pytest.raises(TypeError):
        hash(theirs)


def test_equal_to_grpc_aio_metadata_both_ways():
    ours, theirs = both(*ENTRIES)
    assert ours == theirs and theirs == ours
    theirs.add("extra", "x")
    assert ours != theirs and theirs != ours
    assert Metadata(("a", "1"), ("b", "2")) != grpc.aio.Metadata(("b", "2"), ("a", "1"))


def test_add_operator():
    ours, theirs = both(("a", "1"))
    for left, right in ((ours, Metadata(("b", "2"), ("a", "3"))),
                        (theirs, grpc.aio.Metadata(("b", "2"), ("a", "3")))):
        combined = left + right
        assert type(combined).__name__ == "Metadata"
        assert tuple(combined) == (("a", "1"), ("a", "3"), ("b", "2"))
        assert tuple(left + (("c", "4"),)) == (("a", "1"), ("c", "4"))
        assert tuple(left) == (("a", "1"),)  # unchanged
        with pytest.raises(TypeError):
            left + [("c", "4")]
        with pytest.raises(TypeError):
            left + "c"
    assert type(ours + ours) is Metadata


def test_bad_construction_arguments_fail_alike():
    for bad in ((("only-key",),), (("k", "v", "extra"),), ("abc",), (1,)):
        assert outcome(lambda: Metadata(*bad))[0] == "raised"
        assert outcome(lambda: Metadata(*bad)) == outcome(lambda: grpc.aio.Metadata(*bad)), bad


# ---- as_pairs: user metadata as the engine takes it ------------------------------------------

def test_as_pairs_passes_sequences_through():
    pairs = (("a", "1"),)
    listed = [("a", "1")]
    assert as_pairs(pairs) is pairs  # no copy on the hot path
    assert as_pairs(listed) is listed
    assert as_pairs(None) == ()


def test_as_pairs_flattens_metadata_and_iterables():
    assert as_pairs(Metadata(*ENTRIES)) == tuple(Metadata(*ENTRIES))
    assert as_pairs(grpc.aio.Metadata(("a", "1"))) == (("a", "1"),)
    assert as_pairs(iter([("a", "1"), ("b", "2")])) == (("a", "1"), ("b", "2"))
    assert as_pairs(pair for pair in [("g", "1")]) == (("g", "1"),)


@pytest.mark.parametrize("bad", ["a=1", b"a=1", {"a": "1"}, 42, object()])
def test_as_pairs_rejects_what_is_not_a_sequence_of_pairs(bad):
    with pytest.raises(UsageError, match="sequence of \\(key, value\\) pairs"):
        as_pairs(bad)
