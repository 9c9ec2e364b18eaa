"""The management API's request and response bodies, and the OpenAPI document built from them.

The request models here validate every body the API reads (the integration itself is
validated by `mapper.config`), and `openapi()` describes the API from these same classes,
so the document cannot drift from what the code accepts.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError
from pydantic.alias_generators import to_camel
from pydantic.json_schema import models_json_schema
from werkzeug.routing import Map, Rule

from .backtest import DEFAULT_RUNS as BACKTEST_DEFAULT_RUNS
from .backtest import MAX_RUNS as BACKTEST_MAX_RUNS
from .engine import config as cfg
from .errors import ConfigError, Problem
from .store import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, RUN_STATUSES

DEFAULT_API_MAX_BODY_BYTES = 2_000_000
SOURCE_KINDS = ("webhook", "pubsub-push", "pubsub-pull", "test", "replay")

# The API's routes. The api function dispatches on this table by endpoint and the OpenAPI
# document's paths are made from it, so neither can have a route the other lacks.
URLS = Map(
    [
        Rule("/api/integrations/", endpoint="integrations", methods=["GET", "POST"]),
        Rule("/api/integrations/<id>/", endpoint="integration", methods=["GET", "PUT", "DELETE"]),
        Rule("/api/integrations/<id>/toggle_active/", endpoint="toggle", methods=["POST"]),
        Rule(
            "/api/integrations/<id>/rotate_signing_secret/",
            endpoint="rotate_signing_secret",
            methods=["POST"],
        ),
        Rule("/api/integrations/<id>/preview/", endpoint="preview_saved", methods=["POST"]),
        Rule("/api/integrations/<id>/test/", endpoint="send_test", methods=["POST"]),
        Rule("/api/integrations/<id>/test_pubsub/", endpoint="test_pubsub", methods=["POST"]),
        Rule("/api/integrations/<id>/stats/", endpoint="stats", methods=["GET"]),
        Rule("/api/integrations/<id>/validate/", endpoint="validate_saved", methods=["POST"]),
        Rule("/api/integrations/<id>/versions/", endpoint="versions", methods=["GET"]),
        Rule("/api/integrations/<id>/versions/<n>/", endpoint="version", methods=["GET"]),
        Rule("/api/integrations/<id>/rollback/", endpoint="rollback", methods=["POST"]),
        Rule("/api/integrations/<id>/backtest/", endpoint="backtest", methods=["POST"]),
        Rule("/api/integrations/<id>/run_tests/", endpoint="run_tests", methods=["POST"]),
        Rule("/api/run_tests/", endpoint="run_tests_unsaved", methods=["POST"]),
        Rule("/api/preview/", endpoint="preview", methods=["POST"]),
        Rule("/api/validate/", endpoint="validate", methods=["POST"]),
        Rule("/api/runs/", endpoint="runs", methods=["GET"]),
        Rule("/api/runs/<id>/", endpoint="run", methods=["GET"]),
        Rule("/api/runs/<id>/replay/", endpoint="replay", methods=["POST"]),
        Rule("/api/runs/redrive/", endpoint="redrive", methods=["GET", "POST"]),
        Rule("/api/runs/redrive/<job_id>/", endpoint="redrive_job", methods=["GET"]),
        Rule("/api/keys/", endpoint="keys", methods=["GET", "POST"]),
        Rule("/api/keys/<id>/", endpoint="key", methods=["DELETE"]),
        Rule("/api/whoami/", endpoint="whoami", methods=["GET"]),
        Rule("/api/audit/", endpoint="audit", methods=["GET"]),
    ],
    strict_slashes=False,
    merge_slashes=False,
)

# The role each route needs (keys.ROLES: viewer < editor < admin), by endpoint and method:
# the api function checks it, and the OpenAPI document states it (`x-required-role`). A
# route missing here needs admin (tests/functions/test_team.py names it).
VIEWER, EDITOR, ADMIN = "viewer", "editor", "admin"
ROLES: dict[str, dict[str, str]] = {
    "integrations": {"GET": VIEWER, "POST": EDITOR},
    "integration": {"GET": VIEWER, "PUT": EDITOR, "DELETE": EDITOR},
    "toggle": {"POST": EDITOR},
    "rotate_signing_secret": {"POST": EDITOR},
    "preview_saved": {"POST": EDITOR},
    "send_test": {"POST": EDITOR},
    "test_pubsub": {"POST": EDITOR},
    "stats": {"GET": VIEWER},
    "validate_saved": {"POST": EDITOR},
    "preview": {"POST": EDITOR},
    "validate": {"POST": EDITOR},
    "runs": {"GET": VIEWER},
    "run": {"GET": VIEWER},
    "replay": {"POST": EDITOR},
    "versions": {"GET": VIEWER},
    "version": {"GET": VIEWER},
    "rollback": {"POST": EDITOR},
    "backtest": {"POST": EDITOR},
    # The saved cases, run as preview runs them: nothing is sent, so a viewer may. A draft's
    # cases run the draft's JavaScript, as preview does: an editor's.
    "run_tests": {"POST": VIEWER},
    "run_tests_unsaved": {"POST": EDITOR},
    "redrive": {"GET": VIEWER, "POST": EDITOR},
    "redrive_job": {"GET": VIEWER},
    "keys": {"GET": ADMIN, "POST": ADMIN},
    "key": {"DELETE": ADMIN},
    "whoami": {"GET": VIEWER},
    "audit": {"GET": ADMIN},
}


def required_role(endpoint: str, method: str) -> str:
    """The role a route needs; admin for one the table does not name (fail closed)."""
    methods = ROLES.get(endpoint, {})
    return methods.get("GET" if method == "HEAD" else method, ADMIN)


class _Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


# --- requests -----------------------------------------------------------------------------


class PreviewRequest(_Body):
    """Map one payload with a saved integration; nothing is sent."""

    payload: Any = Field(description="The incoming payload, as `data` in the condition.")
    attributes: dict[str, str] | None = Field(
        default=None, description="Pub/Sub attributes, as `attributes` in the condition."
    )
    headers: dict[str, str] | None = Field(
        default=None, description="Webhook headers, as `headers` in the condition."
    )


class UnsavedPreviewRequest(PreviewRequest):
    """Map one payload with an integration that is not saved yet."""

    integration: dict[str, Any] = Field(description="A whole integration document.")


class TestRequest(_Body):
    """Send one payload through the saved integration for real (a run of kind `test`)."""

    payload: Any = Field(default=None, description="Defaults to the saved samplePayload.")


class ValidateRequest(_Body):
    """Check an integration; `checkTarget` also connects to the target's host and port."""

    integration: dict[str, Any] | None = Field(
        default=None,
        description="The document to check; for a saved integration, omit it to check "
        "the stored one.",
    )
    check_target: StrictBool = Field(
        default=False,
        description="Also resolve the target's host under the egress policy and try a TCP "
        "connection (3 s).",
    )


