"""The management API's routes: authenticate, read the body, call `Admin`, map errors.

Every `/api/` route but `openapi.json` needs `Authorization: Bearer <ADMIN_TOKEN>`; the token
is checked before routing, so that nothing (not even which routes exist) answers without it.
"""

from __future__ import annotations

import hmac
import json
import logging
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import flask
from werkzeug.exceptions import MethodNotAllowed, NotFound

from mapper import api_schema as schema
from mapper.admin import Admin
from mapper.errors import (
    ConfigError,
    InvalidQueryError,
    ListenerError,
    MapperError,
    Problem,
)
from mapper.http_edge import error, from_exception, read_body
from mapper.services import setting
from mapper.store import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, RUN_STATUSES, iso_timestamp

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
# The UI's pages: scripts and styles only from this origin, nothing inline, no framing.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)

# The route table is `schema.URLS`: the OpenAPI document's paths are made from it too.


@dataclass(frozen=True)
class ApiSettings:
    """The admin token and the body limit, as the operator set them."""

    admin_token: str | None
    max_body_bytes: int

    @classmethod
    def from_env(cls, services: Callable[[], Any]) -> ApiSettings:
        token = setting("ADMIN_TOKEN", "")
        if token.startswith("projects/") and "/secrets/" in token:
            token = services().secrets.resolve({"secret": token})  # cached by the resolver
        limit = setting("API_MAX_BODY_BYTES", str(schema.DEFAULT_API_MAX_BODY_BYTES))
        return cls(token or None, int(limit))


def handle(
    request: flask.Request, admin: Callable[[], Admin], settings: ApiSettings
) -> flask.Response:
    """One request to the api function, answered."""
    path = request.path
    if path == "/api/openapi.json":
        return _json(200, _openapi())
    if not path.startswith("/api/") and path != "/api":
        return _static(path)
    refusal = _refuse_unauthenticated(request, settings)
    if refusal is not None:
        return refusal
    try:
        endpoint, args = schema.URLS.bind_to_environ(request.environ).match()
    except NotFound:
        return error(404, "no such route", "not_found")
    except MethodNotAllowed as exc:
        allowed = ", ".join(exc.valid_methods or [])
        return error(405, f"use {allowed}", "method_not_allowed", {"Allow": allowed})
    try:
        _refuse_repeated_parameters(request)
        body = _read_json(request, settings.max_body_bytes)
        return _HANDLERS[endpoint](admin(), request, body, **args)
    except _BodyError as exc:
        return exc.response
    except ConfigError as exc:
        return _json(400, _invalid(exc.problems))
    except ListenerError as exc:
        if exc.retryable:
            return from_exception(exc)
        return _json(400, {**_invalid([Problem(exc.path, str(exc))]), "code": exc.code})
    except MapperError as exc:
        return from_exception(exc)
    except Exception:  # the edge: a bug must still answer JSON, without a stack trace
        log.exception("api request failed: %s %s", request.method, path)
        return error(500, "internal error; see the function's logs", "internal")


# --- the edge -----------------------------------------------------------------------------


def _refuse_unauthenticated(request: flask.Request, settings: ApiSettings) -> Any:
    if settings.admin_token is None:
        return error(503, "the API has no ADMIN_TOKEN configured", "not_configured")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    expected = settings.admin_token.encode()
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        return error(
            401, "a valid bearer token is required", "unauthorized", {"WWW-Authenticate": "Bearer"}
        )
    return None


def _refuse_repeated_parameters(request: flask.Request) -> None:
    repeated = sorted(name for name, values in request.args.lists() if len(values) > 1)
    if repeated:
        raise InvalidQueryError(f"give each query parameter once: {', '.join(repeated)}")


class _BodyError(Exception):
    def __init__(self, response: flask.Response) -> None:
        self.response = response


