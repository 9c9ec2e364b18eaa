"""The structural diff: paths in the engine's syntax, arrays by index, and one-line summaries."""

from __future__ import annotations

import copy

from hypothesis import given
from hypothesis import strategies as st

from mapper.engine.diff import diff, summarize
from mapper.engine.paths import get_path, parse_path

DOC = {
    "name": "Orders",
    "mappings": [
        {"source": "id", "target": "orderId"},
        {"source": "amount", "target": "total", "transforms": [{"type": "number"}]},
    ],
    "target": {"type": "http", "url": "https://a.example/hook"},
}


def test_equal_documents_have_no_changes() -> None:
    assert diff(DOC, copy.deepcopy(DOC)) == []
    assert summarize([]) == ""


def test_added_removed_and_changed_keys() -> None:
    new = copy.deepcopy(DOC)
    new["target"]["url"] = "https://b.example/hook"
    new["target"]["method"] = "PUT"
    del new["name"]
    assert diff(DOC, new) == [
        {"path": "name", "op": "remove", "old": "Orders", "new": None},
        {"path": "target.url", "op": "change", "old": "https://a.example/hook",
         "new": "https://b.example/hook"},
        {"path": "target.method", "op": "add", "old": None, "new": "PUT"},
    ]


def test_arrays_compare_by_index() -> None:
    new = copy.deepcopy(DOC)
    new["mappings"][1]["transforms"][0]["decimals"] = 2
    new["mappings"].append({"source": "x", "target": "y"})
    changes = diff(DOC, new)
    assert changes == [
        {"path": "mappings[1].transforms[0].decimals", "op": "add", "old": None, "new": 2},
        {"path": "mappings[2]", "op": "add", "old": None, "new": {"source": "x", "target": "y"}},
    ]
    shrunk = diff([1, 2, 3], [1])
    assert [(c["path"], c["op"], c["old"]) for c in shrunk] == [
        ("[1]", "remove", 2), ("[2]", "remove", 3)
    ]


def test_a_change_of_kind_is_one_change() -> None:
    assert diff({"a": {"b": 1}}, {"a": [1]}) == [
        {"path": "a", "op": "change", "old": {"b": 1}, "new": [1]}
    ]
    assert diff({"a": 1}, {"a": True}) == [{"path": "a", "op": "change", "old": 1, "new": True}]
    assert diff({"a": "1"}, {"a": 1})[0]["op"] == "change"
    assert diff({"a": None}, {"a": 0})[0]["op"] == "change"
    assert diff({"a": 1}, {"a": 1.0}) == []  # the same JSON number


def test_the_whole_document_is_the_empty_path() -> None:
    assert diff(None, {"a": 1}) == [{"path": "", "op": "change", "old": None, "new": {"a": 1}}]
    assert summarize(diff(None, {"a": 1})) == "document changed"


def test_keys_that_need_quoting_round_trip_through_the_path_syntax() -> None:
    old = {"a.b": {"": 1, "c d": [0, {"x[0]": 1}]}}
    new = {"a.b": {"": 2, "c d": [0, {"x[0]": 2}]}}
    changes = diff(old, new)
    assert [c["path"] for c in changes] == ['["a.b"][""]', '["a.b"].c d[1]["x[0]"]']
    for c in changes:
        assert get_path(old, c["path"]) == c["old"]
        assert get_path(new, c["path"]) == c["new"]


def test_summary_groups_deep_changes_two_keys_deep() -> None:
    new = copy.deepcopy(DOC)
    new["mappings"][1]["transforms"][0]["decimals"] = 2
    new["mappings"][1]["transforms"].append({"type": "default", "value": 0})
    new["target"]["url"] = "https://b.example/hook"
    assert summarize(diff(DOC, new)) == "mappings[1].transforms changed; target.url changed"
    added = copy.deepcopy(DOC)
    added["condition"] = "data.ok"
    assert summarize(diff(DOC, added)) == "condition added"


def test_summary_counts_what_it_leaves_out() -> None:
    old = {f"k{i}": i for i in range(7)}
    new = {f"k{i}": i + 1 for i in range(7)}
    assert summarize(diff(old, new)) == "k0 changed; k1 changed; k2 changed; k3 changed; 3 more"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=10,
)


@given(JSON, JSON)
def test_every_path_reads_its_old_and_new_value(old: object, new: object) -> None:
    changes = diff(old, new)
    assert (changes == []) == (old == new and _same_kinds(old, new))
    for c in changes:
        if c["path"]:
            parse_path(c["path"])  # every path parses
            if c["op"] != "add":
                assert get_path(old, c["path"]) == c["old"]
            if c["op"] != "remove":
                assert get_path(new, c["path"]) == c["new"]
        else:
            assert (c["old"], c["new"]) == (old, new)


def _same_kinds(a: object, b: object) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return all(_same_kinds(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return all(_same_kinds(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b)
