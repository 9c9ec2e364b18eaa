"""The worker's rules over in-memory fakes: claim, lease, outcome, retry, dead letter."""

from __future__ import annotations

import json

import pytest

from mapper.errors import ConfigError, RetryableTargetError, TargetError
from mapper.pipeline.worker import LEASE_MARGIN_S, RunBusy, RunNotRecorded
from tests.fakes import from_the_topic
from tests.pipeline.support import HOOK, body, build


def queued(p, payload=None, headers=None):  # noqa: ANN001, ANN201 - test helper
    data = json.dumps({"n": 1} if payload is None else payload).encode()
    receipt = p.intake.receive_webhook("p-secret", headers or {}, body(data))
    assert receipt.status == "queued"
    return receipt.run_id


def test_a_message_is_delivered_once_and_recorded() -> None:
    p = build()
    run_id = queued(p)

    assert p.deliver_all() == ["success"]

    run = p.runs.get(run_id)
    assert run["status"] == "success" and run["attempts"] == 1
    assert run["transformedPayload"] == {"number": 1}
    assert run["outgoingResponse"]["status"] == 200
    assert run["integrationVersion"] == 1
    assert p.target.sent == [{"payload": {"number": 1}, "runId": run_id}]


def test_the_run_id_reaches_the_target_the_same_on_every_retry() -> None:
    p = build()
    p.target.script = [RetryableTargetError, RetryableTargetError, None]
    run_id = queued(p)
    message = from_the_topic(p.queue.messages[0])

    for _ in range(2):
        with pytest.raises(RetryableTargetError):
            p.worker.process(message)
        assert p.runs.get(run_id)["status"] == "retrying"
        p.clock.advance(600)
    assert p.worker.process(message) == "success"

    assert [s["runId"] for s in p.target.sent] == [run_id] * 3
    assert p.runs.get(run_id)["attempts"] == 3  # counted by the server, never going back


def test_a_redelivery_of_finished_work_sends_nothing() -> None:
    p = build()
    queued(p)
    message = from_the_topic(p.queue.messages[0])
    assert p.worker.process(message) == "success"
    assert p.worker.process(message) == "success"
    assert len(p.target.sent) == 1


def test_a_second_delivery_during_the_first_does_not_send() -> None:
    p = build()
    run_id = queued(p)
    message = from_the_topic(p.queue.messages[0])
    seen = []

    def redelivered_meanwhile() -> None:
        with pytest.raises(RunBusy):
            p.worker.process(message)
        seen.append(p.runs.get(run_id)["status"])

    p.target.during_send = redelivered_meanwhile
    assert p.worker.process(message) == "success"
    assert seen == ["delivering"]
    assert len(p.target.sent) == 1
    assert p.runs.get(run_id)["attempts"] == 1


def test_after_a_crash_the_lease_expires_and_only_then_another_delivery_sends() -> None:
    p = build()
    run_id = queued(p)
    message = from_the_topic(p.queue.messages[0])
    lease = 10 + LEASE_MARGIN_S  # the target's timeout plus the margin
    # Took the message (recording the run), sent, then died before recording the outcome.
    crashed = p.runs.claim(run_id, "crashed-delivery", lease, first=message.first_record())
    assert crashed.state == "claimed"

    with pytest.raises(RunBusy):
        p.worker.process(message)  # the lease still holds: no second send
    p.clock.advance(lease + 1)
    assert p.worker.process(message) == "success"

    assert len(p.target.sent) == 1
    assert p.runs.get(run_id)["attempts"] == 2
    assert p.runs.finish(run_id, crashed, "success", {}) is False  # the old holder lost it


def test_a_delivery_that_outlived_its_lease_does_not_overwrite_the_next() -> None:
    p = build()
    run_id = queued(p)
    message = from_the_topic(p.queue.messages[0])

    def lease_runs_out_and_another_delivery_finishes() -> None:
        p.clock.advance(10 + LEASE_MARGIN_S + 1)
        p.target.script = [None]
        assert p.worker.process(message) == "success"

    p.target.during_send = lease_runs_out_and_another_delivery_finishes
    p.target.script = [TargetError]  # the first attempt's late answer: refused
    assert p.worker.process(message) == "superseded"
    assert p.runs.get(run_id)["status"] == "success"


def test_a_permanent_target_error_ends_the_run_with_its_reason() -> None:
    p = build()
    p.target.script = [TargetError]
    run_id = queued(p)
    assert p.deliver_all() == ["error"]
    run = p.runs.get(run_id)
    assert run["errorMessage"] == "400 from the target"
    assert run["outgoingResponse"]["status"] == 400


def test_a_mapping_error_ends_the_run_and_sends_nothing() -> None:
    throw = {"type": "custom", "code": "throw new Error('no')"}
    doc = {**HOOK, "mappings": [{"source": "n", "target": "x", "transforms": [throw]}]}
    p = build(doc)
    run_id = queued(p)
    assert p.deliver_all() == ["error"]
    assert "no" in p.runs.get(run_id)["errorMessage"]
    assert p.target.sent == []


def test_a_falsy_condition_skips() -> None:
    p = build({**HOOK, "condition": "data.n > 5"})
    run_id = queued(p)
    assert p.deliver_all() == ["skipped"]
    assert p.runs.get(run_id)["status"] == "skipped" and p.target.sent == []


