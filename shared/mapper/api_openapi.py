"""The OpenAPI 3.1 document of `/api/`, built from the API's own models and route table.

`openapi()` describes the API from the same classes that validate its bodies
(`mapper.api_schema`) and the same `URLS` the api function dispatches on, so the document
cannot drift from what the code accepts.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .api_schema import (
    RUN_STATUSES,
    SOURCE_KINDS,
    URLS,
    AuditPage,
    BacktestRequest,
    BacktestResult,
    ErrorBody,
    IntegrationPage,
    IntegrationStats,
    InvalidBody,
    KeyCreated,
    KeyPage,
    KeyRequest,
    PauseRequest,
    PreviewFailure,
    PreviewRequest,
    PreviewResult,
    PublishedMessage,
    Queued,
    RedriveCount,
    RedriveJob,
    RedriveJobPage,
    RedriveRequest,
    RedriveStarted,
    RollbackRequest,
    RunPage,
    RunRecord,
    RunTestsRequest,
    SourceSchema,
    TestRequest,
    TestsFailedBody,
    TestsResult,
    UnsavedPreviewRequest,
    ValidateRequest,
    ValidationResult,
    VersionList,
    WhoAmI,
    required_role,
)
from .engine import config as cfg
from .store.common import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

# --- the OpenAPI document -----------------------------------------------------------------

_MODELS: list[type[BaseModel]] = [
    RunTestsRequest,
    TestsResult,
    TestsFailedBody,
    cfg.Integration,
    IntegrationPage,
    RunRecord,
    RunTestsRequest,
    TestsFailedBody,
    TestsResult,
    RunPage,
    PreviewRequest,
    UnsavedPreviewRequest,
    ValidateRequest,
    TestRequest,
    PauseRequest,
    IntegrationStats,
    SourceSchema,
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
        "pause_delivery": {
            "post": {
                "summary": "Pause delivery: events are still accepted (202), their runs are "
                "held and nothing is sent until delivery is resumed",
                "requestBody": _body("PauseRequest", required=False),
                "responses": {"200": integration} | _errors(400, 404, 409),
            },
        },
        "resume_delivery": {
            "post": {
                "summary": "Resume delivery: the held runs are sent, oldest first, within the "
                "target's rateLimit",
                "responses": {"200": integration} | _errors(404, 409),
            },
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
        "source_schema": {
            "get": {
                "summary": "The shape of the payloads it accepted (sampled) and its drift",
                "responses": {"200": _json(_ref("SourceSchema"), "The shape.")}
                | _errors(404),
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
