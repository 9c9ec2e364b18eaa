"""pull: a Scheduler tick dispatches and reconciles; a task drains one or redrives a batch."""

from __future__ import annotations

import flask
import functions_framework

from mapper import http_edge as edge
from mapper.errors import EnvelopeError, MapperError
from mapper.logs import logged, setup_logging
from mapper.services import pull_verifier, puller, sweep_in_flight, task_handler
from mapper.sources.push import decode_push_envelope, parse_data

edge.answer_http_errors_as_json(functions_framework.errorhandler)
setup_logging()


@functions_framework.http
@logged
def pull(request: flask.Request) -> flask.Response:
    """An empty tick: dispatch due integrations, reconcile. A pushed task: run it."""
    if request.method != "POST":
        return edge.error(405, "use POST", "method_not_allowed", {"Allow": "POST"})
    try:
        if verifier := pull_verifier():
            verifier.verify(request.headers.get("Authorization"))
        body = request.get_data()
        if b'"message"' not in body:
            return flask.jsonify({**puller().dispatch(), **sweep_in_flight()})
        try:  # a drain of one integration, or a redrive job's next batch
            run_task = task_handler(parse_data(decode_push_envelope(body).data))
        except (EnvelopeError, ValueError, KeyError, TypeError) as exc:
            # Acknowledged (2xx): a malformed task would fail the same way every time.
            return flask.jsonify({"skipped": f"not a pull task: {exc}"})
        return flask.jsonify(run_task())
    except MapperError as exc:
        return edge.from_exception(exc)
