"""The HTTP target: one request per message, through the egress guard, never redirected.

What is sent:
  * To the URL with its `{{path}}` placeholders (path and query only) filled from the
    transformed payload, then the source payload, each value percent-encoded as one
    segment or query value (mapper.engine.templates.UrlTemplate); header values are
    filled the same way, unencoded, a line break in a value refused. A value refused
    there sends nothing. The run records the final URL.
  * GET: the payload's top-level fields as query parameters, appended to any query the URL
    already has. Strings go as they are, null fields are left out, everything else
    (numbers, booleans, objects, arrays) is JSON-encoded (`true`, `3`, `{"a":1}`). A GET
    payload that is not an object is refused.
  * POST, PUT, PATCH: the payload as a UTF-8 JSON body. DELETE: the same when the payload
    is non-empty, else no body.
  * Headers, later ones winning: requests' defaults, `User-Agent: mapper/<version>`,
    `Content-Type: application/json` (when there is a body), the user's headers, then auth.
    So a user may override Content-Type (e.g. `application/vnd.api+json`, the body is JSON
    all the same), but not the auth header, and never Host, Content-Length or
    Transfer-Encoding (the platform frames the request and pins the host): those are
    refused when the sender is built.
  * Auth: bearer (`Authorization: Bearer`), basic (UTF-8 `user:password`, RFC 7617), an
    API key in a header or a query parameter, or OAuth2 client credentials (oauth.py: a
    cached token, fetched anew once when the target answers 401).
  * `idempotencyHeader` (default `Idempotency-Key`): the run id, the same on every attempt.
  * `signing`: Standard Webhooks headers (signing.py), `webhook-id` being the run id.

What counts as what (errors.py): 2xx delivered; 3xx a permanent TargetError naming the
Location (redirects are never followed: the new address escaped the check made for the
old one); 408, 429, 5xx, connection errors and timeouts RetryableTargetError; other 4xx
TargetError; a refused address BlockedDestinationError. The response body is kept up to
MAX_RESPONSE_BODY_BYTES, and read for at most `timeoutSeconds` after the request began
(`timeoutSeconds` also bounds connecting and each wait for data); what was cut is flagged
`truncated`. The egress policy (EgressPolicy, re-exported here) is in egress.py.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit

import requests
from requests.structures import CaseInsensitiveDict
from requests_hardened import Config, HTTPSession

from .. import __version__
from ..engine.config import ApiKeyAuth, BasicAuth, BearerAuth, HttpTarget, OAuth2Auth
from ..engine.templates import Template, UrlTemplate, header_value
from ..errors import (
    BlockedDestinationError,
    ConfigError,
    PathError,
    Problem,
    RetryableTargetError,
    TargetError,
)
from .base import Delivery, SecretResolver, scrub
from .egress import EgressPolicy
from .oauth import TOKENS, TokenCache
from .signing import active_secrets, signature_headers

MAX_RESPONSE_BODY_BYTES = 64 * 1024  # response bodies are kept up to this, then cut
USER_AGENT = f"mapper/{__version__}"
RETRYABLE_STATUSES = frozenset({408, 429})  # plus every 5xx
FORBIDDEN_HEADERS = frozenset({"host", "content-length", "transfer-encoding"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_CHUNK = 16 * 1024


class HttpTargetSender:
    """Sends each payload as one HTTP request to the configured URL."""

    def __init__(
        self,
        config: HttpTarget,
        secrets: SecretResolver,
        egress: EgressPolicy,
        *,
        session: requests.Session | None = None,
        tokens: TokenCache = TOKENS,
    ) -> None:
        _validate(config)
        self.config = config
        self._url, self._headers = _templates(config)
        self._secrets = secrets
        self._egress = egress
        self._tokens = tokens
        self._session = egress.mount(session) if session is not None else None
        self._owns_session = session is None
        self._session_lock = threading.Lock()  # a kept sender serves several threads

    @property
    def session(self) -> requests.Session:
        """This sender's session, created on first use (no I/O at construction)."""
        if self._session is not None:
            return self._session
        with self._session_lock:
            if self._session is not None:
                return self._session
            timeout = (self.config.timeout_seconds, self.config.timeout_seconds)
            session = HTTPSession(
                Config(
                    ip_filter_enable=False,  # our own adapters, mounted just below
                    ip_filter_allow_loopback_ips=False,
                    never_redirect=True,
                    default_timeout=timeout,
                )
            )
            # Cookies set by one answer must not ride along with the next message.
            session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
            self._session = self._egress.mount(session)
            return self._session

    def _token_session(self) -> requests.Session:
        # The token endpoint goes through the same egress policy as the target itself.
        return self.session

    def close(self) -> None:
        """Close the session if this sender created it."""
        if self._session is not None and self._owns_session:
            self._session.close()
            self._session = None

    def send(self, payload: Any, context: Any, run_id: str | None = None) -> Delivery:
        """Send one request; return the Delivery or raise a TargetError carrying it."""
        delivery, error = self._exchange(payload, context, run_id, fresh_token=False)
        status = (delivery.response or {}).get("status")
        if status == 401 and isinstance(self.config.auth, OAuth2Auth):
            # The token may have been revoked before it expired: fetch one anew, once.
            delivery, error = self._exchange(payload, context, run_id, fresh_token=True)
        if error is not None:
            raise error.with_delivery(delivery)
        return delivery

    def _exchange(
        self, payload: Any, context: Any, run_id: str | None, *, fresh_token: bool
    ) -> tuple[Delivery, TargetError | None]:
        """One request and its answer, and the error that answer amounts to, if any."""
        cfg = self.config
        prepared, delivery = self._prepare(payload, context, run_id, fresh_token)
        secret_values = delivery.secret_values
        where = f"{cfg.method} {_display_url(prepared.url or cfg.url)}"

        started = time.monotonic()
        try:
            response = self.session.send(
                prepared,
                timeout=(cfg.timeout_seconds, cfg.timeout_seconds),
                allow_redirects=False,
                stream=True,
            )
        except BlockedDestinationError as exc:
            raise exc.with_delivery(_done(delivery, prepared, started)) from None
        except requests.RequestException as exc:
            error = _transport_error(exc, where, secret_values)
            raise error.with_delivery(_done(delivery, prepared, started)) from None

        with response:
            text, truncated = _read_body(response, started + cfg.timeout_seconds)
        delivery.response = {
            "status": response.status_code,
            "headers": dict(response.headers),
            "body": text,
            "truncated": truncated,
        }
        _done(delivery, prepared, started)
        return delivery, _status_error(response, where, secret_values)

    def _prepare(
        self, payload: Any, context: Any, run_id: str | None, fresh_token: bool = False
    ) -> tuple[requests.PreparedRequest, Delivery]:
        cfg = self.config
        # Filled in first: a value the URL or a header refuses sends nothing.
        url = self._url.render(payload, context)
        filled = {
            name: header_value(template, name, payload, context)
            for name, template in self._headers.items()
        }
        # Case-insensitive, so a user's "content-type" replaces ours instead of doubling it.
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict({"User-Agent": USER_AGENT})
        params: dict[str, str] = {}
        body: bytes | None = None
        if cfg.method == "GET":
            params = _query_params(payload)
        elif cfg.method in _BODY_METHODS or (cfg.method == "DELETE" and _non_empty(payload)):
            try:
                body = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise TargetError(f"the payload is not JSON: {exc}") from None
            headers["Content-Type"] = "application/json"
        headers.update(filled)
        if cfg.idempotency_header and run_id:
            # The same on every attempt of one run: the receiver can finish the job once.
            headers[cfg.idempotency_header] = run_id
        secret_values = self._apply_auth(headers, params, fresh_token)
        if cfg.signing is not None:
            keys = active_secrets(cfg.signing, self._secrets, time.time())
            msg_id = run_id or f"msg_{uuid.uuid4().hex}"
            headers.update(signature_headers(msg_id, body or b"", keys, time.time()))
            secret_values += keys
        request = requests.Request(cfg.method, url, headers=headers, params=params, data=body)
        try:
            prepared = self.session.prepare_request(request)
        except requests.RequestException as exc:
            message = scrub(f"cannot build the request: {exc}", secret_values)
            raise TargetError(message) from None
        record = {
            "method": cfg.method,
            "url": prepared.url,
            "headers": {},  # filled in once sent
            "body": body.decode("utf-8") if body is not None else None,
        }
        return prepared, Delivery(request=record, secret_values=secret_values)

    def _apply_auth(
        self, headers: CaseInsensitiveDict[str], params: dict[str, str], fresh_token: bool
    ) -> list[str]:
        # Returns every form in which a secret appears in the request, for redaction.
        auth = self.config.auth
        if auth is None:
            return []
        if isinstance(auth, OAuth2Auth):
            token, secret_values = self._tokens.token(
                auth, self._secrets, self._token_session(), fresh=fresh_token
            )
            headers["Authorization"] = f"Bearer {token}"
            return secret_values
        if isinstance(auth, BearerAuth):
            token = self._secrets.resolve(auth.token)
            headers["Authorization"] = f"Bearer {token}"
            return [token]
        if isinstance(auth, BasicAuth):
            password = self._secrets.resolve(auth.password)
            pair = f"{auth.username}:{password}".encode()
            encoded = base64.b64encode(pair).decode("ascii")
            headers["Authorization"] = f"Basic {encoded}"
            return [password, encoded]
        value = self._secrets.resolve(auth.value)
        if auth.header:
            headers[auth.header] = value
            return [value]
        params[auth.query_param or ""] = value
        return list(dict.fromkeys([value, quote_plus(value), quote(value, safe="")]))