# --- responses ----------------------------------------------------------------------------


class ErrorBody(_Body):
    """Every error: a sentence for people and a code for programs."""

    error: str = Field(description="What went wrong, as a sentence; never a secret.")
    code: str = Field(description="A stable machine code, e.g. not_found, invalid.")


class ProblemOut(_Body):
    path: str = Field(description="JSON path of the problem, e.g. mappings[2].transforms[0].")
    message: str = Field(description="What is wrong there, e.g. 'is required'.")


class InvalidBody(ErrorBody):
    problems: list[ProblemOut] = Field(description="Every problem, each at its JSON path.")


class IntegrationPage(_Body):
    integrations: list[cfg.Integration] = Field(
        description="Newest first; secrets shown as set, never their values."
    )
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end.")


class RunRecord(BaseModel):
    """One run (CONTRACT.md section 3). Payload fields hold any JSON."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(
        description="The idempotency key: from the Pub/Sub message id or the webhook's "
        "webhook-id / Idempotency-Key header when sent, else generated."
    )
    integrationId: str = Field(description="The integration that handled it.")  # noqa: N815
    sourceKind: Literal[SOURCE_KINDS] = Field(  # type: ignore[valid-type]  # noqa: N815
        description="How the message came in."
    )
    status: Literal[RUN_STATUSES] = Field(  # type: ignore[valid-type]
        description="Where it stands: queued, then success, error, skipped, partial, "
        "retrying or dead_lettered."
    )
    incomingPayload: Any = Field(  # noqa: N815
        default=None,
        description='The payload received; too large for one document: {"truncated": true, ...}.',
    )
    transformedPayload: Any = Field(  # noqa: N815
        default=None, description="The output of the mappings."
    )
    outgoingRequest: Any = Field(  # noqa: N815
        default=None, description="method, url, headers (redacted) and body as sent."
    )
    outgoingResponse: Any = Field(  # noqa: N815
        default=None, description="status, headers and body (truncated) of the answer."
    )
    errorMessage: str | None = Field(  # noqa: N815
        default=None, description="Why it failed, when it did."
    )
    schemaViolations: list[dict[str, str]] | None = Field(  # noqa: N815
        default=None,
        description="Where the output broke the target's schema ({path, message}); the run "
        "is error and nothing was sent.",
    )
    attempts: int | None = Field(default=None, description="Delivery attempts so far.")
    transformationTimeMs: float | None = Field(  # noqa: N815
        default=None, description="Time spent on condition and mappings, in ms."
    )
    apiCallTimeMs: float | None = Field(  # noqa: N815
        default=None, description="Time spent delivering to the target, in ms."
    )
    replayOf: str | None = Field(  # noqa: N815
        default=None, description="Replays only: the id of the run replayed."
    )
    integrationVersion: int | None = Field(  # noqa: N815
        default=None,
        description="The integration's version that processed it (or accepted it, until "
        "processed); GET /api/integrations/{id}/versions/{n}/ shows that document.",
    )
    searchValues: list[str] | None = Field(  # noqa: N815
        default=None,
        description="The integration's searchKeys read from the payload at intake, as "
        "'<path>=<value>' (values cut to 200 characters); GET /api/runs/?key= matches them.",
    )
    createdAt: str = Field(description="When it was received (ISO-8601).")  # noqa: N815
    updatedAt: str | None = Field(  # noqa: N815
        default=None, description="When it last changed (ISO-8601)."
    )


class RunPage(_Body):
    runs: list[RunRecord] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end.")


class LastRun(_Body):
    id: str = Field(description="The run's id.")
    status: str = Field(description="Its status.")
    created_at: str = Field(description="When it was received (ISO-8601).")


class PublishedMessage(_Body):
    message_id: str = Field(description="The Pub/Sub message id (the run's id follows from it).")


class IntegrationStats(_Body):
    since: str = Field(description="The start of the counted period (ISO-8601, normalised).")
    total: int = Field(description="Runs received since then.")
    success: int = Field(description="Of those, delivered.")
    error: int = Field(description="Of those, failed for good (the target refused, or mapping).")
    skipped: int = Field(description="Of those, skipped by the condition.")
    partial: int = Field(description="Of those, emails accepted for some recipients only.")
    dead_lettered: int = Field(description="Of those, given up on after every retry.")
    failed: int = Field(
        description="error + dead_lettered: the runs that ended without delivering. A success "
        "rate is success / (success + failed + partial)."
    )
    in_flight: int = Field(description="Runs queued, retrying or being delivered now.")
    stuck: int = Field(
        description="Runs in flight longer than the reconciler's horizon (it republishes them)."
    )
    last_run: LastRun | None = Field(description="The latest run of any age; null if none.")


class Timings(_Body):
    transform_ms: float = Field(description="Time spent on condition and mappings, in ms.")


class SchemaViolation(_Body):
    path: str = Field(description="Where in the output, e.g. items[2].sku ('' is the whole).")
    message: str = Field(description="Which rule of the target's schema it breaks.")


_VIOLATIONS = "Where the output breaks the target's schema (with a target schema only)."


class PreviewResult(_Body):
    skipped: bool = Field(description="The condition was falsy: a real run would be skipped.")
    output: Any = Field(description="The transformed payload; null when skipped.")
    timings: Timings = Field(description="How long it took.")
    schema_violations: list[SchemaViolation] | None = Field(
        default=None, description=_VIOLATIONS + " A run would be error, and not sent."
    )


class PreviewFailure(ErrorBody):
    path: str | None = Field(
        default=None, description="Where it failed: condition, or mappings[i].transforms[k]."
    )
    timings: Timings = Field(description="How long it took until it failed.")


class ValidationResult(_Body):
    valid: bool = Field(description="No problem found.")
    problems: list[ProblemOut] = Field(description="Every problem, each at its JSON path.")
    schema_violations: list[SchemaViolation] | None = Field(
        default=None,
        description="The samplePayload's output against the target's schema, when the "
        "document has both: a warning, `valid` does not depend on it.",
    )


class VersionSummary(_Body):
    version: int = Field(description="The version number (the integration's `version`).")
    saved_at: str | None = Field(description="When this version was saved (ISO-8601).")
    summary: str = Field(
        description="What changed from the previous version, in one line, e.g. "
        "'mappings[2].transforms changed; target.url changed'; 'created' for version 1."
    )


class VersionList(_Body):
    versions: list[VersionSummary] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end.")


class RollbackRequest(_Body):
    """Save an earlier version's content as a new version."""

    version: int = Field(ge=1, description="The version whose content becomes current.")


