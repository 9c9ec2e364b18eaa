"""Webhook signature verification: Standard Webhooks, GitHub-style and Stripe-style HMAC.

`verify_signature` returns nothing or raises `SignatureError` with a short reason that
is safe to show the sender: it never holds the secret or the expected signature. Every
comparison is constant-time.

- `standard-webhooks` (https://www.standardwebhooks.com): headers `webhook-id`,
  `webhook-timestamp`, `webhook-signature` (`v1,<base64>` entries, space separated);
  HMAC-SHA256 over `{id}.{timestamp}.{body}` keyed by the base64 secret after `whsec_`.
  Svix's `svix-*` header names are accepted too.
- `hmac-sha256`: HMAC-SHA256 of the raw body keyed by the secret's UTF-8 bytes, hex in the
  configured header (default `X-Hub-Signature-256`, `sha256=` prefix optional). When the
  header is `Stripe-Signature`, Stripe's scheme: `t=<ts>,v1=<hex>[,v1=<hex>]` over
  `{t}.{body}`.

Timestamps must be within `TOLERANCE_SECONDS` of now, in either direction.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

from ..engine.config import SignatureConfig
from ..errors import SignatureError
from ..standard_webhooks import standard_webhooks_key

TOLERANCE_SECONDS = 300
DEFAULT_HMAC_HEADER = "X-Hub-Signature-256"
STRIPE_HEADER = "stripe-signature"
# A header may list several signatures (key rotation); more than this is not a sender.
_MAX_SIGNATURES = 20


def verify_signature(
    config: SignatureConfig,
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float | None = None,
) -> None:
    """Raise `SignatureError` unless `body` and `headers` carry a valid signature."""
    if not isinstance(secret, str) or not secret:
        # An empty key would make every signature forgeable: fail closed.
        raise SignatureError("no signing secret is configured")
    lowered = {str(name).lower(): value for name, value in headers.items()}
    current = time.time() if now is None else now
    if config.scheme == "standard-webhooks":
        _verify_standard(secret, lowered, body, current)
        return
    header = config.header or DEFAULT_HMAC_HEADER
    if header.lower() == STRIPE_HEADER:
        _verify_stripe(secret, lowered, body, current)
    else:
        _verify_plain_hmac(secret, header, lowered, body)


# --- Standard Webhooks --------------------------------------------------------------------


def _verify_standard(secret: str, headers: dict[str, str], body: bytes, now: float) -> None:
    msg_id = _header(headers, "webhook-id", "svix-id")
    stamp = _header(headers, "webhook-timestamp", "svix-timestamp")
    signatures = _header(headers, "webhook-signature", "svix-signature")
    _check_timestamp(stamp, now)
    try:
        key = standard_webhooks_key(secret)
    except ValueError:
        # The integration is misconfigured; say so without showing the secret.
        raise SignatureError("the configured signing secret is not valid base64") from None
    expected = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    for entry in signatures.split()[:_MAX_SIGNATURES]:
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue  # v1a (asymmetric) and future versions are not ours to check
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(candidate, expected):
            return
    raise SignatureError("signature does not match")


# --- HMAC-SHA256 (GitHub, Stripe, generic) ------------------------------------------------


def _verify_plain_hmac(secret: str, header: str, headers: dict[str, str], body: bytes) -> None:
    value = _header(headers, header).strip()  # named as configured in the reason
    if value[:7].lower() == "sha256=":
        value = value[7:]
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    if not hmac.compare_digest(_unhex(value), expected):
        raise SignatureError("signature does not match")


def _verify_stripe(secret: str, headers: dict[str, str], body: bytes, now: float) -> None:
    stamp, candidates = _stripe_parts(headers)
    if stamp is None or not candidates:
        raise SignatureError("Stripe-Signature header needs t= and v1=")
    _check_timestamp(stamp, now)
    signed = stamp.encode() + b"." + body
    expected = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).digest()
    if not any(hmac.compare_digest(_unhex(c), expected) for c in candidates):
        raise SignatureError("signature does not match")


def _stripe_parts(headers: dict[str, str]) -> tuple[str | None, list[str]]:
    """The `t=` timestamp and the `v1=` signatures of a Stripe-Signature header."""
    stamp: str | None = None
    candidates: list[str] = []
    for part in _header(headers, "Stripe-Signature").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            stamp = value
        elif key == "v1" and len(candidates) < _MAX_SIGNATURES:
            candidates.append(value)  # v0 and others are test-mode or legacy: ignored
    return stamp, candidates


# --- helpers ------------------------------------------------------------------------------


def _header(headers: dict[str, str], name: str, *fallbacks: str) -> str:
    for candidate in (name, *fallbacks):
        value = headers.get(candidate.lower())
        if value:
            return value
    raise SignatureError(f"missing {name} header")


def _check_timestamp(stamp: str, now: float) -> None:
    digits = stamp.strip()
    # int() would also take "1_700_000_000", "+17" and non-ASCII digits.
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 12:
        raise SignatureError("timestamp is not a number of seconds")
    seconds = int(digits)
    if abs(now - seconds) > TOLERANCE_SECONDS:
        raise SignatureError("timestamp is too old or too far in the future")


def _unhex(value: str) -> bytes:
    # A malformed digest compares as empty bytes: a mismatch, told apart from nothing.
    try:
        return bytes.fromhex(value.strip())
    except ValueError:
        return b""


# --- delivery ids -------------------------------------------------------------------------


def delivery_key(
    config: SignatureConfig, headers: Mapping[str, str], data: Any, body: bytes
) -> str:
    """The idempotency key of a verified request: only what its signature covers names it.

    A replay of a captured request then maps onto the first delivery's run and is answered
    as a duplicate, whatever unsigned header (a delivery id, an `Idempotency-Key`) was
    changed or removed (docs/security.md, "Replays"):
    Standard Webhooks signs `webhook-id`; a Stripe event's `id` is in the signed body, and
    an event without one is named by a digest of its signed `t` and body; plain HMAC
    (GitHub's `X-Hub-Signature-256`, or any header) signs only the body: its digest.
    """
    lowered = {str(name).lower(): value for name, value in headers.items()}
    if config.scheme == "standard-webhooks":
        return _header(lowered, "webhook-id", "svix-id")
    if (config.header or DEFAULT_HMAC_HEADER).lower() == STRIPE_HEADER:
        event_id = data.get("id") if isinstance(data, dict) else None
        if isinstance(event_id, str) and event_id:
            return event_id
        stamp, _ = _stripe_parts(lowered)
        signed = f"{stamp}.".encode() + body
        return "stripe-" + hashlib.sha256(signed).hexdigest()[:40]
    return body_key(body)


def body_key(body: bytes) -> str:
    """A key naming a body by its SHA-256 digest (160 bits of it)."""
    return "sha256-" + hashlib.sha256(body).hexdigest()[:40]
