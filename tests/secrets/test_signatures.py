"""Webhook signatures: Standard Webhooks, GitHub, Stripe and generic HMAC-SHA256."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from mapper.engine.config import SignatureConfig
from mapper.errors import SignatureError
from mapper.sources.webhook import standard_webhooks_key, verify_signature

NOW = 1_700_000_000.0

# --- GitHub (docs.github.com, "Validating webhook deliveries") ----------------------------

GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
HMAC = SignatureConfig(scheme="hmac-sha256", secret=GITHUB_SECRET)


def test_github_published_vector_verifies() -> None:
    verify_signature(
        HMAC, GITHUB_SECRET, {"X-Hub-Signature-256": GITHUB_SIGNATURE}, b"Hello, World!"
    )


def test_github_header_lookup_ignores_case() -> None:
    verify_signature(
        HMAC,
        GITHUB_SECRET,
        {"x-hub-signature-256": GITHUB_SIGNATURE.upper().replace("SHA256=", "sha256=")},
        b"Hello, World!",
    )


def test_github_tampered_body_fails_without_revealing_anything() -> None:
    with pytest.raises(SignatureError) as caught:
        verify_signature(
            HMAC, GITHUB_SECRET, {"X-Hub-Signature-256": GITHUB_SIGNATURE}, b"Hello, World?"
        )
    reason = str(caught.value)
    assert reason == "signature does not match"
    assert GITHUB_SECRET not in reason and GITHUB_SIGNATURE[7:] not in reason


def test_wrong_secret_fails() -> None:
    with pytest.raises(SignatureError):
        verify_signature(
            HMAC, "another secret", {"X-Hub-Signature-256": GITHUB_SIGNATURE}, b"Hello, World!"
        )


@pytest.mark.parametrize("value", ["", "sha256=", "sha256=zz", "sha256=abc", "garbage"])
def test_malformed_hmac_headers_fail(value: str) -> None:
    with pytest.raises(SignatureError):
        verify_signature(HMAC, GITHUB_SECRET, {"X-Hub-Signature-256": value}, b"Hello, World!")


def test_generic_header_with_bare_hex() -> None:
    config = SignatureConfig(scheme="hmac-sha256", secret="s", header="X-Signature")
    digest = hmac.new(b"shh", b'{"a":1}', hashlib.sha256).hexdigest()

    verify_signature(config, "shh", {"x-signature": digest}, b'{"a":1}')
    verify_signature(config, "shh", {"X-Signature": "sha256=" + digest}, b'{"a":1}')
    with pytest.raises(SignatureError, match="missing X-Signature header"):
        verify_signature(config, "shh", {"X-Hub-Signature-256": digest}, b'{"a":1}')


def test_an_empty_secret_never_verifies() -> None:
    digest = hmac.new(b"", b"x", hashlib.sha256).hexdigest()

    with pytest.raises(SignatureError, match="no signing secret"):
        verify_signature(HMAC, "", {"X-Hub-Signature-256": "sha256=" + digest}, b"x")


def test_missing_hmac_header() -> None:
    with pytest.raises(SignatureError, match="missing X-Hub-Signature-256 header"):
        verify_signature(HMAC, GITHUB_SECRET, {}, b"Hello, World!")


# --- Standard Webhooks --------------------------------------------------------------------

SW_SECRET = "whsec_" + base64.b64encode(b"a 32-byte key for standard hooks").decode()
STANDARD = SignatureConfig(scheme="standard-webhooks", secret=SW_SECRET)


def sign_standard(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """The spec's recipe, written out independently of the code under test."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, msg_id.encode() + b"." + timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def standard_headers(
    msg_id: str = "msg_1", ts: int = int(NOW), body: bytes = b'{"x":1}', secret: str = SW_SECRET
) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign_standard(secret, msg_id, str(ts), body),
    }


def test_standard_webhooks_published_example_verifies() -> None:
    # The example of the Standard Webhooks / Svix libraries' own test suites.
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    config = SignatureConfig(scheme="standard-webhooks", secret="x")
    verify_signature(
        config,
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        headers,
        b'{"test": 2432232314}',
        now=1614265330,
    )


def test_standard_webhooks_signature_verifies() -> None:
    verify_signature(STANDARD, SW_SECRET, standard_headers(), b'{"x":1}', now=NOW)


def test_standard_webhooks_secret_without_prefix_is_base64_too() -> None:
    bare = SW_SECRET.removeprefix("whsec_")
    verify_signature(STANDARD, bare, standard_headers(), b'{"x":1}', now=NOW)


@pytest.mark.parametrize(
    "field, value",
    [
        ("webhook-id", "msg_2"),
        ("webhook-timestamp", str(int(NOW) + 1)),
    ],
)
def test_standard_webhooks_tampered_headers_fail(field: str, value: str) -> None:
    headers = standard_headers()
    headers[field] = value

    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(STANDARD, SW_SECRET, headers, b'{"x":1}', now=NOW)


def test_standard_webhooks_tampered_body_fails() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(STANDARD, SW_SECRET, standard_headers(), b'{"x":2}', now=NOW)


