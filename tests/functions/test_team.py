"""Team use through the api function (functions-framework's test client) over in-memory fakes.

Every route of `api_schema.URLS` with every role; keys made, used, revoked; the audit log of
each change; failed sign-ins limited; no presented key in any log line.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mapper import api_openapi, api_schema
from mapper.access import FAILURE_LIMIT
from mapper.keys import ROLES, allows
from mapper.secrets import LocalSecretBackend
from tests.functions.conftest import Fakes, client

BOOT = "boot-" + "t" * 30
SAMPLE = {
    "name": "Orders",
    "source": {"type": "webhook"},
    "mappings": [{"source": "id", "target": "orderId"}],
    "target": {
        "type": "http",
        "url": "https://example.com/in",
        "auth": {"type": "bearer", "token": "tok-s3cret-value"},
    },
}


@pytest.fixture
def api(fakes: Fakes, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setenv("ADMIN_TOKEN", BOOT)
    # The platform's own settings, not whatever an earlier suite in this process set
    # (the e2e stack raises the sign-in failure limit for its own probes).
    monkeypatch.delenv("AUTH_FAILURE_LIMIT", raising=False)
    monkeypatch.delenv("CLIENT_IP_HOPS", raising=False)
    build = fakes.services
    # Integrations with secrets are saved: the local backend keeps them in a file.
    backend = LocalSecretBackend(tmp_path / "secrets.json")
    monkeypatch.setattr(fakes, "services", lambda: replace(build(), secret_backend=backend))
    return client("api")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_key(api: Any, role: str, name: str | None = None) -> dict[str, Any]:
    reply = api.post("/api/keys/", json={"name": name or f"{role} key", "role": role},
                     headers=bearer(BOOT))
    assert reply.status_code == 201, reply.get_json()
    return reply.get_json()


def every_route() -> list[tuple[str, str, str, str]]:
    """(endpoint, method, path with sample ids, role needed) for each rule and method."""
    routes = []
    for rule in api_schema.URLS.iter_rules():
        path = re.sub(r"<([^<>]+)>", lambda m: "1" if m[1] == "n" else "i1", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            needed = api_schema.required_role(rule.endpoint, method)
            routes.append((rule.endpoint, method, path, needed))
    return routes


def test_every_route_names_its_role_in_the_table_and_the_document() -> None:
    document = api_openapi.openapi()
    for rule in api_schema.URLS.iter_rules():
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            role = api_schema.ROLES.get(rule.endpoint, {}).get(method)
            assert role in ROLES, f"{method} {rule.rule}: give it a role in api_schema.ROLES"
            operation = document["paths"][api_openapi.openapi_path(rule.rule)][method.lower()]
            assert operation["x-required-role"] == role
            assert f"Needs role `{role}`" in operation["description"]
            assert "403" in operation["responses"]


def test_every_route_with_every_role(api: Any, fakes: Fakes) -> None:
    keys = {role: make_key(api, role)["key"] for role in ROLES}
    checked = 0
    for _endpoint, method, path, needed in every_route():
        for role, key in keys.items():
            reply = api.open(path, method=method, json={}, headers=bearer(key))
            where = f"{role} {method} {path}"
            assert reply.status_code != 401, where
            if allows(role, needed):
                assert reply.status_code != 403, (where, reply.get_json())
            else:
                assert reply.status_code == 403, (where, reply.get_json())
                body = reply.get_json()
                assert body["code"] == "forbidden"
                assert body["error"].endswith(f"needs role {needed}"), body
            checked += 1
    assert checked >= 3 * 17
    # The read-only role changed nothing: every write it tried was refused before it ran.
    assert fakes.audit.entries and all(e["actorRole"] != "viewer" for e in fakes.audit.entries)


def test_whoami_tells_the_ui_its_role(api: Any) -> None:
    made = make_key(api, "editor", "deploy bot")
    me = api.get("/api/whoami/", headers=bearer(made["key"])).get_json()
    assert me == {"keyId": made["id"], "name": "deploy bot", "role": "editor", "expiresAt": None}
    boot = api.get("/api/whoami/", headers=bearer(BOOT)).get_json()
    assert boot["role"] == "admin" and boot["keyId"] is None


def test_keys_are_listed_without_secrets_and_a_revoked_key_is_refused(api: Any) -> None:
    made = make_key(api, "viewer")
    listed = api.get("/api/keys/", headers=bearer(BOOT)).get_json()["keys"]
    [entry] = [k for k in listed if k["id"] == made["id"]]
    assert set(entry) == {"id", "name", "role", "prefix", "createdAt", "lastUsedAt",
                          "expiresAt", "createdBy"}
    assert made["key"].startswith(entry["prefix"]) and made["key"] not in json.dumps(listed)
    assert api.get("/api/runs/", headers=bearer(made["key"])).status_code == 200
    assert api.delete(f"/api/keys/{made['id']}/", headers=bearer(BOOT)).status_code == 204
    refused = api.get("/api/runs/", headers=bearer(made["key"]))
    assert refused.status_code == 401 and refused.get_json()["code"] == "unauthorized"
    assert api.delete(f"/api/keys/{made['id']}/", headers=bearer(BOOT)).status_code == 404


def test_each_change_is_audited_with_its_actor_and_no_secret(api: Any, fakes: Fakes) -> None:
    editor = make_key(api, "editor", "alice")
    as_alice = bearer(editor["key"])
    created = api.post("/api/integrations/", json=SAMPLE, headers=as_alice).get_json()
    iid = created["id"]
    changed = {**SAMPLE, "name": "Orders v2", "active": True}
    changed["target"] = {**SAMPLE["target"], "auth": {"type": "bearer", "token": "new-s3cret"}}
    assert api.put(f"/api/integrations/{iid}/", json=changed, headers=as_alice).status_code == 200
    assert api.post(f"/api/integrations/{iid}/toggle_active/", headers=as_alice).status_code == 200
    assert api.delete(f"/api/integrations/{iid}/", headers=as_alice).status_code == 204
    assert api.get(f"/api/integrations/{iid}/", headers=as_alice).status_code == 404  # no entry

    page = api.get(f"/api/audit/?integration_id={iid}", headers=bearer(BOOT)).get_json()
    entries = page["entries"]
    assert [e["action"] for e in entries] == [
        "integration.delete", "integration.toggle", "integration.replace", "integration.create"
    ]
    assert {json.dumps(e["actor"]) for e in entries} == {
        json.dumps({"keyId": editor["id"], "name": "alice", "role": "editor"})
    }
    delete, toggle, replace, create = entries
    assert sorted(toggle["diff"], key=lambda c: c["path"]) == [
        {"path": "active", "op": "change", "old": True, "new": False},
        {"path": "version", "op": "change", "old": 2, "new": 3},
    ]
    assert {"path": "name", "op": "change", "old": "Orders", "new": "Orders v2"} in replace["diff"]
    assert {"path": "target.auth.token", "op": "change", "old": "[SECRET]",
            "new": "[SECRET]"} in replace["diff"]
    assert replace["route"] == "PUT /api/integrations/{id}/"
    assert replace["target"] == {"type": "integration", "id": iid}
    assert {c["op"] for c in create["diff"]} == {"add"}
    assert {c["op"] for c in delete["diff"]} == {"remove"}
    text = json.dumps(page)
    assert "s3cret" not in text and "mapper-" not in text

    by_key = api.get(f"/api/audit/?key_id={editor['id']}", headers=bearer(BOOT)).get_json()
    assert len(by_key["entries"]) == 4
    keys_log = api.get("/api/audit/", headers=bearer(BOOT)).get_json()["entries"]
    [made] = [e for e in keys_log if e["action"] == "key.create"]
    assert made["actor"]["name"] == "bootstrap admin token"
    assert editor["key"] not in json.dumps(keys_log)


def test_failed_sign_ins_are_limited_and_no_key_reaches_the_logs(
    api: Any, caplog: pytest.LogCaptureFixture
) -> None:
    made = make_key(api, "viewer")
    guess = made["key"][:-4] + "AAAA"
    address = {"X-Forwarded-For": "203.0.113.50"}
    with caplog.at_level(logging.INFO):
        for _ in range(FAILURE_LIMIT):
            reply = api.get("/api/runs/", headers={**bearer(guess), **address})
            assert reply.status_code == 401
        limited = api.get("/api/runs/", headers={**bearer(guess), **address})
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert limited.get_json()["code"] == "too_many_failures"
        # The valid key behind the same (shared) address still works.
        assert api.get("/api/runs/", headers={**bearer(made["key"]), **address}).status_code == 200
        # Another address is not affected.
        assert api.get("/api/runs/", headers={**bearer(made["key"]),
                                              "X-Forwarded-For": "198.51.100.2"}).status_code == 200
        forbidden = api.post("/api/keys/", json={"name": "x", "role": "admin"},
                             headers=bearer(made["key"]))
        assert forbidden.status_code == 403
    secret_part = made["key"].split("_", 2)[2]
    assert made["key"] not in caplog.text and secret_part not in caplog.text
    assert guess not in caplog.text and guess.split("_", 2)[2] not in caplog.text
    assert "203.0.113.50" in caplog.text and "needs admin" in caplog.text


def test_rollback_is_audited(api: Any, fakes: Fakes) -> None:
    editor = make_key(api, "editor", "bob")
    as_bob = bearer(editor["key"])
    created = api.post("/api/integrations/", json=SAMPLE, headers=as_bob).get_json()
    iid = created["id"]
    assert api.put(f"/api/integrations/{iid}/", json={**SAMPLE, "name": "B"},
                   headers=as_bob).status_code == 200
    rolled = api.post(f"/api/integrations/{iid}/rollback/", json={"version": 1}, headers=as_bob)
    assert rolled.status_code == 200, rolled.get_json()
    entries = api.get(f"/api/audit/?integration_id={iid}", headers=bearer(BOOT)).get_json()
    actions = [e["action"] for e in entries["entries"]]
    assert actions == ["integration.rollback", "integration.replace", "integration.create"]
    rollback = entries["entries"][0]
    assert {"path": "name", "op": "change", "old": "B", "new": "Orders"} in rollback["diff"]
    assert rollback["details"] == {"version": 1} and rollback["actor"]["name"] == "bob"
    assert "s3cret" not in json.dumps(entries) and "mapper-" not in json.dumps(entries)
