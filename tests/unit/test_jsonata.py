"""JSONata 2.x through the real sandbox: `jsonata` on an integration and the `jsonata`
transform, run by the reference implementation in the integration's V8 isolate (after SES
lockdown), its errors with their positions, and the sandbox's limits around it."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import pytest

from mapper.engine.config import parse_integration
from mapper.engine.plan import Message, Plan
from mapper.engine.validate import problems_of
from mapper.errors import JsonataError, OutputTooLarge, SandboxError

BASE: dict[str, Any] = {
    "name": "jsonata",
    "source": {"type": "webhook"},
    "target": {"type": "http", "url": "https://example.com/orders"},
}

ORDER: dict[str, Any] = {
    "id": "ord_1",
    "customer": {"email": "Ada@Example.com", "name": "  Ada Lovelace "},
    "created": 1733560000,
    "items": [
        {"sku": "tea", "price": 450, "qty": 2, "tags": ["hot", "leaf"]},
        {"sku": "cake", "price": 300, "qty": 1, "tags": []},
        {"sku": "jam", "price": 125, "qty": 4, "tags": ["sweet"]},
    ],
    "meta": {"channel": "web"},
}


def plan(**fields: Any) -> Plan:
    return Plan(parse_integration({**BASE, "sandbox": {"timeoutMs": 1000}, **fields}))


def output(expression: str, payload: Any = ORDER) -> Any:
    p = plan(jsonata=expression)
    try:
        outcome = p.apply(Message(copy.deepcopy(payload)))
    finally:
        p.close()
    assert outcome.error is None, outcome.error
    return outcome.output


# Our own cases, one per feature an integration leans on; the expected values are worked
# out by hand from ORDER.
CONFORMANCE = [
    pytest.param("customer.email", "Ada@Example.com", id="path"),
    pytest.param("items[price > 200].sku", ["tea", "cake"], id="predicate"),
    pytest.param("items[1].sku", "cake", id="index"),
    pytest.param("$sum(items.(price * qty))", 1700, id="sum"),
    pytest.param("$map(items, function($i) { $i.qty * 10 })", [20, 10, 40], id="map"),
    pytest.param(
        '$uppercase($substring($trim(customer.name), 0, 3)) & "-" & $lowercase(customer.email)',
        "ADA-ada@example.com",
        id="strings",
    ),
    pytest.param('$join(items.sku, ",")', "tea,cake,jam", id="join"),
    pytest.param(
        '{"order": id, "lines": $count(items), "first": items[0].{"sku": sku}}',
        {"order": "ord_1", "lines": 3, "first": {"sku": "tea"}},
        id="object construction",
    ),
    pytest.param(
        '$merge([meta, {"id": id}, {"channel": "api"}])',
        {"channel": "api", "id": "ord_1"},
        id="merge",
    ),
    pytest.param("items^(>price).sku", ["tea", "cake", "jam"], id="sort descending"),
    pytest.param("items^(qty, sku).sku", ["cake", "tea", "jam"], id="sort two keys"),
    pytest.param("$match(customer.email, /@([a-z]+)\\./i).groups[0]", "Example", id="regex match"),
    pytest.param('$replace(customer.email, /[aeiou]/, "*")', "Ad*@Ex*mpl*.c*m", id="regex replace"),
    pytest.param("items['sweet' in tags].sku", "jam", id="in predicate"),
    pytest.param("nothing.here", None, id="no match is null"),
    pytest.param("$string(created)", "1733560000", id="number to string"),
]


@pytest.mark.parametrize(("expression", "expected"), CONFORMANCE)
def test_jsonata_on_the_integration_builds_the_output(expression: str, expected: Any) -> None:
    assert output(expression) == expected


def test_now_is_one_instant_within_a_message() -> None:
    # JSONata fixes $now() for one evaluation: every call in it gives the same instant.
    first, second = output("[$now(), $now()]", {})
    assert first == second
    assert datetime.fromisoformat(first.replace("Z", "+00:00")).year >= 2026


def test_the_payload_is_also_data_and_is_not_changed() -> None:
    payload = copy.deepcopy(ORDER)
    p = plan(jsonata='$merge([$data.meta, {"seen": true}])')
    try:
        outcome = p.apply(Message(payload))
    finally:
        p.close()
    assert outcome.output == {"channel": "web", "seen": True}
    assert payload == ORDER


def test_a_jsonata_transform_gets_the_value_and_the_payload() -> None:
    p = plan(
        mappings=[
            {
                "source": "items[*].sku",
                "target": "skus[*]",
                "transforms": [
                    {"type": "jsonata", "expression": '$uppercase($) & "@" & $data.id'},
                    {"type": "trim"},
                ],
            },
            {"source": "id", "target": "order"},
        ]
    )
    try:
        outcome = p.apply(Message(copy.deepcopy(ORDER)))
    finally:
        p.close()
    assert outcome.error is None, outcome.error
    assert outcome.output == {"skus": ["TEA@ord_1", "CAKE@ord_1", "JAM@ord_1"], "order": "ord_1"}


def test_a_batch_keeps_each_message_its_own_result() -> None:
    p = plan(jsonata='{"id": id, "total": $sum(items.price)}')
    messages = [Message({"id": n, "items": [{"price": n}, {"price": 1}]}) for n in range(70)]
    try:
        outcomes = list(p.apply_many(messages, batch_size=32))
    finally:
        p.close()
    assert [o.output for o in outcomes] == [{"id": n, "total": n + 1} for n in range(70)]


def test_an_evaluation_error_names_its_code_and_position() -> None:
    p = plan(jsonata='id + "x"')
    try:
        outcome = p.apply(Message(copy.deepcopy(ORDER)))
    finally:
        p.close()
    error = outcome.error
    assert isinstance(error, JsonataError)
    assert (error.where, error.jsonata_code, error.position) == ("jsonata", "T2001", 4)
    assert 'left side of the "+" operator must evaluate to a number' in str(error)


def test_a_transform_error_names_its_transform() -> None:
    transforms = [{"type": "jsonata", "expression": "$number($)"}]
    p = plan(mappings=[{"source": "customer.email", "target": "n", "transforms": transforms}])
    try:
        outcome = p.apply(Message(copy.deepcopy(ORDER)))
    finally:
        p.close()
    error = outcome.error
    assert isinstance(error, JsonataError)
    assert error.where == "mappings[0].transforms[0]"
    assert error.jsonata_code == "D3030"


def test_a_syntax_error_is_a_problem_at_its_field_with_the_position() -> None:
    problems = problems_of({**BASE, "jsonata": '{"a": id'})
    assert [(p.path, p.message) for p in problems] == [
        ("jsonata", 'S0203: Expected "}" before end of expression (at position 8)')
    ]
    transforms = [{"type": "jsonata", "expression": "$sum(items.price"}]
    doc = {**BASE, "mappings": [{"source": "id", "target": "x", "transforms": transforms}]}
    assert [(p.path, p.message) for p in problems_of(doc)] == [
        (
            "mappings[0].transforms[0].expression",
            'S0203: Expected ")" before end of expression (at position 16)',
        )
    ]


def test_jsonata_and_mappings_are_not_both_given() -> None:
    doc = {**BASE, "jsonata": "id", "mappings": [{"source": "id", "target": "x"}]}
    assert [p.path for p in problems_of(doc)] == ["jsonata"]


def test_a_runaway_expression_ends_at_a_limit_and_the_next_message_works() -> None:
    p = plan(jsonata="$map([1..10000000], function($x) { $x })")
    good = plan(jsonata="id")
    try:
        outcome = p.apply(Message({"id": 1}))
        assert isinstance(outcome.error, SandboxError)
        assert outcome.error.code in {"javascript_timeout", "javascript_memory"}
        # The same plan answers the next message from a fresh isolate.
        again = p.apply(Message({"id": 2}))
        assert isinstance(again.error, SandboxError)
        assert good.apply(Message({"id": 3})).output == 3
    finally:
        p.close()
        good.close()


def test_a_runaway_expression_in_a_batch_fails_alone() -> None:
    p = plan(jsonata="n = 0 ? $map([1..10000000], function($x) { $x }) : n")
    try:
        outcomes = list(p.apply_many([Message({"n": n}) for n in (1, 0, 2)]))
    finally:
        p.close()
    assert [o.output for o in outcomes] == [1, None, 2]
    assert isinstance(outcomes[1].error, SandboxError)
    assert outcomes[0].error is None and outcomes[2].error is None


@pytest.mark.parametrize(
    "expression",
    ["$.constructor", '$.constructor.constructor("return globalThis")()', "$.__proto__"],
)
def test_jsonata_reads_own_properties_only(expression: str) -> None:
    # Paths never reach a JavaScript object's prototype, so no constructor is at hand
    # (and after lockdown none would make code from strings).
    assert output(expression, {"a": 1}) is None


def test_attributes_and_headers_are_bound_as_in_custom_code() -> None:
    p = plan(jsonata='{"kind": $attributes.kind, "event": $headers."X-Event", "id": $data.id}')
    try:
        outcome = p.apply(Message({"id": 7}, {"kind": "a"}, {"X-Event": "push"}))
    finally:
        p.close()
    assert outcome.output == {"kind": "a", "event": "push", "id": 7}


def test_jsonata_results_are_held_to_the_output_limit() -> None:
    # Four values of 6,000,000 characters: each within the limits, together past the
    # 20,000,000 characters one message's returned values may hold.
    expression = '($x := $pad("", 100000, "x"); $join([1..60].($x)))'
    transforms = [{"type": "jsonata", "expression": expression}]
    mappings = [{"source": "a", "target": f"t{i}", "transforms": transforms} for i in range(4)]
    p = plan(mappings=mappings, sandbox={"timeoutMs": 1000, "memoryMb": 128})
    try:
        outcome = p.apply(Message({"a": 1}))
    finally:
        p.close()
    assert isinstance(outcome.error, OutputTooLarge), outcome.error
    assert outcome.error.where == "mappings[3].transforms[0]"
    assert "20,000,000 characters per message" in str(outcome.error)


def test_a_fanout_target_with_its_own_mappings_does_not_use_the_jsonata() -> None:
    from mapper.engine.plan import routed

    doc = {
        **{k: v for k, v in BASE.items() if k != "target"},
        "jsonata": '{"total": $sum(items.price)}',
        "targets": [
            {"type": "http", "url": "https://example.com/a"},
            {"type": "http", "url": "https://example.com/b",
             "mappings": [{"source": "id", "target": "order"}]},
        ],
    }
    integration = parse_integration(doc)
    outputs = []
    for route in integration.routes():
        p = Plan(routed(integration, route))
        try:
            outputs.append(p.apply(Message(copy.deepcopy(ORDER))).output)
        finally:
            p.close()
    assert outputs == [{"total": 875}, {"order": "ord_1"}]
