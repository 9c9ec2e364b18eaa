"""The management API through the running api function, against the emulators."""

from __future__ import annotations

import json
import logging
import math
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from local.emulators import free_port

from .conftest import ADMIN_TOKEN, API_MAX_BODY, SINK_HOST, SITE_URL, Platform

TOKEN = "tok_api_s3cret_" + uuid.uuid4().hex
ROUTES = [
    ("GET", "/api/integrations/"),
    ("POST", "/api/integrations/"),
    ("GET", "/api/integrations/x/"),
    ("PUT", "/api/integrations/x/"),
    ("DELETE", "/api/integrations/x/"),
    ("POST", "/api/integrations/x/toggle_active/"),
    ("POST", "/api/integrations/x/preview/"),
    ("POST", "/api/integrations/x/test/"),
    ("GET", "/api/integrations/x/stats/"),
    ("GET", "/api/integrations/x/source_schema/"),
    ("POST", "/api/integrations/x/validate/"),
    ("POST", "/api/preview/"),
    ("POST", "/api/validate/"),
    ("GET", "/api/runs/"),
    ("GET", "/api/runs/x/"),
    ("POST", "/api/runs/x/replay/"),
    ("GET", "/api/no-such-route/"),
]


def orders_doc(platform: Platform, **extra: Any) -> dict[str, Any]:
    doc = {
        "name": "Orders to fulfilment",
        "source": {"type": "webhook"},
        "condition": "data.status === 'paid'",
        "mappings": [
            {"source": "id", "target": "orderId"},
            {"source": "customer.email", "target": "email", "transforms": [{"type": "lowercase"}]},
            {
                "source": "customer.name",
                "target": "name",
                "transforms": [{"type": "custom", "code": "return value.toUpperCase()"}],
            },
        ],
        "target": {
            "type": "http",
            "url": f"{platform.sink.url}/fulfil",
            "method": "POST",
            "auth": {"type": "bearer", "token": TOKEN},
        },
    }
    doc.update(extra)
    return doc


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_refuses_a_missing_or_wrong_token(
    platform: Platform, method: str, path: str
) -> None:
    for token in (None, "wrong", ""):
        reply = platform.api(method, path, {"name": "x"}, token=token)
        assert reply.status_code == 401, (method, path, token, reply.text)
        assert reply.json() == {"error": "a valid bearer token is required", "code": "unauthorized"}
        assert reply.headers["WWW-Authenticate"] == "Bearer"
    basic = requests.request(method, platform.url + path, auth=("admin", "x"), timeout=10)
    assert basic.status_code == 401


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_answers_with_the_token(platform: Platform, method: str, path: str) -> None:
    reply = platform.api(method, path, {})
    # Unknown ids and empty bodies: a clear 4xx, never 401 and never a server error.
    assert reply.status_code in (200, 400, 404), (method, path, reply.text)
    assert set(reply.json()) >= {"error", "code"} or reply.status_code == 200


def test_openapi_document_is_public_and_describes_every_route(platform: Platform) -> None:
    reply = requests.get(platform.url + "/api/openapi.json", timeout=10)
    assert reply.status_code == 200
    document = reply.json()
    assert document["openapi"] == "3.1.0"
    described = {
        (m.upper(), p) for p, item in document["paths"].items() for m in item if m != "parameters"
    }
    for method, path in ROUTES[:-1]:
        assert (method, path.replace("/x/", "/{id}/")) in described
    assert "Integration" in document["components"]["schemas"]


