"""pubsub_push: POST /pubsub/{path}/ -> the intake's receipt -> 204, or why not."""

from __future__ import annotations

import flask
import functions_framework

from mapper import http_edge as edge
from mapper.errors import MapperError, UnauthenticatedError
from mapper.logs import logged, setup_logging
from mapper.services import intake

edge.answer_http_errors_as_json(functions_framework.errorhandler)
setup_logging()
NOT_FOUND = "no push endpoint at this address"


@functions_framework.http
@logged
def pubsub_push(request: flask.Request) -> flask.Response:
    """Accept one Pub/Sub push delivery for the integration whose pushPath is in the URL."""
    path = edge.route_token(request, "pubsub", NOT_FOUND)
    if not isinstance(path, str):
        return path
    try:
        auth = request.headers.get("Authorization")
        receipt = intake().receive_push(path, auth, edge.body_reader(request))
    except MapperError as exc:
        return edge.from_exception(exc)
    match receipt.status:
        case "not_found":
            return edge.error(404, NOT_FOUND, "not_found")
        case "unauthenticated":
            return edge.from_exception(UnauthenticatedError(receipt.reason))
        case "paused" | "rate_limited":  # any non-2xx: Pub/Sub keeps it, delivers it again
            return edge.later(receipt.status, receipt.reason, receipt.retry_after)
    # Queued, or recorded as an error run: acknowledged, redelivering it cannot help.
    return flask.make_response("", 204)
