"""Retries the platform counts: the run's own attempts, its next attempt's time, Retry-After,
its age, and the dead letter, whatever the queue's delivery count says."""

from __future__ import annotations

import logging
from email.utils import format_datetime

import pytest

from mapper.engine.config import RetryPolicy
from mapper.errors import RetryableTargetError
from mapper.pipeline.retries import after_failure, backoff_seconds, retry_after_seconds
from mapper.pipeline.runs import QueuedMessage, RunStatus
from mapper.pipeline.worker import NotDueYet
from tests.fakes import from_the_topic
from tests.pipeline.support import HOOK, Pipeline, build

FIVE = {"maxAttempts": 5, "initialBackoffSeconds": 1, "maxBackoffSeconds": 2}


def failing(p: Pipeline, times: int = 100) -> str:
    p.target.script = [RetryableTargetError] * times
    receipt = p.intake.receive_webhook("p-secret", {}, lambda limit: b'{"n": 1}')
    assert receipt.status == "queued"
    return str(receipt.run_id)


def attempt(p: Pipeline, message: QueuedMessage) -> str:
    """One delivery of `message`: the status it returned, or the retryable error's code."""
    try:
        return p.worker.process(message)
    except RetryableTargetError:
        return RunStatus.RETRYING
    except NotDueYet:
        return "not due"


def test_a_republished_message_does_not_start_the_count_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The queue stops redelivering after 2 attempts; the reconciler publishes the run again,
    # which Pub/Sub counts from 1: the run's count goes on, and the fifth attempt is the last.
    p = build({**HOOK, "retry": FIVE})
    run_id = failing(p)
    message = from_the_topic(p.queue.messages.pop())
    with caplog.at_level(logging.INFO, "mapper.worker"):
        assert attempt(p, message) == RunStatus.RETRYING
        p.clock.advance(2)
        assert attempt(p, message) == RunStatus.RETRYING
        outcomes = []
        for _ in range(6):  # the queue lost it: only the reconciler's copies arrive
            p.clock.advance(2)
            assert p.reconciler.sweep().republished == ([run_id] if not outcomes or
                                                        outcomes[-1] == "retrying" else [])
            for copy in p.queue.messages:
                outcomes.append(attempt(p, from_the_topic(copy)))
            p.queue.messages.clear()
    assert outcomes == ["retrying", "retrying", "dead_lettered"]
    run = p.runs.get(run_id)
    assert run["status"] == RunStatus.DEAD_LETTERED and run["attempts"] == 5
    assert run["errorMessage"] == "gave up after 5 attempts: 503 from the target"
    assert run.get("nextAttemptAt") is None
    assert len(p.target.sent) == 5
    lines = [r.getMessage() for r in caplog.records if r.name == "mapper.worker"]
    assert [line.split(": ")[0] for line in lines] == [f"attempt {n} of 5" for n in range(1, 6)]
    assert lines[-1].endswith("dead_lettered: gave up after 5 attempts: 503 from the target; "
                              "not retried")


def test_the_worker_dead_letters_the_last_attempt_itself() -> None:
    p = build({**HOOK, "retry": {**FIVE, "maxAttempts": 2}})
    run_id = failing(p)
    message = from_the_topic(p.queue.messages[0])
    assert attempt(p, message) == RunStatus.RETRYING
    p.clock.advance(1)
    assert attempt(p, message) == RunStatus.DEAD_LETTERED  # acknowledged, not raised
    assert p.runs.get(run_id)["status"] == RunStatus.DEAD_LETTERED
    p.clock.advance(60)
    assert attempt(p, message) == RunStatus.DEAD_LETTERED  # a late copy sends nothing
    assert len(p.target.sent) == 2


def test_an_attempt_that_never_recorded_its_outcome_still_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A worker that died after claiming counted the attempt: past the policy, nothing is sent.
    p = build({**HOOK, "retry": {**FIVE, "maxAttempts": 2}})
    run_id = failing(p)
    message = from_the_topic(p.queue.messages[0])
    assert attempt(p, message) == RunStatus.RETRYING
    p.clock.advance(1)
    p.runs.claim(run_id, "crashed", 1)  # attempt 2: claimed, then the instance died
    p.clock.advance(5)
    with caplog.at_level(logging.INFO, "mapper.worker"):
        assert attempt(p, message) == RunStatus.DEAD_LETTERED
    assert "attempt 3 of 2" not in caplog.text
    assert "after 2 of 2 attempts: dead_lettered: not attempted again" in caplog.text
    run = p.runs.get(run_id)
    assert run["errorMessage"].startswith("not attempted again: its 2 attempts were used")
    assert len(p.target.sent) == 1


def test_a_delivery_before_the_next_attempt_is_sent_back_without_counting() -> None:
    p = build()
    run_id = failing(p, times=1)
    message = from_the_topic(p.queue.messages[0])
    assert attempt(p, message) == RunStatus.RETRYING
    run = p.runs.get(run_id)
    assert run["nextAttemptAt"] == p.clock.iso(10)  # the platform's initial backoff
    writes = p.runs.writes
    p.clock.advance(9)
    assert attempt(p, message) == "not due"
    assert p.runs.writes == writes  # nothing written: not counted, not claimed
    assert p.runs.get(run_id)["attempts"] == 1 and len(p.target.sent) == 1
    p.clock.advance(1)
    assert attempt(p, message) == RunStatus.SUCCESS
    run = p.runs.get(run_id)
    assert run["attempts"] == 2 and run["nextAttemptAt"] is None


