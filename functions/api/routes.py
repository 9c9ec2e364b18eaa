"""The management API's routes: authenticate, read the body, call `Admin`, map errors.

Every `/api/` route but `openapi.json` and `docs` (its reference) needs
`Authorization: Bearer <API key or ADMIN_TOKEN>`; the credential is checked before routing, so
that nothing (not even which routes exist) answers without it. Then the route's role
(`api_schema.ROLES`) is checked, and each change made is recorded in the audit log with who
made it (docs/api.md, "Team use").
"""

from __future__ import annotations

import logging
import mimetypes
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import flask
from werkzeug.exceptions import MethodNotAllowed, NotFound

from mapper import api_openapi
from mapper import api_schema as schema
from mapper.access import Access, Refusal, client_address, forbidden
from mapper.admin import Admin
from mapper.audit import AuditLog
from mapper.errors import (
    ConfigError,
    InvalidQueryError,
    ListenerError,
    MapperError,
    NotConfigured,
    NotFoundError,
    Problem,
    TestsFailed,
)
from mapper.http_edge import error, from_exception, json_answer, read_body
from mapper.json_body import BodyError, parse_json_body
from mapper.keys import Principal, allows
from mapper.pipeline.runs import RunStatus, SourceKind
from mapper.pipeline.search import parse_key_query
from mapper.services import access as default_access
from mapper.services import audit_log as default_audit_log
from mapper.services import setting
from mapper.store.common import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from mapper.timestamps import iso_timestamp

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
# The API reference (static/docs.html). Its viewer, Swagger UI, is another project's code:
# fetched into static/vendor/ at setup and deploy (scripts/fetch_js.py), never committed.
DOCS_PATHS = ("/api/docs", "/api/docs/")
NOT_FETCHED = (
    "the API reference's viewer (Swagger UI) was not fetched: run `make .venv/.installed`"
    " (or `python3 scripts/fetch_js.py`) before starting or packaging the api function"
)
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
    # Which X-Forwarded-For entry, from the right, is the client (CLIENT_IP_HOPS; 0: the peer).
    client_ip_hops: int = 1

    @classmethod
    def from_env(cls, services: Callable[[], Any]) -> ApiSettings:
        token = setting("ADMIN_TOKEN", "")
        if token.startswith("projects/") and "/secrets/" in token:
            token = services().secrets.resolve({"secret": token})  # cached by the resolver
        limit = setting("API_MAX_BODY_BYTES", str(schema.DEFAULT_API_MAX_BODY_BYTES))
        hops = int(setting("CLIENT_IP_HOPS", "1"))
        return cls(token or None, int(limit), hops)


