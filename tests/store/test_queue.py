"""Queue and ensure_topic_and_subscription against the real Pub/Sub emulator."""

from __future__ import annotations

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest
from google.cloud import pubsub_v1
from google.pubsub_v1.services.publisher.client import PublisherClient as GeneratedPublisher

from local.emulators import Emulators
from mapper.errors import QueueError
from mapper.grouping import Failed
from mapper.queue import (
    InternalQueue,
    MessageTooLarge,
    Queue,
    ensure_topic_and_subscription,
    ordered_topic,
)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def pull_one(subscriber: pubsub_v1.SubscriberClient, subscription: str):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        response = subscriber.pull(
            request={"subscription": subscription, "max_messages": 1}, timeout=5
        )
        if response.received_messages:
            received = response.received_messages[0]
            subscriber.acknowledge(subscription=subscription, ack_ids=[received.ack_id])
            return received.message
    raise AssertionError(f"nothing arrived on {subscription}")


def fresh_queue(
    emulators: Emulators,
    publisher: pubsub_v1.PublisherClient,
    subscriber: pubsub_v1.SubscriberClient,
) -> tuple[Queue, str]:
    """A Queue on a new topic, and the path of a new subscription to it."""
    topic, subscription = unique("internal"), unique("worker")
    subscription_path = ensure_topic_and_subscription(
        publisher, subscriber, emulators.project, topic, subscription
    )
    return Queue(publisher, publisher.topic_path(emulators.project, topic)), subscription_path


def test_publish_returns_the_id_of_the_message_pulled(
    emulators: Emulators,
    publisher: pubsub_v1.PublisherClient,
    subscriber: pubsub_v1.SubscriberClient,
) -> None:
    queue, subscription_path = fresh_queue(emulators, publisher, subscriber)
    message = {"runId": "r1", "payload": {"matrix": [[1, 2]], "text": "héllo"}}

    message_id = queue.publish(message, {"integrationId": "i1"})

    pulled = pull_one(subscriber, subscription_path)
    assert message_id and pulled.message_id == message_id
    assert json.loads(pulled.data) == message
    assert dict(pulled.attributes) == {"integrationId": "i1"}


def test_ensure_is_idempotent_and_sets_the_dead_letter_policy(
    emulators: Emulators,
    publisher: pubsub_v1.PublisherClient,
    subscriber: pubsub_v1.SubscriberClient,
) -> None:
    project = emulators.project
    topic, subscription, dead = unique("internal"), unique("worker"), unique("dead")
    args = (publisher, subscriber, project, topic, subscription)
    options = {"dead_letter_topic": dead, "min_backoff": 1, "max_backoff": 30}

    path = ensure_topic_and_subscription(*args, dead_letter_subscription=f"{dead}-keep", **options)
    assert ensure_topic_and_subscription(*args, max_delivery_attempts=7, **options) == path

    settings = subscriber.get_subscription(subscription=path)
    assert settings.topic == publisher.topic_path(project, topic)
    assert settings.dead_letter_policy.dead_letter_topic == publisher.topic_path(project, dead)
    assert settings.dead_letter_policy.max_delivery_attempts == 7
    assert settings.retry_policy.minimum_backoff.seconds == 1
    assert settings.retry_policy.maximum_backoff.seconds == 30
    kept_path = subscriber.subscription_path(project, f"{dead}-keep")
    kept = subscriber.get_subscription(subscription=kept_path)
    assert kept.topic == publisher.topic_path(project, dead)


def test_push_endpoint_is_set(
    emulators: Emulators,
    publisher: pubsub_v1.PublisherClient,
    subscriber: pubsub_v1.SubscriberClient,
) -> None:
    endpoint = "http://127.0.0.1:9/push"
    path = ensure_topic_and_subscription(
        publisher,
        subscriber,
        emulators.project,
        unique("internal"),
        unique("worker"),
        push_endpoint=endpoint,
    )
    assert subscriber.get_subscription(subscription=path).push_config.push_endpoint == endpoint


def test_publish_failures_are_typed(
    emulators: Emulators, publisher: pubsub_v1.PublisherClient
) -> None:
    missing = Queue(publisher, publisher.topic_path(emulators.project, unique("missing")))
    with pytest.raises(QueueError):
        missing.publish({"a": 1})
    with pytest.raises(MessageTooLarge):
        missing.publish({"blob": "x" * 10_000_001})
    with pytest.raises(ValueError):
        missing.publish({"a": 1}, {"timeout": "5"})


def test_messages_published_at_once_share_calls_and_each_caller_gets_its_own_id(
    emulators: Emulators,
    publisher: pubsub_v1.PublisherClient,
    subscriber: pubsub_v1.SubscriberClient,
) -> None:
    queue, subscription_path = fresh_queue(emulators, publisher, subscriber)
    calls: list[int] = []
    real_publish = GeneratedPublisher.publish

    def counted(client: object, **request: object) -> object:  # the real call, counted
        calls.append(len(request["request"].messages))  # type: ignore[attr-defined]
        return real_publish(client, **request)  # type: ignore[arg-type]

    senders = 24
    start = threading.Barrier(senders)

    def send(n: int) -> tuple[int, str]:
        start.wait()
        return n, queue.publish({"runId": f"r{n}"}, {"n": str(n)})

    with mock.patch.object(GeneratedPublisher, "publish", counted):
        with ThreadPoolExecutor(senders) as pool:
            ids = dict(pool.map(send, range(senders)))

    assert sum(calls) == senders and len(calls) < senders  # fewer round trips than messages
    assert len(set(ids.values())) == senders
    pulled = {}
    while len(pulled) < senders:
        message = pull_one(subscriber, subscription_path)
        pulled[message.message_id] = message
    for n, message_id in ids.items():  # each caller was given the id of its own message
        assert json.loads(pulled[message_id].data) == {"runId": f"r{n}"}
        assert dict(pulled[message_id].attributes) == {"n": str(n)}


