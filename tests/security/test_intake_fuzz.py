"""Property: whatever a stranger POSTs to a webhook, the answer is 202, 400, 401 or 413, never
500 or an uncaught exception, and what was recorded matches the answer.

Driven through the webhook function as functions-framework loads it, over the in-memory
fakes of tests/functions (fast: a few hundred bodies per property); a handful of examples
then go to the running platform on the emulators.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import MAX_BODY, Platform
from tests.functions.conftest import Fakes, client
from tests.pipeline.support import HOOK

SIGNING_SECRET = "fuzz-signing-secret"
# What an HTTP header can carry at all (the test client refuses line breaks, as HTTP does).
header_values = st.text(
    alphabet=st.characters(exclude_characters="\r\n\x00", exclude_categories=["Cs"]),
    max_size=300,
)
FAST = settings(
    max_examples=200,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- bodies ------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@st.composite
def nested(draw: st.DrawFn, least: int = 1, most: int = 3_000) -> bytes:
    """Brackets and braces nested `least` to `most` deep, closed or not."""
    depth = draw(st.integers(min_value=least, max_value=most))
    opener = draw(st.sampled_from([b"[", b'{"a":']))
    closer = b"]" if opener == b"[" else b"}"
    inner = draw(st.sampled_from([b"1", b"NaN", b'"\\ud800"', b""]))
    closed = draw(st.booleans())
    return opener * depth + inner + (closer * depth if closed else b"")


@st.composite
def escapes(draw: st.DrawFn) -> bytes:
    """JSON strings holding \\u escapes, surrogates (paired or lone) among them."""
    parts = draw(
        st.lists(
            st.one_of(
                st.integers(min_value=0, max_value=0xFFFF).map(lambda c: f"\\u{c:04x}"),
                st.sampled_from(["\\ud800", "\\udfff", "\\ud83d\\ude00", "\\ud800\\u0041"]),
                st.text(alphabet="ab\"\\/", max_size=3).map(lambda t: json.dumps(t)[1:-1]),
            ),
            max_size=6,
        )
    )
    return ('{"s": "' + "".join(parts) + '"}').encode()


# Bodies around the intake's nesting limit (MAX_JSON_DEPTH, 100), and far past it.
FAKES_DEPTH = 250
PARSER_REFUSES_DEPTH = 2_100

# JSON in the encodings Python's own `json.loads(bytes)` also takes, and text holding raw
# surrogates written as UTF-8 would write them (CESU-8 / WTF-8): all refused, as not UTF-8.
WIDE_ENCODINGS = ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"]
with_surrogates = st.text(
    alphabet=st.characters(categories=["Cs", "Ll"]), min_size=1, max_size=50
)


def _bodies(*deep: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=2_000),
        st.text(max_size=500).map(lambda t: t.encode("utf-8", errors="surrogatepass")),
        json_values.map(lambda v: json.dumps(v).encode()),  # NaN, Infinity as Python writes them
        st.tuples(json_values, st.sampled_from(WIDE_ENCODINGS)).map(
            lambda pair: json.dumps(pair[0]).encode(pair[1])
        ),
        with_surrogates.map(lambda t: json.dumps({t: t}, ensure_ascii=False)).map(
            lambda text: text.encode("utf-8", errors="surrogatepass")
        ),
        *deep,
        escapes(),
        st.sampled_from(
            [b"1e999", b"-1e400", b"[1e308, 1e309]", b'{"a": -Infinity}', b"\xef\xbb\xbf{}"]
        ),
        st.integers(min_value=9_990, max_value=10_010).map(lambda n: b'"' + b"x" * (n - 2) + b'"'),
    )


bodies = _bodies(nested(1, FAKES_DEPTH), nested(PARSER_REFUSES_DEPTH, 4_900))
emulator_bodies = _bodies(nested(1, 3_000))


def _finite(value: Any) -> bool:
    # Iterative: an accepted body may be nested as deep as Python's parser goes.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.values())
    return True


# --- over the in-memory fakes ---------------------------------------------------------------


def _check_answer(fakes: Fakes, body: bytes, reply: Any) -> None:
    shown = (reply.status_code, len(body), body[:40], body[-40:])
    assert reply.status_code in (202, 400, 413), shown
    answer = reply.get_json()
    if reply.status_code == 202:
        # A keyless event's run is written just after its 202 (RECORD_AT_ACCEPT).
        run = fakes.runs.written(answer["runId"])
        assert run is not None and run["status"] == "queued"
        assert _finite(run["incomingPayload"])
        # Storable, and readable by every later read: UTF-8 can write each character.
        json.dumps(run["incomingPayload"], allow_nan=False, ensure_ascii=False).encode("utf-8")
    elif reply.status_code == 400:
        assert answer["code"] == "invalid_json"
        run_id = answer["error"].rsplit(" ", 1)[-1]
        run = fakes.runs.get(run_id)
        assert run is not None and run["status"] == "error"
        assert run["incomingPayload"]["size"] == len(body)
    else:
        assert len(body) > 10_000  # the fakes' MAX_BODY_BYTES


@FAST
@given(body=bodies, idempotency_key=st.none() | header_values)
def test_any_body_gets_202_400_or_413(
    fakes: Fakes, body: bytes, idempotency_key: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if idempotency_key is not None:
        headers["webhook-id"] = idempotency_key.encode("utf-8").decode("latin-1")
    reply = client("webhook").post("/webhook/p-secret/", data=body, headers=headers)
    _check_answer(fakes, body, reply)


@FAST
@given(body=bodies, signature=st.none() | header_values, good=st.booleans())
def test_any_body_to_a_signed_webhook_gets_202_400_401_or_413(
    fakes: Fakes, body: bytes, signature: str | None, good: bool
) -> None:
    signed = {
        **HOOK,
        "id": "signed",
        "webhookPath": "signed-path",
        "source": {"type": "webhook", "signature": {"scheme": "hmac-sha256",
                                                    "secret": SIGNING_SECRET}},
    }
    fakes.integrations.docs["signed"] = signed
    if good:
        signature = "sha256=" + hmac.new(SIGNING_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature.encode("utf-8").decode("latin-1")
    before = fakes.failures.counts.get("signed", 0)
    reply = client("webhook").post("/webhook/signed-path/", data=body, headers=headers)
    if reply.status_code == 401:
        assert not good or len(body) > 10_000
        assert fakes.failures.counts["signed"] == before + 1  # counted, not recorded as a run
        return
    _check_answer(fakes, body, reply)


def test_a_100000_deep_body_is_refused_with_400(
    fakes: Fakes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_BODY_BYTES", "300000")  # read when the intake is first built
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 30_000 + b"1" + b"}" * 30_000):
        reply = client("webhook").post("/webhook/p-secret/", data=body)
        assert reply.status_code == 400, reply.get_data()[:200]
        run = fakes.runs.get(reply.get_json()["error"].rsplit(" ", 1)[-1])
        assert run["status"] == "error" and "nested more than 100" in run["errorMessage"]
        assert run["incomingPayload"]["raw"] == body.decode()


# --- over the emulators ----------------------------------------------------------------------


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=emulator_bodies)
@example(body=b"[" * 900 + b"]" * 900)  # past the nesting limit
@example(body=b'{"n": "\xed\xa0\x80"}')  # a surrogate written as UTF-8 would
@example(body='{"n": 1}'.encode("utf-16"))
@example(body=b'{"a":' * 2_000 + b"1" + b"}" * 2_000)
def test_a_few_bodies_over_the_emulators(platform: Platform, body: bytes) -> None:
    doc = _emulator_hook(platform)
    reply = requests.post(
        f"{platform.url}/webhook/{doc['webhookPath']}/",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert reply.status_code in (202, 400, 413), reply.text[:200]
    if reply.status_code == 413:
        assert len(body) > MAX_BODY
    listed = platform.api("GET", f"/api/runs/?integration_id={doc['id']}&limit=100")
    assert listed.status_code == 200, listed.text[:200]  # no body breaks the runs list


_emulator_hooks: dict[str, dict[str, Any]] = {}


def _emulator_hook(platform: Platform) -> dict[str, Any]:
    # One integration for all examples; its target is never reached (no mapping succeeds
    # or fails the property: only the intake's answer is asserted).
    if platform.url not in _emulator_hooks:
        _emulator_hooks[platform.url] = platform.create(
            {
                "name": "fuzzed",
                "source": {"type": "webhook"},
                "target": {"type": "http", "url": platform.sink.url + "/fuzzed",
                           "timeoutSeconds": 5},
            }
        )
    return _emulator_hooks[platform.url]
