"""What the HTTP functions share at the edge: JSON error bodies and reading a bounded body."""

from __future__ import annotations

from typing import Any

import flask

from .errors import MapperError, MessageTooLarge


def error(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> Any:
    """The contract's error body: {"error": sentence, "code": machine_code}."""
    return flask.make_response(
        flask.jsonify({"error": message, "code": code}), status, headers or {}
    )


def from_exception(exc: MapperError, status: int = 500) -> Any:
    """A typed error as its clear message; retryable ones as 503 so the sender retries."""
    if isinstance(exc, MessageTooLarge):
        return error(413, str(exc), exc.code)
    if exc.retryable:
        return error(503, "temporarily unavailable, try again", exc.code, {"Retry-After": "10"})
    return error(status, str(exc), exc.code)


def answer_http_errors_as_json(errorhandler: Any) -> None:
    """Make the framework's own 404/405 (paths its router never matches) answer the contract's JSON.

    Pass `functions_framework.errorhandler` from a function's main module.
    """

    @errorhandler(404)
    def _not_found(exc: Exception) -> Any:
        return error(404, "no such route", "not_found")

    @errorhandler(405)
    def _method_not_allowed(exc: Exception) -> Any:
        return error(405, "method not allowed", "method_not_allowed")


def read_body(request: flask.Request, limit: int) -> bytes | None:
    """The request body, or None when it is larger than `limit` bytes."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = request.stream.read(limit + 1)
    return None if len(body) > limit else body
