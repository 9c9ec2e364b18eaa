"""Pub/Sub sources against the Pub/Sub emulator, with the real client library and gcloud."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1

from mapper.errors import QueueError
from mapper.queue import Queue

from .conftest import Platform

PROJECT = "demo-e2e"  # the emulators' project, as in conftest


@pytest.fixture(scope="module")
def clients(platform: Platform) -> Iterator[tuple[Any, Any]]:
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    yield publisher, subscriber
    subscriber.close()


def new_topic(publisher: Any) -> str:
    name = f"orders-{uuid.uuid4().hex[:8]}"
    publisher.create_topic(name=f"projects/{PROJECT}/topics/{name}")
    return name


def pubsub_doc(platform: Platform, topic: str, mode: str, path: str, **source: Any) -> dict:
    return {
        "name": f"{mode} orders",
        "source": {"type": "pubsub", "projectId": PROJECT, "topic": topic, "mode": mode, **source},
        "condition": "attributes.kind === 'order'",
        "mappings": [
            {"source": "id", "target": "orderId"},
            {"source": "sku", "target": "sku", "transforms": [{"type": "uppercase"}]},
        ],
        "target": {"type": "http", "url": f"{platform.sink.url}{path}"},
    }


def publish(publisher: Any, topic: str, data: Any, **attributes: str) -> str:
    future = publisher.publish(
        f"projects/{PROJECT}/topics/{topic}", json.dumps(data).encode(), **attributes
    )
    return str(future.result(timeout=30))


def wait_for(predicate: Any, timeout: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def bodies(platform: Platform, path: str) -> list[Any]:
    return [json.loads(r["body"]) for r in platform.sink.received(path)]


def tick(platform: Platform) -> dict[str, Any]:
    """What Cloud Scheduler does every minute."""
    reply = requests.post(f"{platform.url}/_functions/pull", json={}, timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_push_mode_maps_published_messages_and_attributes_reach_the_condition(
    platform: Platform, clients: tuple[Any, Any]
) -> None:
    publisher, subscriber = clients
    topic = new_topic(publisher)
    created = platform.add(pubsub_doc(platform, topic, "push", "/push"))
    assert created["listenerActive"] is True
    assert created["pushEndpoint"] == f"{platform.url}/pubsub/{created['pushPath']}/"
    subscription = subscriber.get_subscription(subscription=created["managedSubscription"])
    assert subscription.push_config.push_endpoint == created["pushEndpoint"]

    message_id = publish(publisher, topic, {"id": 1, "sku": "ab-1"}, kind="order")
    publish(publisher, topic, {"id": 2, "sku": "zz-9"}, kind="refund")
    wait_for(lambda: bodies(platform, "/push"), what="the push delivery")
    run = platform.wait(f"{created['id']}.{message_id}")
    assert run["status"] == "success" and run["sourceKind"] == "pubsub-push"
    assert run["incomingAttributes"] == {"kind": "order"}
    assert bodies(platform, "/push") == [{"orderId": 1, "sku": "AB-1"}]
    runs = wait_for(
        lambda: [
            r
            for r in platform.api("GET", f"/api/runs/?integration_id={created['id']}").json()[
                "runs"
            ]
            if r["status"] == "skipped"
        ],
        what="the refund to be skipped",
    )
    assert runs[0]["incomingAttributes"] == {"kind": "refund"}


def test_gcloud_publish_reaches_a_pull_integration(
    platform: Platform, clients: tuple[Any, Any]
) -> None:
    publisher, _ = clients
    topic = new_topic(publisher)
    created = platform.add(pubsub_doc(platform, topic, "pull", "/gcloud"))
    assert created["listenerActive"] is True and "pushEndpoint" not in created
    env = {
        **os.environ,
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB": f"http://{os.environ['PUBSUB_EMULATOR_HOST']}/",
        "CLOUDSDK_AUTH_DISABLE_CREDENTIALS": "true",
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    }
    done = subprocess.run(
        [
            "gcloud",
            "pubsub",
            "topics",
            "publish",
            topic,
            f"--project={PROJECT}",
            '--message={"id": 7, "sku": "g-7"}',
            "--attribute=kind=order",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert tick(platform)["dispatched"] >= 1
    wait_for(lambda: bodies(platform, "/gcloud"), what="the pulled message")
    assert bodies(platform, "/gcloud") == [{"orderId": 7, "sku": "G-7"}]
    [run] = platform.api("GET", f"/api/runs/?integration_id={created['id']}").json()["runs"]
    assert run["sourceKind"] == "pubsub-pull" and run["status"] == "success"


def test_a_burst_of_200_is_delivered_exactly_once_each_with_a_run(
    platform: Platform, clients: tuple[Any, Any]
) -> None:
    publisher, _ = clients
    topic = new_topic(publisher)
    created = platform.add(pubsub_doc(platform, topic, "push", "/burst"))
    topic_path = f"projects/{PROJECT}/topics/{topic}"
    futures = [
        publisher.publish(topic_path, json.dumps({"id": i, "sku": f"s{i}"}).encode(), kind="order")
        for i in range(200)
    ]
    ids = {f.result(timeout=60) for f in futures}
    assert len(ids) == 200
    wait_for(lambda: len(bodies(platform, "/burst")) >= 200, timeout=180, what="200 deliveries")
    time.sleep(2)  # anything sent twice would show now
    received = sorted(b["orderId"] for b in bodies(platform, "/burst"))
    assert received == list(range(200))

    def all_runs() -> list[dict[str, Any]]:
        runs, cursor = [], ""
        while True:
            page = platform.api(
                "GET", f"/api/runs/?integration_id={created['id']}&limit=200&cursor={cursor}"
            ).json()
            runs += page["runs"]
            if not page["nextCursor"]:
                return runs
            cursor = page["nextCursor"]

    runs = wait_for(
        lambda: (
            (r := all_runs()) and all(x["status"] == "success" for x in r) and len(r) == 200 and r
        ),
        what="200 successful runs",
    )
    assert {r["id"].split(".", 1)[1] for r in runs} == ids


def test_a_message_that_dies_before_it_is_queued_is_redelivered_and_sent_once(
    platform: Platform, clients: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    publisher, _ = clients
    topic = new_topic(publisher)
    created = platform.add(pubsub_doc(platform, topic, "push", "/dies"))
    real_publish = Queue.publish
    failures = []

    def publish_failing_once(self: Queue, message: dict[str, Any], *args: Any) -> str:
        if message.get("integrationId") == created["id"] and not failures:
            failures.append(message["runId"])
            raise QueueError("Pub/Sub could not publish (injected by the test)")
        return real_publish(self, message, *args)

    monkeypatch.setattr(Queue, "publish", publish_failing_once)
    message_id = publish(publisher, topic, {"id": 5, "sku": "x"}, kind="order")
    run = platform.wait(f"{created['id']}.{message_id}", timeout=90)
    assert failures == [run["id"]]  # the first delivery died before the message was queued
    assert run["status"] == "success"
    time.sleep(2)
    assert bodies(platform, "/dies") == [{"orderId": 5, "sku": "X"}]


def test_undecodable_push_envelopes_are_recorded_and_acknowledged(
    platform: Platform, clients: tuple[Any, Any]
) -> None:
    publisher, _ = clients
    created = platform.add(pubsub_doc(platform, new_topic(publisher), "push", "/never-push"))
    url = created["pushEndpoint"]
    not_json = {"message": {"data": base64.b64encode(b"<xml/>").decode(), "messageId": "m-1"}}
    for body in (
        b"{broken",
        json.dumps({"message": {"data": "%%%", "messageId": "m-2"}}),
        json.dumps(not_json),
    ):
        reply = requests.post(url, data=body, timeout=30)
        assert reply.status_code == 204, reply.text
    runs = platform.api("GET", f"/api/runs/?integration_id={created['id']}").json()["runs"]
    assert len(runs) == 3 and all(r["status"] == "error" for r in runs)
    reasons = " ".join(r["errorMessage"] for r in runs)
    assert "not JSON" in reasons and "base64" in reasons
    assert any(r["incomingPayload"]["raw"] == "<xml/>" for r in runs)
    assert not platform.sink.received("/never-push")


def test_a_paused_push_integration_answers_503_so_pubsub_keeps_the_message(
    platform: Platform, clients: tuple[Any, Any]
) -> None:
    publisher, _ = clients
    created = platform.add(
        {**pubsub_doc(platform, new_topic(publisher), "push", "/x"), "active": False}
    )
    envelope = {"message": {"data": base64.b64encode(b"{}").decode(), "messageId": "p-1"}}
    reply = requests.post(created["pushEndpoint"], json=envelope, timeout=30)
    assert reply.status_code == 503 and reply.headers["Retry-After"]
    assert platform.api("GET", f"/api/runs/?integration_id={created['id']}").json()["runs"] == []


def test_a_paused_pull_integration_keeps_its_messages_until_reactivated(
    platform: Platform, clients: tuple[Any, Any]
) -> None:
    publisher, _ = clients
    topic = new_topic(publisher)
    created = platform.add({**pubsub_doc(platform, topic, "pull", "/paused-pull"), "active": False})
    for i in range(3):
        publish(publisher, topic, {"id": i, "sku": "p"}, kind="order")
    tick(platform)
    time.sleep(3)
    assert bodies(platform, "/paused-pull") == []
    platform.api("POST", f"/api/integrations/{created['id']}/toggle_active/")
    assert tick(platform)["dispatched"] >= 1
    wait_for(lambda: len(bodies(platform, "/paused-pull")) == 3, what="the kept messages")
    assert sorted(b["orderId"] for b in bodies(platform, "/paused-pull")) == [0, 1, 2]


def test_deleting_removes_the_subscription_it_created_and_never_another(
    platform: Platform, clients: tuple[Any, Any]
) -> None:
    publisher, subscriber = clients
    topic = new_topic(publisher)
    made = platform.add(pubsub_doc(platform, topic, "pull", "/d1"))
    theirs = f"projects/{PROJECT}/subscriptions/theirs-{uuid.uuid4().hex[:6]}"
    subscriber.create_subscription(name=theirs, topic=f"projects/{PROJECT}/topics/{topic}")
    used = platform.add(pubsub_doc(platform, topic, "pull", "/d2", subscription=theirs))
    assert used["listenerActive"] is True and "managedSubscription" not in used
    assert platform.api("DELETE", f"/api/integrations/{made['id']}/").status_code == 204
    assert platform.api("DELETE", f"/api/integrations/{used['id']}/").status_code == 204
    with pytest.raises(gexc.NotFound):
        subscriber.get_subscription(subscription=made["managedSubscription"])
    assert subscriber.get_subscription(subscription=theirs).name == theirs


def test_mode_and_topic_changes_update_the_subscription(
    platform: Platform, clients: tuple[Any, Any]
) -> None:
    publisher, subscriber = clients
    created = platform.add(pubsub_doc(platform, new_topic(publisher), "pull", "/m"))
    path = created["managedSubscription"]
    assert not subscriber.get_subscription(subscription=path).push_config.push_endpoint
    pushed = platform.api(
        "PUT",
        f"/api/integrations/{created['id']}/",
        {**created, "source": {**created["source"], "mode": "push"}},
    ).json()
    assert (
        subscriber.get_subscription(subscription=path).push_config.push_endpoint
        == pushed["pushEndpoint"]
    )
    other = new_topic(publisher)
    moved = platform.api(
        "PUT",
        f"/api/integrations/{created['id']}/",
        {**pushed, "source": {**pushed["source"], "topic": other}},
    )
    assert moved.status_code == 200, moved.text
    assert subscriber.get_subscription(subscription=path).topic.endswith(f"/topics/{other}")
    assert moved.json()["listenerActive"] is True


def test_a_missing_topic_is_a_clear_error_and_leaves_nothing_behind(
    platform: Platform, clients: tuple[Any, Any]
) -> None:
    _, subscriber = clients
    before = platform.api("GET", "/api/integrations/?limit=200").json()["integrations"]
    secrets_before = platform.secrets_file.read_text() if platform.secrets_file.exists() else ""
    doc = pubsub_doc(platform, "no-such-topic", "push", "/none")
    doc["target"]["auth"] = {"type": "bearer", "token": "never-stored-" + uuid.uuid4().hex}
    reply = platform.api("POST", "/api/integrations/", doc)
    assert reply.status_code == 400
    [problem] = reply.json()["problems"]
    assert problem["path"] == "source.topic" and "does not exist" in problem["message"]
    after = platform.api("GET", "/api/integrations/?limit=200").json()["integrations"]
    assert len(after) == len(before)
    assert doc["target"]["auth"]["token"] not in platform.secrets_file.read_text()
    assert secrets_before is not None


def test_test_pubsub_publishes_the_sample_to_the_topic(
    platform: Platform, clients: tuple[Any, Any]
) -> None:
    publisher, _ = clients
    topic = new_topic(publisher)
    doc = pubsub_doc(platform, topic, "push", "/sample")
    doc["condition"] = None
    created = platform.add({**doc, "samplePayload": {"id": 11, "sku": "smp"}})
    reply = platform.api("POST", f"/api/integrations/{created['id']}/test_pubsub/")
    assert reply.status_code == 200, reply.text
    run = platform.wait(f"{created['id']}.{reply.json()['messageId']}")
    assert run["status"] == "success"
    assert bodies(platform, "/sample") == [{"orderId": 11, "sku": "SMP"}]
    webhook = platform.add({**doc, "source": {"type": "webhook"}, "name": "hook"})
    refused = platform.api(
        "POST", f"/api/integrations/{webhook['id']}/test_pubsub/", {"payload": {}}
    )
    assert refused.status_code == 409


def test_one_failing_pull_integration_is_recorded_and_does_not_stop_the_others(
    platform: Platform, clients: tuple[Any, Any]
) -> None:
    publisher, subscriber = clients
    broken = platform.add(pubsub_doc(platform, new_topic(publisher), "pull", "/broken"))
    subscriber.delete_subscription(subscription=broken["managedSubscription"])  # behind our back
    topic = new_topic(publisher)
    healthy = platform.add(pubsub_doc(platform, topic, "pull", "/healthy"))
    publish(publisher, topic, {"id": 8, "sku": "h"}, kind="order")
    tick(platform)
    wait_for(lambda: bodies(platform, "/healthy"), what="the healthy integration's message")
    shown = wait_for(
        lambda: (
            (d := platform.api("GET", f"/api/integrations/{broken['id']}/").json()).get(
                "listenerError"
            )
            and d
        ),
        what="the broken integration's error",
    )
    assert shown["listenerActive"] is False
    assert "does not exist" in shown["listenerError"]
    assert platform.api("GET", f"/api/integrations/{healthy['id']}/").json()["listenerActive"]


def test_intervals_under_a_minute_are_kept_inside_one_drain(
    platform: Platform, clients: tuple[Any, Any]
) -> None:
    from mapper.services import puller

    publisher, _ = clients
    topic = new_topic(publisher)
    created = platform.add(pubsub_doc(platform, topic, "pull", "/fast", pullIntervalSeconds=2))
    publish(publisher, topic, {"id": 1, "sku": "a"}, kind="order")
    later = threading.Timer(
        3.0, lambda: publish(publisher, topic, {"id": 2, "sku": "b"}, kind="order")
    )
    later.start()
    report = puller().drain(created["id"], window_s=7)
    later.join()
    assert report.error is None and report.queued == 2
    assert report.pulls >= 3  # a round every 2 s, in the one task
    wait_for(lambda: len(bodies(platform, "/fast")) == 2, what="both messages")


def test_push_subscriptions_carry_an_oidc_token_for_the_push_service_account(
    platform: Platform, clients: tuple[Any, Any]
) -> None:
    from mapper.services import pubsub_clients, site
    from mapper.sources.subscriptions import PushIdentity, SubscriptionManager

    publisher, subscriber = clients
    identity = PushIdentity(
        "mapper-push-auth@demo-e2e.iam.gserviceaccount.com", "https://push.example"
    )
    manager = SubscriptionManager(pubsub_clients(), site().push_endpoint, identity)
    doc = {
        "id": "oidc-" + uuid.uuid4().hex[:8],
        "pushPath": "p" * 32,
        "source": {
            "type": "pubsub",
            "projectId": PROJECT,
            "topic": new_topic(publisher),
            "mode": "push",
        },
    }
    change = manager.prepare(doc, None)
    change.commit()
    made = subscriber.get_subscription(subscription=change.fields["managedSubscription"])
    assert made.push_config.oidc_token.service_account_email == identity.service_account
    assert made.push_config.oidc_token.audience == identity.audience
    assert made.push_config.push_endpoint.endswith("/pubsub/" + "p" * 32 + "/")
    manager.remove({**doc, **change.fields})
    with pytest.raises(gexc.NotFound):
        subscriber.get_subscription(subscription=change.fields["managedSubscription"])