def _validate(config: HttpTarget) -> None:
    problems: list[Problem] = []
    parts = urlsplit(config.url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        problems.append(Problem("target.url", "must be an http:// or https:// URL with a host"))
    for name in config.headers:
        if name.lower() in FORBIDDEN_HEADERS:
            problems.append(
                Problem(f"target.headers.{name}", "is set by the platform and cannot be given")
            )
    auth = config.auth
    if isinstance(auth, ApiKeyAuth) and (auth.header is None) == (auth.query_param is None):
        problems.append(Problem("target.auth", "needs exactly one of header or queryParam"))
    if problems:
        raise ConfigError(problems)


def _templates(config: HttpTarget) -> tuple[UrlTemplate, dict[str, Template]]:
    """The URL and header values as templates, parsed once; ConfigError naming each bad one."""
    problems: list[Problem] = []
    url: UrlTemplate | None = None
    try:
        url = UrlTemplate(config.url)
    except PathError as exc:
        problems.append(Problem("target.url", str(exc)))
    headers: dict[str, Template] = {}
    for name, value in config.headers.items():
        try:
            headers[name] = Template(value)
        except PathError as exc:
            problems.append(Problem(f"target.headers.{name}", str(exc)))
    if problems or url is None:
        raise ConfigError(problems)
    return url, headers


def _query_params(payload: Any) -> dict[str, str]:
    if payload is None:
        return {}
    if not isinstance(payload, dict):
        message = "a GET target needs an object payload (its fields become the query)"
        raise TargetError(message)
    params: dict[str, str] = {}
    for key, value in payload.items():
        if value is None:
            continue
        if isinstance(value, str):
            params[str(key)] = value
        else:
            params[str(key)] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return params


def _non_empty(payload: Any) -> bool:
    return payload not in (None, {}, [], "")


def _read_body(response: requests.Response, deadline: float) -> tuple[str, bool]:
    # Read at most one byte past the limit, and stop at the deadline: a server trickling
    # an endless body must not hold the worker. The status is known by now, so a body
    # cut short (or broken mid-way) does not change the outcome; it is flagged instead.
    kept = bytearray()
    truncated = False
    try:
        for chunk in response.iter_content(_CHUNK):
            kept += chunk
            if len(kept) > MAX_RESPONSE_BODY_BYTES:
                del kept[MAX_RESPONSE_BODY_BYTES:]
                truncated = True
                break
            if time.monotonic() > deadline:
                truncated = True
                break
    except (requests.RequestException, OSError):
        truncated = True
    encoding = response.encoding or "utf-8"
    try:
        return kept.decode(encoding, errors="replace"), truncated
    except LookupError:
        return kept.decode("utf-8", errors="replace"), truncated


def _status_error(
    response: requests.Response, what: str, secret_values: list[str]
) -> TargetError | None:
    status = response.status_code
    if status < 300:
        return None
    if status < 400:
        location = response.headers.get("Location", "(none)")
        message = (
            f"{what} answered {status} redirecting to {location}; "
            "redirects are not followed: point the target at the final URL"
        )
        return TargetError(scrub(message, secret_values))
    if status >= 500 or status in RETRYABLE_STATUSES:
        return RetryableTargetError(f"{what} answered {status}")
    return TargetError(f"{what} answered {status}")


def _transport_error(
    exc: requests.RequestException, what: str, secret_values: list[str]
) -> TargetError:
    reason = scrub(_reason(exc), secret_values)
    if isinstance(exc, requests.Timeout):
        return RetryableTargetError(f"{what} timed out: {reason}")
    if isinstance(exc, requests.ConnectionError):
        return RetryableTargetError(f"{what} failed to connect: {reason}")
    # InvalidURL, InvalidHeader and the like: the same request would fail the same way.
    return TargetError(f"{what} failed: {reason}")


def _done(delivery: Delivery, prepared: requests.PreparedRequest, started: float) -> Delivery:
    # Headers are read after sending: the adapter adds Host while connecting.
    delivery.request["headers"] = {k: str(v) for k, v in prepared.headers.items()}
    delivery.duration_ms = (time.monotonic() - started) * 1000
    return delivery


def _display_url(url: str) -> str:
    # The URL without query or credentials: error sentences must not carry secrets.
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _reason(exc: BaseException) -> str:
    # requests nests urllib3's error several levels deep; the innermost reason reads best.
    seen = exc
    while seen.args and isinstance(seen.args[0], BaseException):
        seen = seen.args[0]
    reason = getattr(seen, "reason", None)
    return str(reason if reason is not None else seen)
