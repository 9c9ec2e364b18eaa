"""Standard Webhooks keys (https://www.standardwebhooks.com): `whsec_<base64>` secrets.

On the ground floor (docs/architecture.md): the webhook source verifies with these keys
and the HTTP target signs with them, and neither imports the other.
"""

from __future__ import annotations

import base64
import binascii

SECRET_PREFIX = "whsec_"


def standard_webhooks_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (`whsec_<base64>`); ValueError if invalid."""
    encoded = secret.strip()
    if encoded.startswith(SECRET_PREFIX):
        encoded = encoded[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a Standard Webhooks secret is base64, optionally after whsec_") from None
    if not key:
        raise ValueError("a Standard Webhooks secret must not be empty")
    return key
