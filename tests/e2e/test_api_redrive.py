"""Bulk redrive through the running functions: api starts it, the pull function resends."""

from __future__ import annotations

import base64
import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import requests

from mapper.store.jobs import RedriveJobStore

from .conftest import Platform

RUNS = 200


def job_once_ended(platform: Platform, job_id: str, timeout: float) -> dict:
    """The job as the API shows it once it is no longer running (or when `timeout` is up)."""
    deadline = time.monotonic() + timeout
    while True:
        job = platform.api("GET", f"/api/runs/redrive/{job_id}/").json()
        if job["state"] != "running" or time.monotonic() > deadline:
            return job
        time.sleep(0.5)


def numbers_received(
    platform: Platform, path: str, wanted: int, timeout: float, settle: float
) -> Counter:
    """How often the sink got each `number` at `path`, once `wanted` arrived and `settle`
    seconds more have passed (anything sent twice arrives by then)."""
    deadline = time.monotonic() + timeout
    while len(platform.sink.received(path)) < wanted and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(settle)
    return Counter(json.loads(r["body"])["number"] for r in platform.sink.received(path))


def test_redrive_two_hundred_dead_lettered_runs_each_delivered_once(platform: Platform) -> None:
    created = platform.add(
        {
            "name": "Redrive target",
            "source": {"type": "webhook"},
            "mappings": [{"source": "n", "target": "number"}],
            "target": {"type": "http", "url": f"{platform.sink.url}/redriven", "method": "POST"},
        }
    )
    # Runs as the dead-letter function leaves them, a millisecond apart, oldest first.
    for n in range(RUNS):
        platform.runs.create(
            {
                "id": f"{created['id']}.dead-{n}",
                "integrationId": created["id"],
                "integrationVersion": 1,
                "sourceKind": "webhook",
                "status": "dead_lettered",
                "incomingPayload": {"n": n},
                "incomingHeaders": {"content-type": "application/json"},
                "incomingAttributes": {},
                "attempts": 5,
                "errorMessage": "gave up after 5 attempts: 503 from the target",
                "createdAt": f"2026-11-30T10:00:00.{n:03d}000Z",
            }
        )
    asked = {"integrationId": created["id"], "statuses": ["dead_lettered", "error"]}
    dry = platform.api("POST", "/api/runs/redrive/", {**asked, "dryRun": True})
    assert dry.status_code == 200, dry.text
    assert dry.json() == {"count": RUNS}
    assert platform.sink.received("/redriven") == []

    started = platform.api("POST", "/api/runs/redrive/", {**asked, "dryRun": False})
    assert started.status_code == 202, started.text
    job_id = started.json()["jobId"]
    assert started.json()["count"] == RUNS

    job = job_once_ended(platform, job_id, timeout=120)
    assert (job["state"], job["total"], job["queued"], job["failed"]) == ("done", RUNS, RUNS, 0)
    # At most 50 runs a second: 200 runs take at least 199 / 50 s from start to done.
    took = datetime.fromisoformat(job["updatedAt"]) - datetime.fromisoformat(job["createdAt"])
    print(f"redrive of {RUNS} runs: {took.total_seconds():.2f} s from start to done")
    assert took.total_seconds() >= (RUNS - 1) / 50 - 0.1
    listed = platform.api("GET", "/api/runs/redrive/?limit=200").json()["jobs"]
    assert [j for j in listed if j["jobId"] == job_id] == [job]

    assert numbers_received(platform, "/redriven", RUNS, timeout=120, settle=2) == Counter(
        range(RUNS)
    )  # each once

    replays = platform.api(
        "GET", f"/api/runs/?integration_id={created['id']}&status=success&limit=200"
    ).json()["runs"]
    assert len(replays) == RUNS
    assert {r["replayOf"] for r in replays} == {f"{created['id']}.dead-{n}" for n in range(RUNS)}
    assert {r["sourceKind"] for r in replays} == {"replay"}

    # The job's first task delivered again: nothing is resent.
    task = base64.b64encode(json.dumps({"redriveJob": job_id}).encode()).decode()
    again = requests.post(
        f"{platform.url}/_functions/pull",
        json={"message": {"data": task, "messageId": "again"}, "subscription": "s"},
        timeout=30,
    )
    assert again.status_code == 200 and "done" in again.json()["skipped"]
    time.sleep(1)
    assert len(platform.sink.received("/redriven")) == RUNS


