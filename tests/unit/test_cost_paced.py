"""bench/cost.py's paced report: Cloud Tasks operations per event, and both paths side by side."""

from __future__ import annotations

import sys
from typing import Any

from bench import cost_model as cm

sys.path.insert(0, str(cm.__file__).rsplit("/", 1)[0])  # cost.py imports its siblings bare
from bench import cost  # noqa: E402


def measured(paced: bool, **deliver: float) -> dict[str, Any]:
    one = {"invocations": 100, "firestore.reads": 200, "firestore.writes": 300,
           "rounded_s": 10.0, "busy_s": 5.0, "cpu": "1", "memory_gib": 1.0}
    functions = {"webhook": dict(one), "worker": dict(one), "dead_letter": {"cpu": "1",
                 "memory_gib": 0.5}, "pull": {"cpu": "1", "memory_gib": 0.5}}
    if paced:
        functions["deliver"] = {**one, **deliver}
    return {
        "events": 100, "functions": functions, "paced": paced,
        "tasks_operations": 230 if paced else 0,
        "stored": {"runs": 100, "document_bytes": 0, "index_bytes": 0},
    }


def test_the_paced_run_counts_its_cloud_tasks_operations_and_deliver_requests() -> None:
    fast = cost.per_event(measured(False), "high")
    paced = cost.per_event(measured(True, invocations=110), "high")
    assert fast.tasks_operations == 0 and paced.tasks_operations == 2.3
    assert (fast.run_requests, paced.run_requests) == (2.0, 3.1)
    assert cm.per_million(paced)["tasks_operations"] == 2.3 * 0.40


def test_both_paths_are_printed_side_by_side() -> None:
    fast, paced = cost.price(measured(False)), cost.price(measured(True, invocations=110))
    table = cost.side_by_side(fast, paced)
    low = {key: sum(r["rates"]["low"]["per_million"].values()) for key, r in
           (("fast", fast), ("paced", paced))}
    totals = table.split("| **total** | ")[1].split("\n")[0]
    assert totals.startswith(f"**{low['fast']:,.2f}** | **{low['paced']:,.2f}**")
    assert "| Cloud Tasks operations | 0.00 | 0.92 |" in table
    assert "2.30 Cloud Tasks operations and 1.10 deliver requests per event" in table
