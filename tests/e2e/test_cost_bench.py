"""`bench/cost.py --events 50` end to end: the emulators, three functions, the seeded receiver.

With seed 7, events 0-49 are 48 healthy, 1 failing once (event 47) and 1 dead (event 7):
the receiver gets 48 + 2 + 10 requests. The counts the probes report are held to what the
code does for each: one message published per event and its run written by the webhook
after the 202 (RECORD_AT_ACCEPT's default), a claim and an outcome written by the worker per
attempt, at least 1,000 bytes a push.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_cost_bench_counts_fifty_events(tmp_path: Path) -> None:
    out = tmp_path / "cost.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench/cost.py"), "--events", "50", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["classes"] == {"healthy": 48, "failing_once": 1, "dead": 1}
    assert report["answers"] == {"202": 50}
    assert report["ended"] == 50
    assert report["target_requests"] == 48 + 2 + 10
    webhook, worker = report["functions"]["webhook"], report["functions"]["worker"]
    assert webhook["invocations"] == 50
    # Each run once, by the webhook after its 202 unless the worker got there first (its
    # create is then its claim, and the webhook's is refused, not billed), and the sampled
    # source shape: an instance's first payload of an integration, then at most once every
    # 10 s (docs/limits.md).
    assert 0 < webhook["firestore.writes"] <= 50 + 5
    assert webhook["pubsub.published_messages"] == 50
    assert webhook["pubsub.billed_bytes"] >= 50 * 1000
    attempts = report["target_requests"]
    assert worker["firestore.writes"] == 2 * attempts  # early deliveries write nothing
    assert worker["pubsub.pushed_messages"] == worker["invocations"] >= attempts
    assert worker["pubsub.billed_bytes"] >= 1000 * worker["pubsub.pushed_messages"]
    assert report["stored"]["runs"] == 50
    assert report["stored"]["document_bytes"] > 50 * 1700  # each run keeps the ~1.7 KB order
    low, high = report["rates"]["low"], report["rates"]["high"]
    assert low["per_event"]["firestore_deletes"] >= 1  # the TTL delete of each run
    assert low["per_event"]["run_vcpu_s"] >= high["per_event"]["run_vcpu_s"] > 0
    assert sum(low["per_million"].values()) > 0
    assert "| **total** |" in done.stdout
