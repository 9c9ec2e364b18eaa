"""Paths: parsing, reading (never raising) and writing (creating what is missing)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mapper.engine.paths import (
    WILDCARD,
    compile_getter,
    compile_setter,
    format_steps,
    get_path,
    parse_path,
    set_path,
)
from mapper.errors import PathError

ORDER = {
    "id": "o-1",
    "customer": {"name": "Ada", "first.last": "Ada L", "home town": "London"},
    "items": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 1, "tags": ["x", "y"]}],
}


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("a", ("a",)),
        ("a.b.c", ("a", "b", "c")),
        ("a[0].b", ("a", 0, "b")),
        ("items[*].sku", ("items", WILDCARD, "sku")),
        ("a[-1]", ("a", -1)),
        ('customer["first.last"]', ("customer", "first.last")),
        ("customer.home town", ("customer", "home town")),
        ('["a[0]"].b', ("a[0]", "b")),
        ("a[0][1]", ("a", 0, 1)),
    ],
)
def test_parse(path: str, steps: tuple) -> None:
    assert parse_path(path) == steps


@pytest.mark.parametrize("bad", ["", "a..b", "a.", ".a", "a[", "a[x]", "a]", 'a["b', "a[0]b"])
def test_parse_rejects_with_a_reason(bad: str) -> None:
    with pytest.raises(PathError) as info:
        parse_path(bad)
    assert str(info.value)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("id", "o-1"),
        ("customer.name", "Ada"),
        ('customer["first.last"]', "Ada L"),
        ("customer.home town", "London"),
        ("items[0].sku", "A1"),
        ("items[-1].sku", "B2"),
        ("items[*].sku", ["A1", "B2"]),
        ("items[*].tags[*]", [[], ["x", "y"]]),
        ("items[*].missing", [None, None]),
        ("missing", None),
        ("missing.deeper", None),
        ("items[9].sku", None),
        ("id.length", None),
        ("customer[0]", None),
        ("items.sku", None),
        ("missing[*].sku", []),
    ],
)
def test_get(path: str, expected: object) -> None:
    assert get_path(ORDER, path) == expected


def test_set_creates_nested_objects_and_arrays() -> None:
    out: dict = {}
    set_path(out, "a.b.c", 1)
    set_path(out, "list[2].x", "y")
    set_path(out, '["dotted.key"].v', True)
    assert out == {
        "a": {"b": {"c": 1}},
        "list": [None, None, {"x": "y"}],
        "dotted.key": {"v": True},
    }


def test_wildcard_target_spreads_and_merges_by_index() -> None:
    out: dict = {}
    set_path(out, "skus[*]", ["A1", "B2"])
    set_path(out, "lines[*].sku", ["A1", "B2"])
    set_path(out, "lines[*].qty", [2, 1])
    assert out == {
        "skus": ["A1", "B2"],
        "lines": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 1}],
    }


def test_target_must_start_with_a_key_and_indexes_are_bounded() -> None:
    with pytest.raises(PathError):
        compile_setter(parse_path("[0].a"))
    with pytest.raises(PathError):
        compile_setter(parse_path("a[10000001]"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
keys = st.text(min_size=1, max_size=8)
target_steps = st.lists(st.one_of(keys, st.integers(0, 5)), min_size=1, max_size=5).filter(
    lambda steps: isinstance(steps[0], str)
)


@given(target_steps, json_values)
def test_set_then_get_round_trips(steps: list, value: object) -> None:
    path = format_steps(tuple(steps))
    assert parse_path(path) == tuple(steps)
    out: dict = {}
    compile_setter(parse_path(path))(out, value)
    assert compile_getter(parse_path(path))(out) == value
    json.dumps(out)  # what we build is always JSON


@given(json_values, st.lists(st.one_of(keys, st.integers(-3, 5), st.just(WILDCARD)), max_size=5))
def test_get_never_raises_on_any_json(doc: object, steps: list) -> None:
    compile_getter(tuple(steps))(doc)


@given(st.text(max_size=12))
def test_parse_raises_only_path_errors(text: str) -> None:
    try:
        parse_path(text)
    except PathError:
        pass
