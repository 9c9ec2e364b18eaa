"""IntegrationStore and RunStore against the real Firestore emulator."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

import pytest
from google.cloud import firestore
from google.cloud.firestore_v1.services.firestore.client import FirestoreClient

from mapper.errors import ConfigError, ConflictError, InvalidQueryError, NotFoundError
from mapper.store.common import COMPRESS_ABOVE_BYTES, FIELD_LIMIT_BYTES, MAX_PAGE_SIZE
from mapper.store.integrations import IntegrationStore
from mapper.store.jobs import RedriveJobStore
from mapper.store.runs import RunStore
from mapper.timestamps import iso_timestamp


def integration(name: str = "Payments to Slack", **extra: object) -> dict:
    return {
        "name": name,
        "active": True,
        "source": {"type": "webhook"},
        "mappings": [{"source": "data.amount", "target": "amount"}],
        "target": {"type": "http", "url": "https://hooks.example.com/x", "method": "POST"},
        **extra,
    }


def run(run_id: str, created_at: str, integration_id: str = "i1", status: str = "success"):
    return {
        "id": run_id,
        "integrationId": integration_id,
        "sourceKind": "webhook",
        "status": status,
        "incomingPayload": {"n": run_id},
        "createdAt": created_at,
    }


def ts(day: int, second: int = 0) -> str:
    return iso_timestamp(datetime(2025, 1, day, 12, 0, second, tzinfo=timezone.utc))


# --- integrations -------------------------------------------------------------------------


def test_create_get_replace_bumps_version(db: firestore.Client) -> None:
    store = IntegrationStore(db)
    created = store.create(integration())
    assert len(created["id"]) == 32 and created["version"] == 1
    assert created["createdAt"].endswith("Z") and created["createdAt"] == created["updatedAt"]
    assert store.get(created["id"]) == created

    replaced = store.replace(created["id"], integration("Renamed"), expected_version=1)

    assert replaced["name"] == "Renamed" and replaced["version"] == 2
    assert replaced["createdAt"] == created["createdAt"]
    assert replaced["updatedAt"] > created["updatedAt"]
    assert store.get(created["id"]) == replaced
    with pytest.raises(ConflictError):
        store.replace(created["id"], integration("Stale"), expected_version=1)
    with pytest.raises(NotFoundError):
        store.replace("missing", integration())


def test_create_keeps_a_given_id_once(db: firestore.Client) -> None:
    store = IntegrationStore(db)
    assert store.create(integration(id="fixed-id"))["id"] == "fixed-id"
    with pytest.raises(ConflictError):
        store.create(integration(id="fixed-id"))


def test_find_by_field_and_list_where(db: firestore.Client) -> None:
    store = IntegrationStore(db)
    hook = store.create(integration(webhookPath="tok-123"))
    pull = store.create(integration(source={"type": "pubsub", "mode": "pull", "topic": "t"}))
    store.create(integration(source={"type": "pubsub", "mode": "push", "pushPath": "p-1"}))

    assert store.find_by_field("webhookPath", "tok-123") == hook
    assert store.find_by_field("webhookPath", "nope") is None
    assert store.list_where("source.mode", "pull") == [pull]


def test_update_fields_and_delete(db: firestore.Client) -> None:
    store = IntegrationStore(db)
    created = store.create(integration())

    toggled = store.update_fields(created["id"], {"active": False})

    assert toggled["active"] is False and toggled["version"] == 2
    assert store.delete(created["id"]) is True
    assert store.delete(created["id"]) is False
    assert store.get(created["id"]) is None
    with pytest.raises(NotFoundError):
        store.update_fields(created["id"], {"active": True})


def test_integration_list_pages_newest_first(db: firestore.Client) -> None:
    store = IntegrationStore(db)
    ids = [store.create(integration(f"n{i}"))["id"] for i in range(5)]

    first, cursor = store.list(limit=3)
    second, end = store.list(limit=3, cursor=cursor)

    assert [i["id"] for i in first + second] == ids[::-1]
    assert end is None


def test_unstorable_integration_names_the_path(db: firestore.Client) -> None:
    doc = integration()
    doc["mappings"][0]["transforms"] = [{"type": "default", "value": [[1, 2]]}]
    with pytest.raises(ConfigError) as caught:
        IntegrationStore(db).create(doc)
    assert [p.path for p in caught.value.problems] == ["mappings[0].transforms[0].value[0]"]


@pytest.mark.parametrize("bad_id", ["", "a/b", "..", "__id__"])
def test_unusable_ids_are_not_found(db: firestore.Client, bad_id: str) -> None:
    assert IntegrationStore(db).get(bad_id) is None
    assert RunStore(db).get(bad_id) is None


# --- runs ---------------------------------------------------------------------------------


def test_run_create_is_idempotent(db: firestore.Client) -> None:
    runs = RunStore(db)
    assert runs.create(run("msg-1", ts(1))) is True
    assert runs.create({**run("msg-1", ts(2)), "status": "error"}) is False
    stored = runs.get("msg-1")
    assert stored is not None
    assert stored["status"] == "success" and stored["createdAt"] == ts(1)
    assert stored["attempts"] == 0 and stored["incomingPayload"] == {"n": "msg-1"}


def test_runs_list_newest_first_with_filters(db: firestore.Client) -> None:
    runs = RunStore(db)
    runs.create(run("a", ts(1), "i1", "success"))
    runs.create(run("b", ts(2), "i2", "error"))
    runs.create(run("c", ts(3), "i1", "error"))
    runs.create(run("d", ts(4), "i1", "success"))

    def ids(**filters: object) -> list[str]:
        page, _ = runs.list(**filters)
        return [r["id"] for r in page]

    assert ids() == ["d", "c", "b", "a"]
    assert ids(integration_id="i1") == ["d", "c", "a"]
    assert ids(status="error") == ["c", "b"]
    assert ids(integration_id="i1", status="error") == ["c"]
    assert ids(since=ts(2), until=ts(4)) == ["c", "b"]
    assert ids(since=datetime(2025, 1, 3, tzinfo=timezone.utc)) == ["d", "c"]
    assert ids(until="2025-01-02") == ["a"]


def test_pagination_returns_each_run_once(db: firestore.Client) -> None:
    runs = RunStore(db)
    # 250 runs over only 7 distinct createdAt values: order must fall back to the id.
    expected = {f"run-{i:03d}": ts(1, i % 7) for i in range(250)}
    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(runs.create, [run(i, t) for i, t in expected.items()]))

    seen: list[dict] = []
    cursor = None
    while True:
        page, cursor = runs.list(limit=40, cursor=cursor)
        seen.extend(page)
        if cursor is None:
            break

    assert sorted(r["id"] for r in seen) == sorted(expected)
    keys = [(r["createdAt"], r["id"]) for r in seen]
    assert keys == sorted(keys, reverse=True)
    assert len(runs.list(limit=1000)[0]) == MAX_PAGE_SIZE


def test_runs_created_at_once_share_commits_and_a_resent_one_is_refused_alone(
    db: firestore.Client,
) -> None:
    commits: list[int] = []
    runs = RunStore(db)
    commit_creates = runs._creates._commit_creates

    def counted(creates: list) -> None:  # the real commit, counted
        commits.append(len(creates))
        commit_creates(creates)

    runs._creates._commit_creates = counted
    assert runs.create(run("resent", ts(1, 0)))
    ids = [f"burst-{i:02d}" for i in range(60)] + ["resent"]
    with ThreadPoolExecutor(30) as pool:
        created = pool.map(runs.create, [run(i, ts(1, 1)) for i in ids])
        answers = dict(zip(ids, created, strict=True))

    assert answers == {i: i != "resent" for i in ids}
    assert all(runs.get(i)["createdAt"] == ts(1, 1) for i in ids if i != "resent")
    assert runs.get("resent")["createdAt"] == ts(1, 0)  # the first one, untouched
    assert commits and max(commits) > 1  # some runs shared a round trip


def test_bad_queries_are_refused(db: firestore.Client) -> None:
    runs = RunStore(db)
    for bad in ({"cursor": "not-a-cursor"}, {"limit": 0}, {"since": "yesterday"}):
        with pytest.raises(InvalidQueryError):
            runs.list(**bad)


def test_one_claim_wins_among_concurrent_deliveries(db: firestore.Client) -> None:
    runs = RunStore(db)
    runs.create({**run("msg-1", ts(1)), "status": "queued"})

    with ThreadPoolExecutor(10) as pool:
        claims = list(pool.map(lambda i: runs.claim("msg-1", f"d{i}", 60), range(10)))

    won = [c for c in claims if c.state == "claimed"]
    assert len(won) == 1 and won[0].run["attempts"] == 1
    assert {c.state for c in claims} == {"claimed", "busy"}
    stored = runs.get("msg-1")
    assert stored["status"] == "delivering" and stored["deliveryId"] == won[0].run["deliveryId"]
    assert stored["attempts"] == 1
    assert runs.claim("missing", "d", 60).state == "missing"


class Calls:
    """Counts the Firestore API calls a store makes: commits, and reads (calls, each a round
    trip, whether one document's GetDocument or a BatchGetDocuments of several)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.commits = self.reads = self.documents = 0
        commit, batch_get = FirestoreClient.commit, FirestoreClient.batch_get_documents
        get = FirestoreClient.get_document

        def counted_commit(api: Any, *args: Any, **kwargs: Any) -> Any:
            reply = commit(api, *args, **kwargs)
            self.commits += 1
            return reply

        def counted_batch(api: Any, *args: Any, **kwargs: Any) -> Any:
            self.reads += 1
            self.documents += len(kwargs["request"]["documents"])
            return batch_get(api, *args, **kwargs)

        def counted_get(api: Any, *args: Any, **kwargs: Any) -> Any:
            self.reads += 1
            self.documents += 1
            return get(api, *args, **kwargs)

        monkeypatch.setattr(FirestoreClient, "commit", counted_commit)
        monkeypatch.setattr(FirestoreClient, "batch_get_documents", counted_batch)
        monkeypatch.setattr(FirestoreClient, "get_document", counted_get)


def first_record(run_id: str) -> dict[str, Any]:
    """A run's first record as a message unrecorded at accept carries it."""
    return {**run(run_id, ts(1), status="queued"), "attempts": 0,
            "incomingHeaders": {"x-trace": "t"}, "searchValues": ["order.id=o-1"],
            "incomingPayload": {"lines": [{"sku": f"SKU-{n}"} for n in range(60)]}}


def test_a_claim_creates_a_run_not_recorded_yet_in_one_write_and_no_read(
    db: firestore.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = RunStore(db)
    calls = Calls(monkeypatch)
    claim = runs.claim("msg-1", "d1", 60, first=first_record("msg-1"))
    assert claim.state == "claimed" and claim.run["attempts"] == 1
    assert (calls.commits, calls.reads) == (1, 0)
    stored = runs.get("msg-1")
    assert stored["status"] == "delivering" and stored["deliveryId"] == "d1"
    assert stored["createdAt"] == ts(1) and stored["attempts"] == 1  # the accept time
    assert stored["incomingPayload"] == first_record("msg-1")["incomingPayload"]
    assert stored["searchValues"] == ["order.id=o-1"] and stored["expireAt"]
    assert runs.list(key="order.id=o-1")[0][0]["id"] == "msg-1"
    # The claim's token is the create's time: its holder records the outcome.
    assert runs.finish("msg-1", claim, "success", {"apiCallTimeMs": 2}) is True
    assert runs.get("msg-1")["status"] == "success"
    assert runs.claim("msg-1", "d2", 60, first=first_record("msg-1")).state == "done"


def test_of_concurrent_first_claims_one_creates_and_the_rest_find_its_lease(
    db: firestore.Client,
) -> None:
    runs = RunStore(db)
    with ThreadPoolExecutor(10) as pool:
        claims = list(pool.map(
            lambda i: runs.claim("msg-1", f"d{i}", 60, first=first_record("msg-1")), range(10)
        ))
    won = [c for c in claims if c.state == "claimed"]
    assert len(won) == 1 and {c.state for c in claims} == {"claimed", "busy"}
    assert runs.get("msg-1")["deliveryId"] == won[0].run["deliveryId"]
    assert runs.get("msg-1")["attempts"] == 1


def test_a_run_not_recorded_yet_is_recorded_ended_with_its_payload(db: firestore.Client) -> None:
    runs = RunStore(db)
    gave_up = {"errorMessage": "gave up after 0 attempts", "nextAttemptAt": None}
    assert runs.end_unless_leased(
        "msg-1", "dead_lettered", gave_up, first=first_record("msg-1")
    ) == "dead_lettered"
    stored = runs.get("msg-1")
    assert stored["status"] == "dead_lettered" and stored["errorMessage"] == gave_up["errorMessage"]
    assert stored["incomingPayload"] == first_record("msg-1")["incomingPayload"]
    assert stored["createdAt"] == ts(1)
    # Recorded already (its worker took it): that run is ended, the first record ignored.
    runs.create({**run("msg-2", ts(2)), "status": "retrying", "errorMessage": "503"})
    assert runs.end_unless_leased("msg-2", "error", {}, first=first_record("msg-2")) == "error"
    assert runs.get("msg-2")["incomingPayload"] == {"n": "msg-2"}


def test_only_the_lease_holder_records_the_outcome(db: firestore.Client) -> None:
    runs = RunStore(db)
    runs.create({**run("msg-1", ts(1)), "status": "queued"})
    first = runs.claim("msg-1", "first", 0.2)  # a delivery that will outlive its lease
    time.sleep(0.3)
    second = runs.claim("msg-1", "second", 60)  # the lease expired: another may send
    assert first.state == second.state == "claimed"
    assert second.run["attempts"] == 2

    assert runs.finish("msg-1", first, "success", {}) is False  # lost its lease: not written
    assert runs.get("msg-1")["deliveryId"] == "second"
    assert runs.finish("msg-1", second, "success", {"apiCallTimeMs": 3}) is True
    stored = runs.get("msg-1")
    assert stored["status"] == "success" and stored["deliveryId"] is None
    assert runs.claim("msg-1", "third", 60).state == "done"


@pytest.mark.parametrize("keep", [True, False])
def test_a_success_drops_what_it_sent_and_got_only_when_told(
    db: firestore.Client, keep: bool
) -> None:
    runs = RunStore(db, keep_success_payloads=keep)
    order = {"lines": [{"sku": f"SKU-{n}", "qty": n} for n in range(60)]}
    for run_id in ("ok", "failed"):
        runs.create({**run(run_id, ts(1)), "status": "queued", "incomingPayload": order})
    sent = {
        "transformedPayload": order,
        "outgoingRequest": {"method": "POST", "body": order},
        "outgoingResponse": {"status": 200, "body": "{}"},
    }
    # An earlier attempt's failure stored them, the success drops them in its own write.
    first = runs.claim("ok", "a", 60)
    runs.finish("ok", first, "retrying", {**sent, "errorMessage": "503"})
    runs.finish("ok", runs.claim("ok", "b", 60), "success", {**sent, "apiCallTimeMs": 3})
    runs.finish("failed", runs.claim("failed", "c", 60), "error", {**sent, "errorMessage": "400"})

    ok, failed = runs.get("ok"), runs.get("failed")
    assert ok["status"] == "success" and ok["apiCallTimeMs"] == 3
    assert ok["incomingPayload"] == order  # replay and backtests start from it
    for field, value in sent.items():
        assert (ok.get(field) == value) is keep, field
        assert failed[field] == value, field  # a failed run keeps everything
    raw = db.collection("runs").document("ok").get().to_dict()
    assert ("transformedPayloadJson" in raw) is keep


def test_a_live_lease_is_never_ended_by_others(db: firestore.Client) -> None:
    runs = RunStore(db)
    runs.create({**run("msg-1", ts(1)), "status": "queued"})
    held = runs.claim("msg-1", "d1", 60)
    assert runs.claim("msg-1", "d2", 60).state == "busy"
    assert runs.end_unless_leased("msg-1", "dead_lettered", {"errorMessage": "x"}) == "delivering"
    assert runs.finish("msg-1", held, "retrying", {"errorMessage": "503"}) is True
    assert runs.end_unless_leased("msg-1", "dead_lettered", {"errorMessage": "gave up"}) == (
        "dead_lettered"
    )
    assert runs.get("msg-1")["errorMessage"] == "gave up"
    assert runs.end_unless_leased("msg-1", "error", {}) == "dead_lettered"  # ended stays ended
    assert runs.end_unless_leased("missing", "error", {}) == "missing"


def test_stale_finds_runs_in_flight_past_the_horizon(db: firestore.Client) -> None:
    runs = RunStore(db)
    runs.create({**run("old", ts(1)), "status": "queued", "updatedAt": ts(1)})
    runs.create({**run("done", ts(1)), "status": "success", "updatedAt": ts(1)})
    runs.create({**run("fresh", ts(1)), "status": "retrying"})  # updatedAt: now

    found = runs.stale(["queued", "retrying", "delivering"], older_than_s=60, limit=10)

    assert [r["id"] for r in found] == ["old"]
    assert runs.count_stale("i1", ["queued", "retrying", "delivering"], 60) == 1


def test_mark_and_update(db: firestore.Client) -> None:
    runs = RunStore(db)
    runs.create({**run("msg-1", ts(1)), "status": "queued"})

    runs.mark("msg-1", "success", apiCallTimeMs=12, transformedPayload={"amount": "1.00"})

    stored = runs.get("msg-1")
    assert stored["status"] == "success" and stored["apiCallTimeMs"] == 12
    assert stored["transformedPayload"] == {"amount": "1.00"}
    assert stored["updatedAt"] > stored["createdAt"]
    with pytest.raises(NotFoundError):
        runs.mark("missing", "error")
    with pytest.raises(ValueError):
        runs.mark("msg-1", "done")


def test_large_payload_is_truncated_and_flagged(db: firestore.Client) -> None:
    runs = RunStore(db)
    big = {"blob": "x" * (FIELD_LIMIT_BYTES + 1)}
    runs.create(
        {
            **run("big", ts(1)),
            "incomingPayload": big,
            "outgoingRequest": {"body": "y" * 900_000},
            "errorMessage": "z" * 50_000,
        }
    )

    stored = runs.get("big")

    payload = stored["incomingPayload"]
    assert payload["truncated"] is True
    assert payload["size"] == len(json.dumps(big, separators=(",", ":")))
    assert payload["preview"].startswith('{"blob":"xxx')
    assert stored["outgoingRequest"]["truncated"] is True
    assert len(stored["errorMessage"]) < 11_000


def test_long_payloads_are_stored_compressed_and_read_back_as_they_were(
    db: firestore.Client,
) -> None:
    runs = RunStore(db)
    order = {"lines": [{"sku": f"SKU-{n}", "qty": n, "note": "gift wrap"} for n in range(40)]}
    text_size = len(json.dumps(order, separators=(",", ":")))
    assert text_size > COMPRESS_ABOVE_BYTES
    runs.create({**run("long", ts(1)), "incomingPayload": order})
    runs.update("long", {"transformedPayload": order, "outgoingResponse": {"ok": True}})

    raw = db.collection("runs").document("long").get().to_dict()
    assert isinstance(raw["incomingPayloadJson"], bytes)
    assert len(raw["incomingPayloadJson"]) < text_size / 3
    assert isinstance(raw["transformedPayloadJson"], bytes)
    assert raw["outgoingResponseJson"] == '{"ok":true}'  # short: kept as text
    stored = runs.get("long")
    assert stored["incomingPayload"] == order
    assert stored["transformedPayload"] == order
    assert stored["outgoingResponse"] == {"ok": True}
    assert runs.list()[0][0]["incomingPayload"] == order


def test_stored_bytes_that_are_not_zlib_make_the_field_undecodable(
    db: firestore.Client,
) -> None:
    runs = RunStore(db)
    runs.create(run("hand-edited", ts(1)))
    db.collection("runs").document("hand-edited").update({"incomingPayloadJson": b"not zlib"})

    stored = runs.get("hand-edited")

    assert stored["undecodable"] == ["incomingPayload"]
    assert "incomingPayload" not in stored


def test_json_firestore_refuses_survives_a_round_trip(db: firestore.Client) -> None:
    runs = RunStore(db)
    awkward = {"matrix": [[1, 2], [3, [4, []]]], "": "empty key", "__x__": None, "a.b": [{}]}
    headers = {"__x__": "1", "content-type": "application/json"}
    runs.create({**run("odd", ts(1)), "incomingPayload": awkward, "incomingHeaders": headers})
    runs.update("odd", {"transformedPayload": [[awkward]], "outgoingResponse": "plain text"})

    stored = runs.get("odd")

    assert stored["incomingPayload"] == awkward
    assert stored["incomingHeaders"] == headers
    assert stored["transformedPayload"] == [[awkward]]
    assert stored["outgoingResponse"] == "plain text"
    assert runs.list()[0][0]["incomingPayload"] == awkward


def test_a_field_can_change_between_null_and_an_object(db: firestore.Client) -> None:
    runs = RunStore(db)
    runs.create({**run("r", ts(1)), "timings": None})

    runs.update("r", {"timings": {"apiMs": [[1]]}})
    assert runs.get("r")["timings"] == {"apiMs": [[1]]}
    runs.update("r", {"timings": None})
    assert runs.get("r")["timings"] is None


def test_running_redrive_jobs_are_found_and_touched_only_as_read(db: firestore.Client) -> None:
    jobs = RedriveJobStore(db)
    for job_id, state in (("j1", "running"), ("j2", "done"), ("j3", "running")):
        jobs.create({"id": job_id, "state": state, "batches": 0, "updatedAt": ts(1),
                     "createdAt": ts(1)})

    assert sorted(job["id"] for job in jobs.running(10)) == ["j1", "j3"]
    assert len(jobs.running(1)) == 1

    assert jobs.touch("j1", ts(1), {"republishes": 1}) is True
    touched = jobs.get("j1")
    assert touched["republishes"] == 1 and touched["updatedAt"] > ts(1)
    assert jobs.touch("j1", ts(1), {"republishes": 2}) is False  # changed since it was read
    assert jobs.touch("j2", ts(1), {"republishes": 1}) is False  # not running
    assert jobs.touch("missing", ts(1), {"republishes": 1}) is False
    assert jobs.advance("j3", 0, {"state": "done"}) is True
    assert jobs.touch("j3", ts(1), {"republishes": 1}) is False  # its task moved it on
    assert [job["id"] for job in jobs.running(10)] == ["j1"]


# --- retries and redrive ----------------------------------------------------------------


def test_a_retry_not_yet_due_is_not_claimed_and_not_counted(db: firestore.Client) -> None:
    runs = RunStore(db)
    soon = iso_timestamp(datetime.now(timezone.utc).replace(year=2099))
    runs.create({**run("wait", ts(1)), "status": "retrying", "attempts": 2,
                 "nextAttemptAt": soon})
    early = runs.claim("wait", "d1", 60)
    assert early.state == "early" and early.run["nextAttemptAt"] == soon
    assert runs.get("wait")["attempts"] == 2 and runs.get("wait")["status"] == "retrying"

    runs.update("wait", {"nextAttemptAt": ts(1)})  # its time came
    claimed = runs.claim("wait", "d2", 60)
    assert claimed.state == "claimed" and claimed.run["attempts"] == 3


def test_due_retries_are_found_and_cleared_only_as_read(db: firestore.Client) -> None:
    runs = RunStore(db)
    later = iso_timestamp(datetime.now(timezone.utc).replace(year=2099))
    runs.create({**run("due-2", ts(1)), "status": "retrying", "nextAttemptAt": ts(2)})
    runs.create({**run("due-1", ts(1)), "status": "retrying", "nextAttemptAt": ts(1)})
    runs.create({**run("later", ts(1)), "status": "retrying", "nextAttemptAt": later})
    runs.create({**run("cleared", ts(1)), "status": "retrying", "nextAttemptAt": None})
    runs.create({**run("ended", ts(1)), "status": "dead_lettered", "nextAttemptAt": ts(1)})

    due = runs.due_retries(ts(3), limit=10)
    assert [r["id"] for r in due] == ["due-1", "due-2"]

    seen = due[0]["updatedAt"]
    time.sleep(0.01)
    runs.touch("due-1", errorMessage="changed since it was read")
    assert runs.touch_if_unchanged("due-1", seen, nextAttemptAt=None) is False
    assert runs.touch_if_unchanged("due-2", due[1]["updatedAt"], nextAttemptAt=None) is True
    assert [r["id"] for r in runs.due_retries(ts(3), limit=10)] == ["due-1"]


def test_two_redrives_racing_for_a_run_take_it_once(db: firestore.Client) -> None:
    runs = RunStore(db)
    runs.create({**run("failed", ts(1)), "status": "error"})
    runs.create({**run("busy", ts(1)), "status": "retrying"})

    def take(n: int) -> str | None:
        return runs.claim_redrive("failed", f"job{n}", f"copy{n}", ["error", "dead_lettered"])

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(take, range(8)))
    assert answers.count(None) == 1
    winner = answers.index(None)
    stored = runs.get("failed")
    assert (stored["redrivenBy"], stored["redrivenAs"]) == (f"job{winner}", f"copy{winner}")
    assert all(a == f"already resent as run copy{winner}; redrive that one"
               for a in answers if a is not None)
    assert take(winner) is None  # the same job again (its task redelivered)
    assert runs.claim_redrive("busy", "job0", "c", ["error"]) == "the run is retrying, not redriven"
    assert runs.claim_redrive("nope", "job0", "c", ["error"]) == "no such run"
