"""Creates and updates committed as Firestore's own protobuf messages, built straight from values.

The client library wraps every value of a write in a proto-plus object before it reaches the
wire: 240 us for a run document here, against 65 us for the same messages built directly,
and the webhook creates one run per request (docs/performance.md). A run's values are plain
(text, StrEnums among it, numbers, booleans, None, times, bytes: a compressed payload,
lists of those), so
`create_writes` builds them as the protobuf messages those wrappers hold; a document with
any other value (a map, a sentinel such as SERVER_TIMESTAMP) goes through the library's own
`pbs_for_create` whole.

`update_writes` does the same for an update of top-level fields (the worker's two writes a
run: the claim, the outcome), where the library's `pbs_for_update` also parses and
re-renders a field path per field, about 30 for an outcome: the mask holds each name
quoted as the library quotes it, `DELETE_FIELD` is a name in the mask without a value, an
`Increment` is a field transform (its result read back from the commit's answer), and the
precondition is the write time given or the document existing. Any other value (a map,
another sentinel) sends the update through `pbs_for_update` whole.
tests/unit/test_firestore_writes.py holds the bytes of both equal to the library's.

`commit_creates` sends them in one Commit through the client's own API object and metadata,
with its default retry and timeout, as `WriteBatch.commit` does, and `commit_update` one
update the same way; `batch_creates` in one BatchWrite, each create applied or refused on
its own. Those are the client's private attributes (`_firestore_api`, `_rpc_metadata`,
`_database_string`, a reference's `_document_path`): google-cloud-firestore is pinned in
requirements.txt, and tests/store/test_commit_creates.py and test_commit_update.py run them
against the emulator.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from google.cloud.firestore_v1 import _helpers, transforms
from google.cloud.firestore_v1.field_path import render_field_path
from google.cloud.firestore_v1.types import common, document, firestore, write
from google.protobuf import struct_pb2, timestamp_pb2

# The raw protobuf classes behind the library's proto-plus types.
_Value = document.Value.pb()
_ArrayValue = document.ArrayValue.pb()
_Document = document.Document.pb()
_Write = write.Write.pb()
_Precondition = common.Precondition.pb()
_DocumentMask = common.DocumentMask.pb()
_FieldTransform = write.DocumentTransform.FieldTransform.pb()
_CommitRequest = firestore.CommitRequest.pb()
_BatchWriteRequest = firestore.BatchWriteRequest.pb()


class _NotPlain(Exception):
    """A value `create_writes` or `update_writes` leaves to the library."""


class Updated(NamedTuple):
    """An update's answer, as the library's `WriteResult` reads: when it was written, and
    each field transform's result (an `Increment`'s new value) in field name order."""

    update_time: datetime.datetime  # with its nanoseconds, as the library's
    transform_results: Sequence[Any]


def commit_creates(client: Any, creates: Sequence[tuple[Any, dict[str, Any]]]) -> None:
    """Create every (document reference, data) in one atomic commit.

    Raises what the commit raises: `AlreadyExists` if any of the documents exists (then
    none is written), `InvalidArgument`, `ServiceUnavailable` and so on.
    """
    writes = [pb for ref, data in creates for pb in create_writes(ref._document_path, data)]
    request = _CommitRequest(database=client._database_string, writes=writes)
    client._firestore_api.commit(request=request, metadata=client._rpc_metadata)


def batch_creates(
    client: Any, creates: Sequence[tuple[Any, dict[str, Any]]]
) -> list[tuple[int, str]]:
    """Create every (document reference, data) in one BatchWrite, each on its own.

    Not atomic: each create is applied or refused alone, and the answer is each one's
    status in order, (gRPC code, message): 0 created, 6 (ALREADY_EXISTS) the document was
    there and is left as it was, anything else that create's own failure. A failure of the
    whole call raises, as `commit_creates` does. At most one create of a document per call
    (Firestore refuses the whole request otherwise).
    """
    writes = [pb for ref, data in creates for pb in create_writes(ref._document_path, data)]
    request = _BatchWriteRequest(database=client._database_string, writes=writes)
    response = client._firestore_api.batch_write(request=request, metadata=client._rpc_metadata)
    return [(status.code, status.message) for status in response._pb.status]


def commit_update(
    client: Any, ref: Any, fields: Mapping[str, Any], *, last_update_time: Any = None
) -> Updated:
    """Update some top-level fields of one document, as `ref.update` does.

    `fields` by field name, each one top-level field (a dot is part of the name, not a
    path). Conditional on the document's `last_update_time` when given (a write time
    Firestore gave back, as `client.write_option(last_update_time=...)` takes it), else on
    the document existing. Raises what the commit raises: `FailedPrecondition` if the
    document was written since (the emulator says the same of a missing one when a time is
    given), `NotFound` if it does not exist, and so on.
    """
    writes = update_writes(ref._document_path, fields, last_update_time)
    request = _CommitRequest(database=client._database_string, writes=writes)
    response = client._firestore_api.commit(request=request, metadata=client._rpc_metadata)
    result = write.WriteResult.wrap(response._pb.write_results[0])  # wraps, no copy
    return Updated(result.update_time, result._pb.transform_results)


def update_writes(
    document_path: str, fields: Mapping[str, Any], last_update_time: Any = None
) -> list[Any]:
    """The writes updating `fields` (by top-level name) at `document_path`, as `pbs_for_update`
    builds them: the mask is every name quoted as a field path, in order, but those a
    transform sets; `DELETE_FIELD` is a name in the mask without a value; an `Increment` is
    a field transform. The precondition as `commit_update` says."""
    values: dict[str, Any] = {}
    increments: list[tuple[str, Any]] = []
    try:
        for name, value in fields.items():
            if value is transforms.DELETE_FIELD:
                continue
            if type(value) is transforms.Increment:
                increments.append((name, _plain_value(value.value)))
            else:
                values[name] = _plain_value(value)
    except _NotPlain:
        return _library_update(document_path, fields, last_update_time)
    if not fields:
        return _library_update(document_path, fields, last_update_time)  # its ValueError
    incremented = {name for name, _ in increments}
    mask = [_quoted(name) for name in sorted(fields) if name not in incremented]
    update = _Write(
        update=_Document(name=document_path, fields=values),
        update_mask=_DocumentMask(field_paths=mask),
        current_document=_precondition(last_update_time),
    )
    if increments:
        update.update_transforms.extend(
            _FieldTransform(field_path=_quoted(name), increment=value)
            for name, value in sorted(increments)
        )
    return [update]


def _library_update(
    document_path: str, fields: Mapping[str, Any], last_update_time: Any
) -> list[Any]:
    option = (None if last_update_time is None
              else _helpers.LastUpdateOption(last_update_time))
    updates = {_quoted(name): value for name, value in fields.items()}
    return [pb._pb for pb in _helpers.pbs_for_update(document_path, updates, option)]


@functools.lru_cache(maxsize=1024)  # a run's field names are a few dozen
def _quoted(name: str) -> str:
    """A top-level field's name as a field path, backquoted unless it is a simple name."""
    return render_field_path((name,))


