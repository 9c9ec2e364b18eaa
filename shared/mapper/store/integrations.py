"""The `integrations` collection and each integration's `versions` subcollection."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from ..engine.config import format_path
from ..errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    Problem,
)
from ..timestamps import now_iso
from ..versions import version_record
from .common import (
    _JSON_SUFFIX,
    _RESERVED_NAME,
    DEFAULT_PAGE_SIZE,
    _dumps,
    _integration,
    _page,
    _store_errors,
    is_valid_document_id,
)

VERSIONS = "versions"  # the subcollection of an integration holding its versions

# An integration's sample payload is kept as JSON text (`samplePayloadJson`): Firestore
# gives a map back with its keys sorted, and the sample must read as the user wrote it.
# A sample stored as a map before this still reads as one.
_SAMPLE = "samplePayload"


# --- integrations -------------------------------------------------------------------------


class IntegrationStore:
    """The `integrations` collection: documents in the contract's camelCase shape."""

    def __init__(self, client: firestore.Client, collection: str = "integrations") -> None:
        self._client = client
        self._collection = client.collection(collection)

    def _versions(self, integration_id: str) -> Any:
        # integrations/{id}/versions/{n}: one immutable document per save (mapper.versions).
        return self._collection.document(integration_id).collection(VERSIONS)

    def get(self, integration_id: str) -> dict[str, Any] | None:
        """The integration with this id, or None."""
        if not is_valid_document_id(integration_id):
            return None
        with _store_errors("read an integration"):
            snapshot = self._collection.document(integration_id).get()
        return _document(snapshot) if snapshot.exists else None

    def find_by_field(self, field: str, value: Any) -> dict[str, Any] | None:
        """The first integration whose `field` (a dotted path) equals `value`, or None."""
        query = self._collection.where(filter=FieldFilter(field, "==", value)).limit(1)
        with _store_errors("query integrations"):
            snapshots = list(query.stream())
        return _document(snapshots[0]) if snapshots else None

    def list_where(self, field: str, value: Any) -> list[dict[str, Any]]:
        """Every integration whose `field` (a dotted path such as `source.mode`) equals `value`."""
        query = self._collection.where(filter=FieldFilter(field, "==", value))
        with _store_errors("query integrations"):
            return [_document(snapshot) for snapshot in query.stream()]

    def list(
        self,
        limit: int = DEFAULT_PAGE_SIZE,
        cursor: str | None = None,
        *,
        source_type: str | None = None,
        target_type: str | None = None,
        active: bool | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of integrations, newest first, and the cursor of the next page (or None).

        The filters combine freely: INTEGRATION_INDEXES holds an index for each combination.
        """
        query: Any = self._collection
        for field, value in (("source.type", source_type), ("target.type", target_type),
                             ("active", active)):
            if value is not None:
                query = query.where(filter=FieldFilter(field, "==", value))
        snapshots, next_cursor = _page(query, limit, cursor)
        return [_document(snapshot) for snapshot in snapshots], next_cursor

    def create(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Store a new integration, setting `id` (unless given), timestamps and `version` 1."""
        integration_id = doc.get("id") or uuid.uuid4().hex
        if not is_valid_document_id(integration_id):
            raise ConfigError([Problem("id", "not usable as a document id")])
        now = now_iso()
        data = {**doc, "id": integration_id, "createdAt": now, "updatedAt": now, "version": 1}
        _check_storable(_stored(data))
        batch = self._client.batch()  # the document and its version 1, both or neither
        batch.create(self._collection.document(integration_id), _stored(data))
        batch.create(
            self._versions(integration_id).document("1"), _stored_version(data, None)
        )
        with _store_errors("create an integration"):
            try:
                batch.commit()
            except gexc.AlreadyExists as exc:
                raise ConflictError(f"integration {integration_id} already exists") from exc
            except gexc.InvalidArgument as exc:
                raise _refused(exc) from exc
        return data

    def replace(
        self,
        integration_id: str,
        doc: dict[str, Any],
        expected_version: int | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Replace the whole document, keeping `createdAt`, bumping `version`, keeping a version.

        `note` starts the version's summary (e.g. "rollback to version 3").

        Raises `NotFoundError` if it does not exist, `ConflictError` if `expected_version`
        is given and differs from the stored one.
        """

        def replaced(current: dict[str, Any]) -> dict[str, Any]:
            version = int(current.get("version") or 0)
            if expected_version is not None and version != expected_version:
                raise ConflictError(
                    f"integration {integration_id} is at version {version}, "
                    f"not {expected_version}; read it again"
                )
            now = now_iso()
            return {
                **doc,
                "id": integration_id,
                "createdAt": current.get("createdAt", now),
                "updatedAt": now,
                "version": version + 1,
            }

        return self._new_version(integration_id, doc, replaced, "replace an integration", note)

    def update_fields(self, integration_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Set some top-level fields, bump `version`, keep a version; the updated integration."""

        def updated(current: dict[str, Any]) -> dict[str, Any]:
            version = int(current.get("version") or 0) + 1
            return {**current, **fields, "updatedAt": now_iso(), "version": version}

        return self._new_version(integration_id, fields, updated, "update an integration")

    def _new_version(
        self,
        integration_id: str,
        given: dict[str, Any],
        build: Callable[[dict[str, Any]], dict[str, Any]],
        what: str,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Write `build(current)` and its version record in one transaction; the new document.

        A transaction, not a server-side increment: the version document needs the number.
        """
        if not is_valid_document_id(integration_id):
            raise NotFoundError(f"no integration {integration_id}")
        _check_storable(_stored(given))
        ref = self._collection.document(integration_id)

        @firestore.transactional
        def write(transaction: firestore.Transaction) -> dict[str, Any]:
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                raise NotFoundError(f"no integration {integration_id}")
            current = _document(snapshot)
            data = build(current)
            transaction.set(ref, _stored(data))
            record = _stored_version(data, current, note)
            transaction.set(self._versions(integration_id).document(str(data["version"])), record)
            return data

        with _store_errors(what):
            try:
                return write(self._client.transaction())
            except gexc.InvalidArgument as exc:
                raise _refused(exc) from exc

    def delete(self, integration_id: str) -> bool:
        """Delete the integration; False if there was none."""
        if not is_valid_document_id(integration_id):
            return False
        option = self._client.write_option(exists=True)
        with _store_errors("delete an integration"):
            try:
                self._collection.document(integration_id).delete(option=option)
            except gexc.NotFound:
                return False
            # Firestore keeps a subcollection of a deleted document: delete the versions too.
            while True:
                refs = [s.reference for s in self._versions(integration_id).limit(400).stream()]
                if not refs:
                    break
                batch = self._client.batch()
                for version_ref in refs:
                    batch.delete(version_ref)
                batch.commit()
        return True

    def list_versions(
        self, integration_id: str, limit: int = DEFAULT_PAGE_SIZE, before: int | None = None
    ) -> list[dict[str, Any]]:
        """Up to `limit` versions (version, savedAt, summary), newest first, below `before`."""
        if not is_valid_document_id(integration_id):
            return []
        query: Any = self._versions(integration_id)
        if before is not None:
            query = query.where(filter=FieldFilter("version", "<", before))
        query = query.order_by("version", direction=firestore.Query.DESCENDING).limit(limit)
        query = query.select(["version", "savedAt", "summary"])
        with _store_errors("list versions"):
            return [snapshot.to_dict() or {} for snapshot in query.stream()]

    def get_version(self, integration_id: str, version: int) -> dict[str, Any] | None:
        """One version (version, savedAt, summary, document), or None."""
        if not is_valid_document_id(integration_id):
            return None
        with _store_errors("read a version"):
            snapshot = self._versions(integration_id).document(str(version)).get()
        if not snapshot.exists:
            return None
        record = snapshot.to_dict() or {}
        if isinstance(record.get("document"), dict):
            record["document"] = _read(record["document"])
        return record


def _refused(exc: gexc.InvalidArgument) -> ConfigError:
    # Too large, too deep: nothing a retry would change.
    return ConfigError([Problem("", f"Firestore refused the document: {exc.message}")])


def _check_storable(doc: dict[str, Any]) -> None:
    problems = list(_unstorable(doc, []))
    if problems:
        raise ConfigError(problems)


def _unstorable(value: Any, parts: list[str | int]) -> Iterator[Problem]:
    """What Firestore would refuse: arrays directly in arrays, empty or reserved keys."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not key or _RESERVED_NAME.fullmatch(key):
                yield Problem(
                    format_path([*parts, str(key)]),
                    "keys must be non-empty text and not of the form __name__",
                )
            else:
                yield from _unstorable(item, [*parts, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, list):
                yield Problem(
                    format_path([*parts, index]),
                    "an array directly inside an array cannot be stored; wrap it in an object",
                )
            else:
                yield from _unstorable(item, [*parts, index])


def _document(snapshot: Any) -> dict[str, Any]:
    return _read(_integration(snapshot))


def _stored(doc: dict[str, Any]) -> dict[str, Any]:
    if _SAMPLE not in doc:
        return doc
    stored = {key: value for key, value in doc.items() if key != _SAMPLE}
    stored[_SAMPLE + _JSON_SUFFIX] = _dumps(doc[_SAMPLE])
    return stored


def _read(data: dict[str, Any]) -> dict[str, Any]:
    text = data.pop(_SAMPLE + _JSON_SUFFIX, None)
    if isinstance(text, str):
        data[_SAMPLE] = json.loads(text)
    return data


def _stored_version(
    data: dict[str, Any], current: dict[str, Any] | None, note: str | None = None
) -> dict[str, Any]:
    record = version_record(data, current, note)
    return {**record, "document": _stored(record["document"])}
