"""The one error tree of the platform, each class saying what happens next.

    MapperError                      root; never retried unless it says so
    ├── ConfigError                  the integration document is invalid (carries every problem)
    ├── PathError                    a path string does not parse
    ├── TransformError               a built-in transform failed on a value
    │   ├── OutputTooLarge           ... its result would pass the output limit
    │   └── SandboxError             user JavaScript threw, or broke a limit
    │       ├── SandboxTimeout       ... ran past its CPU time limit
    │       ├── SandboxMemoryError   ... ran past its memory limit
    │       └── JsonataError         ... a JSONata expression failed (code, position)
    ├── SecretError                  a secret reference cannot be resolved (retryable)
    │   ├── SecretNotFound           ... it does not exist (any more)
    │   ├── SecretAccessDenied       ... the runtime identity may not read it
    │   └── InvalidSecretRef         ... the reference is malformed
    ├── SignatureError               a webhook signature is missing or wrong
    ├── UnauthenticatedError         an OIDC token (Pub/Sub push, Scheduler) is missing or wrong
    ├── SigningKeysUnavailable       Google's OIDC signing keys cannot be fetched (retryable)
    ├── EnvelopeError                a push request is not a Pub/Sub push envelope
    ├── ListenerError                Google refused to create, change or use a subscription
    ├── SchemaViolationError         the output breaks the receiver's schema; nothing is sent
    ├── TestsFailed                  an integration's saved test cases fail; it is not saved
    ├── TargetError                  the target refused the message for good (4xx, bad address)
    │   ├── BlockedDestinationError  the target address is private/reserved and not allowlisted
    │   ├── PartiallyDelivered       some email recipients refused it; the run ends partial
    │   ├── TlsNotOffered            useTLS is on and the SMTP server offers no STARTTLS
    │   └── RetryableTargetError     the target may accept it later (timeout, 408, 429, 5xx)
    ├── StoreError                   Firestore failed (retryable)
    ├── QueueError                   Pub/Sub failed to publish or set up a topic (retryable)
    ├── DeliveryQueueError           Cloud Tasks refused a queue or task operation
    │   ├── DeliveryQueueNotFound    ... the target's queue does not exist
    │   └── DeliveryQueueUnavailable ... it failed for now (retryable)
    ├── NotFoundError                the document asked for does not exist
    ├── ConflictError                it exists already, or changed since it was read
    ├── InvalidQueryError            a list query has a bad cursor, limit or time bound
    ├── MessageTooLarge              over Pub/Sub's 10 MB message limit; never retried
    └── NotConfigured                an operator setting this operation needs is not set (503)

The pipeline adds its own, beside the code that raises them (`mapper.pipeline.worker`):
`RunBusy` and `RunNotRecorded` (retryable), `IntegrationGone`.

`retryable` tells the worker whether to raise (so Pub/Sub redelivers) or to record
the run as failed for good.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from .delivery import Delivery


class MapperError(Exception):
    """Root of every error the platform raises on purpose."""

    retryable = False
    code = "mapper_error"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document: where (a JSON path) and why (a sentence)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class ConfigError(MapperError):
    """The integration document is invalid; `problems` lists every reason."""

    code = "invalid_config"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems) or "invalid configuration")


class PathError(MapperError):
    """A source or target path does not parse."""

    code = "invalid_path"


class TransformError(MapperError):
    """A transform failed on one message; `where` names the mapping and transform."""

    code = "transform_error"

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        self.detail = message
        super().__init__(f"{where}: {message}" if where else message)


class OutputTooLarge(TransformError):
    """A transform's result, or a message's, would pass the output limit (docs/limits.md)."""

    code = "output_too_large"


class SandboxError(TransformError):
    """User JavaScript threw or broke a limit; `where` names the condition or transform."""

    code = "javascript_error"


class SandboxTimeout(SandboxError):
    """User JavaScript ran past its time limit."""

    code = "javascript_timeout"


class SandboxMemoryError(SandboxError):
    """User JavaScript ran past its memory limit."""

    code = "javascript_memory"


class JsonataError(SandboxError):
    """A JSONata expression did not compile or failed on a value; `position` is the
    character (1-based) after the token where JSONata stopped, `jsonata_code` its code."""

    code = "jsonata_error"

    def __init__(
        self, where: str, message: str, jsonata_code: str | None, position: int | None
    ) -> None:
        self.jsonata_code = jsonata_code
        self.position = position
        said = f"{jsonata_code}: " if jsonata_code else ""
        at = f" (at position {position})" if position is not None else ""
        super().__init__(where, f"{said}{message}{at}")


class SecretError(MapperError):
    """A secret reference cannot be resolved (missing, no access)."""

    code = "secret_error"
    retryable = True


class SignatureError(MapperError):
    """A webhook signature is missing, stale or does not match."""

    code = "bad_signature"


class UnauthenticatedError(MapperError):
    """A bearer OIDC token is missing, expired, or not for us."""

    code = "unauthenticated"


class SigningKeysUnavailable(MapperError):
    """Google's OIDC signing keys could not be fetched; the caller should retry."""

    code = "signing_keys_unavailable"
    retryable = True


