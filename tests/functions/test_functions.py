"""Every answer the contract names, from each function as deployed, over in-memory fakes."""

from __future__ import annotations

import base64
import json

import pytest

from mapper.errors import RetryableTargetError
from tests.functions.conftest import Fakes, client, cloud_event


def test_webhook_accepts_with_202_and_the_run_id(fakes: Fakes) -> None:
    reply = client("webhook").post("/webhook/p-secret/", json={"n": 1})
    assert reply.status_code == 202
    run_id = reply.get_json()["runId"]
    assert reply.get_json() == {"status": "queued", "runId": run_id}
    # Published, then recorded `queued` off the sender's path (RECORD_AT_ACCEPT's default).
    run = fakes.runs.written(run_id)
    assert run is not None and run["status"] == "queued"
    [message] = fakes.queue.messages
    headers, body = cloud_event(message)
    assert client("worker", "cloudevent").post("/", headers=headers, data=body).status_code == 200
    run = fakes.runs.get(run_id)
    assert run["status"] == "success" and run["incomingPayload"] == {"n": 1}
    assert client("webhook").post("/webhook/p-secret", json={"n": 1}).status_code == 202


def test_webhook_unknown_paths_answer_the_same_404(fakes: Fakes) -> None:
    answers = [
        client("webhook").post(path, json={})
        for path in ("/webhook/nope/", "/webhook/", "/webhook/a/b/", "/other/")
    ]
    assert {a.status_code for a in answers} == {404}
    assert {a.get_data() for a in answers} == {answers[0].get_data()}
    assert answers[0].get_json()["code"] == "not_found"


def test_webhook_refusals(fakes: Fakes) -> None:
    web = client("webhook")
    assert web.get("/webhook/p-secret/").status_code == 405
    paused = web.post("/webhook/paused-path/", json={})
    assert paused.status_code == 503 and paused.headers["Retry-After"] == "60"
    bad = web.post("/webhook/p-secret/", data=b"{nope", content_type="application/json")
    assert bad.status_code == 400 and bad.get_json()["code"] == "invalid_json"
    run_id = bad.get_json()["error"].rsplit(" ", 1)[-1]
    assert fakes.runs.get(run_id)["incomingPayload"]["raw"] == "{nope"
    big = web.post("/webhook/p-secret/", data=b'{"a":"' + b"x" * 20_000 + b'"}')
    assert big.status_code == 413 and big.get_json()["code"] == "payload_too_large"


def test_webhook_answers_503_when_the_queue_fails(fakes: Fakes) -> None:
    fakes.queue.failures = 1
    reply = client("webhook").post("/webhook/p-secret/", json={}, headers={"webhook-id": "k1"})
    assert reply.status_code == 503 and reply.headers["Retry-After"]
    assert "Traceback" not in reply.get_data(as_text=True)
    assert fakes.runs.get("i1.k1")["status"] == "queued"  # left for a resend or the reconciler


def test_webhook_without_a_key_answers_503_and_records_the_run_when_the_queue_fails(
    fakes: Fakes,
) -> None:
    fakes.queue.failures = 1
    reply = client("webhook").post("/webhook/p-secret/", json={"n": 9})
    assert reply.status_code == 503 and reply.headers["Retry-After"]
    [run] = fakes.runs.docs.values()  # visible, with its payload and why it was not queued
    assert run["status"] == "error" and run["incomingPayload"] == {"n": 9}
    assert "answered 503" in run["errorMessage"] and fakes.queue.messages == []


def test_push_acknowledges_queued_and_undecodable_messages(fakes: Fakes) -> None:
    push = client("pubsub_push")
    data = base64.b64encode(b'{"n": 2}').decode()
    envelope = {"message": {"messageId": "m1", "data": data}, "subscription": "s"}
    assert push.post("/pubsub/push-path/", json=envelope).status_code == 204
    assert fakes.runs.get("i3.m1")["status"] == "queued"
    assert push.post("/pubsub/push-path/", data=b"nope").status_code == 204
    assert push.post("/pubsub/nope/", json=envelope).status_code == 404
    assert push.get("/pubsub/push-path/").status_code == 405


def test_worker_delivers_and_raises_to_be_retried(fakes: Fakes) -> None:
    client("webhook").post("/webhook/p-secret/", json={"n": 3}, headers={"webhook-id": "w1"})
    [message] = fakes.queue.messages
    work = client("worker", "cloudevent")
    fakes.target.script = [RetryableTargetError, None]

    headers, body = cloud_event(message)
    assert work.post("/", headers=headers, data=body).status_code == 503  # Pub/Sub redelivers
    assert fakes.runs.get("i1.w1")["status"] == "retrying"
    assert work.post("/", headers=headers, data=body).status_code == 200
    assert fakes.runs.get("i1.w1")["status"] == "success"
    assert [s["runId"] for s in fakes.target.sent] == ["i1.w1", "i1.w1"]


def test_dead_letter_ends_the_run(fakes: Fakes) -> None:
    client("webhook").post("/webhook/p-secret/", json={"n": 3}, headers={"webhook-id": "d1"})
    headers, body = cloud_event(fakes.queue.messages[0])
    reply = client("dead_letter", "cloudevent").post("/", headers=headers, data=body)
    assert reply.status_code == 200
    assert fakes.runs.get("i1.d1")["status"] == "dead_lettered"


def test_dead_letter_records_a_run_no_worker_recorded(fakes: Fakes) -> None:
    reply = client("webhook").post("/webhook/p-secret/", json={"n": 4})
    run_id = reply.get_json()["runId"]
    headers, body = cloud_event(fakes.queue.messages[0])
    reply = client("dead_letter", "cloudevent").post("/", headers=headers, data=body)
    assert reply.status_code == 200
    run = fakes.runs.get(run_id)
    assert run["status"] == "dead_lettered" and run["incomingPayload"] == {"n": 4}


@pytest.mark.parametrize("method", ["GET", "PUT"])
def test_pull_takes_only_post(fakes: Fakes, method: str) -> None:
    assert client("pull").open("/", method=method).status_code == 405


def test_a_pull_task_that_is_not_one_is_acknowledged(fakes: Fakes) -> None:
    reply = client("pull").post("/", data=json.dumps({"message": {"data": "!!"}}).encode())
    assert reply.status_code == 200 and "not a pull task" in reply.get_json()["skipped"]
