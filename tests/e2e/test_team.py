"""Team use over the emulators: keys with roles on every route, revocation, the audit log."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pytest
import requests
from google.cloud import firestore

from mapper import api_openapi, api_schema, services
from mapper.keys import KEY_CACHE_SECONDS, ROLES, allows

from .conftest import ADMIN_TOKEN, Platform

SECRET_VALUE = "team-s3cret-" + uuid.uuid4().hex


def make_key(platform: Platform, role: str, name: str | None = None) -> dict[str, Any]:
    reply = platform.api("POST", "/api/keys/", {"name": name or f"e2e {role}", "role": role})
    assert reply.status_code == 201, reply.text
    return reply.json()


def doc(platform: Platform, name: str, token: str) -> dict[str, Any]:
    return {
        "name": name,
        "active": True,
        "source": {"type": "webhook"},
        "mappings": [{"source": "id", "target": "orderId"}],
        "target": {
            "type": "http",
            "url": f"{platform.sink.url}/team",
            "auth": {"type": "bearer", "token": token},
        },
    }


def test_every_route_with_every_role(platform: Platform) -> None:
    keys = {role: make_key(platform, role)["key"] for role in ROLES}
    seen = 0
    for rule in api_schema.URLS.iter_rules():
        path = re.sub(r"<([^<>]+)>", lambda m: "1" if m[1] == "n" else "nope", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            needed = api_schema.required_role(rule.endpoint, method)
            for role, key in keys.items():
                reply = platform.api(method, path, {}, token=key)
                where = (role, method, path, reply.text)
                if allows(role, needed):
                    assert reply.status_code not in (401, 403), where
                    assert reply.status_code < 500, where
                else:
                    assert reply.status_code == 403, where
                    assert reply.json() == {
                        "code": "forbidden",
                        "error": f"this key's role is {role}: {method} "
                        f"{api_openapi.openapi_path(rule.rule)} needs role {needed}",
                    }
                seen += 1
    assert seen >= 3 * 20


def test_a_revoked_key_is_refused_within_the_bound(platform: Platform) -> None:
    made = make_key(platform, "editor", "to revoke")
    assert platform.api("GET", "/api/whoami/", token=made["key"]).json()["role"] == "editor"
    assert platform.api("DELETE", f"/api/keys/{made['id']}/").status_code == 204
    deadline = time.monotonic() + KEY_CACHE_SECONDS + 1
    while platform.api("GET", "/api/runs/", token=made["key"]).status_code != 401:
        assert time.monotonic() < deadline, "the revoked key still works"
        time.sleep(0.5)
    listed = platform.api("GET", "/api/keys/?limit=200").json()["keys"]
    assert made["id"] not in {k["id"] for k in listed}


def test_keys_are_stored_as_hashes_and_listed_without_them(platform: Platform) -> None:
    made = make_key(platform, "viewer", "reader")
    stored = firestore.Client(project="demo-e2e").collection("apiKeys").document(made["id"]).get()
    assert stored.exists and made["key"] not in json.dumps(stored.to_dict(), default=str)
    assert made["key"].split("_", 2)[2] not in json.dumps(stored.to_dict(), default=str)
    listed = platform.api("GET", "/api/keys/?limit=200").json()["keys"]
    [entry] = [k for k in listed if k["id"] == made["id"]]
    assert entry["prefix"] == f"mk_{made['id']}" and "hash" not in entry and "key" not in entry
    assert made["key"] not in json.dumps(listed)


def test_each_kind_of_change_is_audited_with_the_right_diff_and_no_secret(
    platform: Platform,
) -> None:
    editor = make_key(platform, "editor", "e2e editor")
    as_editor = editor["key"]
    created = platform.api(
        "POST", "/api/integrations/", doc(platform, "Audited", SECRET_VALUE), token=as_editor
    ).json()
    iid = created["id"]
    replacement = doc(platform, "Audited v2", SECRET_VALUE + "-2")
    reply = platform.api("PUT", f"/api/integrations/{iid}/", replacement, token=as_editor)
    assert reply.status_code == 200, reply.text
    assert platform.api("POST", f"/api/integrations/{iid}/toggle_active/", token=as_editor).ok
    assert platform.api("POST", f"/api/integrations/{iid}/toggle_active/", token=as_editor).ok
    run_id = platform.send(created, {"id": 1})
    platform.wait(run_id)
    assert platform.api("POST", f"/api/runs/{run_id}/replay/", token=as_editor).status_code == 202
    assert platform.api("DELETE", f"/api/integrations/{iid}/", token=as_editor).status_code == 204

    page = platform.api("GET", f"/api/audit/?integration_id={iid}").json()
    actions = [e["action"] for e in page["entries"]]
    assert actions == [
        "integration.delete",
        "run.replay",
        "integration.toggle",
        "integration.toggle",
        "integration.replace",
        "integration.create",
    ]
    by_action = {e["action"]: e for e in page["entries"]}  # the oldest of each
    for entry in page["entries"]:
        assert entry["actor"] == {"keyId": editor["id"], "name": "e2e editor", "role": "editor"}
        assert entry["integrationId"] == iid
    replace = by_action["integration.replace"]
    assert replace["route"] == "PUT /api/integrations/{id}/"
    renamed = {"path": "name", "op": "change", "old": "Audited", "new": "Audited v2"}
    assert renamed in replace["diff"]
    assert {"path": "version", "op": "change", "old": 1, "new": 2} in replace["diff"]
    assert {
        "path": "target.auth.token", "op": "change", "old": "[SECRET]", "new": "[SECRET]"
    } in replace["diff"]
    assert sorted(by_action["integration.toggle"]["diff"], key=lambda c: c["path"]) == [
        {"path": "active", "op": "change", "old": True, "new": False},
        {"path": "version", "op": "change", "old": 2, "new": 3},
    ]
    create = by_action["integration.create"]
    assert {(c["path"], c["op"]) for c in create["diff"]} >= {("name", "add"), ("target", "add")}
    [target] = [c["new"] for c in create["diff"] if c["path"] == "target"]
    assert target["auth"] == {"type": "bearer", "token": "[SECRET]"}
    assert {c["op"] for c in by_action["integration.delete"]["diff"]} == {"remove"}
    assert by_action["run.replay"]["target"] == {"type": "run", "id": run_id}
    text = json.dumps(page)
    assert SECRET_VALUE not in text and "mapper-" not in text  # neither value nor reference

    # Stored with its TTL field, and without a secret there either.
    db = firestore.Client(project="demo-e2e")
    stored = db.collection("auditLog").document(replace["id"]).get().to_dict()
    assert stored["expireAt"] is not None and SECRET_VALUE not in json.dumps(stored, default=str)

    # Filters and paging: by key, by time, one at a time.
    mine = platform.api("GET", f"/api/audit/?key_id={editor['id']}&limit=1").json()
    assert len(mine["entries"]) == 1 and mine["nextCursor"]
    seen = [mine["entries"][0]["id"]]
    cursor = mine["nextCursor"]
    while cursor:
        more = platform.api("GET", f"/api/audit/?key_id={editor['id']}&limit=2&cursor={cursor}")
        seen += [e["id"] for e in more.json()["entries"]]
        cursor = more.json()["nextCursor"]
    assert seen == [e["id"] for e in page["entries"]]
    since = page["entries"][0]["at"]
    newest = platform.api("GET", f"/api/audit/?integration_id={iid}&since={since}").json()
    assert [e["action"] for e in newest["entries"]] == ["integration.delete"]
    before = platform.api("GET", f"/api/audit/?integration_id={iid}&until={since}").json()
    assert len(before["entries"]) == 5


def test_key_creation_and_revocation_are_audited_without_the_key(platform: Platform) -> None:
    made = make_key(platform, "viewer", "short-lived")
    assert platform.api("DELETE", f"/api/keys/{made['id']}/").status_code == 204
    entries = platform.api("GET", "/api/audit/?limit=200").json()["entries"]
    mine = [e for e in entries if e["target"] == {"type": "key", "id": made["id"]}]
    assert [e["action"] for e in mine] == ["key.revoke", "key.create"]
    assert {"path": "role", "op": "add", "old": None, "new": "viewer"} in mine[1]["diff"]
    assert {"path": "name", "op": "remove", "old": "short-lived", "new": None} in mine[0]["diff"]
    assert mine[0]["actor"]["name"] == "bootstrap admin token"
    assert made["key"] not in json.dumps(entries)


def test_viewers_cannot_read_the_audit_log_or_keys(platform: Platform) -> None:
    viewer = make_key(platform, "viewer")["key"]
    for path in ("/api/audit/", "/api/keys/"):
        reply = platform.api("GET", path, token=viewer)
        assert reply.status_code == 403 and reply.json()["error"].endswith("needs role admin")


def test_failed_sign_ins_are_limited_per_address(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Made first: other tests' wrong tokens from 127.0.0.1 count against the lowered limit.
    key = make_key(platform, "viewer")["key"]
    # The platform runs with a high limit (conftest); this instance's limiter, lowered here.
    monkeypatch.setattr(services.access().limiter, "limit", 3)
    guess = {"Authorization": "Bearer mk_0123456789abcdef_" + "A" * 43,
             "X-Forwarded-For": "203.0.113.99"}
    answers = [
        requests.get(platform.url + "/api/runs/", headers=guess, timeout=10).status_code
        for _ in range(4)
    ]
    assert answers == [401, 401, 401, 429]
    limited = requests.get(platform.url + "/api/runs/", timeout=10, headers={
        "Authorization": f"Bearer {ADMIN_TOKEN}", "X-Forwarded-For": "203.0.113.99",
    })
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    # A valid API key behind the same (shared) address is not locked out.
    valid = requests.get(platform.url + "/api/runs/", timeout=10, headers={
        "Authorization": f"Bearer {key}", "X-Forwarded-For": "203.0.113.99",
    })
    assert valid.status_code == 200, valid.text