def _read_json(request: flask.Request, limit: int) -> Any:
    """The JSON body (None when empty), or a 413/400 answer raised as `_BodyError`."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    raw = read_body(request, limit)
    if raw is None:
        raise _BodyError(error(413, f"body larger than {limit} bytes", "payload_too_large"))
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise _BodyError(error(400, f"body is not JSON: {exc}", "invalid_json")) from None


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> flask.Response:
    # Keys in the order they were built (a preview keeps the mapping's order), not sorted.
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    response = flask.make_response(text, status, headers or {})
    response.headers["Content-Type"] = "application/json"
    response.headers["Cache-Control"] = "no-store"
    return response


def _invalid(problems: list[Problem]) -> dict[str, Any]:
    count = len(problems)
    return {
        "error": f"{count} problem{'s' if count != 1 else ''}: "
        + "; ".join(str(p) for p in problems[:5])
        + (" ..." if count > 5 else ""),
        "code": "invalid",
        "problems": [p.to_dict() for p in problems],
    }


def _prefixed(prefix: str, exc: ConfigError) -> ConfigError:
    return ConfigError(
        [Problem(f"{prefix}.{p.path}" if p.path else prefix, p.message) for p in exc.problems]
    )


@cache
def _openapi() -> dict[str, Any]:
    return schema.openapi()


def _static(path: str) -> flask.Response:
    name = "index.html" if path in ("", "/") else path.lstrip("/")
    file = (STATIC / name).resolve()
    if STATIC not in file.parents or not file.is_file():
        return error(404, "no such page", "not_found")
    kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    response = flask.make_response(file.read_bytes(), 200)
    response.headers.update(
        {
            "Content-Type": kind + ("; charset=utf-8" if kind.startswith("text/") else ""),
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        }
    )
    return response


# --- handlers: (admin, request, body, **path args) -> response ----------------------------


def _integrations(admin: Admin, request: flask.Request, body: Any) -> flask.Response:
    if request.method == "POST":
        return _json(201, admin.create_integration(_required(body)))
    page, cursor = admin.list_integrations(_limit(request), request.args.get("cursor") or None)
    return _json(200, {"integrations": page, "nextCursor": cursor})


def _integration(admin: Admin, request: flask.Request, body: Any, id: str) -> flask.Response:
    if request.method == "PUT":
        return _json(200, admin.replace_integration(id, _required(body)))
    if request.method == "DELETE":
        admin.delete_integration(id)
        return flask.make_response("", 204)
    return _json(200, admin.get_integration(id))


def _toggle(admin: Admin, request: flask.Request, body: Any, id: str) -> flask.Response:
    return _json(200, admin.toggle_active(id))


def _send_test(admin: Admin, request: flask.Request, body: Any, id: str) -> flask.Response:
    given = schema.parse_body(schema.TestRequest, body if body is not None else {})
    return _json(202, admin.send_test(id, given.payload))


def _test_pubsub(admin: Admin, request: flask.Request, body: Any, id: str) -> flask.Response:
    given = schema.parse_body(schema.TestRequest, body if body is not None else {})
    return _json(200, {"messageId": admin.test_pubsub(id, given.payload)})


def _stats(admin: Admin, request: flask.Request, body: Any, id: str) -> flask.Response:
    since = request.args.get("since") or iso_timestamp(
        datetime.now(timezone.utc) - timedelta(days=1)
    )
    return _json(200, admin.stats(id, since))


def _preview_saved(admin: Admin, request: flask.Request, body: Any, id: str) -> flask.Response:
    asked = schema.parse_body(schema.PreviewRequest, body)
    return _preview_answer(
        admin.preview_saved(id, asked.payload, attributes=asked.attributes, headers=asked.headers)
    )


def _preview(admin: Admin, request: flask.Request, body: Any) -> flask.Response:
    asked = schema.parse_body(schema.UnsavedPreviewRequest, body)
    try:
        result = admin.preview(
            asked.integration, asked.payload, attributes=asked.attributes, headers=asked.headers
        )
    except ConfigError as exc:
        raise _prefixed("integration", exc) from None
    return _preview_answer(result)


def _preview_answer(result: dict[str, Any]) -> flask.Response:
    failure = result.pop("error", None)
    if failure is not None:
        return _json(422, {**failure, "timings": result["timings"]})
    return _json(200, result)


def _validate_saved(admin: Admin, request: flask.Request, body: Any, id: str) -> flask.Response:
    asked = schema.parse_body(schema.ValidateRequest, body if body is not None else {})
    if asked.integration is None:
        problems = admin.validate_saved(id, asked.check_target)
    else:
        admin.get_integration(id)  # 404 for an unknown id, as for every route under it
        problems = admin.validate(asked.integration, asked.check_target)
    return _validation(problems, "")


def _validate(admin: Admin, request: flask.Request, body: Any) -> flask.Response:
    asked = schema.parse_body(schema.ValidateRequest, body)
    if asked.integration is None:
        raise ConfigError([Problem("integration", "is required")])
    return _validation(admin.validate(asked.integration, asked.check_target), "integration")


def _validation(problems: list[Problem], prefix: str) -> flask.Response:
    if prefix and problems:
        problems = _prefixed(prefix, ConfigError(problems)).problems
    return _json(200, {"valid": not problems, "problems": [p.to_dict() for p in problems]})


def _runs(admin: Admin, request: flask.Request, body: Any) -> flask.Response:
    status = request.args.get("status")
    if status is not None and status not in RUN_STATUSES:
        raise InvalidQueryError(f"status must be one of {', '.join(RUN_STATUSES)}")
    runs, cursor = admin.list_runs(
        integration_id=request.args.get("integration_id") or None,
        status=status,
        since=request.args.get("since"),
        until=request.args.get("until"),
        limit=_limit(request),
        cursor=request.args.get("cursor") or None,
    )
    return _json(200, {"runs": runs, "nextCursor": cursor})


def _run(admin: Admin, request: flask.Request, body: Any, id: str) -> flask.Response:
    return _json(200, admin.get_run(id))


def _replay(admin: Admin, request: flask.Request, body: Any, id: str) -> flask.Response:
    return _json(202, admin.replay(id))


def _required(body: Any) -> Any:
    if body is None:
        raise ConfigError([Problem("", "a JSON body is required")])
    return body


def _limit(request: flask.Request) -> int:
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    try:
        limit = int(raw)
    except ValueError:
        raise InvalidQueryError("limit must be a whole number") from None
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidQueryError(f"limit must be between 1 and {MAX_PAGE_SIZE}")
    return limit


_HANDLERS: dict[str, Callable[..., flask.Response]] = {
    "integrations": _integrations,
    "integration": _integration,
    "toggle": _toggle,
    "preview_saved": _preview_saved,
    "send_test": _send_test,
    "test_pubsub": _test_pubsub,
    "stats": _stats,
    "preview": _preview,
    "validate_saved": _validate_saved,
    "validate": _validate,
    "runs": _runs,
    "run": _run,
    "replay": _replay,
}
