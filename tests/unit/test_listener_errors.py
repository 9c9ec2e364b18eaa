"""Google's refusals of subscription calls, as the sentences users read."""

from __future__ import annotations

from google.api_core import exceptions as gexc

from mapper.sources.subscriptions import explain

SUBSCRIPTION = "projects/acme-prod/subscriptions/mapper-42"
TOPIC = "projects/acme-prod/topics/orders"


def test_permission_denied_names_the_permission_and_the_project() -> None:
    error = explain(gexc.PermissionDenied("User not authorized"), "create", SUBSCRIPTION, TOPIC)
    assert error.path == "source.credentials" and not error.retryable
    assert "pubsub.subscriptions.create" in str(error)
    assert "pubsub.topics.attachSubscription" in str(error)
    assert "project acme-prod" in str(error)
    assert "roles/pubsub.editor" in str(error)


def test_each_action_names_its_own_permission() -> None:
    for action, permission in [
        ("delete", "pubsub.subscriptions.delete"),
        ("update", "pubsub.subscriptions.update"),
        ("publish", "pubsub.topics.publish"),
        ("pull", "pubsub.subscriptions.consume"),
    ]:
        assert permission in str(explain(gexc.PermissionDenied("no"), action, SUBSCRIPTION))


def test_a_missing_topic_points_at_the_topic_field() -> None:
    error = explain(gexc.NotFound("Resource not found"), "create", SUBSCRIPTION, TOPIC)
    assert error.path == "source.topic"
    assert str(error) == f"topic {TOPIC} does not exist"


def test_a_missing_subscription_points_at_the_subscription_field() -> None:
    error = explain(gexc.NotFound("gone"), "pull", SUBSCRIPTION)
    assert error.path == "source.subscription" and "does not exist" in str(error)


def test_bad_credentials_and_refusals_are_not_retried_but_outages_are() -> None:
    assert explain(gexc.Unauthenticated("bad key"), "read", SUBSCRIPTION).path == (
        "source.credentials"
    )
    assert not explain(gexc.InvalidArgument("bad name"), "create", SUBSCRIPTION).retryable
    outage = explain(gexc.ServiceUnavailable("try later"), "create", SUBSCRIPTION)
    assert outage.retryable and "try again" in str(outage)