def test_create_read_and_deliver_without_ever_showing_the_secret(platform: Platform) -> None:
    created = platform.add(orders_doc(platform))
    path = created["webhookPath"]
    assert len(path) >= 22 and path.replace("-", "").replace("_", "").isalnum()  # >= 128 bits
    assert created["webhookUrl"] == f"{SITE_URL}/webhook/{path}/"
    assert created["version"] == 1 and created["active"] is True
    secret = created["target"]["auth"]["token"]
    assert secret["set"] is True and "/mapper-" in secret["secret"]
    read = platform.api("GET", f"/api/integrations/{created['id']}/")
    assert read.json() == created
    listed = platform.api("GET", "/api/integrations/?limit=200").json()["integrations"]
    assert created in listed

    run_id = platform.send(
        created,
        {"id": 9, "status": "paid", "customer": {"email": "A@B.C", "name": "ada"}},
    )
    run = platform.wait(run_id)
    assert run["status"] == "success", run
    [request] = platform.sink.received("/fulfil")
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request["body"]) == {"orderId": 9, "email": "a@b.c", "name": "ADA"}
    shown_run = platform.api("GET", f"/api/runs/{run_id}/")
    assert shown_run.status_code == 200
    for text in (read.text, json.dumps(listed), shown_run.text):
        assert TOKEN not in text
    assert TOKEN not in json.dumps(platform.integrations.get(created["id"]))
    assert TOKEN in platform.secrets_file.read_text()  # kept in the secret backend only


def test_validation_lists_every_problem_with_its_path(platform: Platform) -> None:
    doc = orders_doc(platform)
    doc["mappings"][0]["transforms"] = [{"type": "shout"}]
    doc["mappings"][1]["target"] = "a..b"
    doc["mappings"][2]["transforms"][0]["code"] = "return value.("
    doc["target"].pop("url")
    doc["colour"] = "blue"
    reply = platform.api("POST", "/api/integrations/", doc)
    assert reply.status_code == 400
    body = reply.json()
    assert body["code"] == "invalid"
    paths = {p["path"] for p in body["problems"]}
    assert {"mappings[0].transforms[0]", "target.url", "colour"} <= paths
    assert all(p["message"] for p in body["problems"])
    # The second round (paths and JavaScript) once the types are right.
    doc = orders_doc(platform)
    doc["mappings"][1]["target"] = "a..b"
    doc["mappings"][2]["transforms"][0]["code"] = "return value.("
    problems = platform.api("POST", "/api/validate/", {"integration": doc}).json()
    assert problems["valid"] is False
    paths = {p["path"] for p in problems["problems"]}
    assert paths == {"integration.mappings[1].target", "integration.mappings[2].transforms[0].code"}


def test_bad_bodies_are_400_413_and_unknown_fields_are_named(platform: Platform) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    broken = requests.post(
        platform.url + "/api/integrations/", data="{not json", headers=headers, timeout=10
    )
    assert broken.status_code == 400 and broken.json()["code"] == "invalid_json"
    huge = {"name": "x" * (API_MAX_BODY + 10)}
    assert platform.api("POST", "/api/integrations/", huge).status_code == 413
    extra = platform.api(
        "POST", "/api/preview/", {"integration": orders_doc(platform), "payload": {}, "mode": 1}
    )
    assert extra.status_code == 400
    assert [p["path"] for p in extra.json()["problems"]] == ["mode"]


def test_replace_keeps_secrets_unless_replaced_and_refuses_stale_versions(
    platform: Platform,
) -> None:
    created = platform.add(orders_doc(platform, name="v1"))
    old_ref = created["target"]["auth"]["token"]["secret"]
    edited = {**created, "name": "v2"}
    replaced = platform.api("PUT", f"/api/integrations/{created['id']}/", edited)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["version"] == 2
    assert replaced.json()["target"]["auth"]["token"]["secret"] == old_ref
    assert replaced.json()["webhookPath"] == created["webhookPath"]
    stale = platform.api("PUT", f"/api/integrations/{created['id']}/", edited)
    assert stale.status_code == 409
    new_token = "tok_rotated_" + uuid.uuid4().hex
    rotated = {
        **replaced.json(),
        "target": {**created["target"], "auth": {"type": "bearer", "token": new_token}},
    }
    after = platform.api("PUT", f"/api/integrations/{created['id']}/", rotated).json()
    assert after["target"]["auth"]["token"]["secret"] != old_ref
    stored = platform.secrets_file.read_text()
    assert new_token in stored and old_ref.split("/")[-1] not in stored  # the old one is deleted
    other = platform.add(orders_doc(platform, name="thief"))
    stolen = {
        **other,
        "target": {
            **other["target"],
            "auth": {
                "type": "bearer",
                "token": {"secret": after["target"]["auth"]["token"]["secret"]},
            },
        },
    }
    refused = platform.api("PUT", f"/api/integrations/{other['id']}/", stolen)
    assert refused.status_code == 400
    assert refused.json()["problems"][0]["path"] == "target.auth.token"