class BacktestRuns(_Body):
    """Which stored runs of the integration to try the candidate on, newest first."""

    status: Literal[RUN_STATUSES] | None = Field(  # type: ignore[valid-type]
        default=None, description="Only runs with this status."
    )
    since: str | None = Field(default=None, description="Created at or after (ISO-8601).")
    until: str | None = Field(default=None, description="Created before (ISO-8601).")
    limit: int = Field(
        default=BACKTEST_DEFAULT_RUNS,
        ge=1,
        le=BACKTEST_MAX_RUNS,
        description=f"How many runs, at most {BACKTEST_MAX_RUNS}.",
    )


class BacktestRequest(_Body):
    """Try a candidate document on the integration's stored runs; nothing is sent or written."""

    integration: dict[str, Any] = Field(description="The candidate: a whole integration document.")
    runs: BacktestRuns = Field(
        default_factory=BacktestRuns, description="Which runs (default: the latest 50)."
    )


class DiffEntry(_Body):
    path: str = Field(description="Where, in the engine's path syntax ('' is the whole output).")
    op: Literal["add", "remove", "change"] = Field(
        description="add: only the candidate has it; remove: only the recorded output; "
        "change: both, different."
    )
    old: Any = Field(description="The recorded value (null for add).")
    new: Any = Field(description="The candidate's value (null for remove).")


