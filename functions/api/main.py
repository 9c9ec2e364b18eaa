"""api: the management REST API under /api/, its OpenAPI document, and the web UI at /."""

from __future__ import annotations

import flask
import functions_framework
from routes import ApiSettings, handle

from mapper.engine.sandbox import init_v8
from mapper.http_edge import answer_http_errors_as_json
from mapper.logs import logged, setup_logging
from mapper.services import admin, services

# V8 must start on the main thread (see init_v8); preview and validate use it.
init_v8()
answer_http_errors_as_json(functions_framework.errorhandler)
setup_logging()


@functions_framework.http
@logged
def api(request: flask.Request) -> flask.Response:
    """Authenticate, route and answer one management request."""
    return handle(request, admin, ApiSettings.from_env(services))
