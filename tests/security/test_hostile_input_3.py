"""Hostile input, third round, through the running functions on the emulators: webhook bodies
no read of runs could show, one undecodable document among many, the API's strict parser,
and the headers every JSON answer carries."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
import requests
from google.cloud import firestore

from tests.e2e.conftest import ADMIN_TOKEN, Platform
from tests.security.test_intake_hostile import GITHUB_SECRET, GITHUB_SIGNATURE, integration, post

# Bodies that Python's own `json.loads(bytes)` took, and that then broke `GET /api/runs/`.
UNREADABLE_BODIES = {
    "surrogate as UTF-8 (CESU-8)": b'{"n": "\xed\xa0\x80"}',
    "surrogate key as UTF-8": b'{"\xed\xb0\x80": 1}',
    "surrogate escape in a key": b'{"\\udc00": 1}',
    "UTF-16 with BOM": '{"n": "\ud800"}'.encode("utf-16", "surrogatepass"),
    "UTF-16-LE": '{"n": 1}'.encode("utf-16-le"),
    "UTF-16-BE": '{"n": 1}'.encode("utf-16-be"),
    "UTF-32 with BOM": '{"n": 1}'.encode("utf-32"),
    "UTF-32-LE": '{"n": 1}'.encode("utf-32-le"),
    "101 deep": b"[" * 101 + b"]" * 101,
}


@pytest.mark.parametrize("body", UNREADABLE_BODIES.values(), ids=UNREADABLE_BODIES)
def test_a_body_no_read_could_show_is_refused_and_the_runs_list_still_answers(
    platform: Platform, body: bytes
) -> None:
    doc = integration(platform, "/third-round")
    reply = post(platform, doc, body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["code"] == "invalid_json"
    (run,) = platform.runs.list(integration_id=doc["id"])[0]
    assert run["status"] == "error" and run["incomingRaw"] is True
    assert run["incomingPayload"]["size"] == len(body)
    listed = platform.api("GET", f"/api/runs/?integration_id={doc['id']}")
    assert listed.status_code == 200, listed.text
    assert [r["id"] for r in listed.json()["runs"]] == [run["id"]]
    assert platform.api("GET", f"/api/runs/{run['id']}/").status_code == 200


def test_one_undecodable_run_is_a_stand_in_not_a_500_for_the_page(platform: Platform) -> None:
    doc = integration(platform, "/third-round")
    good = post(platform, doc, b'{"n": 1}').json()["runId"]
    platform.wait(good)  # recorded after its 202, within about 50 ms (docs/data-plane.md)
    runs = firestore.Client(project="demo-e2e").collection("runs")
    # As an older release, or a hand edit, could have left them.
    runs.document(f"{doc['id']}.broken").set(
        {
            "integrationId": doc["id"],
            "status": "error",
            "sourceKind": "webhook",
            "createdAt": "2026-12-01T00:00:00.000000Z",
            "updatedAt": "2026-12-01T00:00:00.000000Z",
            "incomingPayloadJson": '{"n": ',
        }
    )
    runs.document(f"{doc['id']}.surrogate").set(
        {
            "integrationId": doc["id"],
            "status": "error",
            "sourceKind": "webhook",
            "createdAt": "2026-12-01T00:00:01.000000Z",
            "updatedAt": "2026-12-01T00:00:01.000000Z",
            "incomingPayloadJson": '{"n": "\\ud800", "v": NaN}',
        }
    )
    listed = platform.api("GET", f"/api/runs/?integration_id={doc['id']}")
    assert listed.status_code == 200, listed.text
    json.loads(listed.content.decode("utf-8"))  # strict UTF-8, and JSON a browser can parse
    assert b"NaN" not in listed.content
    by_id = {r["id"]: r for r in listed.json()["runs"]}
    assert set(by_id) == {good, f"{doc['id']}.broken", f"{doc['id']}.surrogate"}
    broken = by_id[f"{doc['id']}.broken"]
    assert broken["readError"] == "stored fields could not be read: incomingPayload"
    assert broken["incomingRaw"] is True  # nothing to replay
    assert broken["undecodable"] == ["incomingPayload"]
    shown = platform.api("GET", f"/api/runs/{doc['id']}.surrogate/")
    assert shown.status_code == 200, shown.text
    assert shown.json()["incomingPayload"]["n"] == "\ud800"  # escaped on the wire, read back


# --- the API's strict parser -----------------------------------------------------------------


def post_api(platform: Platform, path: str, body: bytes) -> requests.Response:
    return requests.post(
        platform.url + path,
        data=body,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
        timeout=30,
    )


STRICT_BODIES = {
    "NaN": (b'{"name": "x", "sample": NaN}', "NaN"),
    "Infinity": (b'{"name": "x", "sample": Infinity}', "Infinity"),
    "-Infinity": (b'{"name": "x", "sample": -Infinity}', "-Infinity"),
    "50,000 deep": (b"[" * 50_000 + b"]" * 50_000, "nested more than 100"),
    "101 deep": (b'{"a":' * 101 + b"1" + b"}" * 101, "nested more than 100"),
    "lone surrogate": (b'{"name": "\\ud800"}', "surrogate"),
    "UTF-16": ('{"name": "x"}'.encode("utf-16"), "UTF-16"),
}


@pytest.mark.parametrize("body, named", STRICT_BODIES.values(), ids=STRICT_BODIES)
def test_api_bodies_with_non_json_numbers_or_too_deep_are_400_invalid_json(
    platform: Platform, body: bytes, named: str
) -> None:
    reply = post_api(platform, "/api/integrations/", body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["code"] == "invalid_json"
    assert named in reply.json()["error"]


def test_100_deep_is_still_parsed(platform: Platform) -> None:
    body = b'{"a":' * 99 + b"1" + b"}" * 99  # 99 objects inside the body's own: 100 deep
    reply = post_api(platform, "/api/preview/", b'{"integration": {}, "payload": ' + body + b"}")
    assert reply.json().get("code") != "invalid_json", reply.text


# --- headers ---------------------------------------------------------------------------------


def _answers(platform: Platform, doc: dict[str, Any]) -> list[requests.Response]:
    return [
        platform.api("GET", "/api/runs/"),
        platform.api("GET", "/api/nope/"),
        platform.api("GET", "/api/runs/", token="wrong"),
        post(platform, doc, b'{"n": 1}'),
        post(platform, doc, b"{"),
        requests.post(f"{platform.url}/webhook/nope/", data=b"{}", timeout=30),
        requests.post(f"{platform.url}/pubsub/nope/", data=b"{}", timeout=30),
    ]


def test_every_json_answer_says_nosniff(platform: Platform) -> None:
    doc = integration(platform, "/third-round")
    for reply in _answers(platform, doc):
        assert reply.headers["Content-Type"].startswith("application/json"), reply.url
        assert reply.headers.get("X-Content-Type-Options") == "nosniff", (
            reply.url,
            reply.status_code,
        )


# --- replays and squatted keys ---------------------------------------------------------------


def test_a_github_replay_with_another_delivery_id_is_a_duplicate(platform: Platform) -> None:
    doc = integration(platform, "/third-round-github", signature=GITHUB_SIGNATURE)
    body = b'{"n": 43}'
    signature = hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    first = post(platform, doc, body, **{"X-Hub-Signature-256": f"sha256={signature}",
                                         "X-GitHub-Delivery": "first"})
    assert first.status_code == 202
    platform.wait(first.json()["runId"])
    for delivery in ({"X-GitHub-Delivery": "changed"}, {}):
        replay = post(platform, doc, body, **{"X-Hub-Signature-256": f"sha256={signature}",
                                              **delivery})
        assert replay.status_code == 202 and replay.json()["runId"] == first.json()["runId"]
    time.sleep(2)  # time for a second delivery to reach the sink, were there one
    assert len(platform.sink.received("/third-round-github")) == 1


def test_a_squatted_idempotency_key_does_not_drop_the_real_event(platform: Platform) -> None:
    doc = integration(platform, "/third-round-squat")
    key = {"Idempotency-Key": "order-squat"}
    squat = post(platform, doc, b'{"n": "stranger"}', **key)
    real = post(platform, doc, b'{"n": 9}', **key)
    assert squat.status_code == real.status_code == 202
    assert real.json()["runId"] != squat.json()["runId"]
    run = platform.wait(real.json()["runId"])
    assert run["status"] == "success" and run["keyReusedFrom"] == squat.json()["runId"]
    bodies = [json.loads(r["body"]) for r in platform.sink.received("/third-round-squat")]
    assert {"n": 9} in bodies
