"""Bulk redrive over fakes: counted, resent once per job in batches, at a bounded rate."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mapper.errors import InvalidQueryError, QueueError, TargetError
from mapper.pipeline.runs import REDRIVABLE
from mapper.redrive import Redriver, redrive_run_id
from tests.fakes import FakeQueue, FakeRedriveJobs
from tests.pipeline.support import HOOK, Pipeline, body, build

PAUSED = {**copy.deepcopy(HOOK), "id": "i2", "webhookPath": "p-two"}


def failed_runs(p: Pipeline, count: int) -> list[str]:
    """`count` runs of i1 that ended `error` (the target refused them), oldest first."""
    p.target.script = [TargetError] * count
    ids = []
    for n in range(count):
        receipt = p.intake.receive_webhook("p-secret", {}, body(f'{{"n": {n}}}'.encode()))
        ids.append(receipt.run_id)
        p.clock.advance(1)
    assert set(p.deliver_all()) == {"error"}
    p.target.sent.clear()
    return ids


class Sleeps:
    """A clock that only moves when slept on, recording each sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def redriver(p: Pipeline, tasks: FakeQueue, jobs: FakeRedriveJobs, **kw: Any) -> Redriver:
    sleeps = kw.pop("sleeps", Sleeps())
    ids = iter(f"job{n}" for n in range(100))
    return Redriver(
        p.runs, jobs, p.integrations, p.intake, tasks, clock=sleeps.clock, sleep=sleeps.sleep,
        new_id=lambda: next(ids), now=lambda: p.clock.iso(), **kw,
    )


def run_tasks(r: Redriver, tasks: FakeQueue) -> int:
    """Deliver the task topic's messages until none is left; how many were run."""
    done = 0
    while tasks.messages:
        r.step(tasks.messages.pop(0)["redriveJob"])
        done += 1
    return done


def test_each_failed_run_is_resent_once_as_a_replay() -> None:
    p = build(HOOK, PAUSED)
    originals = failed_runs(p, 7)
    p.intake.receive_webhook("p-secret", {}, body(b"not json"))  # error, raw body
    p.clock.advance(1)
    tasks, jobs = FakeQueue(), FakeRedriveJobs()
    r = redriver(p, tasks, jobs, batch_size=3)
    assert r.start(["error"], dry_run=True) == {"count": 8}
    assert jobs.jobs == {} and tasks.messages == []  # a dry run starts nothing

    started = r.start(["error", "dead_lettered"], integration_id="i1")
    assert started == {"jobId": "job0", "count": 8}
    assert run_tasks(r, tasks) == 3  # 8 runs in batches of 3
    status = r.status("job0")
    assert (status["state"], status["total"], status["queued"], status["failed"]) == (
        "done", 8, 7, 1)
    assert "no JSON payload" in status["failures"][0]["reason"]
    assert r.jobs(10, None) == ([status], None)

    assert set(p.deliver_all()) == {"success"}
    assert sorted(s["payload"]["number"] for s in p.target.sent) == list(range(7))
    for original in originals:
        again = p.runs.get(redrive_run_id("i1", "job0", original))
        assert again["replayOf"] == original and again["sourceKind"] == "replay"
        assert again["status"] == "success"


def test_a_task_delivered_twice_resends_nothing_twice() -> None:
    p = build()
    failed_runs(p, 5)
    tasks, jobs = FakeQueue(), FakeRedriveJobs()
    r = redriver(p, tasks, jobs, batch_size=2)
    r.start(["error"])
    task = tasks.messages.pop(0)
    stale = jobs.get("job0")
    r.step(task["redriveJob"])
    assert len(p.queue.messages) == 2 and len(tasks.messages) == 1
    # The same task again, as if it had read the job before the first delivery wrote it.
    real_get = jobs.get
    jobs.get = lambda job_id: copy.deepcopy(stale)  # type: ignore[method-assign]
    report = r.step(task["redriveJob"])
    jobs.get = real_get  # type: ignore[method-assign]
    assert report.skipped and "another delivery" in report.skipped
    assert len(p.queue.messages) == 2 and len(tasks.messages) == 1  # nothing more
    run_tasks(r, tasks)
    assert jobs.get("job0")["queued"] == 5
    p.deliver_all()
    assert sorted(s["payload"]["number"] for s in p.target.sent) == list(range(5))


