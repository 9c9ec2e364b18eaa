"""Backtest through the running api function over 50 runs stored by the running platform."""

from __future__ import annotations

import copy

from .conftest import Platform
from .test_api import orders_doc

RUNS = 50


def test_backtest_over_fifty_stored_runs(platform: Platform) -> None:
    created = platform.add(orders_doc(platform))
    base = f"/api/integrations/{created['id']}"
    run_ids = [
        platform.send(
            created,
            {"id": n, "status": "paid", "customer": {"email": f"Ada{n}@Example.com", "name": "a"}},
        )
        for n in range(RUNS)
    ]
    for run_id in run_ids:
        assert platform.wait(run_id)["status"] == "success"
    sent_before = len(platform.sink.requests)

    # The candidate upper-cases the email instead of lower-casing it, and skips ids 0, 5, ...
    candidate = copy.deepcopy(created)
    candidate["mappings"][1]["transforms"] = [{"type": "uppercase"}]
    candidate["condition"] = "data.status === 'paid' && data.id % 5 !== 0"
    reply = platform.api("POST", f"{base}/backtest/", {"integration": candidate,
                                                       "runs": {"limit": 200}})
    assert reply.status_code == 200, reply.text
    result = reply.json()
    assert result["totals"] == {"runs": RUNS, "same": 0, "changed": 40, "nowSkipped": 10,
                                "nowFailing": 0, "noPayload": 0}
    assert {r["runId"] for r in result["results"]} == set(run_ids)
    for item in result["results"]:
        n = item["recorded"]["orderId"]
        if n % 5 == 0:
            assert item["skipped"] is True and item["candidate"] is None and item["diff"] == []
            continue
        assert item["diff"] == [{"path": "email", "op": "change",
                                 "old": f"ada{n}@example.com", "new": f"ADA{n}@EXAMPLE.COM"}]
        assert item["candidate"] == {**item["recorded"], "email": f"ADA{n}@EXAMPLE.COM"}
    # Nothing sent, nothing written.
    assert len(platform.sink.requests) == sent_before
    runs = platform.api("GET", f"/api/runs/?integration_id={created['id']}&limit=200").json()
    assert len(runs["runs"]) == RUNS

    # A filter and a limit narrow the runs tried.
    few = platform.api("POST", f"{base}/backtest/", {"integration": candidate,
                                                     "runs": {"status": "success", "limit": 5}})
    assert few.json()["totals"]["runs"] == 5
    none = platform.api("POST", f"{base}/backtest/", {"integration": candidate,
                                                      "runs": {"status": "error"}})
    assert none.json()["totals"]["runs"] == 0


def test_backtest_refuses_an_invalid_candidate(platform: Platform) -> None:
    created = platform.add(orders_doc(platform))
    base = f"/api/integrations/{created['id']}"
    bad = copy.deepcopy(created)
    bad["mappings"][0]["source"] = "a..b"
    reply = platform.api("POST", f"{base}/backtest/", {"integration": bad})
    assert reply.status_code == 400, reply.text
    assert reply.json()["problems"][0]["path"] == "integration.mappings[0].source"
    too_many = platform.api("POST", f"{base}/backtest/",
                            {"integration": created, "runs": {"limit": 201}})
    assert too_many.status_code == 400
    missing = platform.api("POST", "/api/integrations/nope/backtest/", {"integration": created})
    assert missing.status_code == 404
