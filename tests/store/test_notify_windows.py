"""notifyWindows on the Firestore emulator: one notification per integration, type and
minute whichever instance asks (create() wins once), the count held back carried by the
next minute's, and the same answers as the in-memory fake the unit tests use."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from google.cloud import firestore

from mapper.store.notify import NotifyWindowStore
from tests.fakes import FakeNotifyWindows

START = 1_700_000_000.0  # 20 s into a minute


def test_many_instances_in_one_minute_send_once(db: firestore.Client) -> None:
    instances = [NotifyWindowStore(db) for _ in range(4)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(
            lambda n: instances[n % 4].admit("i1", "run.dead_lettered", START + n % 30),
            range(12),
        ))
    assert sum(a.send for a in answers) == 1
    window = int(START // 60)
    doc = db.collection("notifyWindows").document(f"i1.run.dead_lettered.{window}").get()
    assert doc.get("count") == 12 and doc.get("expireAt") is not None

    later = instances[0].admit("i1", "run.dead_lettered", START + 100)
    assert later.send and later.held == 11 and later.since == doc.get("firstAt")
    assert instances[1].admit("i1", "run.dead_lettered", START + 101).send is False
    # Another integration, another type: minutes of their own.
    assert instances[2].admit("i2", "run.dead_lettered", START + 100).send
    assert instances[2].admit("i1", "delivery.paused", START + 100).send


def test_the_store_and_the_fake_agree(db: firestore.Client) -> None:
    store, fake = NotifyWindowStore(db), FakeNotifyWindows()
    times = [0, 5, 10, 70, 75, 200, 400, 401, 402, 403]
    for t in times:
        assert store.admit("i9", "source.drift", START + t) == fake.admit(
            "i9", "source.drift", START + t
        )
