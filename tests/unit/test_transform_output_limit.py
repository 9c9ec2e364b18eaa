"""Built-in transforms that grow a value stop at the output limit, before building it.

Issue "Hostile input, third round", finding 6: a `replace` made 400 MB from 1 MB. Each
growing transform (replace, concat, join, template) and JavaScript's returned value are
held to a per-value and a per-message limit (docs/limits.md), in Python (the generated
fast path, `Plan.apply`) and in JavaScript (the same steps after a custom transform).
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from mapper.engine.config import parse_integration
from mapper.engine.plan import Message, Plan
from mapper.engine.transforms import REGISTRY, compile_transform
from mapper.engine.transforms._output import MAX_MESSAGE_CHARS, MAX_VALUE_CHARS
from mapper.errors import OutputTooLarge, TransformError
from tests.unit.transform_support import both

PER_VALUE = f"the output limit of {MAX_VALUE_CHARS:,} characters per value"
PER_MESSAGE = f"the output limit of {MAX_MESSAGE_CHARS:,} characters per message"


def plan(mappings: list[dict[str, Any]], **sandbox: int) -> Plan:
    doc: dict[str, Any] = {
        "name": "output limit",
        "source": {"type": "webhook"},
        "target": {"type": "http", "url": "https://example.com"},
        "mappings": mappings,
        "sandbox": {"timeoutMs": 1000, "memoryMb": 128, **sandbox},
    }
    return Plan(parse_integration(doc))


# Small inputs, large results: what an attacker would send.
GROWING = [
    pytest.param(
        [{"type": "replace", "find": "a", "replace": "b" * 11}],
        "a" * (MAX_VALUE_CHARS // 10),
        {},
        "replace",
        id="replace",
    ),
    pytest.param(
        [{"type": "concat", "fields": ["value"] * 50, "separator": "-" * (MAX_VALUE_CHARS // 50)}],
        "x",
        {},
        "concat",
        id="concat",
    ),
    pytest.param(
        [{"type": "join", "separator": "-" * 100}],
        [None] * (MAX_VALUE_CHARS // 100 + 2),
        {},
        "join",
        id="join",
    ),
    pytest.param(
        [{"type": "template", "template": "{{value}}" * 1_000}],
        "x" * (MAX_VALUE_CHARS // 1_000 + 1),
        {},
        "template",
        id="template",
    ),
]


@pytest.mark.parametrize(("chain", "value", "data", "name"), GROWING)
def test_each_growing_transform_stops_at_the_per_value_limit_on_both_sides(
    chain: list[dict[str, Any]], value: Any, data: dict[str, Any], name: str
) -> None:
    python, javascript = both(chain, value, data)
    expected = f"error: mappings[0].transforms[0]: {name}: the result would pass {PER_VALUE}"
    assert python == expected
    assert javascript == expected


@pytest.mark.parametrize(("chain", "value", "data", "name"), GROWING)
def test_the_limit_is_checked_before_the_result_is_built(
    chain: list[dict[str, Any]], value: Any, data: dict[str, Any], name: str
) -> None:
    spec = REGISTRY[name].model.model_validate(chain[0])
    step = compile_transform(spec, "mappings[0].transforms[0]")
    tracemalloc.start()
    try:
        with pytest.raises(OutputTooLarge) as raised:
            step(value, {"value": value})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(raised.value, TransformError)
    assert name in str(raised.value)
    # The result (more than MAX_VALUE_CHARS bytes) was never allocated.
    assert peak < MAX_VALUE_CHARS // 2


def test_the_run_error_is_typed_on_the_python_and_the_javascript_side() -> None:
    value = "a" * (MAX_VALUE_CHARS // 10)
    chain = [{"type": "replace", "find": "a", "replace": "b" * 11}]
    for mapping_chain in (chain, [{"type": "custom", "code": "return value"}, *chain]):
        p = plan([{"source": "value", "target": "out", "transforms": mapping_chain}])
        outcome = p.apply(Message({"value": value}))
        p.close()
        assert isinstance(outcome.error, OutputTooLarge), outcome.error


@pytest.mark.parametrize("side", ["python", "javascript"])
def test_growing_transforms_of_one_message_share_the_per_message_limit(side: str) -> None:
    # Three mappings, each under the per-value limit, together past the per-message one.
    share = "a" * (MAX_MESSAGE_CHARS // 3 // 8 + 1)
    grow = [{"type": "replace", "find": "a", "replace": "b" * 8}]
    if side == "javascript":
        grow = [{"type": "custom", "code": "return value"}, *grow]
    mappings = [{"source": "value", "target": f"out{i}", "transforms": grow} for i in range(3)]
    p = plan(mappings)
    outcome = p.apply(Message({"value": share}))
    assert isinstance(outcome.error, OutputTooLarge)
    k = len(grow) - 1
    assert str(outcome.error) == (
        f"mappings[2].transforms[{k}]: replace: the result would pass {PER_MESSAGE}"
    )
    # The next message starts with the whole budget again.
    small = p.apply(Message({"value": "aa"}))
    assert small.output == {"out0": "b" * 16, "out1": "b" * 16, "out2": "b" * 16}
    p.close()


def test_what_javascript_returns_is_held_to_the_per_message_limit() -> None:
    code = f"return 'x'.repeat({MAX_MESSAGE_CHARS + 1})"
    p = plan(
        [{"source": "value", "target": "out", "transforms": [{"type": "custom", "code": code}]}]
    )
    outcome = p.apply(Message({"value": 1}))
    assert isinstance(outcome.error, OutputTooLarge), outcome.error
    assert str(outcome.error) == (
        f"mappings[0].transforms[0]: the returned values would pass {PER_MESSAGE}"
    )
    assert p.apply(Message({"value": 1})).error is not None  # still refused, not crashed
    p.close()