def test_toggle_pauses_the_webhook_and_delete_removes_everything(platform: Platform) -> None:
    created = platform.add(orders_doc(platform))
    url = platform.url + created["webhookUrl"].removeprefix(SITE_URL)
    paused = platform.api("POST", f"/api/integrations/{created['id']}/toggle_active/")
    assert paused.status_code == 200 and paused.json()["active"] is False
    assert requests.post(url, json={}, timeout=10).status_code == 503
    resumed = platform.api("POST", f"/api/integrations/{created['id']}/toggle_active/")
    assert resumed.json()["active"] is True
    ref = created["target"]["auth"]["token"]["secret"]
    assert platform.api("DELETE", f"/api/integrations/{created['id']}/").status_code == 204
    assert platform.api("GET", f"/api/integrations/{created['id']}/").status_code == 404
    assert platform.api("DELETE", f"/api/integrations/{created['id']}/").status_code == 404
    assert requests.post(url, json={}, timeout=10).status_code == 404
    assert ref.split("/")[-1] not in platform.secrets_file.read_text()


def test_preview_saved_and_unsaved_and_errors_at_their_mapping(platform: Platform) -> None:
    created = platform.add(orders_doc(platform))
    payload = {"id": 1, "status": "paid", "customer": {"email": "X@Y.Z", "name": "bo"}}
    saved = platform.api(
        "POST", f"/api/integrations/{created['id']}/preview/", {"payload": payload}
    )
    assert saved.status_code == 200
    assert saved.json()["output"] == {"orderId": 1, "email": "x@y.z", "name": "BO"}
    assert saved.json()["skipped"] is False and saved.json()["timings"]["transformMs"] >= 0
    skipped = platform.api(
        "POST", f"/api/integrations/{created['id']}/preview/", {"payload": {"status": "new"}}
    ).json()
    assert skipped["skipped"] is True and skipped["output"] is None
    doc = orders_doc(platform)
    doc["mappings"][2]["transforms"][0]["code"] = "return value.nope.deeper"
    failed = platform.api("POST", "/api/preview/", {"integration": doc, "payload": payload})
    assert failed.status_code == 422
    assert failed.json()["path"] == "mappings[2].transforms[0]"
    assert "deeper" in failed.json()["error"]
    assert not platform.sink.received("/fulfil-preview")
    # Only the mapping matters to a preview: no name, source or target needed.
    partial = {"mappings": [{"source": "a.b", "target": "x"}]}
    asked = {"integration": partial, "payload": {"a": {"b": 2}}}
    mapped = platform.api("POST", "/api/preview/", asked)
    assert mapped.status_code == 200 and mapped.json()["output"] == {"x": 2}
    # What is given is still checked.
    invalid = platform.api(
        "POST",
        "/api/preview/",
        {"integration": {"name": "", "target": {"type": "ftp"}, "mappings": 1}, "payload": {}},
    )
    assert invalid.status_code == 400
    paths = {p["path"] for p in invalid.json()["problems"]}
    assert "integration.mappings" in paths and "integration.name" not in paths
    assert any(path.startswith("integration.target") for path in paths)