def test_the_backoff_doubles_up_to_its_maximum() -> None:
    p = build({**HOOK, "retry": {"initialBackoffSeconds": 5, "maxBackoffSeconds": 30}})
    run_id = failing(p)
    message = from_the_topic(p.queue.messages[0])
    waits = []
    for _ in range(5):
        assert attempt(p, message) == RunStatus.RETRYING
        due = p.runs.get(run_id)["nextAttemptAt"]
        waits.append(round(_epoch(due) - p.clock()))
        p.clock.advance(waits[-1])
    assert waits == [5, 10, 20, 30, 30]


@pytest.mark.parametrize("status", [429, 503, 408])
def test_retry_after_in_seconds_is_waited_for(status: int) -> None:
    p = build()
    p.target.retry_answer = {"status": status, "headers": {"Retry-After": "120"}}
    run_id = failing(p, times=1)
    message = from_the_topic(p.queue.messages[0])
    assert attempt(p, message) == RunStatus.RETRYING
    assert p.runs.get(run_id)["nextAttemptAt"] == p.clock.iso(120)
    p.clock.advance(119)
    assert attempt(p, message) == "not due"
    p.clock.advance(1)
    assert attempt(p, message) == RunStatus.SUCCESS


def test_retry_after_as_a_date_is_waited_for_and_capped_at_the_maximum_backoff() -> None:
    p = build({**HOOK, "retry": {"maxBackoffSeconds": 300}})
    p.target.retry_answer = {"status": 429, "headers": {"retry-after": _http_date(p, 200)}}
    run_id = failing(p)
    message = from_the_topic(p.queue.messages[0])
    assert attempt(p, message) == RunStatus.RETRYING
    assert p.runs.get(run_id)["nextAttemptAt"] == p.clock.iso(200)
    p.clock.advance(200)
    p.target.retry_answer = {"status": 429, "headers": {"Retry-After": _http_date(p, 86400)}}
    assert attempt(p, message) == RunStatus.RETRYING
    assert p.runs.get(run_id)["nextAttemptAt"] == p.clock.iso(300)  # the cap


def test_a_run_too_old_for_its_next_attempt_is_dead_lettered() -> None:
    p = build({**HOOK, "retry": {"initialBackoffSeconds": 60, "maxBackoffSeconds": 60,
                                 "maxAgeSeconds": 100}})
    run_id = failing(p)
    message = from_the_topic(p.queue.messages[0])
    assert attempt(p, message) == RunStatus.RETRYING  # next at 60 s: within 100 s
    p.clock.advance(60)
    assert attempt(p, message) == RunStatus.DEAD_LETTERED  # the next would be at 120 s
    run = p.runs.get(run_id)
    assert run["attempts"] == 2
    assert "more than 100 s after the event was accepted" in run["errorMessage"]


def test_a_run_delivered_after_its_maximum_age_is_not_attempted() -> None:
    p = build({**HOOK, "retry": {"maxAgeSeconds": 60}})
    run_id = failing(p)
    p.clock.advance(61)  # the message was held up in the queue
    assert p.deliver_all() == [RunStatus.DEAD_LETTERED]
    assert p.target.sent == []
    assert "older than 60 s" in p.runs.get(run_id)["errorMessage"]


def test_the_dead_letter_of_a_run_with_attempts_left_keeps_it_retrying() -> None:
    # Pub/Sub's count also grew with deliveries sent back as early: the run's own decides.
    p = build({**HOOK, "retry": {"initialBackoffSeconds": 30, "maxBackoffSeconds": 30}})
    run_id = failing(p, times=1)
    message = from_the_topic(p.queue.messages.pop())
    assert attempt(p, message) == RunStatus.RETRYING
    assert p.worker.dead_letter(message) == RunStatus.RETRYING  # not yet due: left waiting
    assert p.queue.messages == []
    p.clock.advance(30)
    assert p.worker.dead_letter(message) == RunStatus.RETRYING  # due: published again now
    assert [m["runId"] for m in p.queue.messages] == [run_id]
    assert p.deliver_all() == [RunStatus.SUCCESS]


def test_the_dead_letter_of_a_run_without_attempts_left_ends_it() -> None:
    p = build({**HOOK, "retry": {**FIVE, "maxAttempts": 1}})
    p.target.script = [RetryableTargetError]
    run_id = failing(p, times=1)
    message = from_the_topic(p.queue.messages.pop())
    assert attempt(p, message) == RunStatus.DEAD_LETTERED
    p.runs.mark(run_id, RunStatus.RETRYING)  # as if recorded before the policy changed
    assert p.worker.dead_letter(message) == RunStatus.DEAD_LETTERED
    assert p.queue.messages == []


def test_the_schedule_is_a_pure_function_of_the_run() -> None:
    policy = RetryPolicy(max_attempts=3, initial_backoff_seconds=10, max_backoff_seconds=25)
    assert [backoff_seconds(policy, n) for n in (1, 2, 3, 4)] == [10, 20, 25, 25]
    run = {"attempts": 3, "createdAt": "2026-01-01T00:00:00Z"}
    assert after_failure(policy, run, 1_767_225_600.0).next_at is None
    assert retry_after_seconds({"status": 500, "headers": {"Retry-After": "9"}}, 0) is None
    assert retry_after_seconds({"status": 429, "headers": {"Retry-After": "soon"}}, 0) is None
    assert retry_after_seconds({"status": 503, "headers": {"Retry-After": " 7 "}}, 0) == 7


def _epoch(iso: str) -> float:
    from mapper.timestamps import epoch_seconds

    return epoch_seconds(iso)


def _http_date(p: Pipeline, offset: float) -> str:
    from datetime import datetime, timezone

    return format_datetime(datetime.fromtimestamp(p.clock() + offset, tz=timezone.utc),
                           usegmt=True)
