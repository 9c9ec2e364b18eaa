"""Topics, push subscriptions and the scheduler: each internal function is reached, with a token."""

from __future__ import annotations

import pytest

from mapper.queue import DEFAULT_MAX_BACKOFF_S, DEFAULT_MIN_BACKOFF_S

from .tfconfig import Expr, load

INVOKER = Expr("google_service_account.invoker.email")
# subscription resource -> (topic resource, function it pushes to)
SUBSCRIPTIONS = {
    "worker": ("internal", "worker"),
    "dead_letter": ("dead_letter", "dead_letter"),
    "pull_tasks": ("pull_tasks", "pull"),
}


def subscription(name: str) -> dict:
    return load().resource("google_pubsub_subscription", name).body


@pytest.mark.parametrize("name", sorted(SUBSCRIPTIONS))
def test_subscription_pushes_to_its_function_with_the_invokers_token(name: str) -> None:
    topic, function = SUBSCRIPTIONS[name]
    body = subscription(name)
    assert body["topic"] == Expr(f"google_pubsub_topic.{topic}.id")
    [push] = body["push_config"]
    url = Expr(f'local.function_urls["{function}"]')
    assert push["push_endpoint"] == url
    assert push["oidc_token"] == [{"service_account_email": INVOKER, "audience": url}]
    assert body["expiration_policy"] == [{"ttl": ""}], "a platform subscription never expires"
    assert "module.function" in body["depends_on"]


def test_every_internal_function_is_reached() -> None:
    functions = load().default("functions")
    reached = {function for _, function in SUBSCRIPTIONS.values()}
    job = load().resource("google_cloud_scheduler_job", "pull").body
    assert job["http_target"][0]["uri"] == Expr('local.function_urls["pull"]')
    reached.add("pull")
    assert {name for name, f in functions.items() if not f["public"]} == reached


def test_worker_retries_then_dead_letters() -> None:
    body = subscription("worker")
    assert body["retry_policy"] == [
        {
            "minimum_backoff": Expr("local.retry_policy.minimum_backoff"),
            "maximum_backoff": Expr("local.retry_policy.maximum_backoff"),
        }
    ]
    config = load()
    assert config.default("retry_min_backoff_seconds") == DEFAULT_MIN_BACKOFF_S == 10
    assert config.default("retry_max_backoff_seconds") == DEFAULT_MAX_BACKOFF_S == 600
    assert body["dead_letter_policy"] == [
        {
            "dead_letter_topic": Expr("google_pubsub_topic.dead_letter.id"),
            "max_delivery_attempts": Expr("var.max_delivery_attempts"),
        }
    ]
    assert config.default("max_delivery_attempts") == 10
    # A delivery still running must not be redelivered: the ack deadline is the timeout.
    assert body["ack_deadline_seconds"] == Expr('local.ack_deadline["worker"]')


def test_dead_letter_topic_is_named_as_locally() -> None:
    # local/serve.py creates f"{topic}-dead-letter" and f"{topic}-dead-letter-push".
    assert load().resource("google_pubsub_topic", "dead_letter").body["name"] == (
        "${var.internal_topic}-dead-letter"
    )
    assert subscription("dead_letter")["name"] == "${var.internal_topic}-dead-letter-push"


def test_pubsub_may_dead_letter_and_sign() -> None:
    config = load()
    publisher = config.resource("google_pubsub_topic_iam_member", "pubsub_dead_letter_publisher")
    assert publisher.body["topic"] == Expr("google_pubsub_topic.dead_letter.name")
    subscriber = config.resource(
        "google_pubsub_subscription_iam_member", "pubsub_dead_letter_subscriber"
    )
    assert subscriber.body["subscription"] == Expr("google_pubsub_subscription.worker.name")
    minting = config.resource("google_service_account_iam_member", "pubsub_mints_tokens").body
    assert minting["role"] == "roles/iam.serviceAccountTokenCreator"
    assert set(minting["for_each"]) == {"invoker", "push_auth"}


def test_scheduler_ticks_pull_with_the_invokers_token() -> None:
    job = load().resource("google_cloud_scheduler_job", "pull").body
    [target] = job["http_target"]
    assert target["http_method"] == "POST"
    assert target["oidc_token"] == [
        {"service_account_email": INVOKER, "audience": Expr('local.function_urls["pull"]')}
    ]
    # The pull function tells a tick from a pushed task by the envelope's "message" key.
    assert "message" not in target["body"]
    settings = load().locals()["settings"]
    assert settings["PULL_AUDIENCE"]["value"] == target["oidc_token"][0]["audience"]
    assert settings["PULL_INVOKER_SERVICE_ACCOUNT"]["value"] == INVOKER
    assert load().default("pull_schedule") == "* * * * *"
