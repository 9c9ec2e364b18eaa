"""Any document gets clear validation problems or passes; validate never raises anything else.

Property-based (hypothesis): arbitrary JSON values, and valid documents with one part
replaced by arbitrary JSON, hostile strings (JavaScript, paths, URLs) or removed.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mapper.engine.config import Integration
from mapper.engine.sandbox import init_v8
from mapper.engine.validate import problems_of, validate
from mapper.errors import ConfigError, Problem

init_v8()

BASE: dict[str, Any] = {
    "name": "fuzz",
    "source": {"type": "webhook"},
    "condition": "data.total > 0",
    "mappings": [
        {"source": "order.id", "target": "id", "transforms": [{"type": "uppercase"}]},
        {"source": "items[*].sku", "target": "skus[*]"},
        {
            "source": "total",
            "target": "money.total",
            "transforms": [
                {"type": "custom", "code": "return value * 2"},
                {"type": "substring", "start": 0, "length": 5},
            ],
        },
        {"target": "label", "transforms": [{"type": "concat", "fields": ["a", "b.c"]}]},
    ],
    "target": {"type": "http", "url": "https://hooks.example.com/x", "method": "POST"},
    "sandbox": {"timeoutMs": 100, "memoryMb": 32},
}

HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "return value +;",
        "}); (function () {",
        "while (true) {}",
        "new Array(1e8).fill(0.5)",
        "'x'.repeat(2 ** 28)",
        "Array.from({ length: 1e8 })",
        "return `",
        "a..b",
        "a[*",
        "[\"x\"]",
        "[-1]",
        "[*][*][*]",
        "ftp://x",
        "not a url",
        "htps//hooks.example.com/x",
        "http://[::1]/",
        "http://169.254.169.254/",
        "http://host:99999/",
        "https://[zz/",
        "\ud800",
        "\x00",
        "=?utf-8?q?x?=",
        "custom",
        "concat",
        "email",
        "pubsub",
    ]
)
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | HOSTILE_TEXT
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def paths_into(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a document: dict keys and list indexes, the root excluded."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append(prefix + (key,))
            found.extend(paths_into(value, prefix + (key,)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append(prefix + (index,))
            found.extend(paths_into(value, prefix + (index,)))
    return found


@st.composite
def mutated_documents(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        places = paths_into(doc)
        if not places:
            break
        place = draw(st.sampled_from(places))
        parent = doc
        for step in place[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "hostile", "delete"]))
        if action == "delete":
            del parent[place[-1]]
        elif action == "hostile":
            parent[place[-1]] = draw(HOSTILE_TEXT)
        else:
            parent[place[-1]] = draw(JSON_VALUES)
    return doc


def assert_clear_outcome(doc: Any) -> None:
    problems = problems_of(doc)
    for problem in problems:
        assert isinstance(problem, Problem)
        assert isinstance(problem.path, str) and isinstance(problem.message, str)
        assert problem.message.strip()
    try:
        integration = validate(doc)
    except ConfigError as exc:
        assert exc.problems == problems and problems
    else:
        assert problems == [] and isinstance(integration, Integration)


@settings(max_examples=100)
@given(JSON_VALUES)
def test_any_json_value_is_a_clear_outcome(doc: Any) -> None:
    assert_clear_outcome(doc)


@settings(max_examples=200)
@given(mutated_documents())
def test_a_valid_document_with_any_part_changed_is_a_clear_outcome(doc: dict[str, Any]) -> None:
    assert_clear_outcome(doc)


def test_the_base_document_is_valid() -> None:
    assert problems_of(BASE) == []


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def test_documents_nested_5000_deep_are_a_clear_outcome() -> None:
    for part in ("samplePayload", "mappings", "condition", "target", "sandbox"):
        assert_clear_outcome({**BASE, part: nested(5000)})
    credentials = "[" * 5000 + "]" * 5000
    source = {"type": "pubsub", "projectId": "p", "topic": "t", "credentials": credentials}
    assert_clear_outcome({**BASE, "source": source})
