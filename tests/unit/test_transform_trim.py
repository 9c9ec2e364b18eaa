"""`trim` as docs/mapping.md documents it (each result also checked in JavaScript)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.transform_support import both, run

SPACES = " \t\n\r\v\f\u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("  a b  ", "a b"),
        ("\t\n\u00a0x\u3000\ufeff", "x"),
        ("\u200bx\u200b", "\u200bx\u200b"),  # a zero-width space is not whitespace
        ("\x1cx\x85", "\x1cx\x85"),  # nor are these, which Python's str.strip() removes
        ("   ", ""),
        ("", ""),
        (None, None),
        (3, 3),
        ([" a "], [" a "]),
        ({"k": " v "}, {"k": " v "}),
    ],
)
def test_trim(value: object, expected: object) -> None:
    assert run([{"type": "trim"}], value) == expected


@settings(max_examples=200, deadline=None)
@given(value=st.text(alphabet=SPACES + "ab\x1c\x85\u200b", max_size=8))
def test_both_sides_agree(value: str) -> None:
    python, javascript = both([{"type": "trim"}], value)
    assert python == javascript
