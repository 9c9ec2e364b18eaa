"""GroupCommit over a small stand-in for a Firestore batch: who commits what, and who learns what.

The same behaviour against the Firestore emulator is in tests/store/test_store.py.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from google.api_core import exceptions as gexc

from mapper.group_commit import GroupCommit, approximate_size


class Database:
    """Documents by name; each commit takes `delay` seconds, like a round trip."""

    def __init__(self, delay: float = 0.02) -> None:
        self.documents: dict[str, Any] = {}
        self.commits: list[list[str]] = []
        self.fail_with: Exception | None = None
        self._delay = delay
        self._lock = threading.Lock()

    def commit_creates(self, creates: list[tuple[Ref, Any]]) -> None:
        """One atomic commit of every create, as mapper.firestore_writes.commit_creates."""
        self.apply([(ref.name, data) for ref, data in creates])

    def ref(self, name: str) -> Ref:
        return Ref(name)

    def apply(self, writes: list[tuple[str, Any]]) -> None:
        time.sleep(self._delay)
        with self._lock:
            self.commits.append([name for name, _ in writes])
            if self.fail_with is not None:
                raise self.fail_with
            names = [name for name, _ in writes]
            if len(set(names)) < len(names):  # as Firestore: the whole commit is refused
                raise gexc.InvalidArgument("a document is written twice in one commit")
            if any(name in self.documents for name in names):
                raise gexc.AlreadyExists("a document already exists")
            self.documents.update(writes)


class Ref:
    def __init__(self, name: str) -> None:
        self.name = self.path = name


def create_all(creates: GroupCommit, db: Database, names: list[str]) -> list[Any]:
    """Create every name from its own thread, all at once; each caller's answer or error."""
    start = threading.Barrier(len(names))

    def one(name: str) -> Any:
        start.wait()
        try:
            return creates.create(db.ref(name), {"name": name})
        except Exception as exc:  # noqa: BLE001 - the answer under test
            return exc

    with ThreadPoolExecutor(len(names)) as pool:
        return list(pool.map(one, names))


def test_a_lone_create_is_committed_at_once_on_its_own() -> None:
    db = Database()
    assert GroupCommit(db.commit_creates).create(db.ref("a"), {"n": 1}) is True
    assert db.commits == [["a"]] and db.documents == {"a": {"n": 1}}


def test_concurrent_creates_share_commits_and_each_caller_learns_its_own_answer() -> None:
    db = Database()
    names = [f"run-{n}" for n in range(40)]
    answers = create_all(GroupCommit(db.commit_creates, max_in_flight=2), db, names)
    assert answers == [True] * len(names)
    assert set(db.documents) == set(names)
    assert len(db.commits) < len(names) / 3  # 40 documents, a handful of round trips
    assert sorted(n for commit in db.commits for n in commit) == sorted(names)


def test_a_document_that_exists_is_false_for_its_caller_only() -> None:
    db = Database()
    db.documents["run-7"] = {"name": "there before"}
    names = [f"run-{n}" for n in range(20)]
    answers = create_all(GroupCommit(db.commit_creates, max_in_flight=1), db, names)
    assert answers == [name != "run-7" for name in names]
    assert db.documents["run-7"] == {"name": "there before"}
    assert set(db.documents) == set(names)


def test_the_same_document_sent_at_once_is_created_once_and_refused_to_the_others() -> None:
    db = Database()
    names = ["same"] * 10 + [f"other-{n}" for n in range(10)]
    answers = create_all(GroupCommit(db.commit_creates, max_in_flight=1), db, names)
    assert answers[:10].count(True) == 1 and answers[:10].count(False) == 9, answers
    assert answers[10:] == [True] * 10
    assert all(len(set(commit)) == len(commit) for commit in db.commits)


def test_a_failed_commit_is_the_failure_of_every_caller_in_it_and_of_no_later_one() -> None:
    db = Database(delay=0.05)
    db.fail_with = gexc.ServiceUnavailable("firestore is down")
    names = [f"run-{n}" for n in range(10)]
    answers = create_all(GroupCommit(db.commit_creates, max_in_flight=1), db, names)
    assert all(isinstance(a, gexc.ServiceUnavailable) for a in answers), answers
    db.fail_with = None
    creates = GroupCommit(db.commit_creates)
    assert creates.create(db.ref("after"), {}) is True


def test_a_commit_holds_at_most_the_documents_and_bytes_it_is_allowed() -> None:
    db = Database()
    creates = GroupCommit(db.commit_creates, max_in_flight=1, max_documents=4, max_bytes=10_000)
    names = [f"run-{n}" for n in range(24)]
    start = threading.Barrier(len(names))

    def one(name: str) -> bool:
        start.wait()
        return creates.create(db.ref(name), {"blob": "x" * 3_000})  # 3 fit in 10,000 bytes

    with ThreadPoolExecutor(len(names)) as pool:
        assert all(pool.map(one, names))
    assert max(len(c) for c in db.commits) <= 3
    assert set(db.documents) == set(names)


@pytest.mark.parametrize(
    ("value", "at_least"),
    [("x" * 1000, 1000), ({"a": "x" * 500, "b": ["y" * 500]}, 1000), (b"z" * 2000, 2000)],
)
def test_the_size_estimate_counts_every_string_and_byte(value: Any, at_least: int) -> None:
    assert at_least <= approximate_size(value) <= at_least + 100
