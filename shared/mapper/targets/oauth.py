"""OAuth2 client credentials for HTTP targets: tokens fetched through the egress policy,
cached per instance until shortly before they expire, never recorded.

The token request is `POST tokenUrl` with a form body (`grant_type=client_credentials`,
`client_id`, `client_secret`, and `scope` / `audience` when set: the `client_secret_post`
method of RFC 6749 section 2.3.1). A token endpoint that fails (unreachable, a non-2xx, an
answer without `access_token`) is a retryable delivery failure whose reason names the
endpoint's answer, never the secret.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from ..engine.config import OAuth2Auth
from ..errors import RetryableTargetError
from .base import SecretResolver, scrub

EXPIRY_MARGIN_S = 30.0  # a token is renewed this long before the endpoint says it expires
DEFAULT_EXPIRES_IN_S = 300.0  # when the endpoint does not say
TOKEN_TIMEOUT_S = 10.0
MAX_CACHED_TOKENS = 256


class TokenCache:
    """Access tokens by (token URL, client, scope, audience, secret), until near expiry."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def token(
        self,
        auth: OAuth2Auth,
        secrets: SecretResolver,
        session: requests.Session,
        *,
        fresh: bool = False,
    ) -> tuple[str, list[str]]:
        """A valid access token (fetched anew with `fresh`), and the secrets to scrub."""
        client_secret = secrets.resolve(auth.client_secret)
        key = (
            auth.token_url,
            auth.client_id,
            auth.scope or "",
            auth.audience or "",
            hashlib.sha256(client_secret.encode()).hexdigest(),
        )
        now = self._clock()
        with self._lock:
            hit = self._tokens.get(key)
        if hit is not None and not fresh and hit[1] > now:
            return hit[0], [client_secret, hit[0]]
        token, expires_in = _fetch(auth, client_secret, session)
        with self._lock:
            if len(self._tokens) >= MAX_CACHED_TOKENS:
                self._tokens.clear()
            self._tokens[key] = (token, now + max(0.0, expires_in - EXPIRY_MARGIN_S))
        return token, [client_secret, token]


def _fetch(auth: OAuth2Auth, client_secret: str, session: requests.Session) -> tuple[str, float]:
    form = {
        "grant_type": "client_credentials",
        "client_id": auth.client_id,
        "client_secret": client_secret,
    }
    if auth.scope:
        form["scope"] = auth.scope
    if auth.audience:
        form["audience"] = auth.audience
    where = f"the token endpoint {auth.token_url.split('?')[0]}"
    try:
        response = session.post(
            auth.token_url,
            data=form,
            headers={"Accept": "application/json"},
            timeout=(TOKEN_TIMEOUT_S, TOKEN_TIMEOUT_S),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise RetryableTargetError(scrub(f"{where} failed: {exc}", [client_secret])) from None
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 300:
        detail = body.get("error") if isinstance(body, dict) else None
        reason = f"{where} answered {response.status_code}" + (f" ({detail})" if detail else "")
        raise RetryableTargetError(scrub(reason, [client_secret]))
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise RetryableTargetError(f"{where} answered without an access_token")
    expires_in = body.get("expires_in") if isinstance(body, dict) else None
    if not isinstance(expires_in, (int, float)) or isinstance(expires_in, bool):
        expires_in = DEFAULT_EXPIRES_IN_S
    return token, float(expires_in)


TOKENS = TokenCache()  # this instance's tokens, shared by every sender it builds
