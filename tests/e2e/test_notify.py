"""Notifications on the running platform (emulators, the real worker and dead letter, the
sink as the ops receiver, aiosmtpd as the mail server): five runs dead-lettered within a
minute make one signed POST and one mail, and the next minute's carries the count; a renamed
source field is one `source.drift`, sent by the scheduled tick."""

from __future__ import annotations

import json
import time
from typing import Any

import requests
from standardwebhooks import Webhook

from .conftest import Platform
from .test_data_plane import wait_ticking

RETRY = {"maxAttempts": 2, "initialBackoffSeconds": 1, "maxBackoffSeconds": 1}


def _start_of_a_minute(margin: float = 40) -> None:
    """Wait until at least `margin` s of the current minute are left."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.5)


def _mails(platform: Platform, to: str) -> list[dict[str, Any]]:
    found = []
    for envelope in platform.inbox.messages:
        if to in envelope.rcpt_tos:
            text = envelope.content.decode("utf-8", errors="replace")
            found.append({"text": text})
    return found


def _events(platform: Platform, path: str) -> list[dict[str, Any]]:
    return [json.loads(r["body"]) for r in platform.sink.received(path)]


def _dead_letter(platform: Platform, integration: dict[str, Any], n: int) -> list[str]:
    path = integration["webhookUrl"].removeprefix("https://mapper.example.test")
    run_ids = []
    for i in range(n):
        reply = requests.post(platform.url + path, json={"order": i}, timeout=30)
        assert reply.status_code == 202, reply.text
        run_ids.append(reply.json()["runId"])
    for run_id in run_ids:
        assert wait_ticking(platform, run_id, timeout=50)["status"] == "dead_lettered"
    return run_ids


def test_dead_lettered_runs_notify_once_a_minute_signed_and_mailed(platform: Platform) -> None:
    platform.sink.on("/always-503", 503)
    email = "ops-notify@example.com"
    created = platform.add({
        "name": "always failing",
        "source": {"type": "webhook"},
        "target": {"type": "http", "url": platform.sink.url + "/always-503", "timeoutSeconds": 5},
        "retry": RETRY,
        "notify": {"url": platform.sink.url + "/ops", "email": email},
    })
    key = created["newNotifySecret"]
    assert created["notify"]["secret"]["set"] is True

    _start_of_a_minute()
    first_runs = _dead_letter(platform, created, 5)
    time.sleep(1)
    [first] = _events(platform, "/ops")
    assert first["type"] == "run.dead_lettered" and first["integrationId"] == created["id"]
    assert first["data"]["runId"] in first_runs and "count" not in first["data"]
    assert first["data"]["attempts"] == 2 and first["data"]["status"] == "dead_lettered"
    [request] = platform.sink.received("/ops")
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert Webhook(key).verify(request["body"], headers) == first
    [mail] = _mails(platform, email)
    assert "run.dead_lettered" in mail["text"]

    time.sleep(60 - time.time() % 60 + 0.5)  # the next minute
    [last_run] = _dead_letter(platform, created, 1)
    time.sleep(1)
    assert len(platform.sink.received("/ops")) == 2
    later = _events(platform, "/ops")[1]
    assert later["data"]["runId"] == last_run
    assert later["data"]["count"] == 5 and later["data"]["since"] == first["at"]
    assert len(_mails(platform, email)) == 2
    assert "\"count\": 5" in _mails(platform, email)[1]["text"]


def _tick(platform: Platform) -> dict[str, Any]:
    """The scheduled pull function's tick, as Cloud Scheduler calls it."""
    reply = requests.post(platform.url + "/_functions/pull", json={}, timeout=60)
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def test_a_renamed_source_field_is_one_source_drift_notification_naming_the_path(
    platform: Platform,
) -> None:
    email = "ops-drift@example.com"
    created = platform.add({
        "name": "renamed field",
        "source": {"type": "webhook"},
        "mappings": [{"source": "order.email", "target": "email"},
                     {"source": "order.id", "target": "id"}],
        "target": {"type": "http", "url": platform.sink.url + "/drift-target"},
        "notify": {"url": platform.sink.url + "/drift-ops", "email": email},
    })
    key = created["newNotifySecret"]
    for n in range(5):
        platform.send(created, {"order": {"id": n, "email": "a@example.com"}})
    for n in range(25):  # the sender renamed order.email to order.mail
        platform.send(created, {"order": {"id": n, "mail": "a@example.com"}})
    assert platform.sink.received("/drift-ops") == []  # accepting them notified nothing
    time.sleep(10.5)  # the intake merges its sample of the shape at most every 10 s
    platform.send(created, {"order": {"id": 99, "mail": "a@example.com"}})

    _tick(platform)
    [request] = platform.sink.received("/drift-ops")
    headers = {k.lower(): v for k, v in request["headers"].items()}
    event = Webhook(key).verify(request["body"], headers)
    assert event["type"] == "source.drift" and event["integrationId"] == created["id"]
    [drift] = event["data"]["drift"]
    assert (drift["path"], drift["kind"], drift["mapped"]) == ("order.email", "missing", True)
    [mail] = _mails(platform, email)
    assert "source.drift" in mail["text"] and "order.email" in mail["text"]

    # Still missing in later payloads, and later ticks: never notified again.
    time.sleep(10.5)
    platform.send(created, {"order": {"id": 100, "mail": "a@example.com"}})
    _tick(platform)
    time.sleep(60 - time.time() % 60 + 0.5)  # a later minute, when another could be sent
    _tick(platform)
    assert len(platform.sink.received("/drift-ops")) == 1
    assert len(_mails(platform, email)) == 1
    schema = platform.api("GET", f"/api/integrations/{created['id']}/source_schema/").json()
    # Notified, the drift stays listed (order.mail came before the shape settled: not new).
    assert [(d["path"], d["kind"]) for d in schema["drift"]] == [("order.email", "missing")]
