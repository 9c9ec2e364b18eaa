"""mapper.firestore_writes.commit_creates against the Firestore emulator."""

from __future__ import annotations

import datetime

import pytest
from google.api_core import exceptions as gexc
from google.cloud import firestore

from mapper.firestore_writes import commit_creates

MOMENT = datetime.datetime(2026, 12, 2, 4, 5, 6, 789123, tzinfo=datetime.timezone.utc)


def test_documents_created_in_one_commit_read_back_as_written(db: firestore.Client) -> None:
    plain = {
        "text": "é€😀",
        "integer": 2**62,
        "float": 1.5,
        "flag": False,
        "none": None,
        "at": MOMENT,
        "a.dotted name": "kept whole",
        "list": ["a", 1, None],
    }
    library_made = {"map": {"nested": [1, 2]}, "at": firestore.SERVER_TIMESTAMP}
    creates = [(db.document("runs/plain"), plain), (db.document("runs/map"), library_made)]
    commit_creates(db, creates)

    assert db.document("runs/plain").get().to_dict() == plain
    stored = db.document("runs/map").get().to_dict()
    assert stored["map"] == {"nested": [1, 2]} and isinstance(stored["at"], datetime.datetime)


def test_one_document_that_exists_refuses_the_whole_commit(db: firestore.Client) -> None:
    db.document("runs/there").create({"n": 1})
    with pytest.raises(gexc.AlreadyExists):
        commit_creates(
            db, [(db.document("runs/new"), {"n": 2}), (db.document("runs/there"), {"n": 3})]
        )
    assert not db.document("runs/new").get().exists
    assert db.document("runs/there").get().to_dict() == {"n": 1}
