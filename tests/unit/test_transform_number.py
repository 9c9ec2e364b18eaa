"""`number` as docs/mapping.md documents it (each result also checked in JavaScript)."""

from __future__ import annotations

import pytest

from tests.unit.transform_support import run


def number(value: object, **spec: object) -> object:
    return run([{"type": "number", **spec}], value)


@pytest.mark.parametrize(
    ("value", "spec", "expected"),
    [
        ("42", {}, 42),
        (" -3.50 ", {}, -3.5),
        ("1e3", {}, 1000),
        (".5", {}, 0.5),
        (7, {}, 7),
        (2.5, {"output": "string"}, "2.5"),
        ("", {}, None),
        ("  ", {}, None),
        (None, {}, None),
        (2599, {"multiply": 0.01}, 25.990000000000002),
        (2599, {"multiply": 0.01, "decimals": 2}, 25.99),
        ("1.005", {"decimals": 2}, 1.01),
        ("2.345", {"decimals": 2, "output": "string"}, "2.35"),
        ("-2.345", {"decimals": 2, "output": "string"}, "-2.35"),
        ("-0.001", {"decimals": 2, "output": "string"}, "0.00"),
        (0.5, {"decimals": 0}, 1),
        (-0.5, {"decimals": 0}, -1),
        (12, {"decimals": 2, "output": "string"}, "12.00"),
        (1e21, {"decimals": 1, "output": "string"}, "1000000000000000000000.0"),
        (0.1, {"multiply": 3, "output": "string"}, "0.30000000000000004"),
        (0.1, {"multiply": 3, "decimals": 2, "output": "string"}, "0.30"),
    ],
)
def test_documented_examples(value: object, spec: dict, expected: object) -> None:
    result = number(value, **spec)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", 'number: "abc" is not a number'),
        ("1,000", 'number: "1,000" is not a number'),
        ("0x10", 'number: "0x10" is not a number'),
        ("Infinity", 'number: "Infinity" is not a number'),
        ("1e999", 'number: "1e999" is out of range'),
        (True, "number: a boolean is not a number"),
        ([1], "number: an array is not a number"),
        ({"a": 1}, "number: an object is not a number"),
    ],
)
def test_what_is_not_a_number_fails_the_message(value: object, message: str) -> None:
    assert number(value) == f"error: mappings[0].transforms[0]: {message}"


def test_multiplying_past_the_largest_number_fails() -> None:
    assert number(1e308, multiply=10) == (
        "error: mappings[0].transforms[0]: number: the number 1e+308 times 10 is out of range"
    )
