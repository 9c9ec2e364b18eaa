"""The integration document: typed parsing, every problem with its path, the JSON Schema."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mapper.engine.config import json_schema, parse_integration
from mapper.engine.validate import problems_of, validate
from mapper.errors import ConfigError

BASE = {
    "name": "n",
    "source": {"type": "webhook"},
    "target": {"type": "http", "url": "https://example.com"},
}


def paths(doc: dict) -> dict[str, str]:
    return {p.path: p.message for p in problems_of(doc)}


def test_every_type_problem_at_once() -> None:
    found = paths(
        {
            "source": {"type": "ftp"},
            "target": {
                "type": "http",
                "url": "https://x",
                "method": "FETCH",
                "auth": {"type": "bearer"},
            },
            "mappings": [
                {
                    "source": "a",
                    "target": "b",
                    "transforms": [
                        {"type": "substring", "start": "1"},
                        {"type": "replace", "find": ""},
                    ],
                }
            ],
            "sandbox": {"timeoutMs": 999999},
            "surprise": 1,
        }
    )
    assert found["name"] == "is required"
    assert found["source"].startswith("unknown type 'ftp'")
    assert found["target.method"].startswith("must be one of")
    assert found["target.auth.token"] == "is required"
    assert found["mappings[0].transforms[0].start"] == "must be an integer"
    assert found["mappings[0].transforms[1].find"] == "must not be empty"
    assert found["sandbox.timeoutMs"] == "must be an integer <= 1000"
    assert found["surprise"] == "is not a known field"


def test_semantic_problems_at_once() -> None:
    found = paths(
        {
            **BASE,
            "condition": "data.a ===",
            "mappings": [
                {"source": "items[*].sku", "target": "a[*].b[*]"},
                {"source": "x", "target": "c"},
                {"source": "y", "target": "c.d"},
                {"target": "e", "transforms": [{"type": "concat", "fields": ["ok", "bad]"]}]},
                {
                    "source": "z",
                    "target": "f",
                    "transforms": [{"type": "custom", "code": "retur value"}],
                },
            ],
        }
    )
    assert "has 2 [*] but the source has 1" in found["mappings[0].target"]
    assert "overlaps mappings[1].target" in found["mappings[2].target"]
    assert "mappings[3].transforms[0].fields[1]" in found
    assert found["condition"].startswith("SyntaxError")
    assert found["mappings[4].transforms[0].code"].startswith("SyntaxError")


def test_valid_documents_parse_into_types() -> None:
    integration = validate(
        {
            **BASE,
            "target": {
                "type": "email",
                "smtpServer": "smtp.example.com",
                "fromEmail": "a@example.com",
                "toEmail": "{{customer.email}}",
                "useSSL": True,
                "smtpPassword": {"secret": "projects/p/s"},
            },
        }
    )
    assert integration.target.use_ssl is True
    assert integration.target.smtp_password.secret == "projects/p/s"
    assert integration.target.smtp_port == 587


def test_json_schema_is_exported_with_camel_case_names() -> None:
    schema = json_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    text = json.dumps(schema)
    for name in ["webhookPath", "smtpServer", "useTLS", "pullIntervalSeconds", "custom"]:
        assert name in text


def test_not_an_object() -> None:
    with pytest.raises(ConfigError) as info:
        parse_integration([1])
    assert str(info.value.problems[0]) == "an integration must be a JSON object"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=15,
)


@given(
    st.dictionaries(
        st.sampled_from(["name", "source", "target", "mappings", "condition", "x"]), json_values
    )
)
def test_arbitrary_json_gives_problems_never_a_crash(doc: dict) -> None:
    for problem in problems_of(doc):
        assert problem.message


def test_a_problem_of_a_replace_transform_is_at_its_field_not_under_its_type_name() -> None:
    # The union tag "replace" is also a field of the Replace transform.
    found = paths(
        {
            "name": "n",
            "source": {"type": "webhook"},
            "target": {"type": "http", "url": "https://x.example"},
            "mappings": [
                {
                    "source": "a",
                    "target": "b",
                    "transforms": [{"type": "replace", "find": "", "replace": "y"}],
                }
            ],
        }
    )
    assert found == {"mappings[0].transforms[0].find": "must not be empty"}


def test_a_bearer_token_api_key_or_signing_secret_must_not_be_empty() -> None:
    found = paths(
        {
            "name": "n",
            "source": {"type": "webhook", "signature": {"scheme": "hmac-sha256", "secret": ""}},
            "target": {
                "type": "http",
                "url": "https://x.example",
                "auth": {"type": "bearer", "token": ""},
            },
        }
    )
    assert found == {
        "source.signature.secret": "must not be empty",
        "target.auth.token": "must not be empty",
    }
    api_key = {"type": "apiKey", "header": "X-Key", "value": ""}
    target = {"type": "http", "url": "https://x.example", "auth": api_key}
    doc = {"name": "n", "source": {"type": "webhook"}, "target": target}
    assert paths(doc) == {"target.auth.value": "must not be empty"}
    # Some APIs take a user name and an empty password.
    target["auth"] = {"type": "basic", "username": "key_123", "password": ""}
    assert paths(doc) == {}
