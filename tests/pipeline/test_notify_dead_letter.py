"""run.dead_lettered reaches the integration's `notify`: from the worker's last attempt and
from the dead letter's handler, once the run is recorded; nothing for other outcomes."""

from __future__ import annotations

import json

import pytest

from mapper.errors import RetryableTargetError, TargetError
from tests.fakes import from_the_topic
from tests.pipeline.support import HOOK, body, build

NOTIFIED = {
    **HOOK,
    "retry": {"maxAttempts": 2, "initialBackoffSeconds": 1, "maxBackoffSeconds": 1},
    "notify": {"url": "https://ops.example.com/hooks", "email": "ops@example.com"},
}


def queued(p):  # noqa: ANN001, ANN201 - test helper
    receipt = p.intake.receive_webhook("p-secret", {}, body(json.dumps({"n": 1}).encode()))
    return receipt.run_id


def test_the_last_failed_attempt_notifies_once_with_the_recorded_reason() -> None:
    p = build(NOTIFIED)
    p.target.script = [RetryableTargetError, RetryableTargetError]
    run_id = queued(p)
    message = from_the_topic(p.queue.messages[0])

    with pytest.raises(RetryableTargetError):
        p.worker.process(message)
    assert p.notifier.sent == []  # retrying is not news
    p.clock.advance(5)
    assert p.worker.process(message) == "dead_lettered"

    run = p.runs.get(run_id)
    assert p.notifier.sent == [
        (
            "i1",
            "run.dead_lettered",
            {"runId": run_id, "status": "dead_lettered",
             "errorMessage": run["errorMessage"], "attempts": 2},
        )
    ]
    assert "payload" not in json.dumps(p.notifier.sent)  # ids, status, reason, counts only
    assert p.worker.process(message) == "dead_lettered"  # a redelivery: no second notice
    assert len(p.notifier.sent) == 1


def test_the_dead_letter_handler_notifies_when_it_ends_the_run() -> None:
    p = build(NOTIFIED)
    p.target.script = [RetryableTargetError]
    run_id = queued(p)
    message = from_the_topic(p.queue.messages[0])
    with pytest.raises(RetryableTargetError):
        p.worker.process(message)
    p.runs.touch(run_id, attempts=2)

    assert p.worker.dead_letter(message) == "dead_lettered"
    assert [(i, t, d["runId"]) for i, t, d in p.notifier.sent] == [
        ("i1", "run.dead_lettered", run_id)
    ]
    # A second copy of the message reaching the dead letter finds the run ended: no notice.
    assert p.worker.dead_letter(message) == "dead_lettered"
    assert len(p.notifier.sent) == 1


def test_success_errors_and_integrations_without_notify_send_nothing() -> None:
    p = build(NOTIFIED)
    p.target.script = [None, TargetError]
    queued(p)
    queued(p)
    assert p.deliver_all() == ["success", "error"]
    assert p.notifier.sent == []

    plain = build({**NOTIFIED, "notify": None})
    plain.target.script = [RetryableTargetError, RetryableTargetError]
    queued(plain)
    message = from_the_topic(plain.queue.messages[0])
    with pytest.raises(RetryableTargetError):
        plain.worker.process(message)
    plain.clock.advance(5)
    assert plain.worker.process(message) == "dead_lettered"
    assert plain.notifier.sent == []


def test_a_failed_read_back_still_notifies_and_never_fails_the_run() -> None:
    from mapper.errors import StoreError

    p = build(NOTIFIED)
    p.target.script = [RetryableTargetError, RetryableTargetError]
    run_id = queued(p)
    message = from_the_topic(p.queue.messages[0])
    with pytest.raises(RetryableTargetError):
        p.worker.process(message)
    p.clock.advance(5)
    real_get = p.runs.get

    def get_fails_after_the_outcome(wanted: str):  # noqa: ANN202 - test double of our port
        run = real_get(wanted)
        if run and run["status"] == "dead_lettered":
            raise StoreError("Firestore could not read a run")
        return run

    p.runs.get = get_fails_after_the_outcome  # type: ignore[method-assign]
    assert p.worker.process(message) == "dead_lettered"
    assert [(t, d["runId"], d["attempts"]) for _, t, d in p.notifier.sent] == [
        ("run.dead_lettered", run_id, 0)
    ]
