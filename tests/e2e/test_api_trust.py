"""Test cases and the receiver's schema through the running platform: API, worker, receiver."""

from __future__ import annotations

import copy
from typing import Any

from .conftest import Platform
from .test_api import orders_doc
from .test_team import make_key

PAID = {"id": 7, "status": "paid", "customer": {"email": "Ada@Example.com", "name": "ada"}}
EXPECTED = {"orderId": 7, "email": "ada@example.com", "name": "ADA"}
# The receiver takes string order ids only: the integration's output (a number) breaks it.
STRING_IDS = {
    "type": "object",
    "required": ["orderId", "email"],
    "properties": {"orderId": {"type": "string"}, "email": {"type": "string"}},
}


def _tested(platform: Platform, *cases: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return orders_doc(platform, tests=list(cases), **extra)


def test_run_tests_reports_each_case_with_its_diff(platform: Platform) -> None:
    good = {"name": "paid order", "payload": PAID, "expect": EXPECTED}
    skipped = {"name": "unpaid", "payload": {**PAID, "status": "open"}, "expectSkipped": True}
    created = platform.add(_tested(platform, good, skipped))
    base = f"/api/integrations/{created['id']}"
    sent_before = len(platform.sink.requests)

    reply = platform.api("POST", f"{base}/run_tests/")
    assert reply.status_code == 200, reply.text
    report = reply.json()
    assert (report["passed"], report["failed"]) == (2, 0)
    assert [(r["name"], r["ok"], r["diff"]) for r in report["results"]] == [
        ("paid order", True, []),
        ("unpaid", True, []),
    ]
    # A viewer may run them: nothing is sent.
    viewer = make_key(platform, "viewer")["key"]
    assert platform.api("POST", f"{base}/run_tests/", token=viewer).json() == report
    assert platform.api("POST", "/api/run_tests/", {"integration": created},
                        token=viewer).status_code == 403

    # A draft's cases, unsaved: one now fails, with the diff in backtest's shape.
    draft = copy.deepcopy(created)
    draft["mappings"][1]["transforms"] = [{"type": "uppercase"}]
    reply = platform.api("POST", "/api/run_tests/", {"integration": draft})
    assert reply.status_code == 200, reply.text
    failing = reply.json()
    assert (failing["passed"], failing["failed"]) == (1, 1)
    assert failing["results"][0]["diff"] == [
        {"path": "email", "op": "change", "old": "ada@example.com", "new": "ADA@EXAMPLE.COM"}
    ]
    assert len(platform.sink.requests) == sent_before  # nothing sent
    assert platform.api("POST", "/api/integrations/nope/run_tests/").status_code == 404


def test_saving_failing_cases_is_400_unless_forced(platform: Platform) -> None:
    wrong = {"name": "wrong email", "payload": PAID, "expect": {**EXPECTED, "email": "x"}}
    reply = platform.api("POST", "/api/integrations/", _tested(platform, wrong))
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["code"] == "tests_failed"
    assert "1 of 1 test cases fail (wrong email)" in body["error"]
    assert (body["passed"], body["failed"]) == (0, 1)
    assert body["results"][0]["diff"] == [
        {"path": "email", "op": "change", "old": "x", "new": "ada@example.com"}
    ]

    forced = platform.api("POST", "/api/integrations/?force=true", _tested(platform, wrong))
    assert forced.status_code == 201, forced.text
    created = forced.json()
    path = f"/api/integrations/{created['id']}/"
    renamed = {**created, "name": "renamed"}
    assert platform.api("PUT", path, renamed).json()["code"] == "tests_failed"
    assert platform.api("GET", path).json()["name"] == created["name"]  # not saved
    reply = platform.api("PUT", path + "?force=true", renamed)
    assert reply.status_code == 200 and reply.json()["name"] == "renamed"
    fixed = {**reply.json(), "tests": [{**wrong, "expect": EXPECTED}]}
    assert platform.api("PUT", path, fixed).status_code == 200
    assert platform.api("PUT", path + "?force=maybe", fixed).status_code == 400


def test_an_invalid_schema_is_a_400_at_target_schema(platform: Platform) -> None:
    doc = orders_doc(platform)
    doc["target"]["schema"] = {"type": "object", "properties": {"a": {"$ref": "https://x.test/a"}}}
    reply = platform.api("POST", "/api/integrations/", doc)
    assert reply.status_code == 400
    [problem] = reply.json()["problems"]
    assert problem["path"] == "target.schema" and "points outside the schema" in problem["message"]


def test_preview_and_validate_show_the_violations(platform: Platform) -> None:
    doc = orders_doc(platform, samplePayload=PAID)
    doc["target"]["schema"] = STRING_IDS
    reply = platform.api("POST", "/api/preview/", {"integration": doc, "payload": PAID})
    assert reply.status_code == 200, reply.text
    assert reply.json()["output"] == EXPECTED
    assert reply.json()["schemaViolations"] == [
        {"path": "orderId", "message": "7 is not of type 'string'"}
    ]
    checked = platform.api("POST", "/api/validate/", {"integration": doc}).json()
    assert checked["valid"] is True and checked["schemaViolations"] == [
        {"path": "orderId", "message": "7 is not of type 'string'"}
    ]


def test_the_worker_sends_nothing_that_breaks_the_schema(platform: Platform) -> None:
    doc = orders_doc(platform)
    doc["target"]["url"] = f"{platform.sink.url}/strict"
    doc["target"]["schema"] = STRING_IDS
    created = platform.add(doc)

    run = platform.wait(platform.send(created, PAID))

    assert run["status"] == "error"
    assert run["schemaViolations"] == [{"path": "orderId", "message": "7 is not of type 'string'"}]
    assert "orderId: 7 is not of type 'string'" in run["errorMessage"]
    assert platform.sink.received("/strict") == []  # the real receiver saw nothing
    shown = platform.api("GET", f"/api/runs/{run['id']}/").json()
    assert shown["schemaViolations"] == run["schemaViolations"]

    # Once the mapping keeps to it, the same payload is delivered.
    fixed = copy.deepcopy(created)
    fixed["mappings"][0]["transforms"] = [{"type": "custom", "code": "return String(value)"}]
    assert platform.api("PUT", f"/api/integrations/{created['id']}/", fixed).status_code == 200
    assert platform.wait(platform.send(created, PAID))["status"] == "success"
    assert len(platform.sink.received("/strict")) == 1