@pytest.mark.parametrize("offset", [-360, 360])
def test_standard_webhooks_timestamps_six_minutes_off_fail(offset: int) -> None:
    headers = standard_headers(ts=int(NOW) + offset)

    with pytest.raises(SignatureError, match="timestamp"):
        verify_signature(STANDARD, SW_SECRET, headers, b'{"x":1}', now=NOW)


def test_standard_webhooks_within_five_minutes_passes() -> None:
    for offset in (-300, -299, 299, 300):
        headers = standard_headers(ts=int(NOW) + offset)
        verify_signature(STANDARD, SW_SECRET, headers, b'{"x":1}', now=NOW)


def test_standard_webhooks_one_matching_signature_among_several_passes() -> None:
    headers = standard_headers()
    other = sign_standard(
        "whsec_" + base64.b64encode(b"old key").decode(), "msg_1", str(int(NOW)), b'{"x":1}'
    )
    headers["webhook-signature"] = (
        f"v1a,bm90LWNoZWNrZWQ= {other} v1,not*base64 {headers['webhook-signature']}"
    )

    verify_signature(STANDARD, SW_SECRET, headers, b'{"x":1}', now=NOW)


def test_standard_webhooks_only_wrong_signatures_fail() -> None:
    headers = standard_headers()
    headers["webhook-signature"] = "v1,AAAA v2," + headers["webhook-signature"][3:]

    with pytest.raises(SignatureError):
        verify_signature(STANDARD, SW_SECRET, headers, b'{"x":1}', now=NOW)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_standard_webhooks_missing_headers_fail(missing: str) -> None:
    headers = standard_headers()
    del headers[missing]

    with pytest.raises(SignatureError, match=f"missing {missing} header"):
        verify_signature(STANDARD, SW_SECRET, headers, b'{"x":1}', now=NOW)


@pytest.mark.parametrize("stamp", ["soon", "1.7e9", "-1", "1_700_000_000", ""])
def test_standard_webhooks_malformed_timestamps_fail(stamp: str) -> None:
    headers = standard_headers()
    headers["webhook-timestamp"] = stamp

    with pytest.raises(SignatureError):
        verify_signature(STANDARD, SW_SECRET, headers, b'{"x":1}', now=NOW)


def test_svix_header_names_are_understood() -> None:
    headers = {k.replace("webhook-", "svix-"): v for k, v in standard_headers().items()}

    verify_signature(STANDARD, SW_SECRET, headers, b'{"x":1}', now=NOW)


def test_standard_webhooks_bad_secret_is_reported_without_showing_it() -> None:
    with pytest.raises(SignatureError) as caught:
        verify_signature(STANDARD, "whsec_not base64!", standard_headers(), b'{"x":1}', now=NOW)
    assert "not base64!" not in str(caught.value)
    with pytest.raises(ValueError):
        standard_webhooks_key("whsec_")


# --- Stripe -------------------------------------------------------------------------------

STRIPE_SECRET = "whsec_stripe_test_secret"
STRIPE = SignatureConfig(scheme="hmac-sha256", secret=STRIPE_SECRET, header="Stripe-Signature")


def stripe_header(body: bytes, ts: int = int(NOW), secret: str = STRIPE_SECRET) -> str:
    signed = f"{ts}.".encode() + body
    return f"t={ts},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


def test_stripe_signature_verifies() -> None:
    body = b'{"type":"payment_intent.succeeded"}'

    verify_signature(
        STRIPE, STRIPE_SECRET, {"Stripe-Signature": stripe_header(body)}, body, now=NOW
    )


def test_stripe_one_of_several_v1_passes_and_v0_is_ignored() -> None:
    body = b"{}"
    good = stripe_header(body)
    old = stripe_header(body, secret="whsec_old").split(",")[1]
    header = f"{good.split(',')[0]},{old},v0=deadbeef,{good.split(',')[1]}"

    verify_signature(STRIPE, STRIPE_SECRET, {"stripe-signature": header}, body, now=NOW)


def test_stripe_bad_signature_fails() -> None:
    header = stripe_header(b'{"amount":100}')

    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(
            STRIPE, STRIPE_SECRET, {"Stripe-Signature": header}, b'{"amount":999}', now=NOW
        )


def test_stripe_stale_timestamp_fails() -> None:
    header = stripe_header(b"{}", ts=int(NOW) - 301)

    with pytest.raises(SignatureError, match="timestamp"):
        verify_signature(STRIPE, STRIPE_SECRET, {"Stripe-Signature": header}, b"{}", now=NOW)


@pytest.mark.parametrize("header", [None, "", "v1=abc", "t=1700000000"])
def test_stripe_missing_parts_fail(header: str | None) -> None:
    headers = {} if header is None else {"Stripe-Signature": header}

    with pytest.raises(SignatureError):
        verify_signature(STRIPE, STRIPE_SECRET, headers, b"{}", now=NOW)


def test_the_clock_defaults_to_now() -> None:
    # No `now`: a signature made in 2023 is stale today.
    with pytest.raises(SignatureError, match="timestamp"):
        verify_signature(STANDARD, SW_SECRET, standard_headers(), b'{"x":1}')