def _precondition(last_update_time: Any) -> Any:
    if last_update_time is None:
        return _Precondition(exists=True)
    # The library's own marshalling of the time: a time it read back keeps its nanoseconds.
    return common.Precondition(update_time=last_update_time)._pb


def create_writes(document_path: str, data: dict[str, Any]) -> list[Any]:
    """The writes creating `data` at `document_path` (the full resource name)."""
    try:
        fields = {name: _plain_value(value) for name, value in data.items()}
    except _NotPlain:
        return [pb._pb for pb in _helpers.pbs_for_create(document_path, data)]
    return [
        _Write(
            update=_Document(name=document_path, fields=fields),
            current_document=_Precondition(exists=False),
        )
    ]


def _plain_value(value: Any) -> Any:
    kind = type(value)  # exact types: a subclass (bool of int, say) may mean something else
    if kind is str:
        return _Value(string_value=value)
    if kind is int:
        return _Value(integer_value=value)
    if kind is bool:
        return _Value(boolean_value=value)
    if kind is float:
        return _Value(double_value=value)
    if value is None:
        return _Value(null_value=struct_pb2.NULL_VALUE)
    if kind is bytes:
        return _Value(bytes_value=value)
    if kind is datetime.datetime:
        return _Value(timestamp_value=_timestamp(value))
    if kind is list and all(type(item) is not list for item in value):
        return _Value(array_value=_ArrayValue(values=[_plain_value(item) for item in value]))
    if isinstance(value, str):  # a run's status and source kind are StrEnums: their text
        return _Value(string_value=str.__str__(value))
    raise _NotPlain


def _timestamp(moment: datetime.datetime) -> timestamp_pb2.Timestamp:
    # As the library: a naive time is UTC; microseconds kept.
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp
