"""Finding runs over fakes: search values kept at intake, key queries, filters, stats counts."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from mapper.admin import Admin, AdminStores, Site
from mapper.errors import InvalidQueryError, TargetError
from mapper.pipeline.search import MAX_VALUE_CHARS, parse_key_query, search_values
from mapper.secrets import LocalSecretBackend
from mapper.targets.egress import EgressPolicy
from tests.fakes import FakePullState, from_the_topic
from tests.pipeline.support import HOOK, body, build

SEARCHED = {**copy.deepcopy(HOOK),
            "searchKeys": ["data.object.id", "customer.email", "amount", "paid", "items"]}


def test_values_are_kept_as_path_equals_text() -> None:
    payload = {"data": {"object": {"id": "evt_1"}}, "customer": {"email": "a@b.c"},
               "amount": 12.0, "paid": True, "items": [1, 2]}
    assert search_values(SEARCHED["searchKeys"], payload) == [
        "data.object.id=evt_1", "customer.email=a@b.c", "amount=12", "paid=true"
    ]  # arrays, objects and missing values are not kept
    assert search_values(["note"], {"note": "x" * MAX_VALUE_CHARS}) == [
        "note=" + "x" * MAX_VALUE_CHARS
    ]
    assert search_values(None, payload) == []


def test_key_queries_become_the_same_text() -> None:
    assert parse_key_query("data.object.id:evt_1") == "data.object.id=evt_1"
    assert parse_key_query("amount:12") == "amount=12"
    # A key holding ':' is quoted in the query; both sides use the canonical path.
    assert parse_key_query('meta["a:b"]:urn:x:1') == 'meta.a:b=urn:x:1'
    assert search_values(['meta["a:b"]'], {'meta': {'a:b': 'urn:x:1'}}) == ['meta.a:b=urn:x:1']
    for bad in ("no-separator", "a..b:1"):
        with pytest.raises(InvalidQueryError):
            parse_key_query(bad)


def test_runs_carry_search_values_and_are_found_by_key() -> None:
    p = build(SEARCHED)
    for event in ("evt_1", "evt_2", "evt_1"):
        payload = f'{{"data": {{"object": {{"id": "{event}"}}}}, "amount": 5}}'.encode()
        assert p.intake.receive_webhook("p-secret", {}, body(payload)).status == "queued"
        p.clock.advance(1)
    p.deliver_all()  # the values travel in the message to the run its worker records
    found, _ = p.runs.list(key=parse_key_query("data.object.id:evt_1"))
    assert len(found) == 2
    assert all(r["searchValues"] == ["data.object.id=evt_1", "amount=5"] for r in found)
    assert p.runs.list(key=parse_key_query("data.object.id:evt_3"))[0] == []


def test_long_values_match_exactly_not_on_their_first_characters() -> None:
    p = build({**SEARCHED, "searchKeys": ["note"]})
    shared = "y" * MAX_VALUE_CHARS
    for tail in ("-one", "-two"):
        payload = ('{"note": "' + shared + tail + '"}').encode()
        assert p.intake.receive_webhook("p-secret", {}, body(payload)).status == "queued"
    p.deliver_all()
    found, _ = p.runs.list(key=parse_key_query("note:" + shared + "-two"))
    assert [r["incomingPayload"]["note"] for r in found] == [shared + "-two"]
    assert p.runs.list(key=parse_key_query("note:" + shared))[0] == []
    assert p.runs.list(key=parse_key_query("note:" + shared + "-thr"))[0] == []
    # What a long value keeps is bounded: a digest, not the value.
    [kept] = search_values(["note"], {"note": "z" * 100_000})
    assert len(kept) < MAX_VALUE_CHARS


@pytest.fixture
def admin(tmp_path: Path):  # noqa: ANN201 - test fixture
    p = build(HOOK)
    backend = LocalSecretBackend(str(tmp_path / "secrets.json"))
    stores = AdminStores(p.integrations, p.runs, FakePullState(), backend, EgressPolicy())
    return p, Admin(stores, p.intake, Site("https://m.test", "https://m.test"))


def test_stats_count_dead_letters_and_errors_as_failures(admin) -> None:  # noqa: ANN001
    p, control = admin
    p.target.script = [None, TargetError, None]
    for n in range(3):
        p.intake.receive_webhook("p-secret", {}, body(f'{{"n": {n}}}'.encode()))
    p.deliver_all()
    p.intake.receive_webhook("p-secret", {}, body(b'{"n": 9}'))
    [message] = p.queue.messages
    p.worker.dead_letter(from_the_topic(message))
    stats = control.stats("i1", "2000-01-01T00:00:00Z")
    assert (stats["success"], stats["error"], stats["deadLettered"], stats["failed"]) == (
        2, 1, 1, 2)
    assert stats["partial"] == 0 and stats["total"] == 4


def test_integrations_filter_by_source_target_and_active(admin) -> None:  # noqa: ANN001
    p, control = admin
    p.integrations.docs["i2"] = {**copy.deepcopy(HOOK), "id": "i2", "active": False,
                                 "target": {"type": "email"}}
    ids = lambda page: sorted(d["id"] for d in page[0])  # noqa: E731
    assert ids(control.list_integrations(50, None, active=False)) == ["i2"]
    assert ids(control.list_integrations(50, None, target_type="http")) == ["i1"]
    assert ids(control.list_integrations(50, None, source_type="webhook", active=None)) == [
        "i1", "i2"]
