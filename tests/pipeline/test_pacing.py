"""Delivery shaped by the receiver, over fakes: held runs, the paced path, pause and resume,
the circuit breaker (docs/delivery.md)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pytest

from mapper.delivery_control import DeliveryControl, queue_config
from mapper.engine.config import parse_integration
from mapper.engine.plan import PlanCache
from mapper.errors import ConflictError, RetryableTargetError, TargetError
from mapper.pipeline import Worker
from mapper.pipeline.deliver import Deliverer, TargetedRun
from mapper.pipeline.pacing import PACED_NOTE, DeliveryGate, queue_key
from mapper.pipeline.ports import QueueKey
from mapper.pipeline.runs import IN_FLIGHT, REDRIVABLE, TERMINAL, RunStatus
from mapper.targets.egress import EgressPolicy
from tests.fakes import (
    FakeDeliveryQueues,
    FakeDeliveryStates,
    FakeQueue,
    PlainSecrets,
    from_the_topic,
)
from tests.pipeline.support import HOOK, Pipeline, build

PACED = {**HOOK, "target": {**HOOK["target"], "rateLimit": {"perSecond": 10, "maxConcurrent": 2}}}
KEY = QueueKey("i1", "target", 0)


@dataclass
class Paced:
    p: Pipeline
    states: FakeDeliveryStates
    queues: FakeDeliveryQueues
    worker: Worker
    deliverer: Deliverer
    control: DeliveryControl
    opened: list[str]
    tasks: FakeQueue  # the pull-tasks topic: a resume's batches

    def drain(self, doc: dict[str, Any]) -> int:
        """The pull function takes each resume task in turn; how many held runs were sent."""
        sent = 0
        while self.tasks.messages:
            task = self.tasks.messages.pop(0)
            sent += self.control.step(doc, task["resumes"])["sent"]
        return sent

    def accept(self, n: int) -> list[str]:
        """`n` webhook events, one a second apart; their run ids, oldest first."""
        ids = []
        for i in range(n):
            data = f'{{"n": {i}}}'.encode()
            receipt = self.p.intake.receive_webhook("p-secret", {}, lambda _, d=data: d)
            assert receipt.status == "queued"
            ids.append(str(receipt.run_id))
            self.p.clock.advance(1)
        return ids

    def work(self) -> list[str]:
        """The worker takes every message on the internal topic; their statuses."""
        pending, self.p.queue.messages = self.p.queue.messages, []
        out = []
        for message in pending:
            try:
                out.append(self.worker.process(from_the_topic(message)))
            except RetryableTargetError:
                out.append(RunStatus.RETRYING)
        return out

    def dispatch(self, key: QueueKey = KEY) -> list[str]:
        """The queue dispatches its due tasks to the deliver function, oldest first."""
        out = []
        for task in self.queues.take(key, self.p.clock()):
            body = TargetedRun.from_body(_json(task.body)).to_dict()
            out.append(self.deliverer.deliver(_json(body)))
        return out

    def status(self, run_id: str) -> str:
        return str(self.p.runs.get(run_id)["status"])


def _json(data: Any) -> bytes:
    import json

    return json.dumps(data).encode()


def paced(doc: dict[str, Any] = HOOK, *, queues: bool = True) -> Paced:
    p = build(doc)
    states = FakeDeliveryStates(p.clock, p.runs)
    fake_queues = FakeDeliveryQueues()
    get_queues = (lambda: fake_queues) if queues else (lambda: None)
    opened: list[str] = []
    gate = DeliveryGate(
        states, p.runs, get_queues, on_pause=lambda i, f: opened.append(i), clock=p.clock
    )
    worker = Worker(
        p.worker._integrations, p.runs, PlanCache(4), PlainSecrets(), EgressPolicy(),
        clock=p.clock, targets=p.target.factory, queue=p.queue, gate=gate,
    )
    tasks = FakeQueue()
    control = DeliveryControl(states, p.runs, p.queue, tasks, get_queues, clock=p.clock)
    deliverer = Deliverer(worker, p.runs, get_queues, states)
    if doc.get("target", {}).get("rateLimit") and queues:
        control.prepare(doc, None)
    return Paced(p, states, fake_queues, worker, deliverer, control, opened, tasks)


def test_held_is_a_status_of_its_own_that_waits_on_purpose() -> None:
    # Not ended (the UI keeps polling), not in flight (the reconciler never takes it for
    # lost), not redrivable (resume sends it: a redrive would send it twice).
    assert RunStatus.HELD not in TERMINAL | IN_FLIGHT | REDRIVABLE


def test_a_paused_integration_holds_its_runs_and_resume_sends_them() -> None:
    t = paced()
    t.control.pause(HOOK, "receiver maintenance")
    [run_id] = t.accept(1)
    assert t.work() == [RunStatus.HELD]
    assert t.status(run_id) == RunStatus.HELD and t.p.target.sent == []
    assert t.control.shown("i1") == {
        "state": "paused", "reason": "receiver maintenance", "since": t.p.clock.iso(-1),
        "by": "user", "consecutiveFailures": 0, "held": 1,
    }
    assert t.control.resume(HOOK) == 1
    assert t.drain(HOOK) == 1
    assert t.status(run_id) == RunStatus.QUEUED
    assert t.work() == [RunStatus.SUCCESS]  # held -> queued -> delivering -> success
    assert [s["payload"] for s in t.p.target.sent] == [{"number": 0}]
    assert t.control.shown("i1")["state"] == "active"
    assert t.control.shown("i1")["held"] == 0


def test_a_paused_integration_records_a_run_no_one_recorded_yet_held() -> None:
    # A webhook event without a key is only published: the gate writes its run, held.
    t = paced()
    t.control.pause(HOOK, None)
    accepted_at = t.p.clock.iso()
    [run_id] = t.accept(1)
    assert t.p.runs.get(run_id) is None
    writes = t.p.runs.writes
    assert t.work() == [RunStatus.HELD]
    assert t.p.runs.writes == writes + 1  # created held: one write
    run = t.p.runs.get(run_id)
    assert run["status"] == RunStatus.HELD and run["incomingPayload"] == {"n": 0}
    assert run["createdAt"] == accepted_at and run["note"] == "delivery is paused"
    assert t.work() == [] and t.p.target.sent == []


def test_resume_sends_the_held_runs_oldest_first() -> None:
    t = paced()
    t.control.pause(HOOK, None)
    ids = t.accept(5)
    assert t.work() == [RunStatus.HELD] * 5
    t.control.resume(HOOK)
    t.drain(HOOK)
    assert [from_the_topic(m).run_id for m in t.p.queue.messages] == ids
    t.work()
    assert [s["payload"]["number"] for s in t.p.target.sent] == [0, 1, 2, 3, 4]


def batched(doc: dict[str, Any], batch: int) -> Paced:
    """`paced(doc)` whose resume sends `batch` held runs per task."""
    t = paced(doc)
    t.control = DeliveryControl(
        t.states, t.p.runs, t.p.queue, t.tasks, lambda: t.queues, batch_size=batch,
        clock=t.p.clock,
    )
    return t


def held(t: Paced, doc: dict[str, Any], n: int) -> list[str]:
    """Pause, accept `n` events (held by the worker); their run ids, oldest first."""
    t.control.pause(doc, None)
    ids = t.accept(n)
    assert t.work() == [RunStatus.HELD] * n
    return ids


def test_resume_answers_before_any_held_run_is_sent() -> None:
    t = paced()
    held(t, HOOK, 3)
    assert t.control.resume(HOOK) == 3  # the held count, for the integration's `delivery`
    # Nothing sent yet: one task on the pull-tasks topic, the runs still held.
    assert t.p.queue.messages == []
    assert t.tasks.messages == [{"resumeDelivery": "i1", "resumes": 1}]
    assert t.control.shown("i1")["state"] == "active" and t.control.shown("i1")["held"] == 3


def test_resume_with_nothing_held_publishes_no_task() -> None:
    t = paced()
    t.control.pause(HOOK, None)
    assert t.control.resume(HOOK) == 0 and t.tasks.messages == []


def test_each_step_sends_the_oldest_held_runs_and_the_next_task_follows() -> None:
    t = batched(HOOK, 2)
    ids = held(t, HOOK, 5)
    t.control.resume(HOOK)
    steps = []
    while t.tasks.messages:
        task = t.tasks.messages.pop(0)
        steps.append([from_the_topic(m).run_id for m in t.p.queue.messages])
        t.control.step(HOOK, task["resumes"])
        steps[-1] = [from_the_topic(m).run_id for m in t.p.queue.messages][len(steps[-1]):]
    assert steps == [ids[0:2], ids[2:4], ids[4:5]]  # oldest first, one batch per task
    assert all(t.status(run_id) == RunStatus.QUEUED for run_id in ids)
    t.work()
    assert [s["payload"]["number"] for s in t.p.target.sent] == [0, 1, 2, 3, 4]


def test_a_step_delivered_twice_sends_no_run_twice() -> None:
    t = batched(HOOK, 3)
    ids = held(t, HOOK, 3)
    t.control.resume(HOOK)
    [task] = t.tasks.messages
    t.p.clock.advance(1)
    # Two deliveries of the same task, the second reading the held runs before the first
    # took them (as two instances would).
    first_read = t.p.runs.list
    reads: list[Any] = []

    def list_then_step_again(*args: Any, **kwargs: Any) -> Any:
        page = first_read(*args, **kwargs)
        if not reads:
            reads.append(page)
            t.control.step(HOOK, task["resumes"])  # the duplicate, interleaved
        return page

    t.p.runs.list = list_then_step_again  # type: ignore[method-assign]
    t.control.step(HOOK, task["resumes"])
    assert sorted(from_the_topic(m).run_id for m in t.p.queue.messages) == sorted(ids)
    assert len(t.p.queue.messages) == 3
    # And once more after both: nothing held is left to send.
    t.p.runs.list = first_read  # type: ignore[method-assign]
    assert t.control.step(HOOK, task["resumes"])["sent"] == 0
    assert len(t.p.queue.messages) == 3


def test_a_paced_resume_names_its_tasks_so_a_duplicate_enqueue_is_refused() -> None:
    t = paced(PACED)
    [run_id] = held(t, PACED, 1)
    t.control.resume(PACED)
    [task] = t.tasks.messages
    t.p.clock.advance(1)
    run = t.p.runs.get(run_id)
    assert t.control.step(PACED, task["resumes"])["sent"] == 1
    [queued] = t.queues.tasks[KEY]
    assert queued.resend == 1000  # resume 1, attempt 0: a name of this resume's own
    # The same run taken again by this resume, as read before it was taken: not taken.
    assert t.control._take(run) is False
    # The reconciler publishes the queued run again; the worker's enqueue has the same
    # name, and the queue refuses it.
    t.p.queue.messages.append({"runId": run_id, "integrationId": "i1", "payload": {"n": 0},
                               "sourceKind": "webhook", "acceptedAt": t.p.clock()})
    assert t.work() == [RunStatus.QUEUED]
    assert len(t.queues.tasks[KEY]) == 1
    assert t.dispatch() == [RunStatus.SUCCESS] and len(t.p.target.sent) == 1


def test_a_pause_mid_drain_stops_the_drain_and_the_rest_stay_held() -> None:
    t = batched(HOOK, 2)
    ids = held(t, HOOK, 5)
    t.control.resume(HOOK)
    task = t.tasks.messages.pop(0)
    assert t.control.step(HOOK, task["resumes"])["sent"] == 2
    t.control.pause(HOOK, "again")
    [next_task] = t.tasks.messages
    assert t.control.step(HOOK, next_task["resumes"]) == {
        "integrationId": "i1", "sent": 0, "skipped": "paused again",
    }
    assert [t.status(run_id) for run_id in ids] == [RunStatus.QUEUED] * 2 + [RunStatus.HELD] * 3
    # The next resume drains the rest, under its own count; the old task ends.
    t.control.resume(HOOK)
    assert t.control.step(HOOK, task["resumes"])["skipped"] == "a later resume sends the held runs"
    t.tasks.messages.pop(0)
    assert t.drain(HOOK) == 3
    assert all(t.status(run_id) == RunStatus.QUEUED for run_id in ids)


def test_a_drain_whose_task_was_lost_is_published_again_by_the_tick() -> None:
    t = batched(HOOK, 2)
    ids = held(t, HOOK, 3)
    t.control.resume(HOOK)
    task = t.tasks.messages.pop(0)  # lost by the queue
    assert t.control.resume_stalled(horizon_s=60) == 0  # not idle long enough
    t.p.clock.advance(61)
    assert t.control.resume_stalled(horizon_s=60) == 1
    assert t.tasks.messages == [task]
    assert t.control.resume_stalled(horizon_s=60) == 0  # once per horizon
    assert t.drain(HOOK) == 3
    assert all(t.status(run_id) == RunStatus.QUEUED for run_id in ids)
    t.p.clock.advance(61)
    assert t.control.resume_stalled(horizon_s=60) == 0  # the drain ended
    assert t.tasks.messages == []


def test_a_paused_drain_is_not_published_again() -> None:
    t = batched(HOOK, 2)
    held(t, HOOK, 3)
    t.control.resume(HOOK)
    t.tasks.messages.clear()  # lost
    t.control.pause(HOOK, "again")
    t.p.clock.advance(61)
    assert t.control.resume_stalled(horizon_s=60) == 0 and t.tasks.messages == []
    assert t.states.draining(10) == []


def test_a_run_with_a_rate_limited_target_goes_through_its_queue() -> None:
    t = paced(PACED)
    assert t.queues.configs[KEY] == queue_config(parse_integration(PACED))
    [run_id] = t.accept(1)
    assert t.work() == [RunStatus.QUEUED]  # handed to the queue, not sent
    assert t.p.target.sent == []
    run = t.p.runs.get(run_id)
    assert run["status"] == RunStatus.QUEUED and run["note"] == PACED_NOTE
    [task] = t.queues.tasks[KEY]
    assert (task.run_id, task.target, task.resend) == (run_id, "target", 0)
    # Recorded by the worker before the task was queued: the task's message says so.
    assert "recorded" not in task.body and run["incomingPayload"] == {"n": 0}
    # The same message again (Pub/Sub redelivers it): the queue refuses the duplicate.
    t.p.queue.messages.append({"runId": run_id, "integrationId": "i1", "payload": {"n": 0},
                               "sourceKind": "webhook", "acceptedAt": t.p.clock()})
    assert t.work() == [RunStatus.QUEUED]
    assert len(t.queues.tasks[KEY]) == 1
    assert t.dispatch() == [RunStatus.SUCCESS]
    assert len(t.p.target.sent) == 1 and t.status(run_id) == RunStatus.SUCCESS


def test_a_task_dispatched_the_moment_it_is_queued_keeps_its_claim() -> None:
    # Cloud Tasks may dispatch a task before CreateTask has even answered the worker. The
    # deliver function's claim must then stand: a note the worker writes after queuing must
    # not change the run under that claim, or its outcome is not recorded and the run is
    # sent again once its lease runs out (`make faults`, paced redrive-twice, 2026-12-07).
    t = paced(PACED)
    claims = []

    def enqueue_and_dispatch(key: QueueKey, task: Any) -> str:
        added = FakeDeliveryQueues.enqueue(t.queues, key, task)
        claims.append(t.p.runs.claim(task.run_id, "deliver-1", 35))
        return added

    t.queues.enqueue = enqueue_and_dispatch  # type: ignore[method-assign]
    [run_id] = t.accept(1)
    assert t.work() == [RunStatus.QUEUED]
    [claim] = claims
    assert claim.state == "claimed"
    assert t.p.runs.finish(run_id, claim, RunStatus.SUCCESS, {}) is True
    assert t.status(run_id) == RunStatus.SUCCESS


def test_a_paced_retry_is_a_new_task_at_the_next_attempt_counted_by_the_run() -> None:
    doc = {**PACED, "retry": {"maxAttempts": 2, "initialBackoffSeconds": 30,
                              "maxBackoffSeconds": 600}}
    t = paced(doc)
    t.p.target.retry_answer = {"status": 429, "headers": {"Retry-After": "120"}}
    t.p.target.script = [RetryableTargetError, RetryableTargetError]
    [run_id] = t.accept(1)
    t.work()
    assert t.dispatch() == [RunStatus.RETRYING]  # the task ends; the next one is scheduled
    [task] = t.queues.tasks[KEY]
    assert task.resend == 1 and task.not_before == pytest.approx(t.p.clock() + 120)
    assert t.p.runs.get(run_id)["nextAttemptAt"] == t.p.clock.iso(120)  # Retry-After
    assert t.dispatch() == []  # not before its time
    t.p.clock.advance(120)
    assert t.dispatch() == [RunStatus.DEAD_LETTERED]  # the run's own count: 2 of 2
    assert t.p.runs.get(run_id)["attempts"] == 2 and t.queues.tasks[KEY] == []


def test_saving_and_removing_a_rate_limit_makes_and_deletes_the_queue() -> None:
    t = paced(PACED)
    assert KEY in t.queues.configs
    t.control.saved(HOOK, PACED)  # rateLimit removed
    assert KEY not in t.queues.configs
    assert t.states.get("i1")["generation"] == 1  # the next queue has a new name
    t.control.prepare(PACED, HOOK)
    assert QueueKey("i1", "target", 1) in t.queues.configs
    t.control.removed(PACED)
    assert QueueKey("i1", "target", 1) not in t.queues.configs


def test_a_rate_limit_without_delivery_queues_is_refused() -> None:
    t = paced(HOOK, queues=False)
    with pytest.raises(ConflictError, match="DELIVER_URL"):
        t.control.prepare(PACED, None)


def test_pausing_a_paced_integration_pauses_its_queue_and_resume_drains_it_oldest_first() -> None:
    t = paced(PACED)
    queued = t.accept(2)
    t.work()  # two tasks in the queue
    t.control.pause(PACED, "slow down")
    assert KEY in t.queues.paused and t.dispatch() == []
    held = t.accept(3)
    assert t.work() == [RunStatus.HELD] * 3
    assert t.control.shown("i1")["held"] == 3
    t.control.resume(PACED)
    t.drain(PACED)
    assert KEY not in t.queues.paused
    assert [task.run_id for task in t.queues.tasks[KEY]] == queued + held
    assert t.dispatch() == [RunStatus.SUCCESS] * 5
    assert [s["payload"]["number"] for s in t.p.target.sent] == [0, 1, 0, 1, 2]


def test_a_task_dispatched_while_paused_is_held_not_sent() -> None:
    t = paced(PACED)
    [run_id] = t.accept(1)
    t.work()
    t.states.pause("i1", {"by": "circuit", "reason": "x", "since": t.p.clock.iso()})
    assert t.dispatch() == [RunStatus.HELD]
    assert t.p.target.sent == [] and t.status(run_id) == RunStatus.HELD


def test_the_circuit_opens_after_that_many_failures_in_a_row() -> None:
    doc = {**HOOK, "circuitBreaker": {"consecutiveFailures": 3}}
    t = paced(doc)
    t.p.target.script = [TargetError, RetryableTargetError, TargetError]
    t.accept(3)
    assert t.work() == [RunStatus.ERROR, RunStatus.RETRYING, RunStatus.ERROR]
    assert t.opened == ["i1"]
    shown = t.control.shown("i1")
    assert (shown["state"], shown["by"], shown["consecutiveFailures"]) == ("paused", "circuit", 3)
    [later] = t.accept(1)
    assert t.work() == [RunStatus.HELD]  # stops attempting until resumed
    assert len(t.p.target.sent) == 3
    t.control.resume(doc)
    t.drain(doc)
    assert t.control.shown("i1")["consecutiveFailures"] == 0
    assert t.work() == [RunStatus.SUCCESS] and t.status(later) == RunStatus.SUCCESS


def test_a_success_resets_the_failures_in_a_row() -> None:
    doc = {**HOOK, "circuitBreaker": {"consecutiveFailures": 3}}
    t = paced(doc)
    t.p.target.script = [TargetError, TargetError, None, TargetError, TargetError]
    t.accept(5)
    t.work()
    assert t.opened == []
    assert t.control.shown("i1") | {"since": None} == {
        "state": "active", "reason": None, "since": None, "by": None,
        "consecutiveFailures": 2, "held": 0,
    }


def test_without_a_circuit_breaker_failures_are_not_counted() -> None:
    t = paced()
    t.p.target.script = [TargetError] * 3
    t.accept(3)
    t.work()
    assert t.states.get("i1") is None  # not one write


def test_the_queue_key_follows_the_generation() -> None:
    assert queue_key("i1", {"generation": 2}) == QueueKey("i1", "target", 2)
    assert queue_key("i1", None) == KEY


def test_a_run_whose_queue_is_gone_is_sent_directly() -> None:
    # The rate limit was removed (the queue deleted) while a cached configuration had it.
    t = paced(PACED)
    t.queues.delete(KEY)
    [run_id] = t.accept(1)
    assert t.work() == [RunStatus.SUCCESS]
    assert t.status(run_id) == RunStatus.SUCCESS and len(t.p.target.sent) == 1


def test_a_retrying_run_from_the_topic_is_queued_for_its_next_attempt() -> None:
    # The deliver function recorded the retry but could not queue the next attempt; the
    # run reaches the worker from the topic: its task waits for nextAttemptAt.
    t = paced({**PACED, "retry": {"maxAttempts": 3, "initialBackoffSeconds": 30,
                                  "maxBackoffSeconds": 600}})
    t.p.target.script = [RetryableTargetError]
    [run_id] = t.accept(1)
    message = t.p.queue.messages[0]
    t.work()
    assert t.dispatch() == [RunStatus.RETRYING]
    t.queues.tasks[KEY].clear()  # as if it had never been queued
    t.queues._names.clear()
    t.p.queue.messages.append(message)
    assert t.work() == [RunStatus.QUEUED]
    [task] = t.queues.tasks[KEY]
    assert task.not_before == pytest.approx(t.p.clock() + 30)
    t.p.clock.advance(30)
    assert t.dispatch() == [RunStatus.SUCCESS] and t.status(run_id) == RunStatus.SUCCESS


def test_the_run_is_noted_before_its_task_exists_and_not_written_after() -> None:
    # A fast queue dispatches at once: the deliver function may claim the run before the
    # worker's enqueue returns; a write after it would void that claim's outcome.
    t = paced(PACED)
    [run_id] = t.accept(1)
    seen: dict[str, Any] = {}
    enqueue = t.queues.enqueue

    def watched(key: QueueKey, task: Any) -> Any:
        seen["note"] = t.p.runs.get(run_id)["note"]
        seen["version"] = t.p.runs.versions[run_id]
        return enqueue(key, task)

    t.queues.enqueue = watched  # type: ignore[method-assign]
    assert t.work() == [RunStatus.QUEUED]
    assert seen["note"] == PACED_NOTE
    assert t.p.runs.versions[run_id] == seen["version"]  # nothing written after the task


def test_a_drain_takes_a_batch_s_runs_at_once_and_sends_them_oldest_first() -> None:
    # Two takes must be in flight together to pass the barrier: one at a time, the first
    # waits alone and the barrier breaks.
    t = batched(HOOK, 4)
    ids = held(t, HOOK, 4)
    together = threading.Barrier(2, timeout=5)
    take = t.p.runs.touch_if_unchanged

    def take_beside_another(*args: Any, **kwargs: Any) -> bool:
        together.wait()
        return take(*args, **kwargs)

    t.p.runs.touch_if_unchanged = take_beside_another  # type: ignore[method-assign]
    t.control.resume(HOOK)
    [task] = t.tasks.messages
    assert t.control.step(HOOK, task["resumes"])["sent"] == 4
    assert [from_the_topic(m).run_id for m in t.p.queue.messages] == ids