def test_a_message_pub_sub_refuses_fails_only_its_own_caller_in_a_shared_call(
    emulators: Emulators,
    publisher: pubsub_v1.PublisherClient,
    subscriber: pubsub_v1.SubscriberClient,
) -> None:
    queue, subscription_path = fresh_queue(emulators, publisher, subscriber)
    message = pubsub_v1.types.PubsubMessage.pb()  # what Queue.publish hands its Grouper
    good = [message(data=f'{{"n": {n}}}'.encode()) for n in range(2)]
    empty = message(data=b"")  # the emulator refuses an empty message

    # The call Grouper makes for three callers at once (Queue.publish never sends no data).
    first, refused, second = queue._publish_together([(good[0], 0), (empty, 0), (good[1], 0)])

    assert isinstance(refused, Failed) and isinstance(refused.error, QueueError)
    assert isinstance(first, str) and isinstance(second, str)
    pulled = {pull_one(subscriber, subscription_path).message_id for _ in range(2)}
    assert pulled == {first, second}


def test_ordered_messages_go_one_key_per_call_and_arrive_in_order(
    emulators: Emulators,
    publisher: pubsub_v1.PublisherClient,
    subscriber: pubsub_v1.SubscriberClient,
) -> None:
    topic, subscription = unique("internal"), unique("worker")
    subscription_path = ensure_topic_and_subscription(
        publisher, subscriber, emulators.project, topic, subscription, message_ordering=True
    )
    assert subscriber.get_subscription(subscription=subscription_path).enable_message_ordering
    queue = Queue(publisher, publisher.topic_path(emulators.project, topic))
    keys_per_call: list[set[str]] = []
    real_publish = GeneratedPublisher.publish

    def spied(client: object, **request: object) -> object:  # the real call, looked at
        messages = request["request"].messages  # type: ignore[attr-defined]
        keys_per_call.append({m.ordering_key for m in messages})
        return real_publish(client, **request)  # type: ignore[arg-type]

    keys = ["i1:a", "i1:b", "i1:c", ""]  # "" : published without a key
    start = threading.Barrier(len(keys))

    def send(key: str) -> None:  # one sender per key, each message after the previous one
        start.wait()
        for n in range(8):
            queue.publish({"key": key, "n": n}, ordering_key=key or None)

    with mock.patch.object(GeneratedPublisher, "publish", spied):
        with ThreadPoolExecutor(len(keys)) as pool:
            list(pool.map(send, keys))

    assert all(len(call) == 1 for call in keys_per_call)  # Pub/Sub's rule for a request
    arrived: dict[str, list[int]] = {key: [] for key in keys}
    while sum(map(len, arrived.values())) < 8 * len(keys):
        message = pull_one(subscriber, subscription_path)
        assert message.ordering_key == json.loads(message.data)["key"]
        arrived[message.ordering_key].append(json.loads(message.data)["n"])
    for key in keys[:3]:
        assert arrived[key] == list(range(8))


def test_a_failed_publish_leaves_its_key_open_for_the_next_one(
    emulators: Emulators,
    publisher: pubsub_v1.PublisherClient,
    subscriber: pubsub_v1.SubscriberClient,
) -> None:
    # The client library's ordered publishing pauses a key after a failure until
    # resume_publish; our own Publish calls keep no such state (docs/delivery.md).
    topic, subscription = unique("internal"), unique("worker")
    queue = Queue(publisher, publisher.topic_path(emulators.project, topic))
    with pytest.raises(QueueError):  # the topic is not there yet: Pub/Sub refuses
        queue.publish({"n": 0}, ordering_key="i1:a")
    subscription_path = ensure_topic_and_subscription(
        publisher, subscriber, emulators.project, topic, subscription, message_ordering=True
    )
    queue.publish({"n": 1}, ordering_key="i1:a")
    message = pull_one(subscriber, subscription_path)
    assert message.ordering_key == "i1:a" and json.loads(message.data) == {"n": 1}


def test_keyed_messages_go_to_the_ordered_twin_and_the_others_to_the_internal_topic(
    emulators: Emulators,
    publisher: pubsub_v1.PublisherClient,
    subscriber: pubsub_v1.SubscriberClient,
) -> None:
    topic = unique("internal")
    plain = ensure_topic_and_subscription(
        publisher, subscriber, emulators.project, topic, f"{topic}-worker"
    )
    ordered = ensure_topic_and_subscription(
        publisher, subscriber, emulators.project, ordered_topic(topic),
        f"{ordered_topic(topic)}-worker", message_ordering=True,
    )
    queue = InternalQueue(
        Queue(publisher, publisher.topic_path(emulators.project, topic)),
        Queue(publisher, publisher.topic_path(emulators.project, ordered_topic(topic))),
    )

    queue.publish({"n": 1}, {"runId": "r1"}, ordering_key="i1:a")
    queue.publish({"n": 2}, {"runId": "r2"})

    keyed, unkeyed = pull_one(subscriber, ordered), pull_one(subscriber, plain)
    assert (json.loads(keyed.data), keyed.ordering_key) == ({"n": 1}, "i1:a")
    assert (json.loads(unkeyed.data), unkeyed.ordering_key) == ({"n": 2}, "")
    assert not subscriber.get_subscription(subscription=plain).enable_message_ordering
