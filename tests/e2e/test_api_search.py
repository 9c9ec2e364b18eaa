"""Finding runs through the running functions: searchKeys, run and integration filters, stats."""

from __future__ import annotations

from typing import Any

from .conftest import Platform


def searched(platform: Platform, **extra: Any) -> dict[str, Any]:
    return platform.add(
        {
            "name": "Searchable",
            "source": {"type": "webhook"},
            "searchKeys": ["data.object.id", "customer.email"],
            "mappings": [{"source": "data.object.id", "target": "event"}],
            "target": {"type": "http", "url": f"{platform.sink.url}/searched", "method": "POST"},
            **extra,
        }
    )


def event(object_id: str, email: str = "a@b.c") -> dict[str, Any]:
    return {"data": {"object": {"id": object_id}}, "customer": {"email": email}}


def test_runs_are_found_by_their_search_keys(platform: Platform) -> None:
    created = searched(platform)
    other = searched(platform)  # the same value on another integration
    sent = [platform.send(created, event(e)) for e in ("evt_k1", "evt_k2", "evt_k1")]
    elsewhere = platform.send(other, event("evt_k1"))
    for run_id in [*sent, elsewhere]:
        assert platform.wait(run_id)["status"] == "success"
    run = platform.api("GET", f"/api/runs/{sent[0]}/").json()
    assert run["searchValues"] == ["data.object.id=evt_k1", "customer.email=a@b.c"]

    found = platform.api("GET", "/api/runs/?key=data.object.id:evt_k1")
    assert found.status_code == 200, found.text
    assert [r["id"] for r in found.json()["runs"]] == [elsewhere, sent[2], sent[0]]
    mine = platform.api(
        "GET", f"/api/runs/?key=data.object.id:evt_k1&integration_id={created['id']}"
    )
    assert [r["id"] for r in mine.json()["runs"]] == [sent[2], sent[0]]
    paged = platform.api("GET", "/api/runs/?key=data.object.id:evt_k1&limit=2").json()
    rest = platform.api(
        "GET", f"/api/runs/?key=data.object.id:evt_k1&limit=2&cursor={paged['nextCursor']}"
    ).json()
    assert [r["id"] for r in paged["runs"] + rest["runs"]] == [elsewhere, sent[2], sent[0]]
    assert platform.api("GET", "/api/runs/?key=data.object.id:evt_none").json()["runs"] == []
    # Exact match only: neither a prefix nor another case.
    assert platform.api("GET", "/api/runs/?key=data.object.id:evt_").json()["runs"] == []
    assert platform.api("GET", "/api/runs/?key=customer.email:A@B.C").json()["runs"] == []

    assert platform.api("GET", "/api/runs/?key=nocolon").status_code == 400
    both = platform.api("GET", "/api/runs/?key=data.object.id:evt_k1&status=success")
    assert both.status_code == 400 and "at most one of" in both.json()["error"]


def test_runs_filter_by_source_kind_and_duration(platform: Platform) -> None:
    created = searched(platform, samplePayload=event("evt_t"))
    hooked = platform.send(created, event("evt_w"))
    tested = platform.api("POST", f"/api/integrations/{created['id']}/test/").json()["runId"]
    for run_id in (hooked, tested):
        assert platform.wait(run_id)["status"] == "success"
    base = f"/api/runs/?integration_id={created['id']}"
    kinds = platform.api("GET", f"{base}&source_kind=test").json()["runs"]
    assert [r["id"] for r in kinds] == [tested]
    assert [r["id"] for r in platform.api("GET", f"{base}&source_kind=webhook").json()["runs"]] \
        == [hooked]
    assert platform.api("GET", "/api/runs/?source_kind=email").status_code == 400

    slow = platform.api("GET", f"{base}&min_duration_ms=0").json()["runs"]
    assert {r["id"] for r in slow} == {hooked, tested}
    times = [r["apiCallTimeMs"] for r in slow]
    assert times == sorted(times, reverse=True)  # slowest first
    slowest = times[0]
    assert [r["id"] for r in platform.api("GET", f"{base}&min_duration_ms={slowest}").json()[
        "runs"]] == [slow[0]["id"]]
    assert platform.api("GET", f"{base}&min_duration_ms=100000").json()["runs"] == []
    assert platform.api("GET", f"{base}&min_duration_ms=1&since=2026-01-01").status_code == 400
    assert platform.api("GET", f"{base}&min_duration_ms=fast").status_code == 400


def test_search_keys_are_validated(platform: Platform) -> None:
    reply = platform.api(
        "POST",
        "/api/integrations/",
        {
            "name": "Bad keys",
            "source": {"type": "webhook"},
            "searchKeys": ["items[*].id", "a", "b", "c", "d", "e"],
            "target": {"type": "http", "url": f"{platform.sink.url}/x"},
        },
    )
    assert reply.status_code == 400
    assert {p["path"] for p in reply.json()["problems"]} == {"searchKeys"}
    star = platform.api(
        "POST",
        "/api/integrations/",
        {"name": "Star", "source": {"type": "webhook"}, "searchKeys": ["items[*].id"],
         "target": {"type": "http", "url": f"{platform.sink.url}/x"}},
    )
    assert star.status_code == 400 and star.json()["problems"][0]["path"] == "searchKeys[0]"


def test_integrations_filter_and_stats_count_failures(platform: Platform) -> None:
    created = searched(platform)
    paused = searched(platform, active=False)

    def listed(query: str) -> set[str]:
        reply = platform.api("GET", f"/api/integrations/?limit=200&{query}")
        assert reply.status_code == 200, reply.text
        return {d["id"] for d in reply.json()["integrations"]}

    assert created["id"] in listed("source_type=webhook&target_type=http&active=true")
    assert paused["id"] not in listed("active=true")
    assert paused["id"] in listed("active=false&source_type=webhook")
    assert created["id"] not in listed("target_type=email")
    assert platform.api("GET", "/api/integrations/?active=yes").status_code == 400

    ok = platform.send(created, event("evt_s1"))
    assert platform.wait(ok)["status"] == "success"
    platform.runs.create(
        {
            "id": f"{created['id']}.dead-1",
            "integrationId": created["id"],
            "sourceKind": "webhook",
            "status": "dead_lettered",
            "incomingPayload": event("evt_s2"),
            "errorMessage": "gave up after 5 attempts: 503 from the target",
        }
    )
    stats = platform.api("GET", f"/api/integrations/{created['id']}/stats/").json()
    assert (stats["total"], stats["success"], stats["deadLettered"], stats["error"]) == (
        2, 1, 1, 0)
    assert stats["failed"] == 1 and stats["partial"] == 0
