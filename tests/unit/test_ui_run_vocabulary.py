"""The UI's copy of the run's vocabulary (static/run-vocabulary.js) is the server's
(mapper.pipeline.runs): a status or source kind added to one and not the other fails here."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from mapper.pipeline.runs import REDRIVABLE, TERMINAL, RunStatus, SourceKind

STATIC = Path(__file__).resolve().parents[2] / "functions" / "api" / "static"
VOCABULARY_JS = STATIC / "run-vocabulary.js"


def ui_vocabulary(text: str) -> dict[str, Any]:
    """The JSON literal after `export const RUN_VOCABULARY =` in a JavaScript module."""
    match = re.search(r"^export const RUN_VOCABULARY = ", text, re.MULTILINE)
    if match is None:
        raise AssertionError("run-vocabulary.js exports no RUN_VOCABULARY")
    value, _ = json.JSONDecoder().raw_decode(text, match.end())
    return value


def vocabulary_problems(ui: dict[str, Any]) -> list[str]:
    """Every way the UI's vocabulary differs from mapper.pipeline.runs, as sentences."""
    problems: list[str] = []
    statuses = [status.value for status in RunStatus]
    if ui["statuses"] != statuses:  # the order too: the filters offer them in this order
        problems.append(f"statuses: the UI has {ui['statuses']}, the server {statuses}")
    for name, group in (("terminal", TERMINAL), ("redrivable", REDRIVABLE)):
        server = sorted(status.value for status in group)
        if sorted(ui[name]) != server:
            problems.append(f"{name}: the UI has {sorted(ui[name])}, the server {server}")
    kinds = [kind.value for kind in SourceKind]
    if ui["sourceKinds"] != kinds:
        problems.append(f"source kinds: the UI has {ui['sourceKinds']}, the server {kinds}")
    return problems


@pytest.fixture(scope="module")
def vocabulary() -> dict[str, Any]:
    return ui_vocabulary(VOCABULARY_JS.read_text(encoding="utf-8"))


def test_the_ui_vocabulary_is_the_servers(vocabulary: dict[str, Any]) -> None:
    assert vocabulary_problems(vocabulary) == []


def test_the_ui_offers_delivering(vocabulary: dict[str, Any]) -> None:
    assert RunStatus.DELIVERING in vocabulary["statuses"]
    assert RunStatus.DELIVERING not in vocabulary["terminal"]


def test_a_status_or_kind_missing_from_the_ui_fails(vocabulary: dict[str, Any]) -> None:
    ui = copy.deepcopy(vocabulary)
    ui["statuses"].remove("delivering")
    ui["terminal"].append("retrying")
    ui["redrivable"].remove("error")
    ui["sourceKinds"].append("email")
    assert [p.split(":")[0] for p in vocabulary_problems(ui)] == [
        "statuses", "terminal", "redrivable", "source kinds",
    ]


def test_no_other_ui_module_lists_statuses_or_source_kinds() -> None:
    # The names appear as quoted strings only in run-vocabulary.js; the rest import them.
    quoted = re.compile(
        "|".join(
            rf"""['"]{re.escape(name)}['"]"""
            for name in ("dead_lettered", "retrying", "delivering", "pubsub-push", "pubsub-pull")
        )
    )
    offenders = [
        path.name
        for path in sorted(STATIC.glob("*.js"))
        if path != VOCABULARY_JS and quoted.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