class BacktestRun(_Body):
    run_id: str = Field(description="The stored run.")
    recorded_status: str | None = Field(description="The run's status as recorded.")
    recorded: Any = Field(description="The output the run recorded; null if none.")
    candidate: Any = Field(description="The candidate's output; null when skipped or failed.")
    skipped: bool = Field(description="The candidate's condition was falsy.")
    error: str | None = Field(
        description="Why the candidate failed on this run, or why the run cannot be tried."
    )
    diff: list[DiffEntry] = Field(description="recorded -> candidate, path by path.")
    schema_violations: list[SchemaViolation] | None = Field(
        default=None,
        description="Where the candidate's output breaks its target's schema: the run counts "
        "as nowFailing (the worker would not send it).",
    )


class BacktestTotals(_Body):
    runs: int = Field(description="Runs tried; the five counts below add up to it.")
    same: int = Field(description="Same outcome: equal output, both skipped, or both failing.")
    changed: int = Field(description="The candidate's output differs (or is new).")
    now_skipped: int = Field(description="Skipped by the candidate, not by the recorded run.")
    now_failing: int = Field(description="The candidate fails where the run did not.")
    no_payload: int = Field(description="Runs without a JSON payload to map (raw, truncated).")


class BacktestResult(_Body):
    totals: BacktestTotals = Field(description="How the runs' outcomes would change.")
    results: list[BacktestRun] = Field(description="One per run, newest first.")


class RunTestsRequest(_Body):
    """Run a whole (unsaved) document's test cases; nothing is sent or stored."""

    integration: dict[str, Any] = Field(description="A whole integration document.")


class TestResult(_Body):
    __test__ = False  # not a pytest test class

    name: str = Field(description="The test case's name.")
    ok: bool = Field(description="It passed.")
    diff: list[DiffEntry] = Field(
        description="expect -> actual output, path by path (old: expected, new: actual)."
    )
    reason: str | None = Field(description="Why it failed, in a sentence; null when ok.")
    skipped: bool = Field(description="The condition skipped the payload.")
    output: Any = Field(description="The actual output; null when skipped or failed.")
    error: str | None = Field(description="The condition's or a transform's error, if any.")
    schema_violations: list[SchemaViolation] = Field(description=_VIOLATIONS)


class TestsResult(_Body):
    __test__ = False  # not a pytest test class

    passed: int = Field(description="Cases that passed.")
    failed: int = Field(description="Cases that failed.")
    results: list[TestResult] = Field(description="One per case, in the document's order.")


class TestsFailedBody(ErrorBody, TestsResult):
    """A save refused because test cases fail (code tests_failed); ?force=true saves anyway."""


class RedriveRequest(_Body):
    """Resend the failed runs a filter matches, each as a new run (replayOf), at a bounded rate."""

    integration_id: str | None = Field(default=None, description="Only this integration's runs.")
    statuses: list[Literal["error", "dead_lettered", "retrying"]] = Field(
        min_length=1, description="Runs in any of these statuses."
    )
    since: str | None = Field(default=None, description="Created at or after (ISO-8601).")
    until: str | None = Field(
        default=None, description="Created before (ISO-8601); at most now (when the job starts)."
    )
    dry_run: StrictBool = Field(
        description="true: only count the runs that would be resent; false: resend them."
    )


class RedriveCount(_Body):
    count: int = Field(description="Runs the filter matches now.")


class RedriveStarted(_Body):
    job_id: str = Field(description="GET /api/runs/redrive/{job_id}/ shows its progress.")
    count: int = Field(description="Runs the filter matched when the job started.")


class RedriveFailure(_Body):
    run_id: str = Field(description="The run that was not resent.")
    reason: str = Field(description="Why (no JSON payload, paused or deleted integration, ...).")


class RedriveJob(_Body):
    job_id: str = Field(description="The job.")
    state: Literal["running", "done", "failed"] = Field(description="Where the job stands.")
    total: int = Field(description="Runs the filter matched when the job started.")
    queued: int = Field(description="Resent so far, each as a new run.")
    failed: int = Field(description="Not resent, each with a reason (see failures).")
    failures: list[RedriveFailure] = Field(description="The first 50 failures.")
    filter: dict[str, Any] = Field(description="The job's filter (until set to its start).")
    error: str | None = Field(default=None, description="Why the job failed, when it did.")
    created_at: str | None = Field(default=None, description="When it started (ISO-8601).")
    updated_at: str | None = Field(default=None, description="When it last advanced.")


class RedriveJobPage(_Body):
    jobs: list[RedriveJob] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end.")


