"""The management API's request and response bodies, and its route table.

The request models here validate every body the API reads (the integration itself is
validated by `mapper.config`), and `mapper.api_openapi` describes the API from these same
classes, so the document cannot drift from what the code accepts.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError
from pydantic.alias_generators import to_camel
from werkzeug.routing import Map, Rule

from .backtest import DEFAULT_RUNS as BACKTEST_DEFAULT_RUNS
from .backtest import MAX_RUNS as BACKTEST_MAX_RUNS
from .engine import config as cfg
from .errors import ConfigError, Problem
from .pipeline.runs import REDRIVABLE, RunStatus, SourceKind

DEFAULT_API_MAX_BODY_BYTES = 2_000_000
# The run vocabulary as the contract's plain string values (mapper.pipeline.runs).
RUN_STATUSES = tuple(s.value for s in RunStatus)
SOURCE_KINDS = tuple(k.value for k in SourceKind)
REDRIVABLE_STATUSES = tuple(s.value for s in RunStatus if s in REDRIVABLE)

# The API's routes. The api function dispatches on this table by endpoint and the OpenAPI
# document's paths are made from it, so neither can have a route the other lacks.
URLS = Map(
    [
        Rule("/api/integrations/", endpoint="integrations", methods=["GET", "POST"]),
        Rule("/api/integrations/<id>/", endpoint="integration", methods=["GET", "PUT", "DELETE"]),
        Rule("/api/integrations/<id>/toggle_active/", endpoint="toggle", methods=["POST"]),
        Rule(
            "/api/integrations/<id>/pause_delivery/", endpoint="pause_delivery", methods=["POST"]
        ),
        Rule(
            "/api/integrations/<id>/resume_delivery/",
            endpoint="resume_delivery",
            methods=["POST"],
        ),
        Rule(
            "/api/integrations/<id>/rotate_signing_secret/",
            endpoint="rotate_signing_secret",
            methods=["POST"],
        ),
        Rule("/api/integrations/<id>/preview/", endpoint="preview_saved", methods=["POST"]),
        Rule("/api/integrations/<id>/test/", endpoint="send_test", methods=["POST"]),
        Rule("/api/integrations/<id>/test_pubsub/", endpoint="test_pubsub", methods=["POST"]),
        Rule("/api/integrations/<id>/stats/", endpoint="stats", methods=["GET"]),
        Rule(
            "/api/integrations/<id>/source_schema/", endpoint="source_schema", methods=["GET"]
        ),
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
    "pause_delivery": {"POST": EDITOR},
    "resume_delivery": {"POST": EDITOR},
    "rotate_signing_secret": {"POST": EDITOR},
    "preview_saved": {"POST": EDITOR},
    "send_test": {"POST": EDITOR},
    "test_pubsub": {"POST": EDITOR},
    "stats": {"GET": VIEWER},
    "source_schema": {"GET": VIEWER},
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

    integration: dict[str, Any] = Field(
        description="An integration document; it may be partial: an absent name, source or "
        "target gets a stand-in, and the target's address is not judged (nothing is sent)."
    )


class TestRequest(_Body):
    """Send one payload through the saved integration for real (a run of kind `test`)."""

    payload: Any = Field(default=None, description="Defaults to the saved samplePayload.")


class PauseRequest(_Body):
    """Pause an integration's delivery: events are still accepted; their runs are held."""

    reason: str | None = Field(
        default=None, max_length=500, description="Why, shown with the integration."
    )


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


