"""Runs written after their 202 (RECORD_AT_ACCEPT), grouped, over the fake run log."""

from __future__ import annotations

import logging
import time

import pytest

from mapper.errors import StoreError
from mapper.pipeline.after_accept import RunsAfterAccept
from mapper.pipeline.runs import QueuedMessage
from tests.fakes import Clock, FakeRuns
from tests.pipeline.support import body, build

LONG = 60.0  # a linger no test waits out: only `close` or a full batch ends it


def queued(run_id: str) -> dict[str, str]:
    return {"id": run_id, "integrationId": "i1", "status": "queued"}


def settled(runs: FakeRuns, count: int, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while sum(map(len, runs.batches)) < count and time.monotonic() < deadline:
        time.sleep(0.005)


def test_record_returns_before_the_write_and_close_writes_what_waits() -> None:
    runs = FakeRuns(Clock())
    after = RunsAfterAccept(runs, linger_s=LONG)
    for run_id in ("i1.a", "i1.b", "i1.c"):
        after.record(queued(run_id))
    assert runs.docs == {}  # the senders did not wait for it
    started = time.monotonic()
    after.close()
    assert time.monotonic() - started < 5  # not the linger
    assert runs.batches == [["i1.a", "i1.b", "i1.c"]]  # one round trip for the three
    assert set(runs.docs) == {"i1.a", "i1.b", "i1.c"}


def test_runs_queued_within_the_linger_share_one_round_trip() -> None:
    runs = FakeRuns(Clock())
    after = RunsAfterAccept(runs, linger_s=0.3)
    for n in range(5):
        after.record(queued(f"i1.{n}"))
    settled(runs, 5)
    assert runs.batches == [[f"i1.{n}" for n in range(5)]]
    after.close()


def test_a_full_batch_goes_at_once_and_the_rest_after() -> None:
    runs = FakeRuns(Clock())
    after = RunsAfterAccept(runs, linger_s=LONG, max_runs=2)
    for n in range(5):
        after.record(queued(f"i1.{n}"))
    settled(runs, 4)  # two full batches, without the linger
    assert runs.batches == [["i1.0", "i1.1"], ["i1.2", "i1.3"]]
    after.close()
    assert runs.batches[-1] == ["i1.4"]


def test_a_run_its_worker_wrote_first_is_left_as_it_is() -> None:
    runs = FakeRuns(Clock())
    runs.create({**queued("i1.a"), "status": "delivering"})
    after = RunsAfterAccept(runs, linger_s=LONG)
    after.record(queued("i1.a"))
    after.record(queued("i1.b"))
    after.close()
    assert runs.docs["i1.a"]["status"] == "delivering"
    assert runs.docs["i1.b"]["status"] == "queued"


def test_one_refused_run_is_logged_and_the_others_are_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs = FakeRuns(Clock())
    runs.refused_ids = {"i1.b"}
    after = RunsAfterAccept(runs, linger_s=LONG)
    for run_id in ("i1.a", "i1.b", "i1.c"):
        after.record(queued(run_id))
    with caplog.at_level(logging.WARNING, logger="mapper.intake"):
        after.close()
    assert set(runs.docs) == {"i1.a", "i1.c"}
    assert [r.getMessage() for r in caplog.records] == [
        "run i1.b: not recorded at accept (its worker records it): refused i1.b"
    ]


def test_firestore_unreachable_loses_no_later_run(caplog: pytest.LogCaptureFixture) -> None:
    runs = FakeRuns(Clock())
    runs.down = StoreError("Firestore could not create runs: unavailable")
    after = RunsAfterAccept(runs, linger_s=0.01)
    with caplog.at_level(logging.WARNING, logger="mapper.intake"):
        after.record(queued("i1.a"))
        after.record(queued("i1.b"))
        deadline = time.monotonic() + 5
        while len(caplog.records) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
    assert sorted(r.getMessage().split(":")[0] for r in caplog.records) == [
        "run i1.a", "run i1.b"]  # logged, each: their workers record them
    runs.down = None
    after.record(queued("i1.c"))  # the thread lives on
    after.close()
    assert set(runs.docs) == {"i1.c"}


def test_past_max_waiting_a_run_is_left_to_its_worker(caplog: pytest.LogCaptureFixture) -> None:
    runs = FakeRuns(Clock())
    after = RunsAfterAccept(runs, linger_s=LONG, max_waiting=2)
    with caplog.at_level(logging.WARNING, logger="mapper.intake"):
        for run_id in ("i1.a", "i1.b", "i1.c"):
            after.record(queued(run_id))
    after.close()
    assert set(runs.docs) == {"i1.a", "i1.b"}
    assert "run i1.c: not recorded at accept, 2 runs wait already" in caplog.text


def test_after_close_a_run_is_written_by_its_caller() -> None:
    runs = FakeRuns(Clock())
    after = RunsAfterAccept(runs)
    after.close()
    after.record(queued("i1.a"))
    assert runs.batches == [["i1.a"]]  # already written when `record` returned


def test_the_intake_records_concurrent_requests_runs_in_shared_round_trips() -> None:
    p = build(record_in_background=True)
    receipts = [p.intake.receive_webhook("p-secret", {}, body(b'{"n": %d}' % n))
                for n in range(20)]
    p.intake.close()
    assert {r.run_id for r in receipts} == set(p.runs.docs)
    assert all(doc["status"] == "queued" for doc in p.runs.docs.values())
    assert sum(map(len, p.runs.batches)) == 20
    assert len(p.runs.batches) < 20  # not one round trip a run


def test_a_run_written_after_its_202_keeps_its_accept_time() -> None:
    # A resume sends held runs by `createdAt`: a run written when the linger ended, not when
    # it arrived, was sent after a later event in a fresh-clone CI run.
    p = build(record_in_background=True)
    accepted = p.clock.iso()
    first = p.intake.receive_webhook("p-secret", {}, body(b'{"n": 1}'))
    p.clock.advance(1.0)  # the write comes later than the accept
    second = p.intake.receive_webhook("p-secret", {}, body(b'{"n": 2}'))
    p.intake.close()
    assert p.runs.docs[first.run_id]["createdAt"] == accepted
    assert p.runs.docs[second.run_id]["createdAt"] == p.clock.iso()
    worker_would_write = QueuedMessage.from_dict(p.queue.messages[0]).first_record()
    assert worker_would_write["createdAt"] == accepted  # the same, whoever writes it
