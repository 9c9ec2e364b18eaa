"""JSONata on every path that runs a plan: backtest over recorded runs, saved test cases,
preview (with the error's position), and the CLI's preview and test commands."""

from __future__ import annotations

import json
from pathlib import Path

from tests.pipeline.test_backtest import candidate, setup  # noqa: F401 - the fixture
from tests.unit.test_cli import mapper, write

BASE = {
    "name": "jsonata",
    "source": {"type": "webhook"},
    "target": {"type": "http", "url": "https://example.com"},
}


def test_a_jsonata_candidate_is_backtested(setup) -> None:  # noqa: ANN001, F811
    _, admin = setup
    same = admin.backtest("i1", candidate(mappings=[], jsonata='{"number": n}'))
    assert same["totals"]["same"] == 10 and same["totals"]["nowFailing"] == 0

    failing_doc = candidate(mappings=[], jsonata='kind = "b" ? n + "x" : {"number": n}')
    failing = admin.backtest("i1", failing_doc)
    assert failing["totals"]["nowFailing"] == 4 and failing["totals"]["same"] == 6
    errors = [r["error"] for r in failing["results"] if r["error"] and "T2002" in r["error"]]
    assert len(errors) == 4, [r["error"] for r in failing["results"]]
    assert all("(at position 16)" in e for e in errors), errors


def test_saved_test_cases_run_a_jsonata_integration(setup) -> None:  # noqa: ANN001, F811
    _, admin = setup
    doc = {
        **BASE,
        "jsonata": '{"total": $sum(items.price)}',
        "tests": [
            {
                "name": "sums",
                "payload": {"items": [{"price": 2}, {"price": 3}]},
                "expect": {"total": 5},
            },
            {"name": "wrong", "payload": {"items": [{"price": 1}]}, "expect": {"total": 2}},
        ],
    }
    result = admin.run_tests_unsaved(doc)
    assert (result["passed"], result["failed"]) == (1, 1)
    assert [r["ok"] for r in result["results"]] == [True, False]


def test_preview_gives_the_error_position(setup) -> None:  # noqa: ANN001, F811
    _, admin = setup
    # The longest time limit: a first evaluation in a new isolate on a busy machine.
    doc = {"jsonata": 'id + "x"', "sandbox": {"timeoutMs": 1000}}
    result = admin.preview(doc, {"id": "a"})
    assert result["error"]["path"] == "jsonata"
    assert result["error"]["position"] == 4
    assert result["error"]["code"] == "jsonata_error"


def test_the_cli_previews_and_tests_jsonata(tmp_path: Path) -> None:
    doc = {
        **BASE,
        "jsonata": '{"skus": items.sku^($)}',
        "tests": [
            {
                "name": "sorted",
                "payload": {"items": [{"sku": "b"}, {"sku": "a"}]},
                "expect": {"skus": ["a", "b"]},
            }
        ],
    }
    config = write(tmp_path, "i.json", doc)
    payload = write(tmp_path, "p.json", {"items": [{"sku": "z"}, {"sku": "y"}]})
    preview = mapper("preview", "--config", config, "--payload", payload)
    assert preview.returncode == 0, preview.stderr
    assert json.loads(preview.stdout) == {"skus": ["y", "z"]}
    tested = mapper("test", config)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout == "ok sorted\n1 passed, 0 failed\n"
