"""The internal Pub/Sub topic between the functions that accept messages and the worker.

Clients are passed in. `publish` waits for the server's message id, because a function's CPU
is gone once it has answered.
"""

from __future__ import annotations

from concurrent import futures
from typing import Any

from google.api_core import exceptions as gexc
from google.api_core import retry as retries
from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.publisher.exceptions import MessageTooLargeError
from google.protobuf import duration_pb2, field_mask_pb2
from google.pubsub_v1.services.publisher.client import PublisherClient as _GeneratedPublisher

from .errors import MessageTooLarge, QueueError
from .grouping import Failed, Grouper
from .json_text import dumps_bytes

PUBLISH_TIMEOUT_S = 30.0
PUBLISH_RETRY_S = 5.0  # retrying a transient Publish failure, at most, before raising
DEFAULT_ACK_DEADLINE_S = 60
DEFAULT_MAX_DELIVERY_ATTEMPTS = 5
DEFAULT_MIN_BACKOFF_S = 10
DEFAULT_MAX_BACKOFF_S = 600

# PublisherClient.publish takes attributes as keyword arguments next to these.
_RESERVED_ATTRIBUTES = frozenset({"ordering_key", "retry", "timeout"})
_PubsubMessage = pubsub_v1.types.PubsubMessage.pb()  # the raw protobuf classes
_PublishRequest = pubsub_v1.types.PublishRequest.pb()
_SUBSCRIPTION_SETTINGS = [
    "ack_deadline_seconds",
    "retry_policy",
    "dead_letter_policy",
    "push_config",
]


PUBLISH_BATCH_LATENCY_S = 0.001  # the client's default (10 ms) sits on every 202
# Pub/Sub refuses a publish request over 10 MB (the client library checks the same).
PUBLISH_REQUEST_MAX_BYTES = 10 * 1000 * 1000
# Messages published at once by concurrent requests share Publish calls (mapper.grouping).
PUBLISH_MAX_IN_FLIGHT = 1  # Publish calls at once per instance: the others gather behind it
PUBLISH_MAX_MESSAGES = 100  # per call (Pub/Sub allows 1,000)
PUBLISH_GROUP_MAX_BYTES = 4 * 1000 * 1000  # per call, counted as Pub/Sub counts a message
_PUBLISH_RETRYABLE = retries.if_exception_type(
    gexc.Aborted,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.ResourceExhausted,
    gexc.ServiceUnavailable,
    gexc.Unknown,
)  # the codes the client library's own publish retries


def latency_publisher_settings() -> pubsub_v1.types.BatchSettings:
    """Publisher batching for one message at a time: sent at once, not after 10 ms."""
    return pubsub_v1.types.BatchSettings(max_latency=PUBLISH_BATCH_LATENCY_S)


