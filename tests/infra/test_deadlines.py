"""Deadlines that agree: Pub/Sub never redelivers a message whose delivery still runs.

A subscription that triggers deliveries (the worker's) must have an ack deadline no
shorter than the longest lease a delivery may hold: the longest target timeout plus the
lease margin (`mapper.pipeline.lease_seconds`). Terraform computes the ack deadline from the
function's timeout; these tests compute it the same way from var.functions' defaults.
"""

from __future__ import annotations

from types import SimpleNamespace

from mapper.engine.config import MAX_HTTP_TIMEOUT_S, EmailTarget
from mapper.pipeline import LEASE_MARGIN_S, lease_seconds

from .tfconfig import Expr, load

# What Terraform's local.ack_deadline says, in Python (the test below holds the text).
ACK_DEADLINE = "{for name, f in local.functions : name => max(10, min(600, f.timeout_seconds))}"


def ack_deadline(timeout_seconds: int) -> int:
    """local.ack_deadline for one function's timeout, as Terraform evaluates it."""
    return max(10, min(600, timeout_seconds))


def longest_delivery() -> float:
    """The longest lease the worker may take: the slowest HTTP target, or an email."""
    def one(target: object) -> SimpleNamespace:  # an integration with a single route
        return SimpleNamespace(routes=lambda: (SimpleNamespace(target=target),))

    http = one(SimpleNamespace(timeout_seconds=MAX_HTTP_TIMEOUT_S))
    email = one(EmailTarget.model_construct())
    return max(lease_seconds(http), lease_seconds(email))  # type: ignore[arg-type]


def delivering() -> dict[str, dict]:
    return {k: s for k, s in load().locals()["subscriptions"].items() if s["delivers"] is True}


def test_the_longest_delivery_is_the_slowest_target_plus_the_margin() -> None:
    assert LEASE_MARGIN_S == 30
    assert longest_delivery() >= MAX_HTTP_TIMEOUT_S + LEASE_MARGIN_S


def test_terraform_knows_the_longest_delivery() -> None:
    # The number the plan-time precondition compares with is the code's.
    assert load().locals()["longest_delivery_seconds"] == longest_delivery()


def test_only_the_worker_subscriptions_deliver() -> None:
    # The internal topic's and its ordered twin's (mapper.queue.InternalQueue).
    assert set(delivering()) == {"worker", "worker_ordered"}
    assert {entry["function"] for entry in delivering().values()} == {"worker"}


def test_every_delivering_subscription_outlasts_the_longest_delivery() -> None:
    assert load().locals()["ack_deadline"] == Expr(ACK_DEADLINE)
    functions = load().default("functions")
    for key, entry in delivering().items():
        timeout = functions[entry["function"]]["timeout_seconds"]
        deadline = ack_deadline(timeout)
        assert deadline >= longest_delivery(), (
            f"{key}: ack deadline {deadline} s < longest delivery {longest_delivery()} s"
        )
        # Pub/Sub cuts the push request at the ack deadline; the function must not stop first.
        assert timeout >= deadline


def test_a_plan_that_breaks_it_is_refused() -> None:
    # function_overrides can shorten the worker's timeout: the precondition stops that plan.
    [precondition] = load().resource("google_pubsub_subscription", "platform").body["lifecycle"][
        0
    ]["precondition"]
    assert precondition["condition"] == Expr(
        "!each.value.delivers || "
        "local.ack_deadline[each.value.function] >= local.longest_delivery_seconds"
    )
    assert ack_deadline(120) < longest_delivery() <= ack_deadline(300)


def test_the_reconciler_waits_out_the_longest_backoff_and_lease() -> None:
    # A run waiting for its next attempt is not lost: the horizon must outlast that wait.
    from mapper.pipeline.reconcile import DEFAULT_HORIZON_S

    longest_wait = load().default("retry_max_backoff_seconds") + longest_delivery()
    assert load().default("reconcile_after_seconds") == DEFAULT_HORIZON_S
    assert DEFAULT_HORIZON_S > longest_wait


def test_the_local_stack_agrees_too() -> None:
    from local.dev import LOCAL_RECONCILE_AFTER_S
    from local.serve import LOCAL_MAX_BACKOFF_S, worker_ack_deadline_s

    assert worker_ack_deadline_s() >= longest_delivery()
    assert float(LOCAL_RECONCILE_AFTER_S) > LOCAL_MAX_BACKOFF_S + LEASE_MARGIN_S