def test_validate_can_check_that_the_target_is_reachable(platform: Platform) -> None:
    closed = orders_doc(platform)
    closed["target"]["url"] = f"http://{SINK_HOST}:{free_port()}/x"
    result = platform.api("POST", "/api/validate/", {"integration": closed, "checkTarget": True})
    assert result.json()["valid"] is False
    [problem] = result.json()["problems"]
    assert problem["path"] == "integration.target.url" and "cannot connect" in problem["message"]
    private = orders_doc(platform)
    private["target"]["url"] = "http://10.1.2.3/x"
    [blocked] = platform.api(
        "POST", "/api/validate/", {"integration": private, "checkTarget": True}
    ).json()["problems"]
    assert "not allowlisted" in blocked["message"]
    created = platform.add(orders_doc(platform))
    ok = platform.api("POST", f"/api/integrations/{created['id']}/validate/", {"checkTarget": True})
    assert ok.json() == {"valid": True, "problems": []}


def test_the_email_reachability_check_speaks_the_tls_of_the_send(platform: Platform) -> None:
    # The platform's SMTP sink speaks plain SMTP, as the local mail catcher does.
    doc = orders_doc(platform)
    doc["target"] = {
        "type": "email",
        "smtpServer": SINK_HOST,
        "smtpPort": platform.smtp_port,
        "fromEmail": "mapper@example.com",
        "toEmail": "ops@example.com",
    }
    asked = {"integration": doc, "checkTarget": True}
    [problem] = platform.api("POST", "/api/validate/", asked).json()["problems"]
    assert problem["path"] == "integration.target.useTLS"
    assert "does not offer STARTTLS, which useTLS asks for" in problem["message"]
    doc["target"]["useTLS"] = False
    assert platform.api("POST", "/api/validate/", asked).json() == {"valid": True, "problems": []}
    doc["target"]["smtpPort"] = free_port()
    [closed] = platform.api("POST", "/api/validate/", asked).json()["problems"]
    assert closed["path"] == "integration.target.smtpServer"


