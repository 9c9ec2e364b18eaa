"""Verify the OIDC tokens Google attaches to Pub/Sub push and Cloud Scheduler requests.

A request passes when its `Authorization: Bearer <JWT>` is RS256-signed by a key of the
key set at `certs_url` (Google's by default, fetched once and cached), is not expired, is
for `audience`, was issued by Google, and names `email` as a verified service account.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jwt

from ..errors import SigningKeysUnavailable, UnauthenticatedError

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v3/certs"
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
KEY_CACHE_SECONDS = 3600
CLOCK_SKEW_SECONDS = 30


class OidcVerifier:
    """Checks one kind of caller: tokens for `audience`, minted for service account `email`."""

    def __init__(
        self,
        audience: str,
        email: str,
        certs_url: str = GOOGLE_CERTS_URL,
        issuers: Iterable[str] = GOOGLE_ISSUERS,
    ) -> None:
        if not audience or not email:
            raise ValueError("an OIDC verifier needs the expected audience and email")
        self.audience = audience
        self.email = email
        self._issuers = list(issuers)
        self._keys = jwt.PyJWKClient(certs_url, cache_keys=True, lifespan=KEY_CACHE_SECONDS)

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """The token's claims, or `UnauthenticatedError` saying what is wrong."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthenticatedError("a bearer OIDC token is required")
        token = token.strip()
        try:
            key = self._keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self.audience,
                issuer=self._issuers,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iat", "aud", "iss", "email"]},
            )
        except jwt.PyJWKClientConnectionError as exc:
            # Google's key set is out of reach: nothing is wrong with the caller; retry.
            raise SigningKeysUnavailable(f"cannot fetch the token signing keys: {exc}") from None
        except jwt.PyJWTError as exc:
            raise UnauthenticatedError(f"the OIDC token was refused: {exc}") from None
        if claims.get("email") != self.email or claims.get("email_verified") is not True:
            raise UnauthenticatedError("the OIDC token is not from the expected service account")
        return claims
