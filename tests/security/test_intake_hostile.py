"""The intake under attack (issue 13, items 4-6), through the running webhook function on the
Firestore and Pub/Sub emulators: bodies Python's parser chokes on, floods of bad signatures,
and a replayed signed delivery."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from typing import Any

import pytest
import requests

from tests.e2e.conftest import MAX_BODY, Platform

GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_SIGNATURE = {
    "scheme": "hmac-sha256",
    "secret": GITHUB_SECRET,
    "header": "X-Hub-Signature-256",
}


def integration(platform: Platform, path: str, **source: Any) -> dict[str, Any]:
    return platform.create(
        {
            "name": "hostile intake",
            "source": {"type": "webhook", **source},
            "mappings": [{"source": "n", "target": "n"}],
            "target": {"type": "http", "url": platform.sink.url + path, "timeoutSeconds": 5},
        }
    )


def post(
    platform: Platform, doc: dict[str, Any], body: bytes, **headers: str
) -> requests.Response:
    return requests.post(
        f"{platform.url}/webhook/{doc['webhookPath']}/",
        data=body,
        headers={"Content-Type": "application/json", **headers},
        timeout=30,
    )


# --- 4: bodies that used to answer 500, or 202 and then fail in the worker ------------------

HOSTILE_BODIES = {
    # The fixture's body limit is 100,000 bytes: the deepest valid nesting that fits, and
    # 100,000 opening brackets.
    "50,000 deep": b"[" * 50_000 + b"]" * 50_000,
    "100,000 open": b"[" * MAX_BODY,
    "lone surrogate": b'{"n": "\\ud800"}',
    "NaN": b'{"n": NaN}',
    "Infinity": b'{"n": -Infinity}',
    "1e999": b'{"n": 1e999}',
}


@pytest.mark.parametrize("body", HOSTILE_BODIES.values(), ids=HOSTILE_BODIES)
def test_a_body_the_platform_cannot_carry_answers_400_with_one_error_run(
    platform: Platform, body: bytes
) -> None:
    doc = integration(platform, "/never")
    reply = post(platform, doc, body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["code"] == "invalid_json"
    found = re.search(r"recorded as run (\S+)$", reply.json()["error"])
    assert found, reply.json()
    runs, _ = platform.runs.list(integration_id=doc["id"])
    assert [r["id"] for r in runs] == [found.group(1)]
    (run,) = runs
    assert run["status"] == "error"
    assert "not JSON the platform accepts" in run["errorMessage"]
    assert run["incomingPayload"]["raw"] == body.decode()
    assert run["incomingPayload"]["size"] == len(body)
    assert platform.sink.received("/never") == []


# --- 5: a flood of bad signatures ------------------------------------------------------------


def test_bad_signatures_make_no_runs_and_one_counted_marker(platform: Platform) -> None:
    doc = integration(
        platform,
        "/flood",
        signature=GITHUB_SIGNATURE,
    )
    body = b'{"n": 1}'
    for i in range(12):
        reply = post(platform, doc, body, **{"X-Hub-Signature-256": f"sha256={i:064x}"})
        assert reply.status_code == 401
    runs, _ = platform.runs.list(integration_id=doc["id"])
    assert runs == []
    shown = platform.api("GET", f"/api/integrations/{doc['id']}/").json()
    failures = shown["signatureFailures"]
    assert failures["count"] == 12
    assert "signature" in failures["reason"]
    assert failures["sampleHeaders"]["X-Hub-Signature-256"] == "[REDACTED]"
    assert platform.sink.received("/flood") == []


# --- 6: a replayed signed delivery -----------------------------------------------------------


def test_a_replayed_github_delivery_is_a_duplicate_not_a_second_delivery(
    platform: Platform,
) -> None:
    doc = integration(
        platform,
        "/replayed-github",
        signature=GITHUB_SIGNATURE,
    )
    body = b'{"n": 42}'
    headers = {
        "X-Hub-Signature-256": "sha256="
        + hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest(),
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    }
    first = post(platform, doc, body, **headers)
    assert first.status_code == 202
    run = platform.wait(first.json()["runId"])
    assert run["status"] == "success", run.get("errorMessage")
    replay = post(platform, doc, body, **headers)  # captured and sent again, later
    assert replay.status_code == 202
    assert replay.json()["runId"] == first.json()["runId"]
    time.sleep(2)  # time for a second delivery to reach the sink, were there one
    assert len(platform.sink.received("/replayed-github")) == 1
    runs, _ = platform.runs.list(integration_id=doc["id"])
    assert [r["id"] for r in runs] == [first.json()["runId"]]
    assert json.loads(platform.sink.received("/replayed-github")[0]["body"]) == {"n": 42}
