"""pubsub_push: POST /pubsub/{path}/ -> OIDC check -> decode the envelope -> queued run -> 204."""

from __future__ import annotations

from functools import cache

import flask
import functions_framework

from mapper.errors import MapperError, UnauthenticatedError
from mapper.http_edge import answer_http_errors_as_json, error, from_exception, read_body
from mapper.logs import bind_log_context, logged, setup_logging
from mapper.pipeline import Intake, run_id_for
from mapper.services import max_body_bytes, push_audience, services, setting
from mapper.sources.oidc import GOOGLE_CERTS_URL, OidcVerifier
from mapper.sources.push import EnvelopeError, decode_push_envelope, parse_data

NOT_FOUND = ("no push endpoint at this address", "not_found")
ENVELOPE_OVERHEAD_BYTES = 65_536
answer_http_errors_as_json(functions_framework.errorhandler)
setup_logging()


@cache
def _verifier() -> OidcVerifier | None:
    """The OIDC check, on unless PUSH_VERIFY_OIDC=false (the emulator sends no token)."""
    if setting("PUSH_VERIFY_OIDC", "true").lower() == "false":
        return None
    return OidcVerifier(
        push_audience(),
        setting("PUSH_SERVICE_ACCOUNT", ""),
        setting("OIDC_CERTS_URL", GOOGLE_CERTS_URL),
    )


@functions_framework.http
@logged
def pubsub_push(request: flask.Request) -> flask.Response:
    """Accept one Pub/Sub push delivery for the integration whose pushPath is in the URL."""
    parts = [p for p in request.path.split("/") if p]
    if request.method != "POST":
        return error(405, "use POST", "method_not_allowed", {"Allow": "POST"})
    if len(parts) != 2 or parts[0] != "pubsub":
        return error(404, *NOT_FOUND)
    try:
        verifier = _verifier()
        if verifier is not None:
            verifier.verify(request.headers.get("Authorization"))
        return _accept(request, parts[1])
    except UnauthenticatedError as exc:
        return error(401, str(exc), exc.code, {"WWW-Authenticate": "Bearer"})
    except ValueError as exc:  # PUSH_SERVICE_ACCOUNT missing while verification is on
        return error(503, f"push verification is not configured: {exc}", "not_configured")
    except MapperError as exc:
        return from_exception(exc)


def _accept(request: flask.Request, path: str) -> flask.Response:
    intake = Intake(services())
    integration = intake.find("pushPath", path)
    if integration is None:
        return error(404, *NOT_FOUND)
    bind_log_context(integration_id=integration["id"])
    if not integration.get("active", True):
        # Any non-2xx makes Pub/Sub keep the message and deliver it again later.
        return error(503, "this integration is paused", "inactive", {"Retry-After": "60"})
    # The envelope carries the data base64-encoded: a third larger than the message itself.
    limit = max_body_bytes() * 4 // 3 + ENVELOPE_OVERHEAD_BYTES
    body = read_body(request, limit)
    if body is None:
        intake.reject(
            integration["id"],
            source_kind="pubsub-push",
            reason=f"push body larger than the {limit} byte limit",
        )
        return flask.make_response("", 204)  # recorded; redelivering it cannot help
    try:
        message = decode_push_envelope(body)
    except EnvelopeError as exc:
        # Recorded with the raw body, then acknowledged: Pub/Sub would redeliver it forever.
        intake.reject(
            integration["id"],
            source_kind="pubsub-push",
            raw_body=body,
            reason=f"undecodable push envelope: {exc}",
        )
        return flask.make_response("", 204)
    run_id = run_id_for(integration["id"], message.message_id)
    bind_log_context(run_id=run_id)
    try:
        data = parse_data(message.data)
    except ValueError as exc:
        intake.reject(
            integration["id"],
            source_kind="pubsub-push",
            raw_body=message.data,
            reason=f"message data is not JSON: {exc}",
            run_id=run_id,
        )
        return flask.make_response("", 204)
    intake.accept(
        integration,
        data,
        run_id=run_id,
        source_kind="pubsub-push",
        attributes=message.attributes,
    )
    return flask.make_response("", 204)
