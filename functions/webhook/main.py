"""webhook: POST /webhook/{path}/ -> the intake's receipt -> 202, or why not."""

from __future__ import annotations

import flask
import functions_framework

from mapper import http_edge as edge
from mapper.errors import MapperError
from mapper.logs import logged, setup_logging
from mapper.services import intake

edge.answer_http_errors_as_json(functions_framework.errorhandler)
setup_logging()
NOT_FOUND = "no webhook at this address"

@functions_framework.http
@logged
def webhook(request: flask.Request) -> flask.Response:
    """Accept one payload for the integration whose webhookPath is in the URL."""
    path = edge.route_token(request, "webhook", NOT_FOUND)
    if not isinstance(path, str):
        return path
    try:
        receipt = intake().receive_webhook(path, request.headers, edge.body_reader(request))
    except MapperError as exc:
        return edge.from_exception(exc)
    match receipt.status:
        case "queued":
            return flask.make_response({"status": "queued", "runId": receipt.run_id}, 202)
        case "invalid":
            reason = f"{receipt.reason}; recorded as run {receipt.run_id}"
            return edge.error(400, reason, "invalid_json")
        case "too_large":
            return edge.error(413, f"body larger than {receipt.limit} bytes", "payload_too_large")
        case "unauthenticated":
            return edge.error(401, "signature check failed", "bad_signature")
        case "paused":
            return edge.error(503, receipt.reason, "inactive", {"Retry-After": "60"})
    return edge.error(404, NOT_FOUND, "not_found")