class Queued(_Body):
    status: Literal["queued"] = Field(description="Accepted; the worker will process it.")
    run_id: str = Field(description="The new run; GET /api/runs/{id}/ follows it.")
    replay_of: str | None = Field(default=None, description="Replays: the run replayed.")


# --- team use: keys and the audit log -----------------------------------------------------

Role = Literal["viewer", "editor", "admin"]


class KeyRequest(_Body):
    """A new API key: a name people recognise, a role, and an optional expiry."""

    name: str = Field(min_length=1, max_length=100, description="Who or what uses the key.")
    role: Role = Field(
        description="viewer reads; editor also changes integrations, tests, replays and "
        "redrives; admin also manages keys and reads the audit log."
    )
    expires_at: str | None = Field(
        default=None,
        description="When the key stops working (ISO-8601, in the future); null: never.",
        json_schema_extra={"format": "date-time"},
    )


class Actor(_Body):
    key_id: str | None = Field(description="The API key's id; null for the bootstrap token.")
    name: str = Field(description="The key's name, or 'bootstrap admin token'.")
    role: Role | None = Field(default=None, description="The role it had.")


class KeyInfo(_Body):
    """An API key as listed: never the key itself nor its hash."""

    id: str = Field(description="The key's id (the 16 hex characters after mk_).")
    name: str = Field(description="Who or what uses the key.")
    role: Role = Field(description="What it may do.")
    prefix: str = Field(description="The start of the key, mk_<id>, to recognise it by.")
    created_at: str = Field(description="When it was made (ISO-8601).")
    last_used_at: str | None = Field(
        description="When it was last used (ISO-8601), to within a minute; null: never."
    )
    expires_at: str | None = Field(description="When it stops working; null: never.")
    created_by: Actor | None = Field(default=None, description="Who made it.")


class KeyCreated(KeyInfo):
    key: str = Field(
        description="The key: mk_<id>_<secret>. Shown this once; only its hash is stored."
    )


class KeyPage(_Body):
    keys: list[KeyInfo] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end.")


class WhoAmI(_Body):
    """The credential of this request: what the UI shows and hides by."""

    key_id: str | None = Field(description="The API key's id; null for the bootstrap token.")
    name: str = Field(description="The key's name, or 'bootstrap admin token'.")
    role: Role = Field(description="What it may do.")
    expires_at: str | None = Field(description="When the key stops working; null: never.")


class AuditTarget(_Body):
    type: str = Field(description="integration, key or runs.")
    id: str | None = Field(description="The integration's, key's or run's id, or the job's.")


class AuditChange(_Body):
    path: str = Field(description="JSON path in the document; '' for the whole of it.")
    op: Literal["add", "remove", "change"] = Field(description="What happened there.")
    old: Any = Field(description="The value before (null for add); secrets read [SECRET].")
    new: Any = Field(description="The value after (null for remove); secrets read [SECRET].")


class AuditEntry(_Body):
    """One change made through the API."""

    id: str = Field(description="The entry's id.")
    at: str = Field(description="When the change was made (ISO-8601).")
    actor: Actor = Field(description="Who made it.")
    action: str = Field(
        description="integration.create, .replace, .toggle, .delete, .rollback; run.replay; "
        "runs.redrive; key.create, key.revoke."
    )
    route: str = Field(description="The method and route, e.g. PUT /api/integrations/{id}/.")
    target: AuditTarget = Field(description="What was changed.")
    integration_id: str | None = Field(
        default=None, description="The integration concerned, if any."
    )
    diff: Any = Field(
        description="Before to after, path by path (a list of changes); a diff too large "
        'to keep reads {"truncated": true, "size", "preview"}.'
    )
    details: Any = Field(default=None, description="Redrives: the request and its result.")


class AuditPage(_Body):
    entries: list[AuditEntry] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at end.")


# --- parsing ------------------------------------------------------------------------------


def parse_body(model: type[_Body], body: Any) -> Any:
    """The body as `model`, or ConfigError with every problem at its JSON path."""
    if not isinstance(body, dict):
        raise ConfigError([Problem("", "the body must be a JSON object")])
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ConfigError(cfg.problems_from_pydantic(exc, body)) from None


# --- the OpenAPI document -----------------------------------------------------------------

