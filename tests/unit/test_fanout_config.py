"""A fan-out's `targets`: the model, validation with paths, secrets by place, plans, preview."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from mapper.audit import changes, redact
from mapper.engine import config as cfg
from mapper.engine.plan import Message, PlanCache
from mapper.engine.validate import problems_of
from mapper.errors import ConfigError
from mapper.secrets import (
    LocalSecretBackend,
    credentials_left_behind,
    mask_secrets,
    secret_fields,
    store_secrets,
)

DOC: dict[str, Any] = {
    "id": "i1",
    "version": 1,
    "name": "fan",
    "source": {"type": "webhook"},
    "mappings": [{"source": "n", "target": "number"}],
    "targets": [
        {"type": "http", "name": "crm", "url": "https://crm.example.com/in",
         "auth": {"type": "bearer", "token": "crm-token"}},
        {"type": "email", "smtpServer": "smtp.example.com", "fromEmail": "a@example.com",
         "toEmail": "ops@example.com", "smtpPassword": "smtp-pw",
         "condition": "data.n > 1", "mappings": [{"source": "n", "target": "count"}]},
    ],
}


def paths(doc: dict[str, Any]) -> dict[str, str]:
    return {p.path: p.message for p in problems_of(doc, allow=())}


def test_targets_name_their_routes_and_fall_back_on_the_integration_s_mappings() -> None:
    routes = cfg.parse_integration(DOC).routes()
    assert [(r.name, r.own, r.condition) for r in routes] == [
        ("crm", False, None), ("target-2", True, "data.n > 1")]
    assert [m.target for m in routes[0].mappings] == ["number"]
    assert [m.target for m in routes[1].mappings] == ["count"]
    single = {k: v for k, v in DOC.items() if k != "targets"}
    single["target"] = DOC["targets"][0] | {"name": None}
    single["target"].pop("name")
    assert [r.name for r in cfg.parse_integration(single).routes()] == ["target"]


def test_exactly_one_of_target_and_targets() -> None:
    neither = {k: v for k, v in DOC.items() if k != "targets"}
    assert "target" in paths(neither)
    both = {**DOC, "target": {"type": "http", "url": "https://a.example.com/"}}
    assert paths(both)["targets"] == "give exactly one of target and targets"
    with pytest.raises(ConfigError):
        cfg.parse_integration(both)


def test_problems_of_each_target_carry_its_path() -> None:
    doc = copy.deepcopy(DOC)
    doc["targets"][0]["url"] = "ftp://crm.example.com/"
    doc["targets"][1]["mappings"][0]["target"] = "a..b"
    doc["targets"][1]["condition"] = "data.n >"
    doc["targets"].append({"type": "http", "name": "crm", "url": "https://b.example.com/"})
    found = paths(doc)
    assert "targets[0].url" in found
    assert "targets[1].mappings[0].target" in found
    assert "targets[1].condition" in found
    doc["targets"][0]["url"] = "https://crm.example.com/"
    doc["targets"][1] = DOC["targets"][1]
    assert paths(doc) == {"targets[2].name": "is the name of targets[0] too; each target "
                                             "needs its own"}


def test_at_most_ten_targets_each_with_a_plain_name() -> None:
    doc = copy.deepcopy(DOC)
    doc["targets"] = [{"type": "http", "url": f"https://t{i}.example.com/"} for i in range(11)]
    assert "targets" in paths(doc)
    doc["targets"] = doc["targets"][: cfg.MAX_TARGETS]
    assert paths(doc) == {}
    doc["targets"][0]["name"] = "has space"
    assert "targets[0].name" in paths(doc)


def test_each_target_s_secrets_are_stored_by_place_and_masked_on_reads(tmp_path: Path) -> None:
    backend = LocalSecretBackend(tmp_path / "secrets.json")
    stored = store_secrets(DOC, backend, "i1")
    token = stored["targets"][0]["auth"]["token"]["secret"]
    assert "targets-0-auth-token" in token and backend.resolve(token) == "crm-token"
    assert "targets-1-smtpPassword" in stored["targets"][1]["smtpPassword"]["secret"]
    assert "crm-token" not in str(stored) and "smtp-pw" not in str(stored)
    shown = mask_secrets(stored)
    assert shown["targets"][0]["auth"]["token"]["set"] is True
    assert {path for path, _ in secret_fields(DOC)} == {
        "targets[0].auth.token", "targets[1].smtpPassword"}
    # A reference kept in another place than the one it was stored for is refused.
    moved = copy.deepcopy(shown)
    moved["targets"][1]["smtpPassword"] = moved["targets"][0]["auth"]["token"]
    with pytest.raises(ConfigError) as info:
        store_secrets(moved, backend, "i1")
    assert [p.path for p in info.value.problems] == ["targets[1].smtpPassword"]


def test_a_target_whose_url_changed_must_be_given_its_credentials_again(tmp_path: Path) -> None:
    stored = store_secrets(DOC, LocalSecretBackend(tmp_path / "s.json"), "i1")
    changed = copy.deepcopy(stored)
    changed["targets"][0]["url"] = "https://attacker.example.net/"
    problems = credentials_left_behind(stored, changed)
    assert [p.path for p in problems] == ["targets[0].auth.token"]
    assert credentials_left_behind(stored, copy.deepcopy(stored)) == []


def test_the_audit_hides_and_notes_secrets_of_each_target() -> None:
    assert "crm-token" not in str(redact(DOC))
    after = copy.deepcopy(DOC)
    after["targets"][0]["auth"]["token"] = "rotated"
    assert {"path": "targets[0].auth.token", "op": "change", "old": "[SECRET]",
            "new": "[SECRET]"} in changes(DOC, after)


def test_a_target_with_its_own_mappings_gets_its_own_plan() -> None:
    integration = cfg.parse_integration({**DOC, "targets": [
        DOC["targets"][0], {**DOC["targets"][1], "condition": None}]})
    plans = PlanCache(4)
    shared, own = integration.routes()
    message = Message({"n": 3})
    assert plans.get(integration, shared).apply(message).output == {"number": 3}
    assert plans.get(integration, own).apply(message).output == {"count": 3}
    assert plans.get(integration, shared) is plans.get(integration)  # one shared plan
