"""A document's stored size by Firestore's documented rules ("Storage size calculations").

String: UTF-8 bytes + 1. Document name: each collection and document id in its path, + 16.
Field: name (a string) + value. Document: name + fields + 32. Index entry (single-field):
document name + field path + value + 32; composite: document name + the indexed values + 32.
Automatic single-field indexes: ascending and descending for every field that is neither a
map nor an array, array-contains for each distinct element of an array, the subfields of a
map the same way; an exempted field has none. An indexed string counts its first 1,500 bytes.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

INDEXED_STRING_BYTES = 1500


def string_size(text: str) -> int:
    """UTF-8 bytes + 1."""
    return len(text.encode()) + 1


def name_size(path: Sequence[str]) -> int:
    """The size of a document name, from its path (collection, id, collection, id...)."""
    return sum(string_size(part) for part in path) + 16


def value_size(value: Any) -> int:
    """The stored size of one field value (the python value the client library reads)."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, int | float | datetime.datetime):
        return 8
    if isinstance(value, str):
        return string_size(value)
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, list | tuple):
        return sum(value_size(item) for item in value)
    if isinstance(value, Mapping):
        return fields_size(value)
    if hasattr(value, "latitude"):
        return 16  # GeoPoint
    if hasattr(value, "path"):
        return name_size(value.path.split("/"))  # DocumentReference
    raise TypeError(f"no Firestore size for {type(value).__name__}")


def fields_size(fields: Mapping[str, Any]) -> int:
    """Field names and values of a document or map."""
    return sum(string_size(name) + value_size(value) for name, value in fields.items())


def document_size(path: Sequence[str], fields: Mapping[str, Any]) -> int:
    """A whole document: name + fields + 32."""
    return name_size(path) + fields_size(fields) + 32


def _index_value_size(value: Any) -> int:
    if isinstance(value, str) and len(value.encode()) > INDEXED_STRING_BYTES:
        return INDEXED_STRING_BYTES + 1
    return value_size(value)


def single_field_index_size(
    path: Sequence[str], fields: Mapping[str, Any], exempt: Iterable[str] = ()
) -> int:
    """The automatic single-field index entries of one document, in bytes."""
    name, skip = name_size(path), frozenset(exempt)

    def entries(prefix: str, value: Any) -> int:
        if prefix in skip:
            return 0
        if isinstance(value, Mapping):
            return sum(entries(f"{prefix}.{k}", v) for k, v in value.items())
        if isinstance(value, list | tuple):
            distinct = {repr(item): item for item in value}.values()
            return sum(
                name + string_size(prefix) + _index_value_size(item) + 32 for item in distinct
            )
        return 2 * (name + string_size(prefix) + _index_value_size(value) + 32)

    return sum(entries(key, value) for key, value in fields.items())


def composite_index_size(
    path: Sequence[str],
    fields: Mapping[str, Any],
    indexes: Iterable[Sequence[tuple[str, str]]],
) -> int:
    """The entries of the composite indexes a document appears in, in bytes.

    A document is in an index only if it has every field the index names (`__name__` aside);
    a CONTAINS field makes one entry per distinct element (none for an empty array).
    """
    name, total = name_size(path), 0
    for index in indexes:
        named = [(field, mode) for field, mode in index if field != "__name__"]
        if any(field not in fields for field, _ in named):
            continue
        base, elements = name + 32, [0]  # one entry, unless an array multiplies them
        for field, mode in named:
            value = fields[field]
            if mode == "CONTAINS":  # Firestore allows one per index
                distinct = {repr(item): item for item in (value or [])}.values()
                elements = [_index_value_size(item) for item in distinct]
            else:
                base += _index_value_size(value)
        total += sum(base + element for element in elements)
    return total