_MODELS: list[type[BaseModel]] = [
    RunTestsRequest,
    TestsResult,
    TestsFailedBody,
    cfg.Integration,
    IntegrationPage,
    RunRecord,
    RunPage,
    PreviewRequest,
    UnsavedPreviewRequest,
    ValidateRequest,
    TestRequest,
    IntegrationStats,
    PublishedMessage,
    PreviewResult,
    PreviewFailure,
    ValidationResult,
    Queued,
    VersionList,
    RollbackRequest,
    BacktestRequest,
    BacktestResult,
    RedriveRequest,
    RedriveCount,
    RedriveStarted,
    RedriveJob,
    RedriveJobPage,
    ErrorBody,
    InvalidBody,
    KeyRequest,
    KeyCreated,
    KeyPage,
    WhoAmI,
    AuditPage,
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    words = {
        400: ("InvalidBody", "The body or a parameter is invalid; every problem is listed."),
        401: ("ErrorBody", "Missing or wrong bearer token, or a revoked or expired key."),
        403: ("ErrorBody", "The key's role is short of the one this route needs."),
        429: ("ErrorBody", "Too many failed sign-ins from this address; see Retry-After."),
        404: ("ErrorBody", "No such integration or run."),
        409: ("ErrorBody", "Conflicts with the stored state (version, paused, nothing to replay)."),
        413: ("ErrorBody", "The body is over the API's size limit."),
        503: ("ErrorBody", "A Google service is unavailable; retry."),
    }
    out = {}
    for status in (401, 403, 429, 503, *statuses):
        name, text = words[status]
        schema = (
            _ref(name) if status != 400 else {"anyOf": [_ref("InvalidBody"), _ref("ErrorBody")]}
        )
        out[str(status)] = _json(schema, text)
    return out


def _body(name: str, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": _ref(name)}}}


_FORCE = {
    "name": "force",
    "in": "query",
    "description": "true: save even though test cases fail.",
    "schema": {"type": "string", "enum": ["true", "false"], "default": "false"},
}
# A save's 400 is also the failing test cases' report.
_TESTS_FAILED = {
    "400": _json(
        {"anyOf": [_ref("InvalidBody"), _ref("TestsFailedBody"), _ref("ErrorBody")]},
        "The document is invalid (every problem listed), or its test cases fail "
        "(code tests_failed, with each case's result).",
    )
}
_TIME = {"in": "query", "schema": {"type": "string", "examples": ["2026-11-27T09:30:00Z"]}}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def _paging(default: int = DEFAULT_PAGE_SIZE) -> list[dict[str, Any]]:
    return [
        {
            "name": "limit",
            "in": "query",
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_PAGE_SIZE,
                "default": default,
            },
        },
        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
    ]


def _operations() -> dict[str, dict[str, Any]]:
    """What each endpoint of `URLS` does, by method; `_paths` puts them at the routes' paths."""
    integration = _json(_ref("Integration"), "The integration (secrets shown as set, never read).")
    queued = _json(_ref("Queued"), "Queued as a new run.")
    preview = {
        "200": _json(_ref("PreviewResult"), "The output, or skipped by the condition."),
        "422": _json(_ref("PreviewFailure"), "The condition or a transform failed."),
    }
    validation = _json(_ref("ValidationResult"), "Every problem with its JSON path.")
    run_filters = [
        {"name": "integration_id", "in": "query", "schema": {"type": "string"}},
        {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(RUN_STATUSES)}},
        _TIME | {"name": "since", "description": "Created at or after (ISO-8601)."},
        _TIME | {"name": "until", "description": "Created before (ISO-8601)."},
        {
            "name": "source_kind",
            "in": "query",
            "schema": {"type": "string", "enum": list(SOURCE_KINDS)},
        },
        {
            "name": "key",
            "in": "query",
            "description": "<path>:<value>, one of the integration's searchKeys and its exact "
            "value (first 200 characters), e.g. data.object.id:evt_1. Not full-text search.",
            "schema": {"type": "string"},
        },
        {
            "name": "min_duration_ms",
            "in": "query",
            "description": "Runs whose delivery took at least this long (apiCallTimeMs), "
            "slowest first; combines with integration_id only.",
            "schema": {"type": "number", "minimum": 0, "maximum": 1_000_000_000},
        },
    ]
    integration_filters = [
        {"name": "source_type", "in": "query", "schema": {"type": "string"}},
        {"name": "target_type", "in": "query", "schema": {"type": "string"}},
        {"name": "active", "in": "query", "schema": {"type": "string", "enum": ["true", "false"]}},
    ]
    return {
        "integrations": {
            "get": {
                "summary": "List integrations, newest first (filters combine)",
                "parameters": integration_filters + _paging(),
                "responses": {"200": _json(_ref("IntegrationPage"), "A page.")} | _errors(400),
            },
            "post": {
                "summary": "Create an integration (its test cases must pass unless "
                "?force=true)",
                "parameters": [_FORCE],
                "requestBody": _body("Integration"),
                "responses": {"201": integration} | _errors(400, 413) | _TESTS_FAILED,
            },
        },
        "integration": {
            "get": {"summary": "Read one", "responses": {"200": integration} | _errors(404)},
            "put": {
                "summary": "Replace one (send `version` to refuse a stale write with 409; its "
                "test cases must pass unless ?force=true)",
                "parameters": [_FORCE],
                "requestBody": _body("Integration"),
                "responses": {"200": integration} | _errors(400, 404, 409, 413) | _TESTS_FAILED,
            },
            "delete": {
                "summary": "Delete one, with its secrets and the subscription it created",
                "responses": {"204": {"description": "Deleted."}} | _errors(404),
            },
        },
        "toggle": {
            "post": {"summary": "Flip `active`", "responses": {"200": integration} | _errors(404)},
        },
        "rotate_signing_secret": {
            "post": {
                "summary": "Add a new signing key; the current one also signs for the target's "
                "`signing.overlapHours` (default 24), then stops. The answer shows the new "
                "key once, as `newSigningSecret`",
                "responses": {"200": integration} | _errors(404, 409),
            },
        },
        "send_test": {
            "post": {
                "summary": "Send a payload (default: the saved sample) through it for real",
                "requestBody": _body("TestRequest", required=False),
                "responses": {"202": queued} | _errors(400, 404, 409, 413),
            },
        },
        "test_pubsub": {
            "post": {
                "summary": "Publish a sample message (default: the saved samplePayload) to "
                "the integration's topic",
                "requestBody": _body("TestRequest", required=False),
                "responses": {"200": _json(_ref("PublishedMessage"), "Published.")}
                | _errors(400, 404, 409, 413),
            },
        },
        "stats": {
            "get": {
                "summary": "Run counts since a time (default: 24 hours ago) and the latest run",
                "parameters": [
                    {
                        "name": "since",
                        "in": "query",
                        "schema": {"type": "string", "format": "date-time"},
                    },
                ],
                "responses": {"200": _json(_ref("IntegrationStats"), "The counts.")}
                | _errors(400, 404),
            },
        },
        "preview_saved": {
            "post": {
                "summary": "Run condition and mapping on a payload; nothing is sent",
                "requestBody": _body("PreviewRequest"),
                "responses": preview | _errors(400, 404, 413),
            },
        },
        "preview": {
            "post": {
                "summary": "Preview with an unsaved integration",
                "requestBody": _body("UnsavedPreviewRequest"),
                "responses": preview | _errors(400, 413),
            }
        },
        "validate_saved": {
            "post": {
                "summary": "Check the saved integration, or a replacement for it",
                "requestBody": _body("ValidateRequest", required=False),
                "responses": {"200": validation} | _errors(400, 404, 413),
            },
        },
        "validate": {
            "post": {
                "summary": "Check an integration document",
                "requestBody": _body("ValidateRequest"),
                "responses": {"200": validation} | _errors(400, 413),
            }
        },
        "versions": {
            "get": {
                "summary": "The integration's versions, newest first (one per save)",
                "parameters": _paging(),
                "responses": {"200": _json(_ref("VersionList"), "A page of versions.")}
                | _errors(400, 404),
            },
        },
        "version": {
            "get": {
                "summary": "The document as saved at version n (secrets as references)",
                "responses": {"200": integration} | _errors(404),
            },
        },
        "rollback": {
            "post": {
                "summary": "Save version n's content as a new version (paths kept, "
                "subscription re-made; secrets stay current)",
                "requestBody": _body("RollbackRequest"),
                "responses": {"200": integration} | _errors(400, 404, 409, 413),
            },
        },
        "run_tests": {
            "post": {
                "summary": "Run the saved test cases (condition, mapping and the target's "
                "schema, as preview runs them); nothing is sent",
                "responses": {"200": _json(_ref("TestsResult"), "Per case, and counts.")}
                | _errors(404),
            },
        },
        "run_tests_unsaved": {
            "post": {
                "summary": "Run the test cases of an unsaved document (a draft); nothing is "
                "sent or stored",
                "requestBody": _body("RunTestsRequest"),
                "responses": {"200": _json(_ref("TestsResult"), "Per case, and counts.")}
                | _errors(400, 413),
            },
        },
        "backtest": {
            "post": {
                "summary": "Run a candidate's condition and mappings over stored runs; "
                "nothing is sent or written",
                "requestBody": _body("BacktestRequest"),
                "responses": {"200": _json(_ref("BacktestResult"), "Per run, and totals.")}
                | _errors(400, 404, 413),
            },
        },
        "redrive": {
            "get": {
                "summary": "Redrive jobs, newest first",
                "parameters": _paging(),
                "responses": {"200": _json(_ref("RedriveJobPage"), "A page of jobs.")}
                | _errors(400),
            },
            "post": {
                "summary": "Count (dryRun) or resend the failed runs a filter matches, as new "
                "runs, at a bounded rate",
                "requestBody": _body("RedriveRequest"),
                "responses": {
                    "200": _json(_ref("RedriveCount"), "dryRun: how many would be resent."),
                    "202": _json(_ref("RedriveStarted"), "The job started."),
                }
                | _errors(400, 404, 413),
            },
        },
        "redrive_job": {
            "get": {
                "summary": "A redrive job's progress",
                "responses": {"200": _json(_ref("RedriveJob"), "The job.")} | _errors(404),
            },
        },
        "runs": {
            "get": {
                "summary": "List runs, newest first (integration_id and at most one of status, "
                "source_kind, key, min_duration_ms; since/until with all but the last)",
                "parameters": run_filters + _paging(),
                "responses": {"200": _json(_ref("RunPage"), "A page.")} | _errors(400),
            }
        },
        "run": {
            "get": {
                "summary": "One run, whole",
                "responses": {"200": _json(_ref("RunRecord"), "The run.")} | _errors(404),
            },
        },
        "replay": {
            "post": {
                "summary": "Process the run's payload again with the integration as it is now",
                "responses": {"202": queued} | _errors(404, 409),
            },
        },
        "keys": {
            "get": {
                "summary": "List API keys, newest first (never the keys themselves)",
                "parameters": _paging(),
                "responses": {"200": _json(_ref("KeyPage"), "A page.")} | _errors(400),
            },
            "post": {
                "summary": "Create an API key; the answer shows the key this once",
                "requestBody": _body("KeyRequest"),
                "responses": {"201": _json(_ref("KeyCreated"), "The key, shown once.")}
                | _errors(400, 413),
            },
        },
        "key": {
            "delete": {
                "summary": "Revoke an API key (refused on every instance within 10 s)",
                "responses": {"204": {"description": "Revoked."}} | _errors(404),
            },
        },
        "whoami": {
            "get": {
                "summary": "The key (or bootstrap token) of this request, with its role",
                "responses": {"200": _json(_ref("WhoAmI"), "Who is calling.")} | _errors(),
            },
        },
        "audit": {
            "get": {
                "summary": "The audit log: every change made through the API, newest first",
                "parameters": [
                    {
                        "name": "integration_id",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "Only changes to this integration.",
                    },
                    {
                        "name": "key_id",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "Only changes made with this API key.",
                    },
                    _TIME | {"name": "since", "description": "Made at or after (ISO-8601)."},
                    _TIME | {"name": "until", "description": "Made before (ISO-8601)."},
                    *_paging(),
                ],
                "responses": {"200": _json(_ref("AuditPage"), "A page.")} | _errors(400),
            },
        },
    }