class EnvelopeError(MapperError):
    """A push request that is not a standard Pub/Sub push envelope."""

    code = "invalid_envelope"


class ListenerError(MapperError):
    """Google refused a subscription or topic operation; the sentence says what to grant or fix.

    `path` names the integration field the user should look at (e.g. `source.topic`).
    """

    code = "pubsub_error"

    def __init__(self, message: str, path: str = "source", retryable: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.retryable = retryable


class SchemaViolationError(MapperError):
    """The output breaks the target's `schema`; `violations` lists {path, message} in it."""

    code = "schema_violation"

    def __init__(self, violations: list[dict[str, str]]) -> None:
        self.violations = list(violations)
        shown = "; ".join(
            f"{v['path']}: {v['message']}" if v["path"] else v["message"] for v in violations
        )
        super().__init__(f"the output breaks the target's schema: {shown}")


class TestsFailed(MapperError):
    """Saved test cases of an integration fail; `report` is what run_tests answers."""

    __test__ = False  # not a pytest test class, whatever its name says
    code = "tests_failed"

    def __init__(self, report: dict[str, Any]) -> None:
        self.report = report
        failed = [r["name"] for r in report["results"] if not r["ok"]]
        names = ", ".join(failed[:5]) + (", ..." if len(failed) > 5 else "")
        super().__init__(
            f"{len(failed)} of {len(report['results'])} test cases fail ({names}); fix them, "
            "or save anyway with ?force=true"
        )


class TargetError(MapperError):
    """The target refused the message for good; retrying would not help.

    `delivery` is what was sent and what came back (a `mapper.delivery.Delivery`), when the
    failure happened after something was sent; the run records it.
    """

    code = "target_error"

    def __init__(self, message: str, delivery: Delivery | None = None) -> None:
        super().__init__(message)
        self.delivery = delivery

    def with_delivery(self, delivery: Delivery | None) -> Self:
        """This error, carrying `delivery` (for `raise exc.with_delivery(...)`)."""
        self.delivery = delivery
        return self


class BlockedDestinationError(TargetError):
    """The target resolves to a private or reserved address that is not allowlisted."""

    code = "blocked_destination"


class PartiallyDelivered(TargetError):
    """Some recipients took the message and others refused it: the run ends `partial`.

    Not retried: the recipients who have it would get it twice.
    """

    code = "partially_delivered"


class TlsNotOffered(TargetError):
    """useTLS asks for STARTTLS and the SMTP server does not offer it (never downgraded)."""


class RetryableTargetError(TargetError):
    """The target may accept the message later (connection error, timeout, 408, 429, 5xx)."""

    code = "target_unavailable"
    retryable = True


class StoreError(MapperError):
    """Firestore failed; the caller should retry."""

    code = "store_error"
    retryable = True


class QueueError(MapperError):
    """Pub/Sub failed to publish or to set up a topic; the caller should retry."""

    code = "queue_error"
    retryable = True


class DeliveryQueueError(MapperError):
    """Cloud Tasks refused a queue or task operation; the sentence says what to grant or fix."""

    code = "delivery_queue_error"


class DeliveryQueueNotFound(DeliveryQueueError):
    """The target's delivery queue does not exist (never made, or deleted)."""

    code = "delivery_queue_not_found"


class DeliveryQueueUnavailable(DeliveryQueueError):
    """Cloud Tasks failed for now (unavailable, overloaded, timed out); the caller retries."""

    code = "delivery_queue_unavailable"
    retryable = True


class SecretNotFound(SecretError):
    """The referenced secret or version does not exist (any more)."""

    code = "secret_not_found"
    retryable = False


class SecretAccessDenied(SecretError):
    """The runtime identity may not use this secret; an operator must grant access."""

    code = "secret_access_denied"
    retryable = False


class InvalidSecretRef(SecretError):
    """A reference is malformed, or the service refused the request as invalid (400)."""

    code = "invalid_secret_ref"
    retryable = False


class NotFoundError(MapperError):
    """The document asked for does not exist."""

    code = "not_found"


class ConflictError(MapperError):
    """The document exists already, or changed since the version the caller read."""

    code = "conflict"


class InvalidQueryError(MapperError):
    """A list query has a bad cursor, limit or time bound."""

    code = "invalid_query"


class MessageTooLarge(MapperError):
    """The message is over Pub/Sub's 10 MB limit; retrying cannot help."""

    code = "payload_too_large"


class NotConfigured(MapperError):
    """A setting the operation needs is unset; the sender may retry once an operator sets it."""

    code = "not_configured"
    retryable = True
