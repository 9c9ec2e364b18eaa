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
REFUSED = {  # receipt -> (status, code, sentence or the receipt's own, headers)
    "not_found": (404, "not_found", NOT_FOUND, None),
    "too_large": (413, "payload_too_large", None, None),
    "unauthenticated": (401, "bad_signature", "signature check failed", None),
    "invalid": (400, "invalid_json", None, None),
}


@functions_framework.http
@logged
def webhook(request: flask.Request) -> flask.Response:
    """Accept one payload for the integration whose webhookPath is in the URL."""
    if not isinstance(path := edge.route_token(request, "webhook", NOT_FOUND), str):
        return path  # its 405 or 404
    try:
        receipt = intake().receive_webhook(path, request.headers, edge.body_reader(request))
    except MapperError as exc:  # Firestore or Pub/Sub: 503, the sender retries
        return edge.from_exception(exc)
    if receipt.status == "queued":
        return edge.json_answer(202, {"status": "queued", "runId": receipt.run_id})
    if receipt.status in edge.LATER:  # paused, or past its rate limit
        return edge.later(receipt.status, receipt.reason, receipt.retry_after)
    status, code, sentence, headers = REFUSED[receipt.status]
    return edge.error(status, sentence or receipt.sentence, code, headers)
