"""What the HTTP functions share at the edge: JSON answers and error bodies, the one table
of statuses, and reading a bounded body."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import flask
import orjson

from .errors import (
    ConfigError,
    ConflictError,
    InvalidQueryError,
    MapperError,
    MessageTooLarge,
    NotFoundError,
    SignatureError,
    UnauthenticatedError,
)
from .pipeline.intake import Receipt
from .pipeline.runs import RunStatus, SourceKind

# The one mapping of error classes to HTTP statuses; the first match wins. Any retryable
# error answers 503 with Retry-After (the sender keeps the message); anything else is 500.
STATUS_BY_ERROR: tuple[tuple[type[MapperError], int], ...] = (
    (MessageTooLarge, 413),
    (NotFoundError, 404),
    (ConflictError, 409),
    (ConfigError, 400),
    (InvalidQueryError, 400),
    (SignatureError, 401),
    (UnauthenticatedError, 401),
)
RETRY_AFTER_S = "10"


def status_for(exc: MapperError) -> int:
    """The HTTP status of a typed error."""
    if exc.retryable:
        return 503
    for kind, status in STATUS_BY_ERROR:
        if isinstance(exc, kind):
            return status
    return 500


@dataclass(frozen=True)
class Answer:
    """How the edge answers one receipt: a status, and for a refusal its code and sentence."""

    status: int
    code: str = ""
    sentence: str | None = None  # None: the receipt's own sentence
    headers: Mapping[str, str] | None = None
    later: bool = False  # come back later: Retry-After from the receipt

# The one table of intake receipts -> HTTP answers, per source that answers over HTTP.
# A push answer other than 2xx makes Pub/Sub keep the message and deliver it again, so a
# push that was recorded as an error run (too large, invalid) is acknowledged with 204:
# delivering it again cannot help. A paused integration answers 503 to both: keep it.
RECEIPT_ANSWERS: dict[str, dict[SourceKind, Answer]] = {
    RunStatus.QUEUED: {SourceKind.WEBHOOK: Answer(202), SourceKind.PUBSUB_PUSH: Answer(204)},
    # source.dedupe: the same values within the window; nothing sent, the first run named.
    "duplicate": {SourceKind.WEBHOOK: Answer(202), SourceKind.PUBSUB_PUSH: Answer(204)},
    "not_found": {
        SourceKind.WEBHOOK: Answer(404, "not_found"),
        SourceKind.PUBSUB_PUSH: Answer(404, "not_found"),
    },
    "paused": {
        SourceKind.WEBHOOK: Answer(503, "inactive", later=True),
        SourceKind.PUBSUB_PUSH: Answer(503, "inactive", later=True),
    },
    "rate_limited": {  # past the source's rateLimit: nothing recorded, the sender keeps it
        SourceKind.WEBHOOK: Answer(429, "rate_limited", later=True),
        SourceKind.PUBSUB_PUSH: Answer(429, "rate_limited", later=True),
    },
    "too_large": {
        SourceKind.WEBHOOK: Answer(413, "payload_too_large"),
        SourceKind.PUBSUB_PUSH: Answer(204),
    },
    "unauthenticated": {
        SourceKind.WEBHOOK: Answer(401, "bad_signature", "signature check failed"),
        SourceKind.PUBSUB_PUSH: Answer(
            401, UnauthenticatedError.code, headers={"WWW-Authenticate": "Bearer"}
        ),
    },
    "invalid": {
        SourceKind.WEBHOOK: Answer(400, "invalid_json"),
        SourceKind.PUBSUB_PUSH: Answer(204),
    },
}


def answer_receipt(receipt: Receipt, source: SourceKind, not_found: str) -> Any:
    """The HTTP answer to `receipt` for `source` (RECEIPT_ANSWERS); `not_found`: its 404 text."""
    answer = RECEIPT_ANSWERS[receipt.status][source]
    if answer.status == 202:
        return json_answer(202, {"status": receipt.status, "runId": receipt.run_id})
    if answer.status == 204:
        return flask.make_response("", 204)
    sentence = not_found if receipt.status == "not_found" else answer.sentence
    headers = dict(answer.headers or {})
    if answer.later:
        headers["Retry-After"] = str(receipt.retry_after or RETRY_AFTER_S)
    return error(answer.status, sentence or receipt.sentence, answer.code, headers)


def json_answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Any:
    """`body` as a JSON answer that cannot fail to write, and that no browser sniffs as HTML."""
    response = flask.make_response(answer_bytes(body), status, headers or {})
    response.headers["Content-Type"] = "application/json"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def answer_bytes(value: Any) -> bytes:
    """`value` as strict JSON in UTF-8, whatever it holds; keys in the order they were built.

    What a stored document may still hold (from before the intake refused it, or written by
    hand) must not make a whole page fail: a lone surrogate is written as its `\\ud800` escape,
    NaN and the infinities (which JSON has no words for) as null.
    """
    try:
        return orjson.dumps(value)  # NaN and Infinity as null; refuses lone surrogates
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(_finite(value), separators=(",", ":"), allow_nan=False).encode("ascii")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def error(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> Any:
    """The contract's error body: {"error": sentence, "code": machine_code}."""
    return json_answer(status, {"error": message, "code": code}, headers)




def from_exception(exc: MapperError) -> Any:
    """A typed error as its clear message; retryable ones as 503 so the sender retries."""
    status = status_for(exc)
    if status == 503:
        return error(503, "temporarily unavailable, try again", exc.code,
                     {"Retry-After": RETRY_AFTER_S})
    if status == 401:
        return error(401, str(exc), exc.code, {"WWW-Authenticate": "Bearer"})
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


def route_token(request: flask.Request, prefix: str, nothing_here: str) -> str | Any:
    """The `{path}` of `POST /<prefix>/{path}/`, or the 405 or 404 answer to return instead."""
    if request.method != "POST":
        return error(405, "use POST", "method_not_allowed", {"Allow": "POST"})
    parts = [p for p in request.path.split("/") if p]
    if len(parts) != 2 or parts[0] != prefix:
        return error(404, nothing_here, "not_found")
    return parts[1]


def body_reader(request: flask.Request) -> Any:
    """`read(limit)`: the request body, or None when it is larger than `limit` bytes."""

    def read(limit: int) -> bytes | None:
        if request.content_length is not None and request.content_length > limit:
            return None
        body = request.stream.read(limit + 1)
        return None if len(body) > limit else body

    return read


def read_body(request: flask.Request, limit: int) -> bytes | None:
    """The request body, or None when it is larger than `limit` bytes."""
    return body_reader(request)(limit)
