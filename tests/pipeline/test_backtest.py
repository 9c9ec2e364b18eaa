"""Backtest over fakes: real runs recorded by the pipeline, a candidate tried on them."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from mapper.admin import Admin, AdminStores, Site
from mapper.errors import ConfigError, NotFoundError
from mapper.secrets import LocalSecretBackend
from mapper.targets.egress import EgressPolicy
from tests.fakes import FakePullState
from tests.pipeline.support import HOOK, body, build


@pytest.fixture
def setup(tmp_path: Path):  # noqa: ANN201 - test fixture
    p = build()
    backend = LocalSecretBackend(str(tmp_path / "secrets.json"))
    stores = AdminStores(p.integrations, p.runs, FakePullState(), backend, EgressPolicy())
    admin = Admin(stores, p.intake, Site("https://m.test", "https://m.test"))
    for n in range(10):
        kind = "b" if n % 3 == 0 else "a"
        receipt = p.intake.receive_webhook("p-secret", {}, body(f'{{"n": {n}, "kind": "{kind}"}}'
                                                               .encode()))
        assert receipt.status == "queued"
        p.clock.advance(1)
    assert set(p.deliver_all()) == {"success"}
    p.intake.receive_webhook("p-secret", {}, body(b"not json"))  # an error run, raw body
    return p, admin


def candidate(**changes: object) -> dict:
    doc = copy.deepcopy(HOOK)
    doc.update(changes)
    return doc


def test_an_unchanged_candidate_is_the_same_everywhere(setup) -> None:  # noqa: ANN001
    _, admin = setup
    result = admin.backtest("i1", candidate())
    assert result["totals"] == {"runs": 11, "same": 10, "changed": 0, "nowSkipped": 0,
                                "nowFailing": 0, "noPayload": 1}
    assert all(r["diff"] == [] for r in result["results"])


def test_a_changed_field_and_a_condition_show_per_run(setup) -> None:  # noqa: ANN001
    p, admin = setup
    changed = candidate(
        condition="data.kind !== 'b'",
        mappings=[{"source": "n", "target": "number"}, {"source": "kind", "target": "type"}],
    )
    result = admin.backtest("i1", changed)
    assert result["totals"] == {"runs": 11, "same": 0, "changed": 6, "nowSkipped": 4,
                                "nowFailing": 0, "noPayload": 1}
    by_n = {
        p.runs.get(r["runId"])["incomingPayload"]["n"]: r
        for r in result["results"] if r["error"] is None
    }
    assert by_n[1]["recorded"] == {"number": 1}
    assert by_n[1]["candidate"] == {"number": 1, "type": "a"}
    assert by_n[1]["diff"] == [{"path": "type", "op": "add", "old": None, "new": "a"}]
    assert by_n[3]["skipped"] is True and by_n[3]["candidate"] is None
    [raw] = [r for r in result["results"] if r["error"] and "no JSON payload" in r["error"]]
    assert raw["candidate"] is None and raw["diff"] == []
    # Nothing was sent and nothing written.
    assert len(p.target.sent) == 10 and p.queue.messages == []
    assert len(p.runs.docs) == 11


def test_a_failing_candidate_counts_as_now_failing(setup) -> None:  # noqa: ANN001
    _, admin = setup
    failing = candidate(mappings=[{"source": "n", "target": "number", "transforms": [
        {"type": "custom", "code": "if (value > 5) throw new Error('too big'); return value"}]}])
    result = admin.backtest("i1", failing)
    assert result["totals"]["nowFailing"] == 4 and result["totals"]["same"] == 6
    errors = [r["error"] for r in result["results"] if r["error"] and "too big" in r["error"]]
    assert len(errors) == 4


def test_runs_are_limited_and_the_candidate_validated(setup) -> None:  # noqa: ANN001
    _, admin = setup
    assert admin.backtest("i1", candidate(), limit=3)["totals"]["runs"] == 3
    with pytest.raises(ConfigError) as info:
        admin.backtest("i1", candidate(mappings=[{"source": "a..b", "target": "x"}]))
    assert info.value.problems[0].path == "mappings[0].source"
    with pytest.raises(NotFoundError):
        admin.backtest("nope", candidate())
