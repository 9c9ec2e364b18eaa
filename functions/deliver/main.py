"""deliver: a delivery queue's task -> one run sent to one target and recorded."""

from __future__ import annotations

import flask
import functions_framework

from mapper import http_edge as edge
from mapper.engine.sandbox import init_v8
from mapper.errors import MapperError
from mapper.logs import logged, setup_logging
from mapper.pipeline.deliver import TaskBodyError
from mapper.services import deliver_verifier, deliverer

# V8 must start on the main thread (see init_v8); functions-framework imports us there.
init_v8()
edge.answer_http_errors_as_json(functions_framework.errorhandler)
setup_logging()


@functions_framework.http
@logged
def deliver(request: flask.Request) -> flask.Response:
    """Send the task's run to its target; any non-2xx makes the queue retry it later."""
    if request.method != "POST":
        return edge.error(405, "use POST", "method_not_allowed", {"Allow": "POST"})
    try:
        if verifier := deliver_verifier():
            verifier.verify(request.headers.get("Authorization"))
        status = deliverer().deliver(request.get_data())
    except TaskBodyError as exc:  # 2xx: a malformed task would fail the same way every time
        return flask.jsonify({"skipped": str(exc)})
    except MapperError as exc:  # retryable ones are 503s: the queue sends the task again
        return edge.from_exception(exc)
    return flask.jsonify({"status": status})
