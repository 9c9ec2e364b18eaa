"""Versions over fakes: every save keeps one, summaries say what changed, rollback saves anew."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from mapper.admin import Admin, AdminStores, Site
from mapper.errors import ConflictError, NotFoundError
from mapper.secrets import LocalSecretBackend
from mapper.targets.egress import EgressPolicy
from mapper.versions import summary
from tests.fakes import FakePullState
from tests.pipeline.support import build

NEW = {
    "name": "orders",
    "source": {"type": "webhook"},
    "mappings": [
        {"source": "n", "target": "number"},
        {"source": "c", "target": "code", "transforms": [{"type": "uppercase"}]},
    ],
    "target": {"type": "http", "url": "https://hooks.example.com/x",
               "auth": {"type": "bearer", "token": "tok-1"}},
}


@pytest.fixture
def setup(tmp_path: Path):  # noqa: ANN201 - test fixture
    p = build()
    p.integrations.docs.clear()
    backend = LocalSecretBackend(str(tmp_path / "secrets.json"))
    stores = AdminStores(p.integrations, p.runs, FakePullState(), backend, EgressPolicy())
    admin = Admin(stores, p.intake, Site("https://m.test", "https://m.test"), new_id=lambda: "i1")
    return p, admin, backend


def test_every_save_keeps_a_version_with_a_summary(setup) -> None:  # noqa: ANN001
    _, admin, _ = setup
    created = admin.create_integration(NEW)
    changed = copy.deepcopy(NEW)
    changed["target"]["auth"]["token"] = created["target"]["auth"]["token"]  # unchanged
    changed["mappings"][1]["transforms"] = [{"type": "lowercase"}]
    changed["target"]["url"] = "https://hooks.example.com/y"
    admin.replace_integration("i1", changed)
    admin.toggle_active("i1")
    listed, cursor = admin.list_versions("i1")
    assert cursor is None
    assert [(v["version"], v["summary"]) for v in listed] == [
        (3, "active changed"),
        (2, "mappings[1].transforms changed; target.url changed"),
        (1, "created"),
    ]
    first, cursor = admin.list_versions("i1", limit=2)
    assert [v["version"] for v in first] == [3, 2] and cursor == "2"
    rest, cursor = admin.list_versions("i1", limit=2, before=int("2"))
    assert [v["version"] for v in rest] == [1] and cursor is None


def test_a_version_is_shown_as_saved_with_secrets_masked(setup) -> None:  # noqa: ANN001
    _, admin, _ = setup
    created = admin.create_integration(NEW)
    admin.replace_integration("i1", {**NEW, "name": "renamed"})
    first = admin.get_version("i1", 1)
    assert first["name"] == "orders" and first["version"] == 1
    assert first["webhookUrl"] == created["webhookUrl"]
    assert first["target"]["auth"]["token"]["set"] is True
    assert "tok-1" not in str(first)
    with pytest.raises(NotFoundError):
        admin.get_version("i1", 9)
    with pytest.raises(NotFoundError):
        admin.list_versions("nope")


def test_rollback_saves_the_old_content_as_a_new_version(setup) -> None:  # noqa: ANN001
    p, admin, backend = setup
    created = admin.create_integration(NEW)
    admin.replace_integration("i1", {**NEW, "name": "renamed", "condition": "data.ok"})
    rolled = admin.rollback("i1", 1)
    assert rolled["version"] == 3 and rolled["name"] == "orders"
    assert "condition" not in rolled
    assert rolled["webhookPath"] == created["webhookPath"]
    [latest, *_] = admin.list_versions("i1")[0]
    assert latest["summary"] == "rollback to version 1: name changed; condition changed"
    # The rolled-back document maps as version 1 did.
    assert p.integrations.docs["i1"]["mappings"] == p.integrations.versions["i1"][1][
        "document"]["mappings"]


def test_rollback_keeps_the_current_secret(setup) -> None:  # noqa: ANN001
    p, admin, backend = setup
    admin.create_integration(NEW)
    rotated = copy.deepcopy(NEW)
    rotated["target"]["auth"]["token"] = "tok-2"
    rotated["name"] = "rotated"
    admin.replace_integration("i1", rotated)
    ref_now = p.integrations.docs["i1"]["target"]["auth"]["token"]["secret"]
    admin.rollback("i1", 1)
    stored = p.integrations.docs["i1"]
    assert stored["name"] == "orders"
    assert stored["target"]["auth"]["token"] == {"secret": ref_now}
    assert backend.resolve(ref_now) == "tok-2"


def test_rollback_refuses_a_secret_that_is_gone(setup) -> None:  # noqa: ANN001
    p, admin, _ = setup
    admin.create_integration(NEW)
    no_auth = copy.deepcopy(NEW)
    del no_auth["target"]["auth"]
    admin.replace_integration("i1", no_auth)  # the token's secret is deleted with this save
    with pytest.raises(ConflictError, match="target.auth.token"):
        admin.rollback("i1", 1)
    assert p.integrations.docs["i1"]["version"] == 2  # nothing saved
    with pytest.raises(NotFoundError):
        admin.rollback("i1", 7)


def test_summary_ignores_server_fields() -> None:
    old = {"name": "a", "version": 1, "updatedAt": "t1", "webhookPath": "p"}
    assert summary(old, {**old, "version": 2, "updatedAt": "t2"}) == "no change"
    assert summary(None, old) == "created"
