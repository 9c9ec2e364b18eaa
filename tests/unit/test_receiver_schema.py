"""The receiver's schema: what may be saved, and where an output breaks it."""

from __future__ import annotations

import pytest

from mapper.engine.receiver_schema import (
    MAX_SCHEMA_BYTES,
    MAX_VIOLATIONS,
    check_output,
    schema_problems,
    violations,
)
from mapper.engine.validate import problems_of
from mapper.errors import Problem, SchemaViolationError

ORDER = {
    "type": "object",
    "required": ["amount", "items"],
    "properties": {
        "amount": {"type": "number"},
        "items": {"type": "array", "items": {"$ref": "#/$defs/item"}},
    },
    "$defs": {
        "item": {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}}}
    },
}


def _doc(schema: object, target_type: str = "http") -> dict:
    target = (
        {"type": "http", "url": "https://example.com"}
        if target_type == "http"
        else {"type": "email", "smtpServer": "smtp.example.com", "fromEmail": "a@example.com",
              "toEmail": "b@example.com"}
    )
    return {"name": "t", "source": {"type": "webhook"}, "target": {**target, "schema": schema}}


def test_violations_name_their_paths_into_the_output() -> None:
    output = {"amount": "12", "items": [{"sku": "a"}, {"sku": 1}, {}]}
    assert violations(ORDER, output) == [
        {"path": "amount", "message": "'12' is not of type 'number'"},
        {"path": "items[1].sku", "message": "1 is not of type 'string'"},
        {"path": "items[2].sku", "message": "is required"},
    ]
    assert violations(ORDER, {"amount": 1, "items": []}) == []


def test_a_broken_whole_output_is_the_empty_path() -> None:
    assert violations({"type": "object"}, [1]) == [
        {"path": "", "message": "[1] is not of type 'object'"}
    ]


def test_violations_are_bounded_and_counted() -> None:
    schema = {"type": "array", "items": {"type": "string"}}
    found = violations(schema, list(range(MAX_VIOLATIONS + 5)))
    assert len(found) == MAX_VIOLATIONS + 1
    assert found[-1] == {"path": "", "message": "and 5 more violations"}


def test_format_is_not_checked() -> None:
    assert violations({"type": "string", "format": "email"}, "not an address") == []


def test_check_output_raises_with_the_violations_only_when_the_target_has_a_schema() -> None:
    class Target:
        receiver_schema = ORDER

    with pytest.raises(SchemaViolationError) as caught:
        check_output(Target(), {"amount": 1})
    assert caught.value.violations == [{"path": "items", "message": "is required"}]
    assert "items: is required" in str(caught.value)
    Target.receiver_schema = None
    check_output(Target(), {"amount": 1})  # no schema: nothing to check


@pytest.mark.parametrize("target_type", ["http", "email"])
def test_an_invalid_schema_is_a_problem_at_target_schema(target_type: str) -> None:
    problems = problems_of(_doc({"type": "strin"}, target_type))
    assert [p.path for p in problems] == ["target.schema"]
    assert "not a valid JSON Schema 2020-12: at type" in problems[0].message
    assert problems_of(_doc(ORDER, target_type)) == []


def test_a_reference_outside_the_schema_is_refused_and_nothing_is_fetched() -> None:
    for ref in ("https://example.com/order.json", "order.json", "file:///etc/passwd"):
        [problem] = schema_problems({"properties": {"a": {"$ref": ref}}})
        assert "points outside the schema" in problem and "properties.a" in problem
    assert schema_problems({"$dynamicRef": "http://x/y"}) != []
    [dangling] = schema_problems({"$ref": "#/$defs/missing"})
    assert "does not resolve" in dangling


def test_the_size_and_the_dialect_are_bounded() -> None:
    big = {"enum": ["x" * 1000] * (MAX_SCHEMA_BYTES // 1000 + 1)}
    assert "at most" in schema_problems(big)[0]
    assert "2020-12" in schema_problems({"$schema": "http://json-schema.org/draft-07/schema#"})[0]
    assert schema_problems({"$schema": "https://json-schema.org/draft/2020-12/schema"}) == []
    assert schema_problems([1]) == ["must be a JSON Schema object"]
    assert problems_of(_doc("text")) == [Problem("target.schema", "must be an object")]


def test_a_reference_that_fails_only_when_applied_is_a_violation_not_a_crash() -> None:
    # Under a nested $id a reference is relative to it: not looked up on save, only applied.
    nested = {"properties": {"x": {"$id": "https://example.com/x", "$ref": "#/nope"}}}
    assert schema_problems(nested) == []
    [found] = violations(nested, {"x": 1})
    assert found["path"] == "" and "reference does not resolve" in found["message"]
    assert violations(nested, {"y": 1}) == []  # not reached: nothing to resolve
