"""What every Firestore store shares: pages and cursors, error mapping, JSON size limits."""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1 import _helpers
from google.cloud.firestore_v1.field_path import FieldPath

from ..errors import (
    InvalidQueryError,
    StoreError,
)
from ..json_text import dumps_text

# A Firestore document holds at most 1 MiB. Four payload fields at this budget, plus the run's
# metadata, stay well under it.
FIELD_LIMIT_BYTES = 200_000
PREVIEW_CHARS = 10_000
# Any other field of a run: text (errorMessage, say) is cut to this many characters, and an
# object or array (incomingHeaders, say) is held to this many bytes of JSON.
TEXT_LIMIT_CHARS = 10_000
OTHER_FIELD_LIMIT_BYTES = 20_000
DEFAULT_PAGE_SIZE = 50
DEFAULT_RETENTION_DAYS = 30  # runs expire through the TTL policy on `expireAt` (infra/)
MAX_PAGE_SIZE = 200

PAYLOAD_FIELDS = ("incomingPayload", "transformedPayload", "outgoingRequest", "outgoingResponse")
# A fan-out run's `deliveries` (up to 10 targets) share this many bytes: each delivery's
# payload fields get an equal part, and its errorMessage at most DELIVERY_TEXT_CHARS.
DELIVERIES_LIMIT_BYTES = 400_000
DELIVERY_PAYLOAD_FIELDS = ("transformedPayload", "outgoingRequest", "outgoingResponse")
DELIVERY_TEXT_CHARS = 2_000

_JSON_SUFFIX = "Json"
# A run's JSON field longer than this many bytes is stored zlib-compressed, as Firestore Bytes:
# the ~1.7 KB order and its mapped copies shrink to about a third, and storage is billed by
# the byte for the whole retention. Shorter text is kept as text (zlib would barely shrink it).
# Payload fields are exempt from indexes, so nothing queries inside either form.
COMPRESS_ABOVE_BYTES = 512
_RESERVED_NAME = re.compile(r"__.*__")


# --- payload size -------------------------------------------------------------------------


def _json_within(
    value: Any, limit_bytes: int = FIELD_LIMIT_BYTES, preview_chars: int = PREVIEW_CHARS
) -> tuple[str, dict[str, Any] | None]:
    """The JSON text to store for `value`, and the stand-in used when `value` was too large."""
    text = _dumps(value)
    size = len(text.encode("utf-8"))
    if size <= limit_bytes:
        return text, None
    stand_in = {"truncated": True, "size": size, "preview": text[:preview_chars]}
    return _dumps(stand_in), stand_in


def _packed(text: str) -> str | bytes:
    """What to store for a JSON field's text: the text, or its zlib bytes above the threshold."""
    raw = text.encode("utf-8")
    return zlib.compress(raw) if len(raw) > COMPRESS_ABOVE_BYTES else text


def _unpacked(stored: str | bytes) -> str:
    """A stored JSON field's text again (`zlib.error` or `UnicodeDecodeError` if it is not)."""
    return zlib.decompress(stored).decode("utf-8") if isinstance(stored, bytes) else stored


def _dumps(value: Any) -> str:
    return dumps_text(value, default=_json_default)


def _json_default(value: Any) -> Any:
    # A body that is not JSON reaches the run record as bytes.
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    raise TypeError(f"{type(value).__name__} cannot be stored in a run record")


def _integration(snapshot: Any) -> dict[str, Any]:
    data = snapshot.to_dict() or {}
    data.setdefault("id", snapshot.id)
    return data


# --- shared -------------------------------------------------------------------------------


def is_valid_document_id(value: Any) -> bool:
    """Tell whether `value` can name a Firestore document (else nothing can be stored under it)."""
    return (
        isinstance(value, str)
        and 0 < len(value.encode("utf-8")) <= 1500
        and "/" not in value
        and value not in (".", "..")
        and not _RESERVED_NAME.fullmatch(value)
    )


