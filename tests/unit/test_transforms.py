"""Built-in transforms on every kind of JSON value, as docs/mapping.md documents them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from py_mini_racer import MiniRacer

from mapper.engine import config as cfg
from mapper.engine.transforms import compile_transform, number_text, to_text


def run(spec: dict, value: object, data: object = None) -> object:
    model = cfg.Mapping.model_validate({"target": "t", "transforms": [spec]}).transforms[0]
    return compile_transform(model)(value, data)


NON_STRINGS = [None, 3, 2.5, True, [1, "a"], {"k": "v"}]


@pytest.mark.parametrize("kind", ["uppercase", "lowercase"])
@pytest.mark.parametrize("value", NON_STRINGS)
def test_case_transforms_leave_non_strings_alone(kind: str, value: object) -> None:
    assert run({"type": kind}, value) == value


def test_case_transforms() -> None:
    assert run({"type": "uppercase"}, "straße") == "STRASSE"
    assert run({"type": "lowercase"}, "ÀB") == "àb"


def test_substring_counts_code_points() -> None:
    assert run({"type": "substring", "start": 1, "length": 3}, "a😀bcd") == "😀bc"
    assert run({"type": "substring", "start": 2}, "hello") == "llo"
    assert run({"type": "substring", "start": 9, "length": 2}, "hi") == ""
    assert run({"type": "substring", "start": 0, "length": 2}, 12345) == 12345


def test_replace_every_literal_occurrence() -> None:
    assert run({"type": "replace", "find": ".", "replace": "-"}, "a.b.c") == "a-b-c"
    assert run({"type": "replace", "find": "a*", "replace": ""}, "a*a*b") == "b"
    assert run({"type": "replace", "find": "x"}, None) is None


def test_default_only_replaces_null() -> None:
    assert run({"type": "default", "value": "n/a"}, None) == "n/a"
    for value in ["", 0, False, [], {}]:
        assert run({"type": "default", "value": "n/a"}, value) == value


def test_default_objects_are_fresh_per_message() -> None:
    first = run({"type": "default", "value": {"a": []}}, None)
    first["a"].append(1)
    assert run({"type": "default", "value": {"a": []}}, None) == {"a": []}


def test_concat_joins_text_and_drops_nulls() -> None:
    data = {"a": "x", "n": 3, "f": 1.5, "b": True, "o": {"k": [1, 2.0]}, "z": None}
    spec = {"type": "concat", "fields": ["a", "n", "f", "b", "o", "z", "missing"], "separator": "|"}
    assert run(spec, None, data) == 'x|3|1.5|true|{"k":[1,2]}'
    assert run(spec, "first", data).startswith("first|x")


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (1.5, "1.5"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (123456789012345680.0, "123456789012345680"),
        (-2.5e-10, "-2.5e-10"),
        (2**60, "1152921504606847000"),
    ],
)
def test_numbers_are_written_as_javascript_writes_them(number: float, text: str) -> None:
    assert number_text(number) == text


@pytest.fixture(scope="module")
def v8() -> Iterator[MiniRacer]:
    ctx = MiniRacer()
    yield ctx
    ctx.close()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(number=st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**53), 2**53))
def test_number_text_matches_v8(v8: MiniRacer, number: float) -> None:
    assert number_text(number) == v8.eval(f"String({json.dumps(number)})")


def test_to_text_of_each_kind() -> None:
    assert [to_text(v) for v in ["s", 1, True, None, [1, "a"]]] == [
        "s",
        "1",
        "true",
        "null",
        '[1,"a"]',
    ]