class Queue:
    """Publishes JSON messages to one Pub/Sub topic."""

    def __init__(
        self,
        publisher: pubsub_v1.PublisherClient,
        topic_path: str,
        timeout: float = PUBLISH_TIMEOUT_S,
    ) -> None:
        if not topic_path.startswith("projects/") or "/topics/" not in topic_path:
            raise ValueError(f"expected projects/<project>/topics/<topic>, got {topic_path!r}")
        self._publisher = publisher
        self.topic_path = topic_path
        self._timeout = timeout
        # A sender waits for our answer: a few quick retries, then a 503 it can act on.
        self._retry = retries.Retry(
            predicate=_PUBLISH_RETRYABLE,
            initial=0.1,
            maximum=1.0,
            timeout=min(timeout, PUBLISH_RETRY_S),
        )
        self._group: Grouper[tuple[Any, int], str] = Grouper(
            self._publish_together,
            max_in_flight=PUBLISH_MAX_IN_FLIGHT,
            max_items=PUBLISH_MAX_MESSAGES,
            max_bytes=PUBLISH_GROUP_MAX_BYTES,
            size=lambda message: message[1],
            # Pub/Sub takes one ordering key per Publish request: a call per key.
            lane=lambda message: message[0].ordering_key,
        )

    def publish(
        self,
        message: dict[str, Any],
        attributes: dict[str, str] | None = None,
        ordering_key: str | None = None,
    ) -> str:
        """Publish `message` as JSON, wait until Pub/Sub has it, and return its message id.

        Sent in one Publish call from the calling thread, with the messages other threads
        publish at the same moment (`mapper.grouping`), not through the client's batching:
        its timer, thread and future cost a single message more than the round trip itself
        (bench/webhook_floor.py, docs/performance.md).

        With `ordering_key`, the worker's subscription delivers it after every message of
        that key published before it returned. One Publish call at a time per instance
        (PUBLISH_MAX_IN_FLIGHT) and one key per call keep an instance's messages of a key
        in the order their callers were answered; a failed call raises to its callers and
        leaves nothing behind (no client-side pause to resume: docs/delivery.md, "Ordering").
        """
        attributes = attributes or {}
        reserved = _RESERVED_ATTRIBUTES & attributes.keys()
        if reserved:
            raise ValueError(f"attribute names {sorted(reserved)} are reserved by the client")
        data = dumps_bytes(message)
        pubsub_message = _PubsubMessage(
            data=data, attributes=attributes, ordering_key=ordering_key or ""
        )
        size = pubsub_message.ByteSize()
        if size + len(self.topic_path) + 16 > PUBLISH_REQUEST_MAX_BYTES:
            raise MessageTooLarge(f"message of {len(data)} bytes is over Pub/Sub's limit")
        return self._group.call((pubsub_message, size))

    def _publish_together(self, messages: list[tuple[Any, int]]) -> list[str | Failed]:
        """One Publish call for every message; their ids, in order.

        A refused request (InvalidArgument) of several messages is sent again one message
        at a time, so that a message Pub/Sub refuses fails only its own caller. Any other
        failure (Pub/Sub unreachable, say) is every caller's.
        """
        try:
            return [str(message_id) for message_id in self._publish_call(messages)]
        except gexc.InvalidArgument as exc:
            if len(messages) == 1:
                raise QueueError(f"Pub/Sub refused a message for {self.topic_path}: {exc}") from exc
            return [self._publish_alone(message) for message in messages]
        except gexc.GoogleAPIError as exc:
            raise self._not_published(exc) from exc

    def _publish_alone(self, message: tuple[Any, int]) -> str | Failed:
        try:
            return str(self._publish_call([message])[0])
        except gexc.GoogleAPIError as exc:
            return Failed(self._not_published(exc))

    def _not_published(self, exc: gexc.GoogleAPIError) -> QueueError:
        return QueueError(f"Pub/Sub could not publish to {self.topic_path}: {exc}")

    def _publish_call(self, messages: list[tuple[Any, int]]) -> Any:
        # The generated client's Publish (what the deprecated `publisher.api` gave), given
        # the protobuf request itself: its proto-plus wrapper of a message costs 23 us here,
        # the protobuf message 4 (docs/performance.md).
        request = _PublishRequest(topic=self.topic_path, messages=[m for m, _ in messages])
        reply = _GeneratedPublisher.publish(  # type: ignore[call-arg]
            self._publisher, request=request, retry=self._retry, timeout=self._timeout
        )
        return reply.message_ids

    def publish_many(self, messages: list[dict[str, Any]]) -> list[str | QueueError]:
        """Publish every message at once (the client batches them), then wait for them all.

        Returns, per message, its id or the `QueueError` that kept it from being published.
        """
        pending = []
        for message in messages:
            data = dumps_bytes(message)
            pending.append(self._publisher.publish(self.topic_path, data))
        results: list[str | QueueError] = []
        for future in pending:
            try:
                results.append(str(future.result(timeout=self._timeout)))
            except (gexc.GoogleAPIError, futures.TimeoutError, MessageTooLargeError) as exc:
                results.append(QueueError(f"Pub/Sub could not publish: {exc}"))
        return results


def ordered_topic(topic: str) -> str:
    """The name of the internal topic's ordered twin (docs/delivery.md, "Ordering")."""
    return f"{topic}-ordered"


class InternalQueue:
    """The internal topic and its ordered twin, published to as one queue.

    A message with an ordering key goes to the twin, whose worker subscription has message
    ordering on; every other message to the internal topic, whose subscription has it off.
    Kept apart, an ordered subscription's ways stay with the integrations that asked for
    order: the Pub/Sub emulator stops pushing a whole ordered subscription once any message
    on it reaches its dead-letter limit (one always-failing target stopped every
    integration's delivery), and Pub/Sub pushes an ordered subscription's keys one message
    at a time.
    """

    def __init__(self, unordered: Queue, ordered: Queue) -> None:
        self._unordered = unordered
        self._ordered = ordered
        self.topic_path = unordered.topic_path

    def publish(
        self,
        message: dict[str, Any],
        attributes: dict[str, str] | None = None,
        ordering_key: str | None = None,
    ) -> str:
        """Publish to the ordered twin with `ordering_key`, else to the internal topic."""
        if ordering_key:
            return self._ordered.publish(message, attributes, ordering_key)
        return self._unordered.publish(message, attributes)

    def publish_many(self, messages: list[dict[str, Any]]) -> list[str | QueueError]:
        """Publish every message (none has a key) to the internal topic."""
        return self._unordered.publish_many(messages)