def _page(
    query: Any, limit: int, cursor: str | None, field: str = "createdAt",
    oldest_first: bool = False,
) -> tuple[list[Any], str | None]:
    """Newest (or largest) first by `field`, ties broken by document id: each shows once.
    `oldest_first` turns the order round."""
    if not isinstance(limit, int) or limit < 1:
        raise InvalidQueryError("limit must be a whole number of at least 1")
    limit = min(limit, MAX_PAGE_SIZE)
    direction = firestore.Query.ASCENDING if oldest_first else firestore.Query.DESCENDING
    query = query.order_by(field, direction=direction).order_by(
        FieldPath.document_id(), direction=direction
    )
    if cursor:
        value, doc_id = _decode_cursor(cursor)
        if isinstance(value, str) != (field == "createdAt"):
            raise InvalidQueryError("cursor is not one this API returned for these filters")
        query = query.start_after({field: value, FieldPath.document_id(): doc_id})
    # One more than asked tells whether another page follows without a second query.
    with _store_errors("list documents"):
        snapshots = list(query.limit(limit + 1).stream())
    if len(snapshots) <= limit:
        return snapshots, None
    last = snapshots[limit - 1]
    return snapshots[:limit], _encode_cursor(last.get(field), last.id)


def _encode_cursor(created_at: str | float, doc_id: str) -> str:
    raw = json.dumps([created_at, doc_id], separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str | float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, doc_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidQueryError("cursor is not one this API returned") from exc
    ordered_by = (str, int, float)  # createdAt, or apiCallTimeMs (slowest first)
    if (
        not isinstance(created_at, ordered_by)
        or isinstance(created_at, bool)
        or not is_valid_document_id(doc_id)
    ):
        raise InvalidQueryError("cursor is not one this API returned")
    return created_at, doc_id


def read_fields(ref: Any) -> dict[str, Any] | None:
    """One document's fields (as `snapshot.to_dict()` gives them), or None if it is missing.

    One unary GetDocument call. `DocumentReference.get()` opens a BatchGetDocuments stream,
    and a thread to drive it, for the one document: the unary call costs the client about
    half the CPU (0.57 against 0.9-1.2 ms a read against the emulator; bench/worker_cpu.py
    profiles the worker, which reads a document like this on every run).
    Errors other than NotFound are Google's, for `_store_errors` to map.
    """
    return read_document(ref)[0]


def read_document(ref: Any) -> tuple[dict[str, Any] | None, Any]:
    """As `read_fields`, with the document's update time (None when it is missing)."""
    client = ref._client
    try:
        document = client._firestore_api.get_document(
            request={"name": ref._document_path}, metadata=client._rpc_metadata
        )
    except gexc.NotFound:
        return None, None
    return _helpers.decode_dict(document.fields, client), document.update_time


def read_documents(client: Any, refs: list[Any]) -> dict[str, tuple[dict[str, Any] | None, Any]]:
    """Several documents in one BatchGetDocuments call: by `ref._document_path`, each one's
    fields and update time as `read_document` gives them.

    Read from the call's own stream on this thread, without the snapshots and reference
    map `Client.get_all` builds (about 0.25 ms of CPU less for two documents). Each
    document is billed as one read, found or missing.
    """
    stream = client._firestore_api.batch_get_documents(
        request={"database": client._database_string,
                 "documents": [ref._document_path for ref in refs]},
        metadata=client._rpc_metadata,
    )
    read: dict[str, tuple[dict[str, Any] | None, Any]] = {}
    for reply in stream:
        if reply.found.name:
            document = reply.found
            read[document.name] = (_helpers.decode_dict(document.fields, client),
                                   document.update_time)
        elif reply.missing:
            read[reply.missing] = (None, None)
    missing = [ref._document_path for ref in refs if ref._document_path not in read]
    if missing:  # never seen from Firestore: a reply for every document asked
        raise gexc.DataLoss(f"no reply for {', '.join(missing)}")
    return read


@contextmanager
def _store_errors(action: str) -> Iterator[None]:
    """Turn Google's errors into `StoreError`, keeping the original as the cause."""
    try:
        yield
    except gexc.GoogleAPIError as exc:
        raise StoreError(f"Firestore could not {action}: {exc}") from exc
    except ValueError as exc:
        # A transaction that keeps aborting ends as a ValueError wrapping Google's error.
        if isinstance(exc.__cause__, gexc.GoogleAPIError):
            raise StoreError(f"Firestore could not {action}: {exc}") from exc
        raise
