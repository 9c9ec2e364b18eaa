"""The control plane's side of test cases and the receiver's schema, over fakes."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from mapper.admin import Admin, AdminStores, Site
from mapper.errors import TestsFailed
from mapper.secrets import LocalSecretBackend
from mapper.targets.egress import EgressPolicy
from tests.fakes import FakePullState
from tests.pipeline.support import HOOK, body, build

SCHEMA = {"type": "object", "properties": {"number": {"type": "integer", "maximum": 4}}}
NEW = {k: v for k, v in HOOK.items() if k not in ("id", "version", "webhookPath")}


@pytest.fixture
def setup(tmp_path: Path):  # noqa: ANN201 - test fixture
    p = build()
    backend = LocalSecretBackend(str(tmp_path / "secrets.json"))
    stores = AdminStores(p.integrations, p.runs, FakePullState(), backend, EgressPolicy())
    ids = iter(f"id{n}" for n in range(100))
    admin = Admin(stores, p.intake, Site("https://m.test", "https://m.test"),
                  new_id=lambda: next(ids))
    return p, admin


def _with(**changes: object) -> dict:
    doc = copy.deepcopy(NEW)
    doc.update(changes)
    return doc


def test_a_candidate_breaking_the_schema_counts_as_now_failing(setup) -> None:  # noqa: ANN001
    p, admin = setup
    for n in (1, 9):
        p.intake.receive_webhook("p-secret", {}, body(f'{{"n": {n}}}'.encode()))
    assert p.deliver_all() == ["success", "success"]
    target = {**HOOK["target"], "schema": SCHEMA}
    result = admin.backtest("i1", {**HOOK, "target": target})
    assert result["totals"]["nowFailing"] == 1 and result["totals"]["same"] == 1
    [failing] = [r for r in result["results"] if r["error"]]
    assert failing["error"] == "the output breaks the target's schema"
    assert failing["candidate"] == {"number": 9}
    assert failing["schemaViolations"] == [
        {"path": "number", "message": "9 is greater than the maximum of 4"}
    ]


def test_saving_with_failing_cases_is_refused_unless_forced(setup) -> None:  # noqa: ANN001
    _, admin = setup
    tests = [{"name": "one", "payload": {"n": 1}, "expect": {"number": 2}}]
    with pytest.raises(TestsFailed) as caught:
        admin.create_integration(_with(tests=tests))
    assert caught.value.report["failed"] == 1
    assert "1 of 1 test cases fail (one)" in str(caught.value)
    created = admin.create_integration(_with(tests=tests), force=True)
    fixed = [{**tests[0], "expect": {"number": 1}}]
    with pytest.raises(TestsFailed):
        admin.replace_integration(created["id"], _with(tests=tests, name="again"))
    replaced = admin.replace_integration(created["id"], _with(tests=fixed))
    assert replaced["tests"] == fixed
    assert admin.run_tests(created["id"])["passed"] == 1


def test_preview_and_validate_list_the_violations(setup) -> None:  # noqa: ANN001
    _, admin = setup
    doc = _with(target={**HOOK["target"], "schema": SCHEMA}, samplePayload={"n": 7})
    preview = admin.preview(doc, {"n": 7})
    assert preview["schemaViolations"] == [
        {"path": "number", "message": "7 is greater than the maximum of 4"}
    ]
    assert admin.preview(doc, {"n": 3})["schemaViolations"] == []
    assert "schemaViolations" not in admin.preview(_with(), {"n": 7})
    assert admin.sample_violations(doc) == preview["schemaViolations"]
    assert admin.validate(doc) == []  # a warning beside validate, not a problem
