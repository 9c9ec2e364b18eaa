"""Bulk redrive: resend the failed runs a filter matches, as new runs, at a bounded rate.

The api function only counts and stores the job (`start`), then publishes one task
`{"redriveJob": id}` on the pull-tasks topic: a function's CPU is gone once it answers, so
no work may wait in a background thread. The pull function receives the task and calls
`step`, which resends one batch (BATCH_SIZE runs, at most RATE_PER_S a second), records
the progress conditionally on the batch it read, and publishes the next task until the
runs are exhausted.

Each run goes in through `Intake.accept` as a new run of kind `replay` recording
`replayOf`, with the integration as it is now. Its id is derived from the job and the
original run, and `accept` creates a run only once per id, so a task delivered twice (or
a batch redone after a crash) never sends a run twice for the same job.

It is the same event sent again: the new run records `originalRunId` (the event's first
run), whose id the receiver sees as `Idempotency-Key` and `webhook-id`. Before it is
resent, the original run is taken for this job in one transaction (`redrivenBy`,
`redrivenAs`): a run that another job (or a replay) resent already is not resent again,
so two concurrent jobs send each run once, and redriving a failure and its redriven copy
together does not double it: the copy is the one to redrive next.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .backtest import unusable
from .engine.config import Integration, parse_integration
from .errors import (
    ConfigError,
    InvalidQueryError,
    MapperError,
    MessageTooLarge,
    NotFoundError,
)
from .pipeline import Intake
from .pipeline.fanout import delivered
from .pipeline.ports import IntegrationSource, MessageQueue, RedriveJobs, RunRecords
from .pipeline.reconcile import due_again
from .pipeline.runs import REDRIVABLE, SourceKind, event_id
from .timestamps import epoch_seconds, iso_timestamp, now_iso

log = logging.getLogger("mapper.redrive")

BATCH_SIZE = 100  # runs resent per task
RATE_PER_S = 50.0  # runs resent per second, per job (REDRIVE_RATE_PER_SECOND)
FAILURES_KEPT = 50  # the first failures (run id and reason) a job shows
RUNNING_JOBS_LOOKED_AT = 50  # per reconciler tick
LOST_TASK = "its task was lost by the queue after {n} republishes"


@dataclass
class StepReport:
    """What one task did for its job."""

    job_id: str
    queued: int = 0
    failed: int = 0
    state: str | None = None
    skipped: str | None = None
    failures: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "failures"}


def redrive_run_id(integration_id: str, job_id: str, original_run_id: str) -> str:
    """The new run's id: the same for the same job and original run, whoever computes it."""
    digest = hashlib.sha256(original_run_id.encode()).hexdigest()[:32]
    return f"{integration_id}.redrive-{job_id}-{digest}"


def shown(job: dict[str, Any]) -> dict[str, Any]:
    """A job as `GET /api/runs/redrive/{jobId}/` shows it."""
    return {
        "jobId": job["id"],
        "state": job["state"],
        "total": job["total"],
        "queued": job["queued"],
        "failed": job["failed"],
        "failures": job.get("failures", []),
        "filter": job["filter"],
        "error": job.get("error"),
        "createdAt": job.get("createdAt"),
        "updatedAt": job.get("updatedAt"),
    }


