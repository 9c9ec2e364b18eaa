"""The fault suite's cheapest experiments, small, in `make test` (`make faults` runs them all):
three stream experiments and one receiver case (pause, 30 accepted, resume)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from faults.experiments import Result
from faults.receivers import CaseResult
from faults.run import run


@pytest.mark.slow
def test_the_short_fault_suite_keeps_every_promise(tmp_path: Path) -> None:
    if shutil.which("gcloud") is None:
        pytest.fail("gcloud with the Firestore and Pub/Sub emulators is required")
    status, results = run(
        [
            "--n", "30",
            "--only", "healthy,same-key,failing-30,pause",
            "--trials", "3",
            "--copies", "10",
            "--reconcile-after", "10",
            "--tick", "2",
            "--log-dir", str(tmp_path),
        ]
    )
    assert [r.experiment.name for r in results] == ["healthy", "same-key", "failing-30", "pause"]
    *streams, paused = results
    for r in streams:
        assert isinstance(r, Result)
        assert r.failures() == [], (r.experiment.name, r.notes)
        assert r.lost == [] and r.dup_other_key == 0 and r.in_flight == 0
        assert r.accepted == r.experiment.n
        # Delivered, or (five 500s in a row) dead-lettered with the reason in its run.
        assert r.delivered + r.ended_with_reason >= r.accepted
    assert isinstance(results[1], Result)
    assert results[1].answered_202 == 3 * 10  # every copy of the same key was answered 202
    # Paused: all 30 accepted and held, none sent; resumed: each sent once.
    assert isinstance(paused, CaseResult) and paused.failures() == [], paused.notes
    assert (paused.accepted, paused.sent_while_paused, paused.delivered, paused.twice) == (
        30, 0, 30, 0)
    assert status == 0
