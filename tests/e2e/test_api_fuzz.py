"""schemathesis against the OpenAPI document: no 5xx, no answer outside the schema.

The document is the one `GET /api/openapi.json` serves (the test checks they are equal); the
cases go to the running api function over HTTP.
"""

from __future__ import annotations

import json

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks

from mapper.api_openapi import openapi

from .conftest import ADMIN_TOKEN, Platform

# Enough examples per operation to reach the validation paths, few enough for CI's 2 cores
# now that the API has 30 operations (docs/api.md).
EXAMPLES_PER_OPERATION = 12

# schemathesis's coverage phase sends each operation the boundary values of every field:
# about 1,200 cases for an operation whose body is a whole integration document. That
# document is checked by one validator whichever operation receives it, so the coverage
# phase runs on POST /api/integrations/ and the other three operations that take it
# (replace, preview, backtest) get the examples and fuzzing phases only (~70 s less).
SAME_DOCUMENT_AGAIN = [
    "PUT /api/integrations/{id}/",
    "POST /api/preview/",
    "POST /api/integrations/{id}/backtest/",
]
schema = schemathesis.openapi.from_dict(
    openapi(),
    config=schemathesis.config.SchemathesisConfig.from_dict(
        {
            "operations": [
                {"include-name": name, "phases": {"coverage": {"enabled": False}}}
                for name in SAME_DOCUMENT_AGAIN
            ]
        }
    ),
)
# Bodies and parameters can be schema-valid and still refused with 400, by design: a cursor
# is opaque (only ones we issued decode), and an integration can type-check yet hold a path
# that does not parse or JavaScript that does not compile. Every other check stays on.
NOT_APPLICABLE = [checks.positive_data_acceptance]


def test_the_served_document_is_the_one_fuzzed(platform: Platform) -> None:
    served = requests.get(f"{platform.url}/api/openapi.json", timeout=10).json()
    assert served == openapi()


@schema.parametrize()
# Hypothesis warns when the repr of a generated case passes 30 kB (a performance note, not
# a finding); with warnings as errors it failed operations at random as the document grew.
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,  # the same cases on every run: CI stays repeatable
    suppress_health_check=list(HealthCheck),
)
def test_api_keeps_to_its_openapi_document(case: schemathesis.Case, platform: Platform) -> None:
    case.call_and_validate(
        base_url=platform.url,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=60,
        excluded_checks=NOT_APPLICABLE,
    )


# --- bodies schemathesis does not write: the strict parser ------------------------------------

# JSON a lenient parser takes and a strict one must not: non-numbers, too deep, not UTF-8.
_not_json_numbers = st.sampled_from([b"NaN", b"Infinity", b"-Infinity"]).map(
    lambda word: b'{"name": "x", "payload": {"n": ' + word + b"}}"
)
_too_deep = st.integers(min_value=101, max_value=60_000).map(
    lambda depth: b'{"payload": ' + b"[" * depth + b"]" * depth + b"}"
)
_wide = st.sampled_from(["utf-16", "utf-16-le", "utf-32", "utf-32-be"]).map(
    lambda codec: '{"name": "x"}'.encode(codec)
)
_surrogates = st.sampled_from([b'{"name": "\\ud800"}', b'{"\\udc00": 1}', b'{"n": "\xed\xa0\x80"}'])
REFUSED_BODIES = st.one_of(_not_json_numbers, _too_deep, _wide, _surrogates)


@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(body=REFUSED_BODIES, path=st.sampled_from(["/api/integrations/", "/api/preview/",
                                                  "/api/validate/"]))
def test_bodies_a_strict_parser_refuses_are_400_invalid_json(
    platform: Platform, body: bytes, path: str
) -> None:
    reply = requests.post(platform.url + path, data=body, timeout=60, headers={
        "Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"})
    assert reply.status_code == 400, reply.text[:200]
    assert reply.json()["code"] == "invalid_json"


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(body=st.one_of(st.binary(max_size=500), REFUSED_BODIES,
                      st.text(max_size=200).map(str.encode)))
def test_any_body_is_answered_without_a_5xx(platform: Platform, body: bytes) -> None:
    reply = requests.post(platform.url + "/api/preview/", data=body, timeout=60, headers={
        "Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"})
    assert reply.status_code < 500, reply.text[:200]
    json.loads(reply.content.decode("utf-8"))  # strict UTF-8 JSON, whatever was sent