def test_an_invalid_stored_document_ends_the_run_instead_of_retrying() -> None:
    p = build()
    run_id = queued(p)
    p.integrations.docs["i1"]["target"] = {"type": "carrier-pigeon"}
    p.clock.advance(6)  # past the cache's staleness bound
    assert p.deliver_all() == ["error"]
    assert "target" in p.runs.get(run_id)["errorMessage"]
    with pytest.raises(ConfigError):
        message = from_the_topic({"runId": "i1.x", "integrationId": "i1"})
        p.worker._integration(message)  # noqa: SLF001 - what it raised


def test_a_deleted_integration_ends_the_run() -> None:
    p = build()
    run_id = queued(p)
    del p.integrations.docs["i1"]
    p.clock.advance(6)
    assert p.deliver_all() == ["error"]
    assert p.runs.get(run_id)["errorMessage"] == "the integration no longer exists"


def test_a_message_ahead_of_its_run_waits_then_is_dropped() -> None:
    p = build()
    message = from_the_topic(
        {"runId": "i1.x", "integrationId": "i1", "payload": {}, "acceptedAt": p.clock()}
    )
    with pytest.raises(RunNotRecorded):
        p.worker.process(message)
    p.clock.advance(3600)
    assert p.worker.process(message) == "missing"
    assert p.target.sent == []


def test_dead_letter_keeps_the_last_error_and_respects_a_live_lease() -> None:
    p = build()
    p.target.script = [RetryableTargetError]
    run_id = queued(p)
    message = from_the_topic(p.queue.messages[0])
    with pytest.raises(RetryableTargetError):
        p.worker.process(message)
    p.runs.touch(run_id, attempts=10)  # its attempts used by deliveries that never recorded

    assert p.worker.dead_letter(message) == "dead_lettered"
    run = p.runs.get(run_id)
    assert run["errorMessage"] == "gave up after 10 attempts: 503 from the target"

    p2 = build()
    run2 = queued(p2)
    message2 = from_the_topic(p2.queue.messages[0])
    p2.runs.claim(run2, "live", 60, first=message2.first_record())
    assert p2.worker.dead_letter(message2) == "delivering"


def test_a_message_dead_lettered_before_any_record_is_recorded_with_its_payload() -> None:
    # Every delivery failed before its claim (Firestore unreachable, say): the message
    # reaches the dead letter with no run behind it.
    p = build({**HOOK, "notify": {"url": "https://ops.example.com/hook"}})
    run_id = queued(p, {"n": 42}, {"X-Trace": "t"})
    message = from_the_topic(p.queue.messages[0])
    assert p.runs.docs == {}
    assert p.worker.dead_letter(message) == "dead_lettered"
    run = p.runs.get(run_id)
    assert run["status"] == "dead_lettered" and run["incomingPayload"] == {"n": 42}
    assert run["incomingHeaders"] == {"x-trace": "t"} and run["sourceKind"] == "webhook"
    assert run["errorMessage"] == (
        "gave up after 0 attempts: every delivery failed before its attempt"
    )
    assert [event for _, event, _ in p.notifier.sent] == ["run.dead_lettered"]
    assert p.worker.dead_letter(message) == "dead_lettered"  # a second copy: as it was
    assert len(p.notifier.sent) == 1 and p.target.sent == []


def test_a_message_whose_integration_was_deleted_is_recorded_ended() -> None:
    p = build()
    run_id = queued(p, {"n": 5})
    del p.integrations.docs["i1"]
    p.clock.advance(6)
    assert p.runs.docs == {}
    assert p.deliver_all() == ["error"]
    run = p.runs.get(run_id)
    assert run["errorMessage"] == "the integration no longer exists"
    assert run["incomingPayload"] == {"n": 5} and run["attempts"] == 0


def test_writes_on_a_successful_run() -> None:
    p = build()
    queued(p)
    p.deliver_all()
    # The claim creates the run from its message, then its outcome: no read (docs/data-plane.md)
    assert (p.runs.writes, p.runs.reads) == (2, 0)
    keyed = build()
    queued(keyed, headers={"Idempotency-Key": "k1"})
    keyed.deliver_all()
    # create (intake), claim (a read and a write), outcome
    assert (keyed.runs.writes, keyed.runs.reads) == (3, 1)


def test_one_readable_line_per_attempt(caplog: pytest.LogCaptureFixture) -> None:
    p = build()
    p.target.script = [RetryableTargetError, None]
    run_id = queued(p)
    message = from_the_topic(p.queue.messages[0])
    with caplog.at_level("INFO", "mapper.worker"):
        with pytest.raises(RetryableTargetError):
            p.worker.process(message)
        p.clock.advance(10)
        p.worker.process(message)
    records = [r for r in caplog.records if r.name == "mapper.worker"]
    assert [r.getMessage() for r in records] == [
        f"attempt 1 of 10: retrying: 503 from the target; next attempt at {p.clock.iso()}",
        "attempt 2 of 10: success",
    ]
    # The ids are the record's own fields (every formatter shows them), not in the text.
    assert {(r.runId, r.integrationId) for r in records} == {(run_id, "i1")}
    assert not any(r.exc_info for r in caplog.records)