def handle(
    request: flask.Request,
    admin: Callable[[], Admin],
    settings: ApiSettings,
    access: Callable[[], Access] = default_access,
    audit: Callable[[], AuditLog] = default_audit_log,
) -> flask.Response:
    """One request to the api function, answered."""
    path = request.path
    if path == "/api/openapi.json":
        return _json(200, _openapi())
    if path in DOCS_PATHS:  # the reference of that public document: public too
        return _docs()
    if not path.startswith("/api/") and path != "/api":
        return _static(path)
    refusal = _refuse_unauthenticated(request, settings)
    if refusal is not None:
        return refusal
    address = client_address(
        request.remote_addr, request.headers.get("X-Forwarded-For"), settings.client_ip_hops
    )
    principal = access().authenticate(
        request.headers.get("Authorization", ""),
        address,
        settings.admin_token or "",
        f"{request.method} {path}",
    )
    if isinstance(principal, Refusal):
        return _refused(principal)
    try:
        rule, args = schema.URLS.bind_to_environ(request.environ).match(return_rule=True)
        endpoint = rule.endpoint
    except NotFound:
        return error(404, "no such route", "not_found")
    except MethodNotAllowed as exc:
        allowed = ", ".join(exc.valid_methods or [])
        return error(405, f"use {allowed}", "method_not_allowed", {"Allow": allowed})
    route = f"{request.method} {api_openapi.openapi_path(rule.rule)}"
    needed = schema.required_role(endpoint, request.method)
    if not allows(principal.role, needed):
        return _refused(forbidden(principal, needed, route, address))
    try:
        _refuse_repeated_parameters(request)
        body = _read_json(request, settings.max_body_bytes)
        team = _Team(principal, route, access, audit)
        if endpoint in _TEAM_HANDLERS:
            return _TEAM_HANDLERS[endpoint](team, request, body, **args)
        control = admin()
        if principal.role == schema.VIEWER:
            control = control.for_viewer()  # no webhook or push endpoints (docs/api.md)
        return _audited(endpoint, team, control, request, body, args)
    except _BodyError as exc:
        return exc.response
    except ConfigError as exc:
        return _json(400, _invalid(exc.problems))
    except TestsFailed as exc:  # the save is refused with every case's result
        return _json(400, {"error": str(exc), "code": exc.code, **exc.report})
    except ListenerError as exc:
        if exc.retryable:
            return from_exception(exc)
        return _json(400, {**_invalid([Problem(exc.path, str(exc))]), "code": exc.code})
    except NotConfigured as exc:  # the operator must act: say what, not "try again"
        return error(503, str(exc), exc.code)
    except MapperError as exc:
        return from_exception(exc)
    except Exception:  # the edge: a bug must still answer JSON, without a stack trace
        log.exception("api request failed: %s %s", request.method, path)
        return error(500, "internal error; see the function's logs", "internal")


# --- the edge -----------------------------------------------------------------------------


def _refuse_unauthenticated(request: flask.Request, settings: ApiSettings) -> Any:
    # The credential itself is checked by `Access.authenticate` (the admin token in
    # constant time, API keys by their hash), which also limits failed sign-ins.
    if settings.admin_token is None:
        return error(503, "the API has no ADMIN_TOKEN configured", "not_configured")
    return None


def _refused(refusal: Refusal) -> flask.Response:
    return error(refusal.status, refusal.message, refusal.code, dict(refusal.headers))


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
        # The webhook's strict parser: no NaN or Infinity, UTF-8 only, at most
        # MAX_JSON_DEPTH deep (docs/api.md, "Bodies").
        return parse_json_body(raw)
    except BodyError as exc:
        raise _BodyError(error(400, f"body is not JSON: {exc}", "invalid_json")) from None


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> flask.Response:
    # Keys in the order they were built (a preview keeps the mapping's order), not sorted.
    response = json_answer(status, body, headers)
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
    return api_openapi.openapi()


def unfetched(static: Path) -> list[str]:
    """The fetched files (under vendor/) that docs.html loads and that are not there."""
    html = (static / "docs.html").read_text(encoding="utf-8")
    return [ref for ref in re.findall(r'"/(vendor/[^"]+)"', html) if not (static / ref).is_file()]


def _docs() -> flask.Response:
    if missing := unfetched(STATIC):
        log.error("the API reference cannot load %s: %s", ", ".join(missing), NOT_FETCHED)
        return error(503, NOT_FETCHED, "not_fetched")
    return _static("/docs.html")


def _static(path: str) -> flask.Response:
    name = "index.html" if path in ("", "/") else path.lstrip("/")
    file = (STATIC / name).resolve()
    if STATIC not in file.parents or not file.is_file():
        if name in unfetched(STATIC):
            return error(503, NOT_FETCHED, "not_fetched")
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
        return _json(201, admin.create_integration(_required(body), force=_force(request)))
    _only(request, "limit", "cursor", "source_type", "target_type", "active")
    active = request.args.get("active")
    if active not in (None, "true", "false"):
        raise InvalidQueryError("active must be true or false")
    page, cursor = admin.list_integrations(
        _limit(request),
        request.args.get("cursor") or None,
        source_type=request.args.get("source_type") or None,
        target_type=request.args.get("target_type") or None,
        active=None if active is None else active == "true",
    )
    return _json(200, {"integrations": page, "nextCursor": cursor})


