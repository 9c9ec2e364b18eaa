"""What a worker reads before it claims a run, over fakes: the delivery state and the run in
one look, the claim starting from it (docs/data-plane.md, "Claiming a run")."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from mapper.engine.plan import PlanCache
from mapper.pipeline import Worker
from mapper.pipeline.pacing import DeliveryGate
from mapper.pipeline.ports import Seen
from mapper.pipeline.runs import QueuedMessage, RunStatus
from mapper.pipeline.worker import RunBusy
from mapper.targets.egress import EgressPolicy
from tests.fakes import FakeDeliveryStates, PlainSecrets, from_the_topic
from tests.pipeline.support import Pipeline, body, build


@dataclass
class Gated:
    p: Pipeline
    states: FakeDeliveryStates
    worker: Worker

    def accept(self, data: bytes = b'{"n": 1}') -> QueuedMessage:
        """One webhook event without a key; its message as the worker gets it."""
        receipt = self.p.intake.receive_webhook("p-secret", {}, body(data))
        assert receipt.status == "queued"
        return from_the_topic(self.p.queue.messages.pop())


def gated(*, record_in_background: bool = True) -> Gated:
    p = build(record_in_background=record_in_background)
    states = FakeDeliveryStates(p.clock, p.runs)
    worker = Worker(
        p.worker._integrations, p.runs, PlanCache(4), PlainSecrets(), EgressPolicy(),
        clock=p.clock, targets=p.target.factory, queue=p.queue,
        gate=DeliveryGate(states, p.runs, clock=p.clock),
    )
    return Gated(p, states, worker)


def counts(g: Gated) -> tuple[int, int, int, int]:
    """(state reads, run reads, run writes, refused creates) so far."""
    return g.states.reads, g.p.runs.reads, g.p.runs.writes, g.p.runs.refused


def test_a_run_recorded_after_its_202_is_read_with_the_state_and_claimed_from_that_read() -> None:
    g = gated()
    message = g.accept()
    assert message.recording and not message.recorded
    assert g.p.runs.written(message.run_id) is not None  # the intake's write after the 202
    before = counts(g)
    assert g.worker.process(message) == RunStatus.SUCCESS
    after = counts(g)
    # One look (the state and the run), the claim's write, the outcome's: no create tried
    # and refused, no second read of the run.
    assert tuple(a - b for a, b in zip(after, before, strict=True)) == (1, 1, 2, 0)
    run = g.p.runs.get(message.run_id)
    assert run["status"] == RunStatus.SUCCESS and run["attempts"] == 1
    assert [s["runId"] for s in g.p.target.sent] == [message.run_id]


def test_a_run_not_written_yet_when_its_worker_looks_is_created_claimed() -> None:
    g = gated()
    message = g.accept()
    g.p.runs.written(message.run_id)
    g.p.runs.docs.clear()  # as if the worker had looked before the intake's write landed
    before = counts(g)
    assert g.worker.process(message) == RunStatus.SUCCESS
    # The look found no run: created already claimed (one write), then the outcome.
    assert tuple(a - b for a, b in zip(counts(g), before, strict=True)) == (1, 1, 2, 0)
    run = g.p.runs.get(message.run_id)
    assert run["status"] == RunStatus.SUCCESS and run["incomingPayload"] == {"n": 1}
    assert run["attempts"] == 1


def test_a_run_written_between_the_look_and_the_claim_is_claimed_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    g = gated()
    message = g.accept()
    g.p.runs.written(message.run_id)
    intake_write = g.p.runs.docs.pop(message.run_id)
    seen = g.p.runs.seen

    def then_written(run_id: str) -> Seen:
        found = seen(run_id)  # missing; the intake's write lands just after
        g.p.runs.docs[run_id] = intake_write
        g.p.runs.versions[run_id] = g.p.runs.versions.get(run_id, 0) + 1
        return found

    monkeypatch.setattr(g.p.runs, "seen", then_written)
    assert g.worker.process(message) == RunStatus.SUCCESS
    # The claim's create is refused; it reads the run and claims it with its conditional write.
    assert g.p.runs.refused == 1
    run = g.p.runs.get(message.run_id)
    assert run["status"] == RunStatus.SUCCESS and run["attempts"] == 1
    assert len(g.p.target.sent) == 1


def test_a_run_claimed_between_the_look_and_the_claim_is_not_sent_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    g = gated()
    message = g.accept()
    g.p.runs.written(message.run_id)
    seen = g.p.runs.seen

    def then_claimed(run_id: str) -> Seen:
        found = seen(run_id)  # queued; another delivery of the message claims it just after
        assert g.p.runs.claim(run_id, "other", 60).state == "claimed"
        return found

    monkeypatch.setattr(g.p.runs, "seen", then_claimed)
    with pytest.raises(RunBusy):
        g.worker.process(message)
    run = g.p.runs.get(message.run_id)
    # The conditional write was refused, the run read again and found leased: not counted.
    assert run["deliveryId"] == "other" and run["attempts"] == 1
    assert g.p.target.sent == []


def test_a_run_seen_leased_or_ended_is_not_claimed() -> None:
    g = gated()
    message = g.accept()
    g.p.runs.written(message.run_id)
    assert g.p.runs.claim(message.run_id, "other", 60).state == "claimed"
    writes = g.p.runs.writes
    with pytest.raises(RunBusy):
        g.worker.process(message)
    g.p.runs.touch(message.run_id, status=RunStatus.SUCCESS, leaseUntil=None)
    writes = g.p.runs.writes
    assert g.worker.process(message) == RunStatus.SUCCESS
    assert g.p.runs.writes == writes and g.p.target.sent == []
    assert g.p.runs.get(message.run_id)["attempts"] == 1


def test_a_paused_integration_holds_a_run_it_read_and_never_claims_it() -> None:
    g = gated()
    g.states.pause("i1", {"reason": "maintenance", "since": g.p.clock.iso(), "by": "user"})
    message = g.accept()
    g.p.runs.written(message.run_id)
    before = counts(g)
    assert g.worker.process(message) == RunStatus.HELD
    # Held from the look's read: no create tried, no read of its own before the write
    # conditional on the run being as read (the fake counts that condition as a read).
    assert tuple(a - b for a, b in zip(counts(g), before, strict=True)) == (1, 2, 1, 0)
    run = g.p.runs.get(message.run_id)
    assert run["status"] == RunStatus.HELD and run["attempts"] == 0
    assert run.get("deliveryId") is None and g.p.target.sent == []


def test_a_message_the_intake_does_not_record_is_created_without_reading_the_run() -> None:
    # RECORD_AT_ACCEPT=false: no write of the intake's to find, so the run is not read
    # along (a billed read that would always find nothing): the claim creates it first.
    g = gated(record_in_background=False)
    message = g.accept()
    assert not message.recording
    assert g.worker.process(message) == RunStatus.SUCCESS
    assert counts(g) == (1, 0, 2, 0)


def test_a_recorded_run_is_read_with_the_state() -> None:
    g = gated()
    receipt = g.p.intake.receive_webhook("p-secret", {"Idempotency-Key": "k1"}, body(b"{}"))
    message = from_the_topic(g.p.queue.messages.pop())
    assert message.recorded and receipt.run_id == message.run_id
    before = counts(g)
    assert g.worker.process(message) == RunStatus.SUCCESS
    assert tuple(a - b for a, b in zip(counts(g), before, strict=True)) == (1, 1, 2, 0)


def test_recording_travels_with_the_message_and_an_older_message_lacks_it() -> None:
    message = QueuedMessage("r1", "i1", "webhook", {"n": 1}, 1.0, recorded=False)
    assert "recording" not in message.to_dict()
    assert not QueuedMessage.from_dict(message.to_dict()).recording
    marked = replace(message, recording=True)
    assert marked.to_dict()["recording"] is True
    assert QueuedMessage.from_bytes(marked.to_bytes()) == marked
    # Recorded since (the paced path's task body): nothing more to say.
    assert "recording" not in replace(marked, recorded=True).to_dict()