def test_pagination_over_250_runs_returns_each_exactly_once(platform: Platform) -> None:
    integration_id = "paged-" + uuid.uuid4().hex[:8]
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    expected = set()
    for i in range(250):
        run_id = f"{integration_id}.{i:03d}"
        expected.add(run_id)
        # Ten runs share each timestamp, so the order must break ties by id.
        created_at = (base + timedelta(seconds=i // 10)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        platform.runs._collection.document(run_id).set(
            {
                "id": run_id,
                "integrationId": integration_id,
                "sourceKind": "webhook",
                "status": "success" if i % 2 else "error",
                "createdAt": created_at,
                "updatedAt": created_at,
            }
        )
    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        reply = platform.api(
            "GET", f"/api/runs/?integration_id={integration_id}&limit=37&cursor={cursor}"
        )
        assert reply.status_code == 200, reply.text
        body = reply.json()
        seen += [run["id"] for run in body["runs"]]
        pages += 1
        if not body["nextCursor"]:
            break
        cursor = body["nextCursor"]
    assert len(seen) == len(set(seen)) == 250 and set(seen) == expected
    assert pages == math.ceil(250 / 37)
    created = [platform.runs.get(run_id)["createdAt"] for run_id in seen[:20]]
    assert created == sorted(created, reverse=True)
    errors = platform.api(
        "GET", f"/api/runs/?integration_id={integration_id}&status=error&limit=200"
    ).json()
    assert len(errors["runs"]) == 125 and all(r["status"] == "error" for r in errors["runs"])
    window = platform.api(
        "GET",
        f"/api/runs/?integration_id={integration_id}&since=2026-01-01T00:00:05Z&until=2026-01-01T00:00:07Z",
    ).json()
    assert sorted(r["id"] for r in window["runs"]) == [
        f"{integration_id}.{i:03d}" for i in range(50, 70)
    ]
    bad = platform.api("GET", "/api/runs/?since=yesterday")
    assert bad.status_code == 400 and "since" in bad.json()["error"]
    assert platform.api("GET", "/api/runs/?cursor=garbage").status_code == 400


def test_replay_creates_a_new_run_linked_to_the_original(platform: Platform) -> None:
    created = platform.add(
        orders_doc(platform, target={"type": "http", "url": f"{platform.sink.url}/replayed"}),
    )
    original = platform.send(
        created, {"id": 5, "status": "paid", "customer": {"email": "r@s.t", "name": "x"}}
    )
    assert platform.wait(original)["status"] == "success"
    reply = platform.api("POST", f"/api/runs/{original}/replay/")
    assert reply.status_code == 202
    body = reply.json()
    assert body["replayOf"] == original and body["runId"] != original
    replayed = platform.wait(body["runId"])
    assert replayed["status"] == "success"
    assert replayed["replayOf"] == original and replayed["sourceKind"] == "replay"
    assert len(platform.sink.received("/replayed")) == 2
    assert platform.api("POST", "/api/runs/no-such-run/replay/").status_code == 404
    raw = requests.post(
        platform.url + created["webhookUrl"].removeprefix(SITE_URL), data=b"<xml/>", timeout=10
    )
    refused_run = raw.json()["error"].rsplit(" ", 1)[-1]
    conflict = platform.api("POST", f"/api/runs/{refused_run}/replay/")
    assert conflict.status_code == 409 and "no JSON payload" in conflict.json()["error"]


def test_send_test_runs_the_sample_for_real_and_stats_count_it(platform: Platform) -> None:
    sample = {"id": 3, "status": "paid", "customer": {"email": "T@E.ST", "name": "tess"}}
    doc = orders_doc(platform, samplePayload=sample)
    doc["target"]["url"] = f"{platform.sink.url}/tested"
    created = platform.add(doc)
    reply = platform.api("POST", f"/api/integrations/{created['id']}/test/")
    assert reply.status_code == 202, reply.text
    run = platform.wait(reply.json()["runId"])
    assert run["status"] == "success" and run["sourceKind"] == "test"
    assert json.loads(platform.sink.received("/tested")[0]["body"])["email"] == "t@e.st"
    skipped = platform.api(
        "POST", f"/api/integrations/{created['id']}/test/", {"payload": {"status": "new"}}
    )
    assert platform.wait(skipped.json()["runId"])["status"] == "skipped"
    stats = platform.api("GET", f"/api/integrations/{created['id']}/stats/").json()
    assert (stats["total"], stats["success"], stats["skipped"], stats["error"]) == (2, 1, 1, 0)
    assert stats["lastRun"]["id"] == skipped.json()["runId"]
    later = platform.api("GET", f"/api/integrations/{created['id']}/stats/?since=2999-01-01")
    assert later.json()["total"] == 0
    assert later.json()["since"] == "2999-01-01T00:00:00.000000Z"
    bad = platform.api("GET", f"/api/integrations/{created['id']}/stats/?since=yesterday")
    assert bad.status_code == 400 and "since" in bad.json()["error"]
    assert run["expireAt"] > run["createdAt"]  # the TTL policy's field


def test_secrets_sent_to_the_api_never_reach_the_logs(
    platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "tok_logged_never_" + uuid.uuid4().hex
    doc = orders_doc(platform)
    doc["target"] = {
        "type": "http",
        "url": f"{platform.sink.url}/logs-audit",
        "auth": {"type": "bearer", "token": secret},
    }
    platform.sink.on("/logs-audit", 503, 200)  # a retry, so the worker logs more
    created = platform.add(doc)
    bad = platform.api("POST", "/api/integrations/", {**doc, "colour": secret})  # refused body
    assert bad.status_code == 400
    run_id = platform.send(created, {"id": 1, "status": "paid", "customer": {"name": "n"}})
    assert platform.wait(run_id)["status"] == "success"
    assert (
        platform.sink.received("/logs-audit")[-1]["headers"]["Authorization"] == f"Bearer {secret}"
    )
    assert "POST /api/integrations/" in caplog.text  # the log was captured at all
    assert secret not in caplog.text