def test_a_running_job_whose_task_the_queue_lost_is_resumed_by_the_tick(
    platform: Platform,
) -> None:
    created = platform.add(
        {
            "name": "Redrive, task lost",
            "source": {"type": "webhook"},
            "mappings": [{"source": "n", "target": "number"}],
            "target": {"type": "http", "url": f"{platform.sink.url}/resumed", "method": "POST"},
        }
    )
    for n in range(3):
        platform.runs.create(
            {
                "id": f"{created['id']}.failed-{n}",
                "integrationId": created["id"],
                "sourceKind": "webhook",
                "status": "error",
                "incomingPayload": {"n": n},
                "errorMessage": "400 from the target",
                "createdAt": f"2026-11-29T10:00:0{n}.000000Z",
            }
        )
    # A job as `start` leaves it, whose task never arrived: idle since long before the horizon.
    long_ago = "2026-11-30T00:00:00.000000Z"
    job_id = f"lost-{created['id']}"
    RedriveJobStore(platform.runs._client).create(  # noqa: SLF001 - the platform's own client
        {
            "id": job_id,
            "filter": {"integrationId": created["id"], "statuses": ["error"], "since": None,
                       "until": long_ago},
            "state": "running", "total": 3, "queued": 0, "failed": 0, "failures": [],
            "cursor": None, "batches": 0, "createdAt": long_ago, "updatedAt": long_ago,
        }
    )

    tick = requests.post(f"{platform.url}/_functions/pull", data=b"", timeout=60)
    assert tick.status_code == 200, tick.text
    assert set(tick.json()["redriveJobs"]) == {"resumed", "ended"}

    job = job_once_ended(platform, job_id, timeout=60)
    assert (job["state"], job["queued"], job["failed"]) == ("done", 3, 0)
    assert numbers_received(platform, "/resumed", 3, timeout=60, settle=1) == Counter(range(3))


def test_redrive_refuses_bad_requests(platform: Platform) -> None:
    bad = platform.api("POST", "/api/runs/redrive/", {"statuses": ["success"], "dryRun": True})
    assert bad.status_code == 400 and bad.json()["problems"][0]["path"].startswith("statuses")
    empty = platform.api("POST", "/api/runs/redrive/", {"statuses": [], "dryRun": True})
    assert empty.status_code == 400
    unknown = platform.api(
        "POST", "/api/runs/redrive/", {"integrationId": "nope", "statuses": ["error"],
                                       "dryRun": True}
    )
    assert unknown.status_code == 404
    assert platform.api("GET", "/api/runs/redrive/nope/").status_code == 404
    when = platform.api("POST", "/api/runs/redrive/", {"statuses": ["error"], "since": "soon",
                                                       "dryRun": True})
    assert when.status_code == 400


def header(request: dict, name: str) -> str | None:
    return next((v for k, v in request["headers"].items() if k.lower() == name.lower()), None)


def test_redrive_resends_the_same_event_once_however_often_it_is_clicked(
    platform: Platform,
) -> None:
    created = platform.add(
        {
            "name": "Redrive, clicked thrice",
            "source": {"type": "webhook"},
            "mappings": [{"source": "n", "target": "number"}],
            "target": {"type": "http", "url": f"{platform.sink.url}/same", "method": "POST",
                       "signing": {"scheme": "standard-webhooks"}},
        }
    )
    originals = [f"{created['id']}.failed-{n}" for n in range(5)]
    for n, run_id in enumerate(originals):
        platform.runs.create(
            {
                "id": run_id,
                "integrationId": created["id"],
                "sourceKind": "webhook",
                "status": "dead_lettered",
                "incomingPayload": {"n": n},
                "errorMessage": "gave up after 5 attempts: 503 from the target",
                "createdAt": f"2026-11-28T10:00:0{n}.000000Z",
            }
        )
    platform.sink.on("/same", 400)  # the first round fails again
    asked = {"integrationId": created["id"], "statuses": ["dead_lettered", "error"],
             "dryRun": False}

    def click() -> str:
        reply = platform.api("POST", "/api/runs/redrive/", asked)
        assert reply.status_code == 202, reply.text
        return reply.json()["jobId"]

    with ThreadPoolExecutor(3) as pool:  # three concurrent jobs over the same runs
        jobs = [job_once_ended(platform, job_id, 60) for job_id in pool.map(lambda _: click(),
                                                                             range(3))]
    assert [j["state"] for j in jobs] == ["done"] * 3
    assert sum(j["queued"] for j in jobs) == 5
    assert all("already resent" in f["reason"] for j in jobs for f in j["failures"])
    numbers_received(platform, "/same", 5, timeout=60, settle=2)
    first_round = platform.sink.received("/same")
    assert len(first_round) == 5  # each run sent once, not once per job

    # The second round matches the originals and their failed copies: each event once more.
    platform.sink.on("/same", 200)
    job = job_once_ended(platform, click(), 60)
    assert (job["state"], job["total"], job["queued"], job["failed"]) == ("done", 10, 5, 5)
    numbers_received(platform, "/same", 10, timeout=60, settle=2)
    received = platform.sink.received("/same")
    assert len(received) == 10
    # The receiver sees each event under its original run's id, every time.
    by_number = {json.loads(r["body"])["number"]: r for r in received[5:]}
    for request in received:
        n = json.loads(request["body"])["number"]
        assert header(request, "Idempotency-Key") == originals[n]
        assert header(request, "webhook-id") == originals[n]
    assert sorted(by_number) == list(range(5))


def test_runs_in_flight_are_not_redriven(platform: Platform) -> None:
    for status in ("retrying", "queued", "delivering"):
        reply = platform.api("POST", "/api/runs/redrive/", {"statuses": [status], "dryRun": True})
        assert reply.status_code == 400, reply.text
