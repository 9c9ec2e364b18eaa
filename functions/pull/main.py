"""pull: Cloud Scheduler's tick dispatches due pull integrations; each task drains one."""

from __future__ import annotations

from functools import cache

import flask
import functions_framework

from mapper.errors import MapperError, UnauthenticatedError
from mapper.http_edge import answer_http_errors_as_json, error, from_exception
from mapper.logs import bind_log_context, logged, setup_logging
from mapper.services import puller, setting
from mapper.sources.oidc import GOOGLE_CERTS_URL, OidcVerifier
from mapper.sources.push import EnvelopeError, decode_push_envelope, parse_data

answer_http_errors_as_json(functions_framework.errorhandler)
setup_logging()


@cache
def _verifier() -> OidcVerifier | None:
    """Checks Scheduler's and the task subscription's OIDC tokens, when an invoker is set."""
    account = setting("PULL_INVOKER_SERVICE_ACCOUNT", "")
    if not account:
        return None  # Cloud Run's own IAM check guards the function (infra/)
    return OidcVerifier(
        setting("PULL_AUDIENCE", ""), account, setting("OIDC_CERTS_URL", GOOGLE_CERTS_URL)
    )


@functions_framework.http
@logged
def pull(request: flask.Request) -> flask.Response:
    """An empty tick: dispatch due integrations. A pushed task: drain that one integration."""
    if request.method != "POST":
        return error(405, "use POST", "method_not_allowed", {"Allow": "POST"})
    try:
        verifier = _verifier()
        if verifier is not None:
            verifier.verify(request.headers.get("Authorization"))
        body = request.get_data()
        if b'"message"' not in body:
            return flask.jsonify(puller().dispatch())
        try:
            task = parse_data(decode_push_envelope(body).data)
            integration_id = str(task["integrationId"])
        except (EnvelopeError, ValueError, KeyError, TypeError) as exc:
            # Acknowledged (2xx): a malformed task would fail the same way every time.
            return flask.jsonify({"skipped": f"not a pull task: {exc}"})
        bind_log_context(integration_id=integration_id)
        return flask.jsonify(puller().drain(integration_id).as_dict())
    except UnauthenticatedError as exc:
        return error(401, str(exc), exc.code, {"WWW-Authenticate": "Bearer"})
    except MapperError as exc:
        return from_exception(exc)