class Redriver:
    """Starts redrive jobs (api) and resends their runs one batch per task (pull function)."""

    def __init__(
        self,
        runs: RunRecords,
        jobs: RedriveJobs,
        integrations: IntegrationSource,
        intake: Intake,
        tasks: MessageQueue,
        *,
        batch_size: int = BATCH_SIZE,
        rate_per_s: float = RATE_PER_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        now: Callable[[], str] = now_iso,
    ) -> None:
        self._runs = runs
        self._jobs = jobs
        self._integrations = integrations
        self._intake = intake
        self._tasks = tasks
        self._batch = max(1, batch_size)
        self._interval = 1.0 / rate_per_s if rate_per_s > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._new_id = new_id
        self._now = now

    # --- the api's half ---------------------------------------------------------------

    def start(
        self,
        statuses: Iterable[str],
        integration_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Count the matching runs; unless `dry_run`, store the job and publish its first task."""
        now = self._now()
        # Runs created from now on (the redriven ones among them) are never part of the job.
        cutoff = now if until is None else min(_time("until", until), now)
        statuses = sorted(set(statuses))
        if not statuses or not set(statuses) <= REDRIVABLE:
            raise InvalidQueryError(
                f"statuses must be among {sorted(REDRIVABLE)}: a run still in flight "
                "(queued, delivering, retrying) is attempted by the platform itself"
            )
        since = None if since is None else _time("since", since)
        filters = {"integration_id": integration_id, "statuses": statuses, "since": since}
        count = self._runs.count_matching(**filters, until=cutoff)
        if dry_run:
            return {"count": count}
        job = {
            "id": self._new_id(),
            "filter": {"integrationId": integration_id, "statuses": statuses, "since": since,
                       "until": cutoff},
            "state": "running" if count else "done",
            "total": count,
            "queued": 0,
            "failed": 0,
            "failures": [],
            "cursor": None,
            "batches": 0,
            "createdAt": now,
            "updatedAt": now,
        }
        self._jobs.create(job)
        if count:
            try:
                self._tasks.publish({"redriveJob": job["id"]})
            except MapperError as exc:
                self._jobs.advance(job["id"], 0, {"state": "failed", "error": str(exc)})
                raise
        return {"jobId": job["id"], "count": count}

    def status(self, job_id: str) -> dict[str, Any]:
        """The job's progress."""
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"no redrive job {job_id}")
        return shown(job)

    def jobs(self, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of jobs, newest first, as `status` shows each."""
        found, next_cursor = self._jobs.list(limit, cursor)
        return [shown(job) for job in found], next_cursor

    # --- the pull function's half -----------------------------------------------------

    def step(self, job_id: str) -> StepReport:
        """Resend the job's next batch, record it, and publish the next task if runs remain."""
        report = StepReport(job_id)
        job = self._jobs.get(job_id)
        if job is None or job.get("state") != "running":
            report.skipped = "no such job" if job is None else f"the job is {job['state']}"
            return report
        wanted = job["filter"]
        runs, next_cursor = self._runs.list(
            integration_id=wanted.get("integrationId"),
            statuses=wanted["statuses"],
            since=wanted.get("since"),
            until=wanted.get("until"),
            limit=self._batch,
            cursor=job.get("cursor"),
        )
        integrations: dict[str, Integration | str] = {}
        started = self._clock()
        for i, run in enumerate(runs):
            wait = started + i * self._interval - self._clock()
            if wait > 0:
                self._sleep(wait)  # the job's rate: RATE_PER_S runs a second
            reason = self._resend(job_id, run, integrations)
            if reason is None:
                report.queued += 1
            else:
                report.failed += 1
                report.failures.append({"runId": str(run.get("id")), "reason": reason})
        report.state = "running" if next_cursor else "done"
        kept = (job.get("failures") or []) + report.failures
        advanced = self._jobs.advance(
            job_id,
            int(job.get("batches") or 0),
            {
                "queued": int(job.get("queued") or 0) + report.queued,
                "failed": int(job.get("failed") or 0) + report.failed,
                "failures": kept[:FAILURES_KEPT],
                "cursor": next_cursor,
                "state": report.state,
                "republishes": 0,  # it moves: a later stall waits the whole horizon again
            },
        )
        if not advanced:
            # Another delivery of this task recorded the batch first (its runs were the same
            # ones, created once); it publishes the next task.
            report.skipped = "this batch was recorded by another delivery of the task"
            return report
        if next_cursor:
            self._tasks.publish({"redriveJob": job_id})  # fails: redelivered, goes on
        return report

    # --- the reconciler's half --------------------------------------------------------

    def resume_stalled(self, horizon_s: float, max_republishes: int) -> dict[str, int]:
        """Publish the task again of each running job untouched for longer than the horizon.

        A job moves on only through its task message; one lost by the queue (or stalled, as
        the emulator's do) would leave it `running` forever. Its task is published again on
        the reconciler's schedule (`due_again`: the horizon, then twice as long each time),
        and after `max_republishes` the job ends `failed` with the reason. A second copy of
        a live task is harmless: a batch is recorded only by the delivery that read it
        first, and a run is resent at most once per job.
        """
        counts = {"resumed": 0, "ended": 0}
        now = epoch_seconds(self._now())
        for job in self._jobs.running(RUNNING_JOBS_LOOKED_AT):
            done = int(job.get("republishes") or 0)
            if not due_again(job.get("updatedAt"), done, horizon_s, now):
                continue
            try:
                what = self._resume(job, done, max_republishes, horizon_s)
            except MapperError as exc:  # the next tick looks again
                log.warning("redrive job %s: could not resume: %s", job.get("id"), exc)
                continue
            if what is not None:
                counts[what] += 1
        return counts

    def _resume(
        self, job: dict[str, Any], done: int, max_republishes: int, horizon_s: float
    ) -> str | None:
        """Publish a stalled job's task again, or end it; which, or None if it moved on."""
        job_id, seen = str(job["id"]), str(job.get("updatedAt"))
        if done >= max_republishes:
            reason = LOST_TASK.format(n=done)
            if not self._jobs.touch(job_id, seen, {"state": "failed", "error": reason}):
                return None
            log.error("redrive job %s ended: %s", job_id, reason,
                      extra={"redriveJob": job_id, "status": "lost"})
            return "ended"
        if not self._jobs.touch(job_id, seen, {"republishes": done + 1}):
            return None  # its task moved it on since it was read
        self._tasks.publish({"redriveJob": job_id})
        log.warning("redrive job %s: idle past %ss; its task published again (%s)",
                    job_id, int(horizon_s), done + 1)
        return "resumed"

    def _resend(
        self, job_id: str, run: dict[str, Any], integrations: dict[str, Integration | str]
    ) -> str | None:
        """Queue one run again; None, or why it could not be."""
        reason = unusable(run)
        if reason is not None:
            return reason
        integration_id = str(run.get("integrationId"))
        integration = integrations.get(integration_id)
        if integration is None:
            integration = integrations[integration_id] = self._integration(integration_id)
        if isinstance(integration, str):
            return integration
        run_id = str(run["id"])
        new_id = redrive_run_id(integration_id, job_id, run_id)
        refused = self._runs.claim_redrive(run_id, job_id, new_id, REDRIVABLE)
        if refused is not None:
            return refused
        try:
            self._intake.accept(
                integration,
                run["incomingPayload"],
                run_id=new_id,
                source_kind=SourceKind.REPLAY,
                headers=run.get("incomingHeaders"),
                attributes=run.get("incomingAttributes"),
                replay_of=run_id,
                original_run_id=event_id(run),
                # A fan-out's targets that succeeded are not sent again (pipeline.fanout).
                delivered=delivered(run) if integration.fanout else None,
            )
        except MessageTooLarge as exc:
            return str(exc)
        except MapperError as exc:
            if exc.retryable:
                raise  # the task fails and is delivered again; done runs are not resent
            return str(exc)
        return None

    def _integration(self, integration_id: str) -> Integration | str:
        doc = self._integrations.get(integration_id)
        if doc is None:
            return "the integration no longer exists"
        try:
            integration = parse_integration(doc)
        except ConfigError as exc:
            return f"the integration's stored document is invalid: {exc}"
        if not integration.active:
            return "the integration is paused; activate it and redrive again"
        return integration


def _time(name: str, value: str) -> str:
    try:
        return iso_timestamp(value)
    except (TypeError, ValueError):
        raise InvalidQueryError(f"{name} must be an ISO-8601 date or time") from None