def test_a_batch_cut_short_by_a_failed_publish_is_finished_on_redelivery() -> None:
    p = build()
    failed_runs(p, 4)
    tasks, jobs = FakeQueue(), FakeRedriveJobs()
    r = redriver(p, tasks, jobs, batch_size=10)
    r.start(["error"])
    task = tasks.messages.pop(0)
    p.queue.messages.clear()
    p.intake._queue = failing = FakeQueue()  # the third resend's publish fails
    failing.publish = _fail_on(3, failing.publish)  # type: ignore[method-assign]
    with pytest.raises(QueueError):
        r.step(task["redriveJob"])
    assert len(failing.messages) == 2 and jobs.get("job0")["queued"] == 0
    r.step(task["redriveJob"])  # Pub/Sub delivers the task again
    assert jobs.get("job0")["state"] == "done" and jobs.get("job0")["queued"] == 4
    numbers = sorted(m["payload"]["n"] for m in failing.messages)
    assert numbers == [0, 1, 2, 3]  # each published once


def _fail_on(n: int, publish: Any) -> Any:
    calls = {"n": 0}

    def wrapped(
        message: dict[str, Any],
        attributes: dict[str, str] | None = None,
        ordering_key: str | None = None,
    ) -> str:
        calls["n"] += 1
        if calls["n"] == n:
            raise QueueError("Pub/Sub could not publish (fake)")
        return publish(message, attributes, ordering_key)

    return wrapped


def test_paused_and_deleted_integrations_fail_with_a_reason() -> None:
    p = build(HOOK, PAUSED)
    failed_runs(p, 2)
    p.integrations.docs["i1"]["active"] = False
    tasks, jobs = FakeQueue(), FakeRedriveJobs()
    r = redriver(p, tasks, jobs)
    r.start(["error"])
    run_tasks(r, tasks)
    job = r.status("job0")
    assert (job["queued"], job["failed"]) == (0, 2)
    assert all("paused" in f["reason"] for f in job["failures"])
    assert p.queue.messages == []


def test_the_rate_is_bounded_per_job() -> None:
    p = build()
    failed_runs(p, 100)
    tasks, jobs = FakeQueue(), FakeRedriveJobs()
    sleeps = Sleeps()
    r = redriver(p, tasks, jobs, batch_size=100, rate_per_s=50, sleeps=sleeps)
    r.start(["error"])
    run_tasks(r, tasks)
    assert jobs.get("job0")["queued"] == 100
    assert sleeps.now == pytest.approx(99 / 50)  # 100 runs at 50 a second


def test_runs_created_after_the_job_started_are_not_part_of_it() -> None:
    p = build()
    failed_runs(p, 2)
    tasks, jobs = FakeQueue(), FakeRedriveJobs()
    r = redriver(p, tasks, jobs, batch_size=1)
    r.start(["error"])
    failed_runs(p, 2)  # two more fail after the start
    run_tasks(r, tasks)
    assert jobs.get("job0")["queued"] == 2


HORIZON_S = 900.0


def started_job(
    failed: int, batch_size: int
) -> tuple[Pipeline, Redriver, FakeQueue, FakeRedriveJobs]:
    """`failed` runs that ended `error`, and job0 started over them; jobs on the runs' clock."""
    p = build()
    failed_runs(p, failed)
    tasks, jobs = FakeQueue(), FakeRedriveJobs(now=p.clock.iso)
    r = redriver(p, tasks, jobs, batch_size=batch_size)
    r.start(["error"])
    return p, r, tasks, jobs


def finish_and_deliver(p: Pipeline, r: Redriver, tasks: FakeQueue, jobs: FakeRedriveJobs,
                       failed: int) -> None:
    """Run the tasks left; job0 is done, and each failed run was delivered exactly once."""
    run_tasks(r, tasks)
    assert jobs.get("job0")["state"] == "done" and jobs.get("job0")["queued"] == failed
    p.deliver_all()
    assert sorted(s["payload"]["number"] for s in p.target.sent) == list(range(failed))


def test_a_job_whose_task_the_queue_lost_is_resumed_after_the_horizon_and_finishes() -> None:
    p, r, tasks, jobs = started_job(5, batch_size=2)
    r.step(tasks.messages.pop(0)["redriveJob"])
    tasks.messages.clear()  # the next task is lost: without the sweep the job stays running

    p.clock.advance(HORIZON_S - 1)
    assert r.resume_stalled(HORIZON_S, 3) == {"resumed": 0, "ended": 0}  # not idle long enough
    p.clock.advance(2)
    assert r.resume_stalled(HORIZON_S, 3) == {"resumed": 1, "ended": 0}
    assert tasks.messages == [{"redriveJob": "job0"}]
    assert r.resume_stalled(HORIZON_S, 3)["resumed"] == 0  # published once per wait

    finish_and_deliver(p, r, tasks, jobs, 5)