def _integration(admin: Admin, request: flask.Request, body: Any, id: str) -> flask.Response:
    if request.method == "PUT":
        return _json(200, admin.replace_integration(id, _required(body), force=_force(request)))
    if request.method == "DELETE":
        admin.delete_integration(id)
        return flask.make_response("", 204)
    return _json(200, admin.get_integration(id))


def _toggle(admin: Admin, request: flask.Request, body: Any, id: str) -> flask.Response:
    return _json(200, admin.toggle_active(id))


def _pause_delivery(
    admin: Admin, request: flask.Request, body: Any, id: str
) -> flask.Response:
    given = schema.parse_body(schema.PauseRequest, body if body is not None else {})
    return _json(200, admin.pause_delivery(id, given.reason))


def _resume_delivery(
    admin: Admin, request: flask.Request, body: Any, id: str
) -> flask.Response:
    return _json(200, admin.resume_delivery(id))


def _rotate_signing_secret(
    admin: Admin, request: flask.Request, body: Any, id: str
) -> flask.Response:
    return _json(200, admin.rotate_signing_secret(id))


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
        doc = admin.snapshot(id)
    else:
        admin.get_integration(id)  # 404 for an unknown id, as for every route under it
        problems = admin.validate(asked.integration, asked.check_target)
        doc = asked.integration
    return _validation(problems, "", admin.sample_violations(doc))


def _validate(admin: Admin, request: flask.Request, body: Any) -> flask.Response:
    asked = schema.parse_body(schema.ValidateRequest, body)
    if asked.integration is None:
        raise ConfigError([Problem("integration", "is required")])
    problems = admin.validate(asked.integration, asked.check_target)
    return _validation(problems, "integration", admin.sample_violations(asked.integration))


def _validation(
    problems: list[Problem], prefix: str, violations: list[dict[str, str]]
) -> flask.Response:
    if prefix and problems:
        problems = _prefixed(prefix, ConfigError(problems)).problems
    answer: dict[str, Any] = {"valid": not problems, "problems": [p.to_dict() for p in problems]}
    if violations:  # the sample's output and the target's schema: a warning, not a problem
        answer["schemaViolations"] = violations
    return _json(200, answer)


def _run_tests(admin: Admin, request: flask.Request, body: Any, id: str) -> flask.Response:
    return _json(200, admin.run_tests(id))


def _run_tests_unsaved(admin: Admin, request: flask.Request, body: Any) -> flask.Response:
    asked = schema.parse_body(schema.RunTestsRequest, body)
    try:
        return _json(200, admin.run_tests_unsaved(asked.integration))
    except ConfigError as exc:
        raise _prefixed("integration", exc) from None


def _force(request: flask.Request) -> bool:
    # ?force=true saves an integration whose test cases fail (docs/api.md).
    raw = request.args.get("force")
    if raw not in (None, "", "true", "false"):
        raise InvalidQueryError("force must be true or false")
    return raw == "true"


def _runs(admin: Admin, request: flask.Request, body: Any) -> flask.Response:
    status = request.args.get("status")
    if status is not None and status not in tuple(RunStatus):
        raise InvalidQueryError(f"status must be one of {', '.join(RunStatus)}")
    _only(request, "integration_id", "status", "since", "until", "limit", "cursor",
          "source_kind", "key", "min_duration_ms")
    source_kind = request.args.get("source_kind") or None
    if source_kind is not None and source_kind not in tuple(SourceKind):
        raise InvalidQueryError(f"source_kind must be one of {', '.join(SourceKind)}")
    key = request.args.get("key")
    slow = request.args.get("min_duration_ms")
    runs, cursor = admin.list_runs(
        integration_id=request.args.get("integration_id") or None,
        status=status,
        since=request.args.get("since"),
        until=request.args.get("until"),
        limit=_limit(request),
        cursor=request.args.get("cursor") or None,
        source_kind=source_kind,
        key=parse_key_query(key) if key is not None else None,
        min_duration_ms=_duration(slow) if slow else None,
    )
    return _json(200, {"runs": runs, "nextCursor": cursor})


