"""A fan-out's paced targets, over fakes: each with `rateLimit` goes through its own delivery
queue, the others are sent at once, and each target is attempted and recorded once
(docs/delivery.md, "Fan-out on the paced path")."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from mapper.delivery_control import paced_names, queue_config
from mapper.engine.config import parse_integration
from mapper.errors import ConflictError, RetryableTargetError
from mapper.pipeline.pacing import PACED_NOTE
from mapper.pipeline.ports import QueueKey
from mapper.pipeline.runs import QueuedMessage, RunStatus
from mapper.pipeline.worker import TargetsRetrying
from tests.fakes import from_the_topic
from tests.pipeline.support import HOOK
from tests.pipeline.test_fanout import CRM, OPS, Receivers
from tests.pipeline.test_pacing import Paced, paced

BILLING = "https://billing.example.com/in"
CRM_KEY = QueueKey("i1", "crm", 0)
BILLING_KEY = QueueKey("i1", "billing", 0)

PACED_FANOUT = {
    **{k: v for k, v in copy.deepcopy(HOOK).items() if k != "target"},
    "targets": [
        {"type": "http", "name": "crm", "url": CRM, "timeoutSeconds": 10,
         "rateLimit": {"perSecond": 5, "maxConcurrent": 2}},
        {"type": "http", "name": "ops", "url": OPS, "timeoutSeconds": 5},
    ],
}
TWO_PACED = {
    **PACED_FANOUT,
    "targets": [
        *PACED_FANOUT["targets"],
        {"type": "http", "name": "billing", "url": BILLING, "rateLimit": {"perSecond": 1}},
    ],
}


def fan(doc: dict[str, Any] = PACED_FANOUT, *, queues: bool = True) -> tuple[Paced, Receivers]:
    t = paced(doc, queues=queues)
    receivers = Receivers()
    t.worker._targets = receivers.factory  # the pipeline's own seam: the target factory
    if queues:
        t.control.prepare(doc, None)
    return t, receivers


def work(t: Paced) -> list[str]:
    """The worker takes every message on the internal topic; their statuses."""
    pending, t.p.queue.messages = t.p.queue.messages, []
    out = []
    for message in pending:
        try:
            out.append(t.worker.process(from_the_topic(message)))
        except TargetsRetrying:
            out.append(RunStatus.RETRYING)
    return out


def by_target(run: dict[str, Any]) -> dict[str, str]:
    return {d["target"]: d["status"] for d in run["deliveries"]}


def test_each_paced_target_of_a_fan_out_gets_a_queue_of_its_own() -> None:
    t, _ = fan(TWO_PACED)
    integration = parse_integration(TWO_PACED)
    crm, _ops, billing = integration.routes()
    assert set(t.queues.configs) == {CRM_KEY, BILLING_KEY}  # ops is not paced: no queue
    assert t.queues.configs[CRM_KEY] == queue_config(integration, crm.target)
    assert t.queues.configs[BILLING_KEY].per_second == 1
    assert paced_names(TWO_PACED) == {"crm", "billing"}


def test_the_paced_target_waits_in_its_queue_while_the_others_are_sent_once() -> None:
    t, receivers = fan()
    [run_id] = t.accept(1)
    assert work(t) == [RunStatus.QUEUED]
    assert list(receivers.sent) == [OPS]  # ops now; crm handed to its queue, not sent
    run = t.p.runs.get(run_id)
    assert run["status"] == RunStatus.QUEUED and run["note"] == PACED_NOTE
    assert by_target(run) == {"crm": RunStatus.QUEUED, "ops": RunStatus.SUCCESS}
    [task] = t.queues.tasks[CRM_KEY]
    assert (task.run_id, task.target, task.body["target"]) == (run_id, "crm", "crm")

    assert t.dispatch(CRM_KEY) == [RunStatus.SUCCESS]
    run = t.p.runs.get(run_id)
    assert by_target(run) == {"crm": RunStatus.SUCCESS, "ops": RunStatus.SUCCESS}
    assert run["status"] == RunStatus.SUCCESS
    assert [len(receivers.sent[u]) for u in (CRM, OPS)] == [1, 1]
    # Both receivers got the same event key: each drops its own duplicates.
    assert receivers.sent[CRM][0]["key"] == receivers.sent[OPS][0]["key"]


def test_a_second_copy_of_the_message_or_the_task_sends_nothing_again() -> None:
    t, receivers = fan()
    [run_id] = t.accept(1)
    message = t.p.queue.messages[0]
    work(t)
    t.p.queue.messages = [message]  # Pub/Sub delivers the message again before crm's turn
    assert work(t) == [RunStatus.QUEUED]
    assert len(t.queues.tasks[CRM_KEY]) == 1  # the same task name: refused by the queue
    [task] = t.queues.tasks[CRM_KEY]
    assert t.dispatch(CRM_KEY) == [RunStatus.SUCCESS]
    t.p.queue.messages = [message]
    assert work(t) == [RunStatus.SUCCESS]  # both ended: nothing sent, nothing handed over
    t.queues.tasks[CRM_KEY].append(task)  # the queue dispatches the task twice
    assert t.dispatch(CRM_KEY) == [RunStatus.SUCCESS]
    assert [len(receivers.sent[u]) for u in (CRM, OPS)] == [1, 1]
    assert t.p.runs.get(run_id)["status"] == RunStatus.SUCCESS


def test_a_failing_paced_target_is_retried_by_its_own_queue_at_its_own_time() -> None:
    t, receivers = fan()
    receivers.scripts[CRM] = [RetryableTargetError]
    [run_id] = t.accept(1)
    work(t)
    assert t.dispatch(CRM_KEY) == [RunStatus.RETRYING]  # answered 200: the next is a new task
    run = t.p.runs.get(run_id)
    assert by_target(run) == {"crm": RunStatus.RETRYING, "ops": RunStatus.SUCCESS}
    crm = next(d for d in run["deliveries"] if d["target"] == "crm")
    [task] = t.queues.tasks[CRM_KEY]
    assert task.not_before == pytest.approx(t.p.clock() + 10)  # the retry policy's backoff
    assert run["nextAttemptAt"] == crm["nextAttemptAt"]
    assert t.dispatch(CRM_KEY) == []  # not before its time
    t.p.clock.advance(10)
    assert t.dispatch(CRM_KEY) == [RunStatus.SUCCESS]
    assert [len(receivers.sent[u]) for u in (CRM, OPS)] == [2, 1]  # ops never resent
    run = t.p.runs.get(run_id)
    assert run["status"] == RunStatus.SUCCESS and run["attempts"] == 2


def test_a_paced_target_is_not_held_back_by_another_targets_retry() -> None:
    t, receivers = fan()
    receivers.scripts[OPS] = [RetryableTargetError]
    [run_id] = t.accept(1)
    assert work(t) == [RunStatus.RETRYING]  # ops failed: the topic redelivers for it
    assert t.p.runs.get(run_id)["nextAttemptAt"] > t.p.clock.iso()
    # crm's task comes before ops' next attempt: it is sent, on its own schedule.
    assert t.dispatch(CRM_KEY) == [RunStatus.RETRYING]
    run = t.p.runs.get(run_id)
    assert by_target(run) == {"crm": RunStatus.SUCCESS, "ops": RunStatus.RETRYING}
    assert t.queues.tasks[CRM_KEY] == []  # crm succeeded: no next task
    t.p.clock.advance(10)  # ops is due: Pub/Sub (or the reconciler) brings the run back
    again = QueuedMessage.again(t.p.runs.get(run_id), t.p.clock())
    assert t.worker.process(again) == RunStatus.SUCCESS
    assert [len(receivers.sent[u]) for u in (CRM, OPS)] == [1, 2]


def test_without_delivery_queues_a_paced_fan_out_is_refused_on_save() -> None:
    t, _ = fan(queues=False)
    with pytest.raises(ConflictError, match="rateLimit on a target needs delivery queues"):
        t.control.prepare(PACED_FANOUT, None)


def test_without_delivery_queues_the_worker_sends_every_target_itself() -> None:
    # A document saved while queues existed, read by a worker that has none.
    t, receivers = fan(queues=False)
    [run_id] = t.accept(1)
    assert work(t) == [RunStatus.SUCCESS]
    assert [len(receivers.sent[u]) for u in (CRM, OPS)] == [1, 1]
    assert t.p.runs.get(run_id)["status"] == RunStatus.SUCCESS


def test_removing_one_targets_rate_limit_deletes_its_queue_alone_under_a_new_name() -> None:
    t, _ = fan(TWO_PACED)
    new = copy.deepcopy(TWO_PACED)
    del new["targets"][2]["rateLimit"]
    t.control.prepare(new, TWO_PACED)
    t.control.saved(new, TWO_PACED)
    assert set(t.queues.configs) == {CRM_KEY}  # crm's queue keeps its name and tasks
    assert t.states.get("i1")["generations"] == {"billing": 1}
    assert "generation" not in t.states.get("i1")
    t.control.prepare(TWO_PACED, new)  # paced again: a queue with a name never used
    assert set(t.queues.configs) == {CRM_KEY, QueueKey("i1", "billing", 1)}


def test_deleting_the_integration_deletes_every_paced_targets_queue() -> None:
    t, _ = fan(TWO_PACED)
    t.control.removed(TWO_PACED)
    assert t.queues.configs == {}


def test_pause_holds_the_fan_out_and_resume_hands_the_paced_target_over_again() -> None:
    t, receivers = fan(TWO_PACED)
    t.control.pause(TWO_PACED, "maintenance")
    assert t.queues.paused == {CRM_KEY, BILLING_KEY}
    [run_id] = t.accept(1)
    assert work(t) == [RunStatus.HELD]
    assert receivers.sent == {}
    assert t.control.resume(TWO_PACED) == 1
    assert t.drain(TWO_PACED) == 1  # the pull function's batch of the resume
    assert t.queues.paused == set()
    assert work(t) == [RunStatus.QUEUED]  # back through the topic: ops sent, the rest queued
    assert list(receivers.sent) == [OPS]
    assert t.dispatch(CRM_KEY) == [RunStatus.QUEUED]  # billing still waits
    assert t.dispatch(BILLING_KEY) == [RunStatus.SUCCESS]
    assert [len(receivers.sent[u]) for u in (CRM, OPS, BILLING)] == [1, 1, 1]
    assert t.p.runs.get(run_id)["status"] == RunStatus.SUCCESS


def test_a_task_dispatched_while_paused_is_held_and_resume_queues_it_under_a_new_name() -> None:
    t, receivers = fan()
    [run_id] = t.accept(1)
    work(t)
    t.states.pause("i1", {"reason": "circuit", "by": "circuit"})  # the queue kept running
    assert t.dispatch(CRM_KEY) == [RunStatus.HELD]
    assert CRM not in receivers.sent
    t.control.resume(PACED_FANOUT)
    t.drain(PACED_FANOUT)
    assert work(t) == [RunStatus.QUEUED]
    [task] = t.queues.tasks[CRM_KEY]
    assert task.resend == 1000  # past the resume: the old task's name stays taken
    assert t.dispatch(CRM_KEY) == [RunStatus.SUCCESS]
    assert [len(receivers.sent[u]) for u in (CRM, OPS)] == [1, 1]
    assert t.p.runs.get(run_id)["status"] == RunStatus.SUCCESS


def test_the_circuit_breaker_counts_a_fan_outs_sends() -> None:
    doc = {**PACED_FANOUT, "circuitBreaker": {"consecutiveFailures": 2}}
    t, receivers = fan(doc)
    receivers.scripts[OPS] = [RetryableTargetError]
    receivers.scripts[CRM] = [RetryableTargetError]
    t.accept(1)
    work(t)
    assert t.states.get("i1")["consecutiveFailures"] == 1
    assert t.dispatch(CRM_KEY) == [RunStatus.RETRYING]
    assert t.opened == ["i1"]  # two failed sends in a row, one per target: paused
    assert t.states.get("i1")["by"] == "circuit"


def test_a_task_dispatched_a_moment_before_its_retry_time_is_sent_not_stranded() -> None:
    # The queue's clock runs a little ahead of the worker's: its task for the next attempt
    # is its retry; were it put back under the same name, the queue would refuse it.
    t, receivers = fan()
    receivers.scripts[CRM] = [RetryableTargetError]
    [run_id] = t.accept(1)
    work(t)
    t.dispatch(CRM_KEY)
    [task] = t.queues.tasks[CRM_KEY]
    t.p.clock.advance(9.9)  # 0.1 s before nextAttemptAt, by the worker's clock
    t.queues.tasks[CRM_KEY] = []
    body = json.dumps(dict(task.body)).encode()
    assert t.deliverer.deliver(body) == RunStatus.SUCCESS
    assert len(receivers.sent[CRM]) == 2
    assert t.p.runs.get(run_id)["status"] == RunStatus.SUCCESS