def test_the_lost_task_arriving_late_beside_its_republished_copy_sends_no_run_twice() -> None:
    p, r, tasks, jobs = started_job(6, batch_size=2)
    late = tasks.messages.pop(0)  # only stalled, not lost
    p.clock.advance(HORIZON_S + 1)
    r.resume_stalled(HORIZON_S, 3)
    tasks.messages.append(late)  # both copies are delivered now
    finish_and_deliver(p, r, tasks, jobs, 6)


def test_a_job_whose_task_keeps_being_lost_ends_failed_with_the_reason() -> None:
    p, r, tasks, _ = started_job(3, batch_size=2)
    for wait in (1, 2, 4):  # each republish waits twice as long as the one before
        tasks.messages.clear()
        p.clock.advance(HORIZON_S * wait + 1)
        assert r.resume_stalled(HORIZON_S, 3) == {"resumed": 1, "ended": 0}
    tasks.messages.clear()
    p.clock.advance(HORIZON_S * 8 + 1)
    assert r.resume_stalled(HORIZON_S, 3) == {"resumed": 0, "ended": 1}
    status = r.status("job0")
    assert status["state"] == "failed"
    assert status["error"] == "its task was lost by the queue after 3 republishes"
    assert tasks.messages == [] and r.resume_stalled(HORIZON_S, 3)["ended"] == 0


def test_a_task_that_cannot_be_published_again_leaves_the_other_jobs_resumed() -> None:
    p, r, tasks, _ = started_job(2, batch_size=1)
    r.start(["error"])
    tasks.messages.clear()  # both jobs' tasks lost
    p.clock.advance(HORIZON_S + 1)
    real_publish = tasks.publish

    def refuse_job0(message: dict, attributes: dict | None = None) -> str:
        if message["redriveJob"] == "job0":
            raise QueueError("Pub/Sub is unreachable")
        return real_publish(message, attributes)

    tasks.publish = refuse_job0  # type: ignore[method-assign]
    assert r.resume_stalled(HORIZON_S, 3) == {"resumed": 1, "ended": 0}
    assert tasks.messages == [{"redriveJob": "job1"}]


# --- the same event, sent once --------------------------------------------------------------


def test_a_redriven_run_reaches_the_receiver_with_its_original_key() -> None:
    p = build()
    originals = failed_runs(p, 3)
    tasks, jobs = FakeQueue(), FakeRedriveJobs()
    r = redriver(p, tasks, jobs)
    r.start(["error"])
    run_tasks(r, tasks)
    assert set(p.deliver_all()) == {"success"}
    # The key the target sends (Idempotency-Key, webhook-id) is the original run's id.
    assert sorted(s["runId"] for s in p.target.sent) == sorted(originals)
    for original in originals:
        again = p.runs.get(redrive_run_id("i1", "job0", original))
        assert again["originalRunId"] == original and again["replayOf"] == original
        assert p.runs.get(original)["redrivenAs"] == again["id"]


def test_runs_still_in_flight_are_not_redriven() -> None:
    p = build()
    failed_runs(p, 1)
    r = redriver(p, FakeQueue(), FakeRedriveJobs())
    for in_flight in ("retrying", "queued", "delivering"):
        with pytest.raises(InvalidQueryError, match="in flight"):
            r.start([in_flight, "error"])
    assert "retrying" not in REDRIVABLE and "queued" not in REDRIVABLE


def test_two_concurrent_jobs_send_each_run_once() -> None:
    p = build()
    originals = failed_runs(p, 4)
    tasks, jobs = FakeQueue(), FakeRedriveJobs()
    r = redriver(p, tasks, jobs, batch_size=2)
    r.start(["error"])
    r.start(["error", "dead_lettered"])
    run_tasks(r, tasks)  # the two jobs' tasks interleaved, as two clicks would make them
    first, second = r.status("job0"), r.status("job1")
    assert first["queued"] + second["queued"] == 4
    assert first["failed"] + second["failed"] == 4
    assert all("already resent as run" in f["reason"]
               for f in first["failures"] + second["failures"])
    p.deliver_all()
    assert sorted(s["runId"] for s in p.target.sent) == sorted(originals)  # once each


def test_a_redriven_failure_is_not_doubled_by_the_next_redrive() -> None:
    p = build()
    originals = failed_runs(p, 3)
    tasks, jobs = FakeQueue(), FakeRedriveJobs()
    r = redriver(p, tasks, jobs)
    for job in range(3):  # redrive every failed run; each fails again
        p.clock.advance(1)
        r.start(["error"])
        run_tasks(r, tasks)
        p.target.script = [TargetError] * 10
        assert p.deliver_all() == ["error"] * 3, f"round {job}: three runs, not doubled"
        sent, p.target.sent = p.target.sent, []
        assert sorted(s["runId"] for s in sent) == sorted(originals)  # the same events
