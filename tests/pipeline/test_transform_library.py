"""The transform library's golden cases (tests/data/transform_edges) through the worker."""

from __future__ import annotations

import json
from pathlib import Path

from tests.pipeline.support import HOOK, body, build

CASE = Path(__file__).parents[1] / "data" / "transform_edges"


def test_each_edge_value_reaches_the_target_or_fails_its_run_as_the_cli_says() -> None:
    doc = {**HOOK, **json.loads((CASE / "integration.json").read_text(encoding="utf-8"))}
    p = build(doc)
    lines = (CASE / "input.ndjson").read_text(encoding="utf-8").splitlines()
    expected = [json.loads(line) for line in (CASE / "expected.ndjson").read_text().splitlines()]
    checked = 0
    for line, want in zip(lines, expected, strict=True):
        try:
            json.loads(line)
        except ValueError:
            continue  # the webhook refuses it before the worker: tests/pipeline/test_intake.py
        receipt = p.intake.receive_webhook("p-secret", {}, body(line.encode()))
        assert receipt.status == "queued"
        sent_before = len(p.target.sent)
        p.deliver_all()
        run = p.runs.get(receipt.run_id)
        if "error" in want:
            assert run["status"] == "error", line
            assert run["errorMessage"] == want["error"]
            assert len(p.target.sent) == sent_before  # nothing sent
        else:
            assert run["status"] == "success", (line, run.get("errorMessage"))
            assert run["transformedPayload"] == want
            assert p.target.sent[-1]["payload"] == want
        checked += 1
    assert checked == len(lines) - 1