def _duration(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InvalidQueryError("min_duration_ms must be a number of milliseconds") from None
    if not 0 <= value <= 10**9:  # also refuses nan and inf
        raise InvalidQueryError("min_duration_ms must be between 0 and 1000000000")
    return value


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


def _source_schema(
    admin: Admin, request: flask.Request, body: Any, id: str
) -> flask.Response:
    return _json(200, admin.source_schema(id))


# --- versions, backtest, redrive (docs/api.md) --------------------------------------------


def _versions(admin: Admin, request: flask.Request, body: Any, id: str) -> flask.Response:
    _only(request, "limit", "cursor")
    cursor = request.args.get("cursor") or None
    before = _whole_number(cursor, "cursor") if cursor else None
    page, next_cursor = admin.list_versions(id, _limit(request), before)
    return _json(200, {"versions": page, "nextCursor": next_cursor})


def _version(admin: Admin, request: flask.Request, body: Any, id: str, n: str) -> flask.Response:
    if not n.isascii() or not n.isdigit() or len(n) > 9:
        raise NotFoundError(f"integration {id} has no version {n}")
    return _json(200, admin.get_version(id, int(n)))


def _rollback(admin: Admin, request: flask.Request, body: Any, id: str) -> flask.Response:
    asked = schema.parse_body(schema.RollbackRequest, body)
    return _json(200, admin.rollback(id, asked.version))


def _backtest(admin: Admin, request: flask.Request, body: Any, id: str) -> flask.Response:
    asked = schema.parse_body(schema.BacktestRequest, body)
    runs = asked.runs
    try:
        result = admin.backtest(
            id,
            asked.integration,
            status=runs.status,
            since=runs.since,
            until=runs.until,
            limit=runs.limit,
        )
    except ConfigError as exc:
        raise _prefixed("integration", exc) from None
    return _json(200, result)


def _redrive(admin: Admin, request: flask.Request, body: Any) -> flask.Response:
    if request.method == "GET":
        _only(request, "limit", "cursor")
        jobs, cursor = admin.redrive_jobs(_limit(request), request.args.get("cursor") or None)
        return _json(200, {"jobs": jobs, "nextCursor": cursor})
    asked = schema.parse_body(schema.RedriveRequest, body)
    result = admin.redrive(
        list(asked.statuses), asked.integration_id, asked.since, asked.until, asked.dry_run
    )
    return _json(200 if asked.dry_run else 202, result)


def _redrive_job(
    admin: Admin, request: flask.Request, body: Any, job_id: str
) -> flask.Response:
    return _json(200, admin.redrive_status(job_id))


def _only(request: flask.Request, *names: str) -> None:
    # A misspelt filter (integrationId for integration_id) would otherwise be ignored and
    # list everything: refuse what the route does not take.
    unknown = sorted(set(request.args) - set(names))
    if unknown:
        raise InvalidQueryError(
            f"unknown query parameter {', '.join(unknown)}; this route takes {', '.join(names)}"
        )


def _whole_number(raw: str, name: str) -> int:
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise InvalidQueryError(f"{name} is not one this API returned")
    return int(raw)


_HANDLERS: dict[str, Callable[..., flask.Response]] = {
    "integrations": _integrations,
    "integration": _integration,
    "toggle": _toggle,
    "pause_delivery": _pause_delivery,
    "resume_delivery": _resume_delivery,
    "rotate_signing_secret": _rotate_signing_secret,
    "preview_saved": _preview_saved,
    "send_test": _send_test,
    "test_pubsub": _test_pubsub,
    "stats": _stats,
    "source_schema": _source_schema,
    "preview": _preview,
    "validate_saved": _validate_saved,
    "validate": _validate,
    "run_tests": _run_tests,
    "run_tests_unsaved": _run_tests_unsaved,
    "runs": _runs,
    "run": _run,
    "replay": _replay,
    "versions": _versions,
    "version": _version,
    "rollback": _rollback,
    "backtest": _backtest,
    "redrive": _redrive,
    "redrive_job": _redrive_job,
}


# --- team use: keys, who am I, the audit log ----------------------------------------------


@dataclass(frozen=True)
class _Team:
    """Who is calling and through which route, with the API's key and audit services."""

    principal: Principal
    route: str
    access: Callable[[], Access]
    audit: Callable[[], AuditLog]


# The changes the audit log records, by (endpoint, method): the action, and what it targets.
AUDITED: dict[tuple[str, str], tuple[str, str]] = {
    ("integrations", "POST"): ("integration.create", "integration"),
    ("integration", "PUT"): ("integration.replace", "integration"),
    ("integration", "DELETE"): ("integration.delete", "integration"),
    ("toggle", "POST"): ("integration.toggle", "integration"),
    ("pause_delivery", "POST"): ("integration.pause_delivery", "integration"),
    ("resume_delivery", "POST"): ("integration.resume_delivery", "integration"),
    ("rotate_signing_secret", "POST"): ("integration.rotate_signing_secret", "integration"),
    ("rollback", "POST"): ("integration.rollback", "integration"),
    ("replay", "POST"): ("run.replay", "run"),
    ("redrive", "POST"): ("runs.redrive", "runs"),
    # What reaches out on an editor's word: real deliveries with the stored credentials, a
    # message published to the source's topic, a connection to the target's host and port.
    ("send_test", "POST"): ("integration.send_test", "reach"),
    ("test_pubsub", "POST"): ("integration.test_pubsub", "reach"),
    ("validate_saved", "POST"): ("integration.check_target", "reach"),
    ("validate", "POST"): ("integration.check_target", "reach"),
}  # key.create and key.revoke are recorded by their own handlers below


def _audited(
    endpoint: str,
    team: _Team,
    admin: Admin,
    request: flask.Request,
    body: Any,
    args: dict[str, Any],
) -> flask.Response:
    """Call the route's handler; when it changed something, record who, what and the diff."""
    handler = _HANDLERS[endpoint]
    audited = AUDITED.get((endpoint, request.method))
    if audited is None:
        return handler(admin, request, body, **args)
    action, kind = audited
    if kind == "reach":
        return _audited_reach(handler, action, team, admin, request, body, args)
    before = None
    if kind == "integration" and "id" in args:
        try:
            before = admin.snapshot(args["id"])
        except MapperError:
            pass  # the handler answers for a missing integration itself
    response = handler(admin, request, body, **args)
    if response.status_code >= 300:
        return response
    answer = response.get_json(silent=True) if response.status_code != 204 else None
    if kind == "integration":
        after = None if request.method == "DELETE" else answer
        target_id = args.get("id") or (answer or {}).get("id")
        details = body if action == "integration.rollback" else None
        team.audit().record(
            team.principal, action, team.route, (kind, target_id),
            before=before, after=after, integration_id=target_id, details=details,
        )
    elif kind == "run":
        run = admin.get_run(args["id"])
        team.audit().record(
            team.principal, action, team.route, (kind, args["id"]),
            integration_id=run.get("integrationId"), details={"result": answer},
        )
    elif kind == "runs" and not (isinstance(body, dict) and body.get("dryRun") is True):
        scope = body.get("integrationId") if isinstance(body, dict) else None
        team.audit().record(
            team.principal, action, team.route, (kind, (answer or {}).get("jobId")),
            integration_id=scope if isinstance(scope, str) else None,
            details={"request": body, "result": answer},
        )
    return response


def _audited_reach(
    handler: Callable[..., flask.Response],
    action: str,
    team: _Team,
    admin: Admin,
    request: flask.Request,
    body: Any,
    args: dict[str, Any],
) -> flask.Response:
    """A test send, test publish or connection check, recorded with who asked and where to."""
    checking = action == "integration.check_target"
    asked = body if isinstance(body, dict) else {}
    if checking and True not in (asked.get("checkTarget"), asked.get("check_target")):
        return handler(admin, request, body, **args)
    integration_id = args.get("id")
    document = body.get("integration") if isinstance(body, dict) else None
    if not isinstance(document, dict) and integration_id is not None:
        try:
            document = admin.snapshot(integration_id)
        except MapperError:
            document = None  # the handler answers for a missing integration itself
    response = handler(admin, request, body, **args)
    if response.status_code >= 300:
        return response
    details = {"target": _destination(document), "result": response.get_json(silent=True)}
    source = document.get("source") if isinstance(document, dict) else None
    if isinstance(source, dict) and source.get("type") == "pubsub":
        details["topic"] = f"{source.get('projectId')}/{source.get('topic')}"
    team.audit().record(
        team.principal, action, team.route, ("integration", integration_id),
        integration_id=integration_id, details=details,
    )
    return response


def _destination(document: Any) -> str | None:
    """Where a document's target sends: scheme, host and port (a path may hold a token)."""
    if not isinstance(document, dict):
        return None
    target = document.get("target") if isinstance(document.get("target"), dict) else {}
    if target.get("type") == "http" and isinstance(target.get("url"), str):
        parts = urlsplit(target["url"])
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    if target.get("type") == "email":
        return f"smtp://{target.get('smtpServer')}:{target.get('smtpPort', 587)}"
    return None


def _keys(team: _Team, request: flask.Request, body: Any) -> flask.Response:
    keys = team.access().keys
    if request.method == "GET":
        page, cursor = keys.list(_limit(request), request.args.get("cursor") or None)
        return _json(200, {"keys": page, "nextCursor": cursor})
    asked = schema.parse_body(schema.KeyRequest, body)
    record, key = keys.create(asked.name, asked.role, asked.expires_at, team.principal)
    team.audit().record(
        team.principal, "key.create", team.route, ("key", record["id"]), after=_audited_key(record)
    )
    return _json(201, {**record, "key": key})


def _key(team: _Team, request: flask.Request, body: Any, id: str) -> flask.Response:
    record = team.access().keys.revoke(id)
    team.audit().record(
        team.principal, "key.revoke", team.route, ("key", id), before=_audited_key(record)
    )
    return flask.make_response("", 204)


def _audited_key(record: dict[str, Any]) -> dict[str, Any]:
    # What a key is, for its audit diff: never the key, its hash or salt (not in `record`).
    return {k: record[k] for k in ("name", "role", "prefix", "expiresAt") if record.get(k)}


def _whoami(team: _Team, request: flask.Request, body: Any) -> flask.Response:
    p = team.principal
    return _json(
        200, {"keyId": p.key_id, "name": p.name, "role": p.role, "expiresAt": p.expires_at}
    )


def _audit(team: _Team, request: flask.Request, body: Any) -> flask.Response:
    entries, cursor = team.audit().list(
        integration_id=request.args.get("integration_id") or None,
        key_id=request.args.get("key_id") or None,
        since=request.args.get("since") or None,
        until=request.args.get("until") or None,
        limit=_limit(request),
        cursor=request.args.get("cursor") or None,
    )
    return _json(200, {"entries": entries, "nextCursor": cursor})


_TEAM_HANDLERS: dict[str, Callable[..., flask.Response]] = {
    "keys": _keys,
    "key": _key,
    "whoami": _whoami,
    "audit": _audit,
}
# One table of every endpoint's handler; the team's take `_Team` in place of `Admin`.
_HANDLERS.update(_TEAM_HANDLERS)
