"""Outbound signatures: Standard Webhooks headers on every request of a signed HTTP target.

    webhook-id         the run id: the same on every attempt, so receivers can deduplicate
    webhook-timestamp  seconds since the epoch when this attempt was signed
    webhook-signature  "v1,<base64 HMAC-SHA256 of id.timestamp.body>", one per active key,
                       separated by spaces (the spec's way of carrying several)

Keys are `whsec_<base64>` secrets the platform generates (`new_signing_secret`) and keeps
in Secret Manager. After a rotation the previous key signs too, until `previousUntil`, so
receivers can switch keys without a gap (docs/targets.md, "Signing").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as pysecrets
from collections.abc import Iterable

from ..engine.config import SigningConfig
from ..standard_webhooks import standard_webhooks_key
from ..timestamps import epoch_iso, iso_timestamp
from .base import SecretResolver

SECRET_BYTES = 32  # 256-bit keys; the spec asks for 24 to 64 bytes
DEFAULT_OVERLAP_HOURS = 24


def new_signing_secret() -> str:
    """A fresh `whsec_` secret."""
    return "whsec_" + base64.b64encode(pysecrets.token_bytes(SECRET_BYTES)).decode("ascii")


def signature_headers(
    msg_id: str, body: bytes, secrets: Iterable[str], now: float
) -> dict[str, str]:
    """The three Standard Webhooks headers for one request signed with each secret."""
    timestamp = str(int(now))
    content = f"{msg_id}.{timestamp}.".encode() + body
    signatures = [
        "v1," + base64.b64encode(
            hmac.new(standard_webhooks_key(secret), content, hashlib.sha256).digest()
        ).decode("ascii")
        for secret in secrets
    ]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": " ".join(signatures),
    }


def active_secrets(signing: SigningConfig, resolver: SecretResolver, now: float) -> list[str]:
    """The current key, and the previous one while its overlap lasts."""
    if signing.secret is None:
        return []
    keys = [resolver.resolve(signing.secret)]
    if signing.previous_secret is not None and signing.previous_until:
        until = iso_timestamp(signing.previous_until)
        if epoch_iso(now) < until:
            keys.append(resolver.resolve(signing.previous_secret))
    return keys