# werkzeug's `<id>` is OpenAPI's `{id}`.
_ARGUMENT = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")


def openapi_path(rule: str) -> str:
    """A werkzeug rule as the document's path: `/api/runs/<id>/` -> `/api/runs/{id}/`."""
    return _ARGUMENT.sub(r"{\1}", rule)


def _paths() -> dict[str, Any]:
    """The `paths` of the document: one per rule of `URLS`, its methods as `_operations` says."""
    operations = _operations()
    paths: dict[str, Any] = {}
    for rule in URLS.iter_rules():
        documented = operations[rule.endpoint]
        methods = {m.lower() for m in rule.methods or ()} - {"head", "options"}
        if methods - set(documented):
            raise KeyError(f"{rule.rule}: {sorted(methods - set(documented))} undocumented")
        item: dict[str, Any] = {}
        if rule.arguments:
            item["parameters"] = [_ID | {"name": name} for name in sorted(rule.arguments)]
        for method in sorted(methods):
            role = required_role(rule.endpoint, method.upper())
            operation = dict(documented[method])
            operation["x-required-role"] = role
            operation["description"] = (
                f"{operation.get('description', '')}\n\nNeeds role `{role}` or higher."
            ).strip()
            item[method] = operation
        paths[_ARGUMENT.sub(r"{\1}", rule.rule)] = item
    return paths


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document of `/api/`."""
    _, schemas = models_json_schema(
        [(model, "validation") for model in _MODELS],
        by_alias=True,
        ref_template="#/components/schemas/{model}",
    )
    # Integrations inside request bodies are checked by mapper.config (for paths relative
    # to the document); the schema says which model that is.
    schemas["$defs"]["UnsavedPreviewRequest"]["properties"]["integration"] = _ref(
        "Integration"
    ) | {"description": "A whole integration document, not saved."}
    schemas["$defs"]["BacktestRequest"]["properties"]["integration"] = _ref("Integration") | {
        "description": "The candidate: a whole integration document, not saved."
    }
    # Validate takes any object: reporting what is wrong with it is its whole job.
    schemas["$defs"]["ValidateRequest"]["properties"]["integration"] = {
        "anyOf": [{"type": "object"}, {"type": "null"}],
        "description": "Checked against the Integration schema and the engine's rules.",
    }
    paths = _paths()
    for item in paths.values():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["security"] = [{"adminToken": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "JSON mapper management API",
            "version": "1",
            "description": "Integrations and runs. Every route needs `Authorization: Bearer "
            "<API key or admin token>`, except this document; each operation states the "
            "role it needs (`x-required-role`: viewer < editor < admin), and a key whose "
            "role is short of it gets 403.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}},
        },
    }
