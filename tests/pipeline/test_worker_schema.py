"""The receiver's schema before each send: a run whose output breaks it is error, not sent."""

from __future__ import annotations

import json

from mapper.pipeline.runs import RunStatus
from tests.pipeline.support import HOOK, body, build

SCHEMA = {
    "type": "object",
    "required": ["number"],
    "properties": {"number": {"type": "integer", "minimum": 0}},
}


def _with_schema(schema: dict) -> dict:
    return {**HOOK, "target": {**HOOK["target"], "schema": schema}}


def _queued(p, payload):  # noqa: ANN001, ANN201 - test helper
    receipt = p.intake.receive_webhook("p-secret", {}, body(json.dumps(payload).encode()))
    assert receipt.status == "queued"
    return receipt.run_id


def test_an_output_that_breaks_the_schema_is_an_error_and_nothing_is_sent() -> None:
    p = build(_with_schema(SCHEMA))
    run_id = _queued(p, {"n": -3})

    assert p.deliver_all() == [RunStatus.ERROR]

    run = p.runs.get(run_id)
    assert p.target.sent == []
    assert run["status"] == RunStatus.ERROR
    assert run["schemaViolations"] == [
        {"path": "number", "message": "-3 is less than the minimum of 0"}
    ]
    assert "number: -3 is less than the minimum of 0" in run["errorMessage"]
    assert run["transformedPayload"] == {"number": -3}
    assert "outgoingRequest" not in run


def test_a_missing_required_field_is_named_at_its_path() -> None:
    p = build(_with_schema({**SCHEMA, "required": ["number", "currency"]}))
    run_id = _queued(p, {"n": 1})

    assert p.deliver_all() == [RunStatus.ERROR]
    assert p.runs.get(run_id)["schemaViolations"] == [
        {"path": "currency", "message": "is required"}
    ]
    assert p.target.sent == []


def test_an_output_that_keeps_to_the_schema_is_sent() -> None:
    p = build(_with_schema(SCHEMA))
    run_id = _queued(p, {"n": 4})

    assert p.deliver_all() == [RunStatus.SUCCESS]
    assert p.target.sent == [{"payload": {"number": 4}, "runId": run_id}]
    assert "schemaViolations" not in p.runs.get(run_id)
