"""Inputs that used to escape the per-message error: each now ends its own run as an error.

Issue 13, item 3. Through `Plan.apply` (the worker's path) and `Plan.apply_many` (batches):
one bad message gets an `Outcome` with an error and a reason; it never raises, and the
other messages of its batch are mapped as usual.
"""

from __future__ import annotations

import pytest

from mapper.engine.config import parse_integration
from mapper.engine.plan import Message, Plan
from mapper.engine.sandbox import init_v8
from mapper.errors import TransformError

from .support import plan_for

init_v8()

# Each custom transform misbehaves only for its own message (value === "bad").
THROWERS = {
    "message getter throws": "throw { get message() { throw new Error('gotcha') } }",
    "name and message getters throw": (
        "throw { get name() { throw 1 }, get message() { throw 2 } }"
    ),
    "every trap throws": (
        "throw new Proxy({}, { get() { throw 1 }, getPrototypeOf() { throw 2 },"
        " has() { throw 3 } })"
    ),
    "a symbol": "throw Symbol('s')",
    "an object without toString": "throw Object.create(null)",
    "toJSON throws": "return { toJSON() { throw new Error('no json') } }",
    "nested 5,000 deep": "let v = 1; for (let i = 0; i < 5000; i++) v = [v]; return v",
    "nested 100,000 deep": "let v = 1; for (let i = 0; i < 100000; i++) v = { v }; return v",
    # Allocations V8's heap limit does not stop (finding 5): its process ends instead.
    "a huge array filled by one built-in": "return new Array(1e8).fill(0.5).length",
    "an array of 100 million from Array.from": "return Array.from({ length: 1e8 }).length",
    "a string doubled until V8 refuses": "let s = 'x'; for (;;) s += s",
    "a join 134 million characters long": "return Array(2 ** 24).join('abcdefgh')",
    "a returned value past the output limit": "return 'x'.repeat(20000001)",
}


@pytest.mark.parametrize("code", list(THROWERS.values()), ids=list(THROWERS))
def test_a_hostile_result_or_throw_ends_its_own_message_as_an_error(code: str) -> None:
    plan = plan_for(code=f'if (value === "bad") {{ {code} }} return value', timeoutMs=1000)
    outcome = plan.apply(Message({"x": "bad"}))
    assert isinstance(outcome.error, TransformError)
    assert outcome.output is None and str(outcome.error)
    assert plan.apply(Message({"x": "good"})).output == {"y": "good"}
    plan.close()


def test_a_deep_result_names_the_reason() -> None:
    plan = plan_for(code="let v = 1; for (let i = 0; i < 5000; i++) v = [v]; return v")
    outcome = plan.apply(Message({"x": 1}))
    assert outcome.error is not None and "nested too deeply" in str(outcome.error)
    plan.close()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")], ids=repr)
@pytest.mark.parametrize("where", ["value", "elsewhere in the payload"])
def test_nan_and_infinity_in_a_payload_end_their_message(bad: float, where: str) -> None:
    plan = plan_for(code="return value")
    data = {"x": bad} if where == "value" else {"x": 1, "other": [bad]}
    outcome = plan.apply(Message(data))
    assert isinstance(outcome.error, TransformError)
    assert "NaN or Infinity" in str(outcome.error)
    assert plan.apply(Message({"x": 2})).output == {"y": 2}
    plan.close()


def test_nan_reaches_a_condition_only_plan_as_an_error_too() -> None:
    plan = plan_for(condition="data.x > 0")
    outcome = plan.apply(Message({"x": float("nan")}))
    assert outcome.error is not None and "NaN or Infinity" in str(outcome.error)
    plan.close()


def deep(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def test_a_payload_too_deep_for_json_ends_its_message() -> None:
    plan = plan_for(code="return 1")
    outcome = plan.apply(Message({"x": 1, "deep": deep(5000)}))
    assert outcome.error is not None and "nested too deeply" in str(outcome.error)
    plan.close()


def test_a_payload_too_deep_for_a_python_built_in_ends_its_message() -> None:
    # No JavaScript at all: concat writes the value as JSON text, in Python.
    plan = Plan(
        parse_integration(
            {
                "name": "deep",
                "source": {"type": "webhook"},
                "mappings": [
                    {"target": "y", "transforms": [{"type": "concat", "fields": ["deep"]}]}
                ],
                "target": {"type": "http", "url": "https://example.com/"},
            }
        )
    )
    outcome = plan.apply(Message({"deep": deep(5000)}))
    assert outcome.error is not None and "nested too deeply" in str(outcome.error)
    assert plan.apply(Message({"deep": "ok"})).output == {"y": "ok"}
    assert [o.error is None for o in plan.apply_many([Message({"deep": deep(5000)})])] == [False]


def test_one_bad_message_in_a_batch_does_not_fail_the_others() -> None:
    code = " ".join(
        f'if (value === "{name}") {{ {body} }}' for name, body in THROWERS.items()
    )
    plan = plan_for(code=code + " return value", timeoutMs=1000)
    messages = [Message({"x": 0})]
    for n, name in enumerate(THROWERS, start=1):
        messages += [Message({"x": name}), Message({"x": n})]
    messages += [
        Message({"x": float("nan")}),
        Message({"x": 100}),
        Message({"x": 1, "deep": deep(5000)}),
        Message({"x": 101}),
    ]
    outcomes = list(plan.apply_many(messages))
    assert len(outcomes) == len(messages)
    for message, outcome in zip(messages, outcomes, strict=True):
        x = message.data["x"]
        if isinstance(x, int) and "deep" not in message.data:
            assert outcome.error is None and outcome.output == {"y": x}
        else:
            assert isinstance(outcome.error, TransformError) and outcome.output is None
    plan.close()
