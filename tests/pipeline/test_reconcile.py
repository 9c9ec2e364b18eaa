"""Runs left in flight are published again, then ended with a reason an alert matches."""

from __future__ import annotations

import logging

import pytest

from mapper.errors import RetryableTargetError
from tests.pipeline.support import HOOK, build

KEYED = {"webhook-id": "msg_1"}  # an event the intake records before publishing it


def test_a_message_the_queue_lost_is_published_again_and_delivered_once() -> None:
    p = build()
    # Recorded at accept: a keyed event (a fresh one is recorded by its worker)
    receipt = p.intake.receive_webhook("p-secret", KEYED, lambda limit: b'{"n": 1}')
    p.queue.messages.clear()  # the queue never delivers it
    p.clock.advance(899)
    assert p.reconciler.sweep().republished == []  # not before the horizon
    p.clock.advance(2)
    assert p.reconciler.sweep().republished == [receipt.run_id]
    assert p.deliver_all() == ["success"]
    assert {s["runId"] for s in p.target.sent} == {receipt.run_id}


def test_a_retry_whose_time_came_is_published_once_then_left_to_the_horizon() -> None:
    p = build()
    p.target.script = [RetryableTargetError]
    receipt = p.intake.receive_webhook("p-secret", {}, lambda limit: b'{"n": 1}')
    with pytest.raises(RetryableTargetError):
        p.deliver_all()  # and then the queue never delivers it again
    run = p.runs.get(receipt.run_id)
    assert run["status"] == "retrying" and run["nextAttemptAt"] == p.clock.iso(10)
    p.clock.advance(9)
    assert p.reconciler.sweep().republished == []  # not before its next attempt
    p.clock.advance(2)
    assert p.reconciler.sweep().republished == [receipt.run_id]
    assert p.runs.get(receipt.run_id)["nextAttemptAt"] is None
    assert p.reconciler.sweep().republished == []  # once, not on every tick
    assert p.deliver_all() == ["success"]
    assert len(p.target.sent) == 2 and {s["runId"] for s in p.target.sent} == {receipt.run_id}
    assert p.runs.get(receipt.run_id)["attempts"] == 2


def test_a_retry_waiting_past_the_horizon_is_not_taken_for_lost() -> None:
    p = build({**HOOK, "retry": {"initialBackoffSeconds": 3600, "maxBackoffSeconds": 3600}})
    p.target.script = [RetryableTargetError]
    receipt = p.intake.receive_webhook("p-secret", {}, lambda limit: b'{"n": 1}')
    with pytest.raises(RetryableTargetError):
        p.deliver_all()
    p.clock.advance(3000)  # past the horizon (900 s), before its next attempt
    assert p.reconciler.sweep().as_dict() == {"republished": 0, "ended": 0, "failed": 0}
    assert p.runs.get(receipt.run_id).get("republishes") is None
    p.clock.advance(601)
    assert p.reconciler.sweep().republished == [receipt.run_id]


def test_after_n_republishes_the_run_ends_with_the_reason(caplog: pytest.LogCaptureFixture) -> None:
    p = build()
    receipt = p.intake.receive_webhook("p-secret", KEYED, lambda limit: b'{"n": 1}')
    p.queue.messages.clear()  # lost
    for n in range(3):
        p.clock.advance(900 * 2**n - 2)
        assert p.reconciler.sweep().republished == []  # each wait twice the one before
        p.clock.advance(3)
        assert p.reconciler.sweep().republished == [receipt.run_id]
        p.queue.messages.clear()  # lost again
    p.clock.advance(900 * 2**3 + 1)
    with caplog.at_level(logging.ERROR, "mapper.reconcile"):
        assert p.reconciler.sweep().ended == [receipt.run_id]
    run = p.runs.get(receipt.run_id)
    assert run["status"] == "error"
    assert run["errorMessage"] == "lost by the queue after 3 republishes"
    assert "run lost by the queue" in caplog.text


def test_a_live_lease_is_not_taken_for_lost() -> None:
    p = build()
    receipt = p.intake.receive_webhook("p-secret", KEYED, lambda limit: b'{"n": 1}')
    p.runs.claim(receipt.run_id, "slow", 2000)
    p.clock.advance(901)
    assert p.reconciler.sweep().as_dict() == {"republished": 0, "ended": 0, "failed": 0}
