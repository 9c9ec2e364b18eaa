"""Keep each Pub/Sub integration's subscription in step with its document.

Saving a Pub/Sub integration creates its subscription (named by `source.subscription`, or
`mapper-<integration id>`) in the user's project, with the user's credentials when given:
push subscriptions point at the integration's `pushEndpoint` with an OIDC token, pull
subscriptions are plain. A subscription that already exists is used as it is (attached to
the same topic) and is never deleted by the platform: only one it created, remembered in
`managedSubscription`, is. Every change is prepared, then committed once the document is
stored, or rolled back, so that a failed save leaves nothing half-made.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

from google.api_core import exceptions as gexc

from ..engine.config import service_account_key_problem
from ..engine.reserved import PlatformPubSub
from ..errors import ConflictError, ListenerError, NotConfigured, SecretError
from ..secrets import SecretResolver

ACK_DEADLINE_S = 60
PULL_WAIT_S = 5.0  # how long one pull call waits for messages when there are none yet
PUBSUB_SCOPE = "https://www.googleapis.com/auth/pubsub"

# What each call needs, for the sentence a user reads when Google says PERMISSION_DENIED.
_PERMISSIONS = {
    "create": "pubsub.subscriptions.create (and pubsub.topics.attachSubscription on the topic)",
    "read": "pubsub.subscriptions.get",
    "update": "pubsub.subscriptions.update",
    "delete": "pubsub.subscriptions.delete",
    "publish": "pubsub.topics.publish",
    "pull": "pubsub.subscriptions.consume",
}


@dataclass(frozen=True)
class PushIdentity:
    """The service account whose OIDC token Pub/Sub attaches to push requests, and for whom."""

    service_account: str
    audience: str


class PubSubClients:
    """Publisher and subscriber clients per set of credentials (the platform's by default)."""

    def __init__(self, secrets: SecretResolver, emulator: bool = False) -> None:
        self._secrets = secrets
        self._emulator = emulator
        self._cache: dict[str, tuple[Any, Any]] = {}
        self._lock = Lock()

    def for_source(self, source: dict[str, Any]) -> tuple[Any, Any]:
        """(publisher, subscriber) acting with `source.credentials`, or the platform's own."""
        from google.cloud import pubsub_v1

        credentials = source.get("credentials")
        # The emulator takes no credentials; the client library ignores them there.
        key = "" if not credentials or self._emulator else json.dumps(credentials, sort_keys=True)
        with self._lock:
            if key not in self._cache:
                creds = self._credentials(credentials) if key else None
                self._cache[key] = (
                    pubsub_v1.PublisherClient(credentials=creds),
                    pubsub_v1.SubscriberClient(credentials=creds),
                )
            return self._cache[key]

    def _credentials(self, value: Any) -> Any:
        from google.oauth2 import service_account

        try:
            info = json.loads(self._secrets.resolve(value))
            # Validation refuses it too; a key stored before that would still be used here.
            found = service_account_key_problem(info)
            if found:
                where = f"source.credentials.{found[0]}"
                raise ListenerError(f"{where} {found[1]}", where)
            return service_account.Credentials.from_service_account_info(
                info, scopes=[PUBSUB_SCOPE]
            )
        except (SecretError, ListenerError):
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise ListenerError(
                f"source.credentials is not a usable service account key: {exc}",
                "source.credentials",
            ) from None


@dataclass
class Change:
    """A prepared subscription change: fields to store, and how to finish or undo it."""

    fields: dict[str, Any] = field(default_factory=dict)
    _commit: list[Callable[[], None]] = field(default_factory=list)
    _rollback: list[Callable[[], None]] = field(default_factory=list)

    def on_commit(self, step: Callable[[], None]) -> None:
        """Run `step` once the document is stored."""
        self._commit.append(step)

    def on_rollback(self, step: Callable[[], None]) -> None:
        """Run `step` if the document could not be stored."""
        self._rollback.append(step)

    def commit(self) -> None:
        """The document is stored: drop what it no longer uses (best effort)."""
        for step in self._commit:
            try:
                step()
            except ListenerError:
                pass  # an orphaned subscription we made costs nothing while unused

    def rollback(self) -> None:
        """The document was not stored: undo what was made for it (best effort)."""
        for step in reversed(self._rollback):
            try:
                step()
            except ListenerError:
                pass


class SubscriptionManager:
    """The `Listeners` of `mapper.admin` for Pub/Sub sources."""

    def __init__(
        self,
        clients: PubSubClients,
        push_endpoint: Callable[[str], str],
        push_identity: PushIdentity | None = None,
        platform: PlatformPubSub | None = None,
        *,
        push_missing: str | None = None,
    ) -> None:
        self._clients = clients
        self._push_missing = push_missing
        self._push_endpoint = push_endpoint
        self._identity = push_identity
        self._platform = platform or PlatformPubSub.from_env()

    def prepare(self, new: dict[str, Any], old: dict[str, Any] | None) -> Change:
        """Make or change the subscription `new` needs; the change commits after the save."""
        old = old or {}
        old_managed = old.get("managedSubscription")
        change = Change()
        source = new.get("source") or {}
        refuse_platform_names(source, self._platform)
        if self._push_missing and source.get("type") == "pubsub" and source.get("mode") == "push":
            raise NotConfigured(self._push_missing)
        path = (
            self._attach(new, source, old_managed, change)
            if source.get("type") == "pubsub"
            else None
        )
        if old_managed and old_managed != path:
            # The one we made is no longer used: delete it once the new document is stored.
            change.on_commit(lambda: self._delete(old.get("source") or {}, old_managed))
        return change

    def remove(self, doc: dict[str, Any]) -> None:
        """Delete the subscription the platform created for `doc` (never another one)."""
        managed = doc.get("managedSubscription")
        if managed:
            self._delete(doc.get("source") or {}, managed)

    def is_listening(self, doc: dict[str, Any]) -> bool:
        """Whether the subscription exists, on the topic, and (push) points at us."""
        source = doc.get("source") or {}
        if source.get("type") != "pubsub":
            return False
        try:
            _, subscriber = self._clients.for_source(source)
            existing = subscriber.get_subscription(subscription=subscription_path(doc))
        except (gexc.GoogleAPIError, ListenerError, SecretError):
            return False
        if existing.topic != topic_path(source):
            return False
        if source.get("mode") == "push":
            return existing.push_config.push_endpoint == self._push_endpoint(doc["pushPath"])
        return not existing.push_config.push_endpoint

    def publish_test(self, doc: dict[str, Any], payload: Any) -> str:
        """Publish `payload` as JSON to the integration's topic; the message id."""
        source = doc.get("source") or {}
        if source.get("type") != "pubsub":
            raise ConflictError("this integration does not read from Pub/Sub")
        refuse_platform_names(source, self._platform)
        publisher, _ = self._clients.for_source(source)
        data = json.dumps(payload, separators=(",", ":")).encode()
        with _explained("publish", topic_path(source)):
            return str(publisher.publish(topic_path(source), data, test="true").result(30))

    # --- the calls --------------------------------------------------------------------------

    def _attach(
        self, doc: dict[str, Any], source: dict[str, Any], old_managed: str | None, change: Change
    ) -> str:
        _, subscriber = self._clients.for_source(source)
        path = subscription_path(doc)
        topic = topic_path(source)
        push_config = self._push_config(doc, source)
        with _explained("read", path):
            try:
                existing = subscriber.get_subscription(subscription=path)
            except gexc.NotFound:
                existing = None
        if existing is None:
            with _explained("create", path, topic):
                subscriber.create_subscription(
                    request={
                        "name": path,
                        "topic": topic,
                        "push_config": push_config,
                        "ack_deadline_seconds": ACK_DEADLINE_S,
                        "labels": {"managed-by": "json-mapper"},
                    }
                )
            change.on_rollback(lambda: self._delete(source, path))
            change.fields = {"managedSubscription": path, "listenerActive": True}
            return path
        if existing.topic != topic and path == old_managed:
            # Ours, on the old topic: a subscription cannot move, so make it again.
            self._delete(source, path)
            change.on_rollback(lambda: self._recreate(subscriber, existing))
            return self._attach(doc, source, None, change)
        if existing.topic != topic:
            raise ListenerError(
                f"subscription {path} reads topic {existing.topic}, not {topic}; "
                "name another subscription, or leave it empty to have one made",
                "source.subscription",
            )
        before = {"push_endpoint": existing.push_config.push_endpoint}
        if existing.push_config.push_endpoint != push_config.get("push_endpoint", ""):
            with _explained("update", path):
                subscriber.modify_push_config(subscription=path, push_config=push_config)
            change.on_rollback(
                lambda: subscriber.modify_push_config(subscription=path, push_config=before)
            )
        managed = path if path == old_managed else None
        change.fields = {"managedSubscription": managed, "listenerActive": True}
        return path

    def _recreate(self, subscriber: Any, previous: Any) -> None:
        with _explained("create", previous.name, previous.topic):
            subscriber.create_subscription(request=previous)

    def _push_config(self, doc: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
        if source.get("mode") != "push":
            return {}
        config: dict[str, Any] = {"push_endpoint": self._push_endpoint(doc["pushPath"])}
        if self._identity is not None:
            config["oidc_token"] = {
                "service_account_email": self._identity.service_account,
                "audience": self._identity.audience,
            }
        return config

    def _delete(self, source: dict[str, Any], path: str) -> None:
        _, subscriber = self._clients.for_source(source)
        with _explained("delete", path):
            try:
                subscriber.delete_subscription(subscription=path)
            except gexc.NotFound:
                pass


def refuse_platform_names(source: dict[str, Any], platform: PlatformPubSub) -> None:
    """`ListenerError` when a source names the platform's own topics or subscriptions.

    Validation refuses them first; this holds for a document stored before it did, or a
    caller that skipped it, before any Pub/Sub call is made.
    """
    problems = platform.problems(source)
    if problems:
        raise ListenerError(problems[0].message, problems[0].path)


def topic_path(source: dict[str, Any]) -> str:
    """projects/<projectId>/topics/<topic> of a Pub/Sub source."""
    topic = source["topic"]
    return (
        topic if topic.startswith("projects/") else f"projects/{source['projectId']}/topics/{topic}"
    )


def subscription_path(doc: dict[str, Any]) -> str:
    """The integration's subscription: `source.subscription`, or mapper-<id> that we make."""
    source = doc["source"]
    name = source.get("subscription") or f"mapper-{doc['id']}"
    if name.startswith("projects/"):
        return name
    return f"projects/{source['projectId']}/subscriptions/{name}"


class _explained:  # noqa: N801 - used as `with _explained(...)`
    """Turn Google's errors into a `ListenerError` a user can act on."""

    def __init__(self, action: str, resource: str, topic: str | None = None) -> None:
        self._action = action
        self._resource = resource
        self._topic = topic

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or not isinstance(exc, gexc.GoogleAPIError):
            return
        raise explain(exc, self._action, self._resource, self._topic) from exc


def explain(
    exc: gexc.GoogleAPIError, action: str, resource: str, topic: str | None = None
) -> ListenerError:
    """The sentence for a Google error on `action` over `resource`."""
    if isinstance(exc, gexc.PermissionDenied):
        project = resource.split("/")[1] if resource.startswith("projects/") else "the project"
        return ListenerError(
            f"permission denied to {action} {resource}: the service account needs "
            f"{_PERMISSIONS[action]} in project {project} (for example roles/pubsub.editor)",
            "source.credentials",
        )
    if isinstance(exc, gexc.NotFound):
        if topic is not None:
            return ListenerError(f"topic {topic} does not exist", "source.topic")
        return ListenerError(f"{resource} does not exist", "source.subscription")
    if isinstance(exc, gexc.Unauthenticated):
        return ListenerError(
            f"Google refused the credentials to {action} {resource}: {exc.message}",
            "source.credentials",
        )
    if isinstance(exc, (gexc.InvalidArgument, gexc.FailedPrecondition, gexc.AlreadyExists)):
        return ListenerError(f"Pub/Sub refused to {action} {resource}: {exc.message}", "source")
    return ListenerError(
        f"Pub/Sub failed to {action} {resource}: {exc}; try again", "source", retryable=True
    )


@dataclass(frozen=True)
class Pulled:
    """One message pulled from a subscription."""

    ack_id: str
    message_id: str
    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)


class PubSubSubscriptions:
    """The pull runner's `Subscriptions` on Google Pub/Sub, with each integration's credentials."""

    def __init__(self, clients: PubSubClients, platform: PlatformPubSub | None = None) -> None:
        self._clients = clients
        self._platform = platform or PlatformPubSub.from_env()

    def pull(self, doc: dict[str, Any], max_messages: int) -> list[Pulled]:
        refuse_platform_names(doc["source"], self._platform)  # a document stored before
        _, subscriber = self._clients.for_source(doc["source"])
        path = subscription_path(doc)
        try:
            response = subscriber.pull(
                subscription=path, max_messages=max_messages, timeout=PULL_WAIT_S, retry=None
            )
        except gexc.DeadlineExceeded:
            return []  # nothing arrived while waiting
        except gexc.GoogleAPIError as exc:
            raise explain(exc, "pull", path) from exc
        return [
            Pulled(r.ack_id, r.message.message_id, bytes(r.message.data),
                   dict(r.message.attributes))
            for r in response.received_messages
        ]

    def acknowledge(self, doc: dict[str, Any], ack_ids: list[str]) -> None:
        _, subscriber = self._clients.for_source(doc["source"])
        path = subscription_path(doc)
        try:
            subscriber.acknowledge(subscription=path, ack_ids=ack_ids)
        except gexc.GoogleAPIError as exc:
            raise explain(exc, "pull", path) from exc
