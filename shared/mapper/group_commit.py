"""Concurrent document creates written in as few Firestore commits as possible.

Each commit is one round trip whatever it holds, and the Firestore emulator spends about
4 ms of CPU on a commit of one run and 0.5 ms a run on a commit of 16 (docs/performance.md).
`GroupCommit.create` goes through a `Grouper` (mapper.grouping): the first caller commits at
once, alone; creates arriving while a commit is in flight are committed together by the next
free slot, at most `max_documents` documents or `max_bytes`, never two of one document.

The commit is passed in (`mapper.firestore_writes.commit_creates` over a client). A commit
is atomic: one document that already exists fails the whole commit. Then each of its
documents is created again on its own, so every caller learns its own answer (created, or
already there) and no caller's document depends on another's. Any other failure of a commit
is every one of its callers' failure, as their own commit's would have been.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from google.api_core import exceptions as gexc

from .grouping import Failed, Grouper

MAX_IN_FLIGHT = 1  # commits at once per instance: the others gather behind it
MAX_DOCUMENTS = 100  # per commit (Firestore allows 500 writes)
MAX_BYTES = 4 * 1024 * 1024  # per commit, estimated (Firestore refuses requests over 10 MiB)


class GroupCommit:
    """Creates documents, merging concurrent creates into shared commits."""

    def __init__(
        self,
        commit_creates: Callable[[Sequence[tuple[Any, dict[str, Any]]]], None],
        *,
        max_in_flight: int = MAX_IN_FLIGHT,
        max_documents: int = MAX_DOCUMENTS,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self._commit_creates = commit_creates
        self._grouper: Grouper[tuple[Any, dict[str, Any]], bool] = Grouper(
            self._commit,
            max_in_flight=max_in_flight,
            max_items=max_documents,
            max_bytes=max_bytes,
            size=lambda create: approximate_size(create[1]),
            key=lambda create: create[0].path,
        )

    def create(self, ref: Any, data: dict[str, Any]) -> bool:
        """Create `data` at `ref`; False if the document exists. Other errors raise."""
        return self._grouper.call((ref, data))

    def _commit(self, creates: list[tuple[Any, dict[str, Any]]]) -> list[bool | Failed]:
        try:
            self._commit_creates(creates)
        except gexc.AlreadyExists:
            if len(creates) == 1:
                return [False]
            # Which one existed? Each caller gets its own answer.
            return [self._create_alone(create) for create in creates]
        return [True] * len(creates)

    def _create_alone(self, create: tuple[Any, dict[str, Any]]) -> bool | Failed:
        try:
            self._commit_creates([create])
        except gexc.AlreadyExists:
            return False
        except Exception as exc:  # noqa: BLE001 - raised in its caller's thread
            return Failed(exc)
        return True


def approximate_size(value: Any) -> int:
    """About how many bytes `value` takes in a request: strings and bytes count whole."""
    if isinstance(value, (str, bytes)):
        return len(value) + 8
    if isinstance(value, dict):
        return sum(len(str(k)) + approximate_size(v) for k, v in value.items()) + 8
    if isinstance(value, (list, tuple)):
        return sum(approximate_size(v) for v in value) + 8
    return 16
