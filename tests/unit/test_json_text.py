"""mapper.json_text writes the text json writes (compact, UTF-8), and falls back to json."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mapper.json_text import dumps_bytes, dumps_text, json_dumps_bytes


def json_writes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@pytest.mark.parametrize(
    "value",
    [
        {"order": {"id": "A-1", "lines": [{"sku": "é€😀", "qty": 2, "price": 12.5}]}},
        [None, True, False, 0, -1, 2**63 - 1, 0.1, 1.5e300, "", "tab\there", "quote\"s"],
        {"nested": {"deeper": {"deepest": []}}, "unicode": "\u2028\u00e9"},
    ],
)
def test_ordinary_json_is_written_as_json_writes_it(value: Any) -> None:
    assert dumps_bytes(value) == json_writes(value)
    assert dumps_text(value) == json_writes(value).decode("utf-8")


@pytest.mark.parametrize(
    "value",
    [
        {"big": 2**64 + 1},  # past 64 bits: orjson refuses it
        {1: "an integer key"},  # json turns it into "1"
        {"float key": {2.5: True}},
    ],
)
def test_what_orjson_refuses_is_written_by_json(value: Any) -> None:
    assert dumps_bytes(value) == json_writes(value)
    assert json.loads(dumps_text(value)) == json.loads(json_writes(value))


def test_a_lone_surrogate_is_escaped_not_an_encoding_error() -> None:
    text = dumps_bytes({"s": "\ud800"})
    assert text == b'{"s":"\\ud800"}' and json.loads(text) == {"s": "\ud800"}


def test_default_turns_what_json_cannot_hold_into_what_it_can_on_either_path() -> None:
    def default(value: Any) -> Any:
        if isinstance(value, bytes):
            return value.decode("utf-8", errors="replace")
        raise TypeError(type(value).__name__)

    assert dumps_text({"raw": b"body"}, default) == '{"raw":"body"}'
    assert dumps_text({"raw": b"body", "big": 2**70}, default) == (
        '{"raw":"body","big":1180591620717411303424}'
    )
    with pytest.raises(TypeError):
        dumps_text({"odd": object()}, default)
    assert json_dumps_bytes({"raw": b"x"}, default) == b'{"raw":"x"}'
