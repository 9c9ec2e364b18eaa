"""webhook: POST /webhook/{path}/ -> size and JSON checks -> queued run -> 202."""

from __future__ import annotations

import json

import flask
import functions_framework

from mapper.errors import MapperError, SignatureError
from mapper.http_edge import answer_http_errors_as_json, error, from_exception, read_body
from mapper.logs import bind_log_context, logged, setup_logging
from mapper.pipeline import Intake, run_id_for
from mapper.services import max_body_bytes, services
from mapper.sources.webhook import verify_signature

NOT_FOUND = ("no webhook at this address", "not_found")
answer_http_errors_as_json(functions_framework.errorhandler)
setup_logging()


@functions_framework.http
@logged
def webhook(request: flask.Request) -> flask.Response:
    """Accept one payload for the integration whose webhookPath is in the URL."""
    parts = [p for p in request.path.split("/") if p]
    if request.method != "POST":
        return error(405, "use POST", "method_not_allowed", {"Allow": "POST"})
    if len(parts) != 2 or parts[0] != "webhook":
        return error(404, *NOT_FOUND)
    try:
        return _accept(request, parts[1])
    except MapperError as exc:
        return from_exception(exc)


def _accept(request: flask.Request, path: str) -> flask.Response:
    intake = Intake(services())
    integration = intake.find("webhookPath", path)
    if integration is None:
        return error(404, *NOT_FOUND)
    bind_log_context(integration_id=integration["id"])
    if not integration.get("active", True):
        return error(
            503, "this integration is paused; retry later", "inactive", {"Retry-After": "60"}
        )
    headers = dict(request.headers)
    key = request.headers.get("webhook-id") or request.headers.get("Idempotency-Key")
    body = read_body(request, max_body_bytes())
    if body is None:
        intake.reject(
            integration["id"],
            source_kind="webhook",
            headers=headers,
            reason=f"body larger than the {max_body_bytes()} byte limit",
        )
        return error(413, f"body larger than {max_body_bytes()} bytes", "payload_too_large")
    signature = (integration.get("source") or {}).get("signature")
    if signature:
        try:
            _verify(signature, headers, body)
        except SignatureError as exc:
            # Nothing of an unauthenticated body is kept: only the marker that it came.
            intake.reject(
                integration["id"],
                source_kind="webhook",
                headers=headers,
                reason=f"rejected: signature check failed ({exc})",
            )
            return error(401, "signature check failed", "bad_signature")
    try:
        data = json.loads(body)
    except ValueError as exc:
        run_id = intake.reject(
            integration["id"],
            source_kind="webhook",
            raw_body=body,
            headers=headers,
            reason=f"body is not JSON: {exc}",
        )
        return error(400, f"body is not JSON ({exc}); recorded as run {run_id}", "invalid_json")
    run_id = run_id_for(integration["id"], key)
    bind_log_context(run_id=run_id)
    run_id, _ = intake.accept(
        integration,
        data,
        run_id=run_id,
        source_kind="webhook",
        headers=headers,
    )
    return flask.make_response(flask.jsonify({"status": "queued", "runId": run_id}), 202)


def _verify(signature: dict, headers: dict[str, str], body: bytes) -> None:
    from mapper.engine.config import SignatureConfig

    config = SignatureConfig.model_validate(signature)
    verify_signature(config, services().secrets.resolve(config.secret), headers, body)
