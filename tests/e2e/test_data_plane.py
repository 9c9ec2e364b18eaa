"""The data plane through the running functions: webhook in, HTTP and email out, runs recorded."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import time
from typing import Any

import pytest
import requests

from .conftest import MAX_BODY, SINK_HOST, Platform

TOKEN = "tok_live_5ecret_value_123"


def http_integration(platform: Platform, path: str, **extra: Any) -> dict[str, Any]:
    doc = {
        "name": "orders",
        "source": {"type": "webhook"},
        "mappings": [
            {"source": "order.id", "target": "id"},
            {"source": "order.email", "target": "email", "transforms": [{"type": "lowercase"}]},
        ],
        "target": {
            "type": "http",
            "url": platform.sink.url + path,
            "method": "PUT",
            "headers": {"X-Team": "payments"},
            "auth": {"type": "bearer", "token": TOKEN},
            "timeoutSeconds": 5,
        },
    }
    doc.update(extra)
    return platform.create(doc)


def post(
    platform: Platform, integration: dict[str, Any], body: Any, **headers: str
) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(
        f"{platform.url}/webhook/{integration['webhookPath']}/",
        data=data,
        headers={"Content-Type": "application/json", **headers},
        timeout=30,
    )


def test_webhook_is_mapped_and_delivered_with_auth_and_headers(platform: Platform) -> None:
    integration = http_integration(platform, "/orders")
    reply = post(platform, integration, {"order": {"id": 7, "email": "Ada@Example.COM"}})
    assert reply.status_code == 202
    assert reply.json()["status"] == "queued"
    run = platform.wait(reply.json()["runId"])
    assert run["status"] == "success", run.get("errorMessage")
    assert run["attempts"] == 1
    [request] = platform.sink.received("/orders")
    assert request["method"] == "PUT"
    assert json.loads(request["body"]) == {"id": 7, "email": "ada@example.com"}
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert request["headers"]["X-Team"] == "payments"
    assert run["transformedPayload"] == {"id": 7, "email": "ada@example.com"}
    assert run["outgoingResponse"]["status"] == 200
    assert run["outgoingRequest"]["headers"]["Authorization"] == "[REDACTED]"
    assert TOKEN not in json.dumps(run)
    assert TOKEN not in json.dumps(platform.integrations.get(integration["id"]))


def test_email_arrives_with_templated_recipient_and_subject(platform: Platform) -> None:
    integration = platform.create(
        {
            "name": "alerts",
            "source": {"type": "webhook"},
            "mappings": [
                {"source": "alert.owner", "target": "to"},
                {"source": "alert.title", "target": "title"},
            ],
            "target": {
                "type": "email",
                "smtpServer": SINK_HOST,
                "smtpPort": platform.smtp_port,
                "fromEmail": "mapper@example.com",
                "toEmail": "{{to}}",
                "subject": "[{{severity}}] {{title}}",
                "useTLS": False,
            },
        }
    )
    reply = post(
        platform,
        integration,
        {"severity": "critical", "alert": {"owner": "ops@example.com", "title": "Disk full"}},
    )
    run = platform.wait(reply.json()["runId"])
    assert run["status"] == "success", run.get("errorMessage")
    mail = next(m for m in platform.inbox.messages if "Disk full" in m.content.decode())
    assert mail.rcpt_tos == ["ops@example.com"]
    assert "Subject: [critical] Disk full" in mail.content.decode()


def test_falsy_condition_is_skipped_and_sends_nothing(platform: Platform) -> None:
    integration = http_integration(platform, "/skipped", condition="data.order.total > 100")
    run = platform.wait(
        post(platform, integration, {"order": {"id": 1, "total": 5}}).json()["runId"]
    )
    assert run["status"] == "skipped"
    assert platform.sink.received("/skipped") == []


def test_target_failing_twice_then_accepting_is_delivered_once_with_three_attempts(
    platform: Platform,
) -> None:
    platform.sink.on("/flaky", 500, 500, 200)
    integration = http_integration(platform, "/flaky")
    run = platform.wait(post(platform, integration, {"order": {"id": 2}}).json()["runId"])
    assert run["status"] == "success", run.get("errorMessage")
    assert run["attempts"] == 3
    assert [r for r in platform.sink.received("/flaky")].__len__() == 3
    assert run["outgoingResponse"]["status"] == 200


def test_target_that_always_fails_is_dead_lettered_with_its_last_error(platform: Platform) -> None:
    platform.sink.on("/down", 503)
    integration = http_integration(platform, "/down")
    run = platform.wait(
        post(platform, integration, {"order": {"id": 3}}).json()["runId"],
        statuses=("dead_lettered", "success", "error"),
        timeout=120,
    )
    assert run["status"] == "dead_lettered"
    assert "503" in run["errorMessage"]
    assert run["attempts"] == 5


def test_permanent_target_failure_is_an_error_not_retried(platform: Platform) -> None:
    platform.sink.on("/gone", 404)
    integration = http_integration(platform, "/gone")
    run = platform.wait(post(platform, integration, {"order": {"id": 4}}).json()["runId"])
    assert run["status"] == "error" and "404" in run["errorMessage"]
    assert run["attempts"] == 1


def test_same_idempotency_key_twice_sends_once(platform: Platform) -> None:
    integration = http_integration(platform, "/once")
    first = post(platform, integration, {"order": {"id": 5}}, **{"Idempotency-Key": "evt-42"})
    platform.wait(first.json()["runId"])
    second = post(platform, integration, {"order": {"id": 5}}, **{"Idempotency-Key": "evt-42"})
    assert second.status_code == 202 and second.json()["runId"] == first.json()["runId"]
    platform.wait(first.json()["runId"])
    assert len(platform.sink.received("/once")) == 1


def test_non_json_body_is_400_and_recorded_with_its_raw_body(platform: Platform) -> None:
    integration = http_integration(platform, "/never")
    reply = post(platform, integration, b"order=7&not=json")
    assert reply.status_code == 400
    assert reply.json()["code"] == "invalid_json"
    runs, _ = platform.runs.list(integration_id=integration["id"])
    assert runs[0]["status"] == "error"
    assert runs[0]["incomingPayload"]["raw"] == "order=7&not=json"


def test_oversized_body_is_413_and_recorded(platform: Platform) -> None:
    integration = http_integration(platform, "/never")
    reply = post(platform, integration, json.dumps({"blob": "x" * MAX_BODY}))
    assert reply.status_code == 413
    runs, _ = platform.runs.list(integration_id=integration["id"])
    assert runs[0]["status"] == "error" and "limit" in runs[0]["errorMessage"]


def test_unknown_path_is_404_with_no_hint(platform: Platform) -> None:
    a = requests.post(f"{platform.url}/webhook/nope/", data="{}", timeout=10)
    b = requests.post(f"{platform.url}/webhook/also-nope", data="{}", timeout=10)
    assert a.status_code == b.status_code == 404
    assert a.json() == b.json()


def test_inactive_integration_is_503_with_retry_after(platform: Platform) -> None:
    integration = http_integration(platform, "/paused", active=False)
    reply = post(platform, integration, {"order": {"id": 6}})
    assert reply.status_code == 503
    assert reply.headers["Retry-After"]
    assert platform.sink.received("/paused") == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/computeMetadata/v1/",
        "http://10.0.0.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://localhost/",
        "http://metadata.google.internal/",
    ],
)
def test_private_and_metadata_targets_are_refused(platform: Platform, url: str) -> None:
    integration = http_integration(platform, "/x")
    stored = platform.integrations.get(integration["id"])
    stored["target"]["url"] = url
    platform.integrations.replace(integration["id"], stored)
    run = platform.wait(post(platform, integration, {"order": {"id": 8}}).json()["runId"])
    assert run["status"] == "error"
    assert "refused" in run["errorMessage"] or "blocked" in run["errorMessage"]
    assert run["attempts"] == 1


def test_header_injection_in_subject_is_refused_and_nothing_sent(platform: Platform) -> None:
    before = len(platform.inbox.messages)
    integration = platform.create(
        {
            "name": "inject",
            "source": {"type": "webhook"},
            "target": {
                "type": "email",
                "smtpServer": SINK_HOST,
                "smtpPort": platform.smtp_port,
                "fromEmail": "mapper@example.com",
                "toEmail": "ops@example.com",
                "subject": "Hello {{title}}",
                "useTLS": False,
            },
        }
    )
    run = platform.wait(
        post(platform, integration, {"title": "x\r\nBcc: victim@example.com"}).json()["runId"]
    )
    assert run["status"] == "error"
    assert len(platform.inbox.messages) == before


def test_github_signature_verifies_and_a_tampered_body_does_not(platform: Platform) -> None:
    secret = "It's a Secret to Everybody"
    integration = http_integration(
        platform,
        "/signed",
        source={
            "type": "webhook",
            "signature": {
                "scheme": "hmac-sha256",
                "secret": secret,
                "header": "X-Hub-Signature-256",
            },
        },
    )
    body = b'{"order": {"id": 9}}'
    good = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert post(platform, integration, body, **{"X-Hub-Signature-256": good}).status_code == 202
    tampered = post(
        platform, integration, b'{"order": {"id": 10}}', **{"X-Hub-Signature-256": good}
    )
    assert tampered.status_code == 401
    assert post(platform, integration, body).status_code == 401
    runs, _ = platform.runs.list(integration_id=integration["id"])
    # Refusals are counted in one marker on the integration, never kept as runs.
    assert [r["status"] for r in runs if r["status"] == "error"] == []
    shown = platform.api("GET", f"/api/integrations/{integration['id']}/").json()
    failures = shown["signatureFailures"]
    assert failures["count"] == 2 and "signature" in failures["reason"]
    assert failures["firstSeenAt"] <= failures["lastSeenAt"]


def test_no_secret_value_in_any_run_or_log_line(
    platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    integration = http_integration(platform, "/audit")
    platform.sink.on("/audit", 500, 200)
    run = platform.wait(post(platform, integration, {"order": {"id": 11}}).json()["runId"])
    assert run["status"] == "success"
    everything = json.dumps(platform.runs.list(limit=200)[0])
    assert TOKEN not in everything
    assert TOKEN not in caplog.text


# --- retries the platform counts ----------------------------------------------------------

ENDED = ("dead_lettered", "success", "error")


def wait_ticking(
    platform: Platform, run_id: str, timeout: float = 120, tick: float = 1
) -> dict[str, Any]:
    """Wait for the run to end, sweeping every `tick` s as the scheduled pull function does."""
    return platform.wait(run_id, ENDED, timeout=timeout, sweep_every=tick)


def test_always_failing_events_are_all_dead_lettered_in_time(platform: Platform) -> None:
    # Three at once, the platform's own policy (5 attempts locally), the tick of `make dev`
    # (60 s): each is dead-lettered by its own count, however the queue redelivers.
    platform.sink.on("/failing", 500)
    integration = http_integration(platform, "/failing")
    run_ids = [post(platform, integration, {"order": {"id": 40 + n}}).json()["runId"]
               for n in range(3)]
    started = time.monotonic()
    runs = [wait_ticking(platform, run_id, timeout=240 - (time.monotonic() - started), tick=60)
            for run_id in run_ids]
    assert [(r["status"], r["attempts"]) for r in runs] == [("dead_lettered", 5)] * 3
    assert len(platform.sink.received("/failing")) == 15


def test_the_platform_counts_attempts_whatever_the_queue_says(platform: Platform) -> None:
    # The queue would deliver the message 5 times (its dead-letter policy); the integration
    # allows 3 attempts, and the worker ends the run after the third by itself.
    platform.sink.on("/three", 503)
    retry = {"maxAttempts": 3, "initialBackoffSeconds": 1, "maxBackoffSeconds": 1}
    integration = http_integration(platform, "/three", retry=retry)
    run_id = post(platform, integration, {"order": {"id": 30}}).json()["runId"]
    run = wait_ticking(platform, run_id, timeout=120)  # the emulator may stall a message
    assert run["status"] == "dead_lettered", run
    assert run["attempts"] == 3 and run.get("nextAttemptAt") is None
    assert run["errorMessage"].startswith("gave up after 3 attempts: ")
    time.sleep(4)  # nothing more arrives: no copy of the message sends again
    assert len(platform.sink.received("/three")) == 3


def test_retries_keep_their_schedule_and_count_across_republished_messages(
    platform: Platform,
) -> None:
    # The queue redelivers after 1-2 s, before each next attempt (4 s): those deliveries are
    # sent back uncounted, so the queue's own count reaches its maximum and its dead letter
    # hands the run back, and the reconciler publishes it again when due. Each copy starts
    # the queue's count at 1; the run's goes on to its 4 attempts, 4 s apart.
    platform.sink.on("/paced", 503)
    retry = {"maxAttempts": 4, "initialBackoffSeconds": 4, "maxBackoffSeconds": 4}
    integration = http_integration(platform, "/paced", retry=retry)
    run_id = post(platform, integration, {"order": {"id": 31}}).json()["runId"]
    run = wait_ticking(platform, run_id, timeout=180)
    assert run["status"] == "dead_lettered", run
    assert run["attempts"] == 4
    received = platform.sink.received("/paced")
    assert len(received) == 4
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(received)]
    assert min(gaps) >= 3.9, gaps  # never before nextAttemptAt
    assert {r["headers"]["Idempotency-Key"] for r in received} == {run_id}


def test_retry_after_is_waited_for(platform: Platform) -> None:
    platform.sink.on("/busy", 429, 200, headers={"Retry-After": "3"})
    retry = {"initialBackoffSeconds": 1, "maxBackoffSeconds": 10}
    integration = http_integration(platform, "/busy", retry=retry)
    run_id = post(platform, integration, {"order": {"id": 32}}).json()["runId"]
    run = wait_ticking(platform, run_id, timeout=120)
    assert run["status"] == "success" and run["attempts"] == 2
    first, second = platform.sink.received("/busy")
    assert second["at"] - first["at"] >= 2.9  # Retry-After, not the 1 s backoff


def test_a_renamed_mapped_field_shows_as_missing_drift_in_the_source_schema(
    platform: Platform,
) -> None:
    integration = http_integration(platform, "/drift")
    for n in range(25):  # the sender renames order.email (which a mapping reads) after 5
        order = {"id": n, "email": "a@x.test"} if n < 5 else {"id": n, "mail": "a@x.test"}
        assert post(platform, integration, {"order": order}).status_code == 202
    # The intake merges its sample at most every 10 s (its first payload at once): one more
    # payload after that makes it write the other 24 and this one.
    time.sleep(10.5)
    assert post(platform, integration, {"order": {"id": 25, "mail": "a@x.test"}}).status_code == 202
    reply = platform.api("GET", f"/api/integrations/{integration['id']}/source_schema/")
    assert reply.status_code == 200, reply.text
    shape = reply.json()
    assert shape["payloads"] == 26
    paths = {p["path"]: p["types"] for p in shape["paths"]}
    assert paths == {"order": ["object"], "order.email": ["string"], "order.id": ["number"],
                     "order.mail": ["string"]}
    assert [(d["path"], d["kind"], d["mapped"]) for d in shape["drift"]] == [
        ("order.email", "missing", True)
    ]


def test_same_dedupe_values_twice_run_once_and_the_second_names_the_first(
    platform: Platform,
) -> None:
    integration = http_integration(
        platform, "/dedupe",
        source={"type": "webhook", "dedupe": {"paths": ["data.id"], "windowSeconds": 3600}},
    )
    event = {"data": {"id": "evt_1"}, "order": {}}
    first = post(platform, integration, event, **{"webhook-id": "delivery-1"})
    second = post(platform, integration, event, **{"webhook-id": "delivery-2"})
    assert first.status_code == 202 and first.json()["status"] == "queued"
    assert second.status_code == 202
    assert second.json() == {"status": "duplicate", "runId": first.json()["runId"]}
    assert platform.wait(first.json()["runId"])["status"] == "success"
    time.sleep(1)  # nothing else arrives
    assert len(platform.sink.received("/dedupe")) == 1
    runs, _ = platform.runs.list(integration_id=integration["id"])
    assert [r["id"] for r in runs] == [first.json()["runId"]]