def ensure_topic_and_subscription(
    publisher: pubsub_v1.PublisherClient,
    subscriber: pubsub_v1.SubscriberClient,
    project: str,
    topic: str,
    subscription: str,
    dead_letter_topic: str | None = None,
    max_delivery_attempts: int = DEFAULT_MAX_DELIVERY_ATTEMPTS,
    push_endpoint: str | None = None,
    min_backoff: int = DEFAULT_MIN_BACKOFF_S,
    max_backoff: int = DEFAULT_MAX_BACKOFF_S,
    ack_deadline_seconds: int = DEFAULT_ACK_DEADLINE_S,
    dead_letter_subscription: str | None = None,
    message_ordering: bool = False,
) -> str:
    """Create the topic and its subscription, or bring existing ones to these settings.

    Names are short names within `project`. With `dead_letter_topic`, messages that failed
    `max_delivery_attempts` times go there; `dead_letter_subscription` keeps them, since
    Pub/Sub drops what reaches a topic nobody subscribes to. `message_ordering` delivers
    the messages of one ordering key in order, one at a time; Pub/Sub cannot change it on an
    existing subscription, so one made without it keeps that. Returns the subscription path.
    """
    # The limits Pub/Sub itself enforces, checked here to fail with a plain sentence.
    if not 5 <= max_delivery_attempts <= 100:
        raise ValueError("max_delivery_attempts must be between 5 and 100")
    if not 0 <= min_backoff <= max_backoff <= 600:
        raise ValueError("backoffs must satisfy 0 <= min_backoff <= max_backoff <= 600 seconds")
    if not 10 <= ack_deadline_seconds <= 600:
        raise ValueError("ack_deadline_seconds must be between 10 and 600")

    topic_path = publisher.topic_path(project, topic)
    subscription_path = subscriber.subscription_path(project, subscription)
    settings: dict[str, Any] = {
        "name": subscription_path,
        "topic": topic_path,
        "ack_deadline_seconds": ack_deadline_seconds,
        "retry_policy": {
            "minimum_backoff": duration_pb2.Duration(seconds=min_backoff),
            "maximum_backoff": duration_pb2.Duration(seconds=max_backoff),
        },
        "push_config": {"push_endpoint": push_endpoint} if push_endpoint else {},
        "enable_message_ordering": message_ordering,
    }
    try:
        _create_topic(publisher, topic_path)
        if dead_letter_topic:
            dead_letter_path = publisher.topic_path(project, dead_letter_topic)
            _create_topic(publisher, dead_letter_path)
            settings["dead_letter_policy"] = {
                "dead_letter_topic": dead_letter_path,
                "max_delivery_attempts": max_delivery_attempts,
            }
            if dead_letter_subscription:
                _create_subscription(
                    subscriber,
                    {
                        "name": subscriber.subscription_path(project, dead_letter_subscription),
                        "topic": dead_letter_path,
                    },
                )
        if not _create_subscription(subscriber, settings):
            # Already there: converge on these settings, so a changed default takes effect.
            subscriber.update_subscription(
                request={
                    "subscription": settings,
                    "update_mask": field_mask_pb2.FieldMask(paths=_SUBSCRIPTION_SETTINGS),
                }
            )
    except gexc.GoogleAPIError as exc:
        raise QueueError(f"Pub/Sub could not set up {subscription_path}: {exc}") from exc
    return subscription_path


def _create_topic(publisher: pubsub_v1.PublisherClient, topic_path: str) -> None:
    try:
        publisher.create_topic(name=topic_path)
    except gexc.AlreadyExists:
        pass


def _create_subscription(subscriber: pubsub_v1.SubscriberClient, request: dict[str, Any]) -> bool:
    """Create the subscription; False if it exists already."""
    try:
        subscriber.create_subscription(request=request)
    except gexc.AlreadyExists:
        return False
    return True
