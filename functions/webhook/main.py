"""webhook: POST /webhook/{path}/ -> the intake's receipt -> 202, or why not."""

from __future__ import annotations

import flask
import functions_framework

from mapper import http_edge as edge
from mapper.errors import MapperError
from mapper.logs import logged, setup_logging
from mapper.pipeline.runs import SourceKind
from mapper.services import intake

edge.answer_http_errors_as_json(functions_framework.errorhandler)
setup_logging()
NOT_FOUND = "no webhook at this address"


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
    return edge.answer_receipt(receipt, SourceKind.WEBHOOK, NOT_FOUND)