class Delivery(BaseModel):
    """One target's delivery of a fan-out run (docs/delivery.md, Fan-out)."""

    model_config = ConfigDict(extra="allow")

    target: str = Field(description="The target's name (its own, else target-<n>).")
    status: Literal[RUN_STATUSES] = Field(  # type: ignore[valid-type]
        description="success, skipped (its condition), error, partial (email), retrying or "
        "dead_lettered."
    )
    attempts: int = Field(description="Attempts at this target so far.")
    outgoingRequest: Any = Field(  # noqa: N815
        default=None, description="method, url, headers (redacted) and body as sent."
    )
    outgoingResponse: Any = Field(  # noqa: N815
        default=None, description="status, headers and body (truncated) of the answer."
    )
    errorMessage: str | None = Field(  # noqa: N815
        default=None, description="Why this target failed, when it did."
    )
    apiCallTimeMs: float | None = Field(  # noqa: N815
        default=None, description="Time spent delivering to this target, in ms."
    )
    nextAttemptAt: str | None = Field(  # noqa: N815
        default=None, description="While this target is retrying: its next attempt."
    )


class RunRecord(BaseModel):
    """One run (docs/integration.md, The run record). Payload fields hold any JSON."""

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
    originalRunId: str | None = Field(  # noqa: N815
        default=None,
        description="Replays only: the event's first run, whose id the target receives as "
        "Idempotency-Key and webhook-id (the same event again).",
    )
    redrivenBy: str | None = Field(  # noqa: N815
        default=None,
        description="Resent already: the redrive job's id, or replay:<run id>; a run is "
        "resent once.",
    )
    redrivenAs: str | None = Field(  # noqa: N815
        default=None, description="Resent already: the run that resent it (redrive that one)."
    )
    nextAttemptAt: str | None = Field(  # noqa: N815
        default=None,
        description="While retrying: the earliest time of the next attempt (ISO-8601).",
    )
    deliveries: list[Delivery] | None = Field(
        default=None,
        description="A fan-out (targets): one delivery per target, each attempted, retried "
        "and recorded on its own; absent with a single target, whose request and answer "
        "are outgoingRequest and outgoingResponse.",
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
    orderingKey: str | None = Field(  # noqa: N815
        default=None,
        description="The integration has orderingKey and the payload a value there: the "
        "Pub/Sub ordering key this run was queued under (the integration's id, then the "
        "value or its SHA-256 digest); runs with the same one are delivered in order.",
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


class ShapePath(_Body):
    path: str = Field(description="A path of the payload (arrays as [*]).")
    types: list[str] = Field(description="The JSON types seen there.")
    first_seen: str | None = Field(description="When a payload first had it (ISO-8601).")
    last_seen: str | None = Field(description="When a payload last had it (ISO-8601).")


class ShapeDrift(_Body):
    path: str = Field(description="The path that drifted.")
    kind: Literal["missing", "typeChanged", "new"] = Field(
        description="missing: 20 payloads in a row lacked it; typeChanged: 20 in a row had it "
        "with a type it never had before; new: it appeared after the first 20 payloads."
    )
    since: str | None = Field(description="When the drift began (ISO-8601).")
    mapped: bool = Field(description="Whether a mapping reads the path (or one inside it).")


class SourceSchema(_Body):
    """The shape of the payloads the integration accepted, sampled (docs/mapping.md)."""

    paths: list[ShapePath] = Field(description="By path.")
    drift: list[ShapeDrift] = Field(description="By path.")
    payloads: int = Field(description="Accepted payloads folded into the shape so far.")
    truncated: int = Field(description="Paths not kept: past the shape's bound of paths.")


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
    targets: list[TargetPreview] | None = Field(
        default=None,
        description="A fan-out: each target's result, by its own condition and mappings "
        "(else the integration's).",
    )


class TargetPreview(_Body):
    name: str = Field(description="The target's name.")
    skipped: bool = Field(description="Its condition was falsy: it would not be sent.")
    output: Any = Field(description="What it would be sent; null when skipped.")
    timings: Timings = Field(description="How long it took.")
    error: Any = Field(default=None, description="Why its mapping failed, when it did.")


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
    statuses: list[Literal[REDRIVABLE_STATUSES]] = Field(  # type: ignore[valid-type]
        min_length=1,
        description="Runs in any of these statuses (a retrying run is still in flight: the "
        "platform attempts it again itself).",
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
    status: Literal[RunStatus.QUEUED] = Field(description="Accepted; the worker will process it.")
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
