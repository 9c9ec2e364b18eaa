"""`hash`, `base64`, `lookup`, `template`, `split` and `join` as docs/mapping.md documents
them (each result also checked in JavaScript)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from tests.unit.transform_support import run

WHERE = "error: mappings[0].transforms[0]: "


@pytest.mark.parametrize("algorithm", ["sha256", "sha1", "md5"])
@pytest.mark.parametrize(
    ("value", "text"),
    [("", ""), ("abc", "abc"), ("héllo 😀", "héllo 😀"), (1, "1"), (2.0, "2"),
     (True, "true"), ([1, "a"], '[1,"a"]'), ({"k": None}, '{"k":null}')],
)
def test_hash_of_the_values_text(algorithm: str, value: object, text: str) -> None:
    digest = hashlib.new(algorithm, text.encode())
    assert run([{"type": "hash", "algorithm": algorithm}], value) == digest.hexdigest()
    assert run([{"type": "hash", "algorithm": algorithm, "encoding": "base64"}], value) == (
        base64.b64encode(digest.digest()).decode()
    )


def test_hash_of_null_is_null() -> None:
    assert run([{"type": "hash"}], None) is None


@pytest.mark.parametrize(
    ("value", "spec", "expected"),
    [
        ("héllo", {}, "aMOpbGxv"),
        ("hi?>", {}, "aGk/Pg=="),
        ("hi?>", {"urlSafe": True}, "aGk_Pg"),
        (12, {}, "MTI="),
        (None, {}, None),
        ("aMOpbGxv", {"mode": "decode"}, "héllo"),
        ("aGk/Pg==", {"mode": "decode"}, "hi?>"),
        ("aGk/Pg", {"mode": "decode"}, "hi?>"),
        ("aGk_Pg", {"mode": "decode", "urlSafe": True}, "hi?>"),
        ("aGk/\nPg==", {"mode": "decode"}, "hi?>"),
        ("", {"mode": "decode"}, ""),
        (None, {"mode": "decode"}, None),
    ],
)
def test_base64(value: object, spec: dict, expected: object) -> None:
    assert run([{"type": "base64", **spec}], value) == expected


@pytest.mark.parametrize(
    ("value", "spec", "message"),
    [
        ("not base64!", {}, 'base64: "not base64!" is not Base64 text'),
        ("aGk_Pg", {}, 'base64: "aGk_Pg" is not Base64 text'),
        ("aGk/Pg=", {}, 'base64: "aGk/Pg=" is not Base64 text'),
        ("a", {}, 'base64: "a" is not Base64 text'),
        ("/w==", {}, 'base64: "/w==" does not decode to UTF-8 text'),
        (5, {}, "base64: the number 5 is not Base64 text"),
    ],
)
def test_base64_that_cannot_be_decoded_fails(value: object, spec: dict, message: str) -> None:
    assert run([{"type": "base64", "mode": "decode", **spec}], value) == WHERE + message


TABLE = {"gb": "United Kingdom", "1": "one", "true": "yes", "2.5": {"half": True}}


@pytest.mark.parametrize(
    ("value", "expected", "with_default"),
    [
        ("gb", "United Kingdom", "United Kingdom"),
        (1, "one", "one"),
        (1.0, "one", "one"),
        (True, "yes", "yes"),
        (2.5, {"half": True}, {"half": True}),
        ("fr", "fr", "other"),
        ("", "", "other"),
        (None, None, "other"),
        ([1], [1], "other"),
    ],
)
def test_lookup(value: object, expected: object, with_default: object) -> None:
    assert run([{"type": "lookup", "table": TABLE}], value) == expected
    assert run([{"type": "lookup", "table": TABLE, "default": "other"}], value) == with_default


def test_lookup_default_null_is_not_left_out() -> None:
    assert run([{"type": "lookup", "table": TABLE, "default": None}], "fr") is None


DATA = {"order": {"id": 7, "total": 2.0}, "tags": ["a", "b"], "who": "payload"}


@pytest.mark.parametrize(
    ("template", "value", "expected"),
    [
        ("Order {{order.id}}: {{ order.total }} EUR", None, "Order 7: 2 EUR"),
        ("{{who}} / {{tags}} / {{missing}}.", None, 'payload / ["a","b"] / .'),
        ("{{who}} and {{order.id}}", {"who": "value"}, "value and 7"),
        ("{{tags[-1]}}{{tags[*]}}", "x", "b[]"),  # [*] gives an array: no fallback
        ("no placeholders", 5, "no placeholders"),
    ],
)
def test_template(template: str, value: object, expected: str) -> None:
    assert run([{"type": "template", "template": template}], value, DATA) == expected


@pytest.mark.parametrize(
    ("value", "separator", "expected"),
    [
        ("a,b,,c", ",", ["a", "b", "", "c"]),
        ("", ",", [""]),
        ("a😀b", "", ["a", "😀", "b"]),
        ("a, b", ", ", ["a", "b"]),
        (None, ",", None),
        (12, ",", 12),
        (["a"], ",", ["a"]),
    ],
)
def test_split(value: object, separator: str, expected: object) -> None:
    assert run([{"type": "split", "separator": separator}], value) == expected


@pytest.mark.parametrize(
    ("value", "spec", "expected"),
    [
        (["a", "b"], {}, "ab"),
        (["a", 1, 2.0, None, True, {"k": [1]}], {"separator": "|"}, 'a|1|2||true|{"k":[1]}'),
        ([], {"separator": ","}, ""),
        ("text", {"separator": ","}, "text"),
        (None, {}, None),
    ],
)
def test_join(value: object, spec: dict, expected: object) -> None:
    assert run([{"type": "join", **spec}], value) == expected
