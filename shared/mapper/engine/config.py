"""The integration document (docs/integration.md) as typed objects, and its validation.

`parse_integration(doc)` returns an `Integration` or raises `ConfigError` listing every
problem at once, each with its JSON path. Checks that need more than types (paths that
parse, JavaScript that compiles, wildcard counts) live in `mapper.validate`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..errors import ConfigError, PathError, Problem
from .model import Model as _Model
from .paths import WILDCARD, parse_path
from .transforms import kinds as transform_kinds
from .transforms.concat import Concat
from .transforms.custom import MAX_CODE_CHARS, Custom
from .transforms.jsonata import Jsonata

# Limits a user can set per integration; docs/limits.md names them all.
DEFAULT_JS_TIMEOUT_MS = 100
MAX_JS_TIMEOUT_MS = 1000
DEFAULT_JS_MEMORY_MB = 32
MAX_JS_MEMORY_MB = 128
MAX_MAPPINGS = 500
MAX_TRANSFORMS = 20
DEFAULT_HTTP_TIMEOUT_S = 30
MAX_HTTP_TIMEOUT_S = 120
# Retries (`retry`): the defaults are the platform's own settings (infra/variables.tf).
DEFAULT_MAX_ATTEMPTS = 10
MAX_ATTEMPTS = 100
DEFAULT_INITIAL_BACKOFF_S = 10
DEFAULT_MAX_BACKOFF_S = 600
MAX_BACKOFF_S = 3600
DEFAULT_MAX_AGE_S = 604_800  # 7 days: how long Pub/Sub keeps a message it could not deliver
MAX_AGE_S = 604_800
MAX_RATE_PER_SECOND = 10_000  # source.rateLimit.perSecond
MAX_DEDUPE_PATHS = 5  # source.dedupe.paths
MAX_DEDUPE_WINDOW_S = 604_800  # source.dedupe.windowSeconds: 7 days
# target.rateLimit: Cloud Tasks' own maxima per queue (cloud_tasks.py holds the same; a test
# holds them equal).
MAX_TARGET_PER_SECOND = 500
MAX_TARGET_CONCURRENT = 5000
# circuitBreaker.consecutiveFailures
MAX_CONSECUTIVE_FAILURES = 10_000
MAX_TARGETS = 10  # targets: a fan-out's receivers
MAX_TARGET_NAME_CHARS = 63
# The name of an integration's single `target`: it keys its delivery as a fan-out's names do.
SINGLE_TARGET_NAME = "target"

__all__ = ["MAX_CODE_CHARS", "SANDBOX_ONLY", "Concat", "Custom", "Jsonata"]  # for the engine

# Transforms with no Python side: from the first of them on, a chain runs in the sandbox.
SANDBOX_ONLY = (Custom, Jsonata)


# --- secrets ------------------------------------------------------------------------------


class SecretRef(_Model):
    """A write-only value kept in Secret Manager; Firestore holds only its resource name."""

    secret: StrictStr = Field(
        min_length=1,
        description="The Secret Manager resource name; sent back as it was read, it means "
        "'unchanged'.",
    )
    set: StrictBool | None = Field(
        default=None, description="true on reads: a value is stored. Ignored on write."
    )


# The marks of the contract (docs/integration.md) in the JSON Schema; `marked_paths`
# reads them back, so the admin's and the secret policy's lists follow the models.
SERVER_OWNED = {"readOnly": True}
WRITE_ONLY = {"writeOnly": True}
# Said of every secret field, in its description.
_SECRET_NOTE = (
    ' Write-only: stored in Secret Manager; reads show {"secret": "<name>", "set": true}.'
)

# A secret field holds the plain value on write and a SecretRef once stored. The plain value
# is the write-only part: reads show the SecretRef (with "set": true) in its place.
PlainSecret = Annotated[StrictStr, Field(json_schema_extra=WRITE_ONLY)]
# A pasted service account key is JSON text, whose line breaks belong to it.
SecretText = Union[PlainSecret, SecretRef]
# A service account key may also be given as the JSON object itself.
WriteOnlyObject = Annotated[dict[str, Any], Field(json_schema_extra=WRITE_ONLY)]


def _not_empty(value: Any) -> Any:
    if value == "":
        raise PydanticCustomError("not_empty", "must not be empty")
    return value


def _no_control_characters(value: Any) -> Any:
    # A line break copied with a token would go into a header (refused by HTTP libraries,
    # which then quote the value in their error) or split it; no credential needs one.
    if isinstance(value, str):
        found = next((ch for ch in value if ch < " " or ch == "\x7f"), None)
        if found is not None:
            raise PydanticCustomError(
                "control_character",
                "must not contain control characters such as line breaks (found U+{code})",
                {"code": f"{ord(found):04X}"},
            )
    return value


Secret = Annotated[SecretText, AfterValidator(_no_control_characters)]


# A secret where an empty value can only be a mistake (a bearer token, an API key, a
# signing secret); a basic-auth password or an SMTP password may be empty.
RequiredSecret = Annotated[Secret, AfterValidator(_not_empty)]


# --- sources ------------------------------------------------------------------------------


class SignatureConfig(_Model):
    """Requests without a valid signature are refused with 401."""

    scheme: Literal["standard-webhooks", "hmac-sha256"] = Field(
        description="How the sender signs: Standard Webhooks headers, or an HMAC-SHA256 "
        "of the body in one header."
    )
    secret: RequiredSecret = Field(
        description="The signing secret shared with the sender." + _SECRET_NOTE
    )
    header: StrictStr | None = Field(
        default=None,
        description="hmac-sha256 only: the header holding the signature "
        "(default X-Hub-Signature-256; Stripe-Signature is understood too).",
    )


class RateLimit(_Model):
    """At most `perSecond` requests a second; past it, 429 with Retry-After (per instance)."""

    per_second: StrictInt | StrictFloat = Field(
        gt=0,
        le=MAX_RATE_PER_SECOND,
        allow_inf_nan=False,
        description="Requests a second each instance of the receiving function accepts "
        f"(more than 0, at most {MAX_RATE_PER_SECOND}; 0.5 is one every 2 s).",
    )


def _dedupe_path(value: Any) -> Any:
    # Like a search key: one value read from the payload, so no [*].
    try:
        steps = parse_path(value)
    except PathError as exc:
        raise PydanticCustomError("dedupe_path", "{reason}", {"reason": str(exc)}) from None
    if WILDCARD in steps:
        raise PydanticCustomError("dedupe_path", "a dedupe path reads one value: no [*]")
    return value


class Dedupe(_Model):
    """Events whose values at `paths` were seen within `windowSeconds` are not run again."""

    paths: list[Annotated[StrictStr, AfterValidator(_dedupe_path)]] = Field(
        min_length=1,
        max_length=MAX_DEDUPE_PATHS,
        description=f"1 to {MAX_DEDUPE_PATHS} paths into the payload (e.g. data.id) whose "
        "values together name the event; an event missing one of them is never a duplicate.",
    )
    window_seconds: StrictInt = Field(
        ge=1,
        le=MAX_DEDUPE_WINDOW_S,
        description="Seconds after the first event during which one with the same values "
        f"answers duplicate and is not run (1 to {MAX_DEDUPE_WINDOW_S}, 7 days).",
    )


class WebhookSource(_Model):
    """Payloads POSTed to the integration's webhookUrl."""

    type: Literal["webhook"] = Field(description="A webhook source.")
    signature: SignatureConfig | None = Field(
        default=None, description="Optional: check each request's signature."
    )
    rate_limit: RateLimit | None = Field(
        default=None, description="Optional: answer 429 past this many requests a second."
    )
    dedupe: Dedupe | None = Field(
        default=None, description="Optional: answer duplicate to an event already seen."
    )


class PubSubSource(_Model):
    """Messages of a Google Cloud Pub/Sub topic, pushed to the platform or pulled by it."""

    type: Literal["pubsub"] = Field(description="A Pub/Sub source.")
    project_id: StrictStr = Field(
        min_length=1, description="The Google Cloud project of the topic and subscription."
    )
    topic: StrictStr = Field(min_length=1, description="The topic's name in projectId.")
    subscription: StrictStr | None = Field(
        default=None,
        description="An existing subscription to use; left out, the platform makes "
        "mapper-<integration id>.",
    )
    mode: Literal["push", "pull"] = Field(
        default="pull",
        description="push: Pub/Sub calls pushEndpoint; pull: the platform drains the "
        "subscription every pullIntervalSeconds.",
    )
    pull_interval_seconds: StrictInt = Field(
        default=60, ge=1, le=3600, description="Pull mode: seconds between two drains."
    )
    credentials: SecretText | WriteOnlyObject | None = Field(
        default=None,
        description="Optional service account key (JSON) to act with; without it, the "
        "platform's own service account." + _SECRET_NOTE,
    )
    rate_limit: RateLimit | None = Field(
        default=None,
        description="Push mode only: answer 429 past this many deliveries a second "
        "(Pub/Sub delivers them again later).",
    )
    dedupe: Dedupe | None = Field(
        default=None,
        description="Optional: acknowledge an event already seen without running it again.",
    )


Source = Annotated[Union[WebhookSource, PubSubSource], Field(discriminator="type")]

# Where google-auth may POST a service account's signed assertion: Google's token endpoint
# and its older names. A pasted key naming any other `token_uri` (the metadata server, an
# attacker's host) would have the platform send it there, outside the egress policy.
GOOGLE_TOKEN_URIS = (
    "https://oauth2.googleapis.com/token",
    "https://accounts.google.com/o/oauth2/token",
    "https://www.googleapis.com/oauth2/v4/token",
)


# The universe a pasted key may name: google-auth builds the token and API endpoints from it
# (`pubsub.<universe_domain>`), so another one would send the key's assertions and the
# messages elsewhere. Google's public cloud only.
GOOGLE_UNIVERSE_DOMAIN = "googleapis.com"


def service_account_key_problem(key: Any) -> tuple[str, str] | None:
    """(key field, why) a service account key (object, or its JSON text) may not be used."""
    if isinstance(key, str):
        try:
            key = json.loads(key)
        except ValueError:
            return None  # not JSON: building the credentials says so
    if not isinstance(key, dict):
        return None
    if "token_uri" in key and key["token_uri"] not in GOOGLE_TOKEN_URIS:
        return "token_uri", (
            f"must be Google's token endpoint ({GOOGLE_TOKEN_URIS[0]}); the key would have "
            "its signed assertion sent elsewhere"
        )
    if "universe_domain" in key and key["universe_domain"] != GOOGLE_UNIVERSE_DOMAIN:
        return "universe_domain", (
            f"must be {GOOGLE_UNIVERSE_DOMAIN}; the key would be used with another "
            "universe's endpoints"
        )
    return None  # google-auth refuses a key without a token_uri

# --- transforms ---------------------------------------------------------------------------

# Each transform is a module of mapper.engine.transforms, with its model; the union is built
# from that registry, in menu order, discriminated by "type".
Transform = Annotated[
    Union[tuple(kind.model for kind in transform_kinds())],  # noqa: UP007 - built at run time
    Field(discriminator="type"),
]


class Mapping(_Model):
    """One value of the output: read at `source`, transformed, written at `target`."""

    source: StrictStr | None = Field(
        default=None,
        description="Path in the payload: dots for keys, [n] for an index, [*] to map over "
        "an array. A missing path yields null. Left out with a concat transform.",
    )
    target: StrictStr = Field(
        min_length=1, description="Path in the output, same syntax (e.g. skus[*])."
    )
    transforms: list[Transform] = Field(
        default_factory=list,
        max_length=MAX_TRANSFORMS,
        description="Applied left to right to the value (to each element under [*]).",
    )


# --- targets ------------------------------------------------------------------------------


class BearerAuth(_Model):
    """`Authorization: Bearer <token>`."""

    type: Literal["bearer"] = Field(description="A bearer token.")
    token: RequiredSecret = Field(description="The token." + _SECRET_NOTE)


class BasicAuth(_Model):
    """HTTP basic authentication."""

    type: Literal["basic"] = Field(description="HTTP basic authentication.")
    username: StrictStr = Field(description="The user name.")
    password: Secret = Field(description="The password (may be empty)." + _SECRET_NOTE)


class ApiKeyAuth(_Model):
    """A key sent in a header or a query parameter."""

    type: Literal["apiKey"] = Field(description="An API key.")
    header: StrictStr | None = Field(
        default=None, description="The header that carries the key (or give queryParam)."
    )
    query_param: StrictStr | None = Field(
        default=None, description="The query parameter that carries the key (or give header)."
    )
    value: RequiredSecret = Field(description="The key." + _SECRET_NOTE)


class OAuth2Auth(_Model):
    """OAuth2 client credentials: a token from `tokenUrl`, sent as a bearer token."""

    type: Literal["oauth2"] = Field(description="OAuth2 client credentials.")
    token_url: StrictStr = Field(
        min_length=1, max_length=2048, description="The token endpoint (https)."
    )
    client_id: StrictStr = Field(min_length=1, description="The client id.")
    client_secret: RequiredSecret = Field(description="The client secret." + _SECRET_NOTE)
    scope: StrictStr | None = Field(default=None, description="Scopes asked for, if any.")
    audience: StrictStr | None = Field(
        default=None, description="The audience asked for (Auth0 and others), if any."
    )


Auth = Annotated[
    Union[BearerAuth, BasicAuth, ApiKeyAuth, OAuth2Auth], Field(discriminator="type")
]


class SigningConfig(_Model):
    """Standard Webhooks signatures on every request (webhook-id, -timestamp, -signature)."""

    scheme: Literal["standard-webhooks"] = Field(
        default="standard-webhooks", description="The signature scheme."
    )
    secret: Secret | None = Field(
        default=None,
        description="The whsec_ signing key; generated by the platform when omitted."
        + _SECRET_NOTE,
    )
    previous_secret: Secret | None = Field(
        default=None,
        description="The key before the last rotation; it signs too until previousUntil."
        + _SECRET_NOTE,
    )
    previous_until: StrictStr | None = Field(
        default=None, description="When the previous key stops signing (ISO-8601)."
    )
    overlap_hours: StrictInt = Field(
        default=24, ge=0, le=720, description="How long both keys sign after a rotation."
    )


def _no_credentials_in_url(value: str) -> str:
    # They would sit in the document and in every run's recorded URL, never as a secret.
    if "@" in urlsplit(value).netloc:
        raise PydanticCustomError(
            "url_credentials",
            "must not hold credentials (user:password@); use auth of type basic, "
            "which keeps the password as a secret",
        )
    return value


class TargetRateLimit(_Model):
    """How hard the receiver may be pressed, across every instance (docs/delivery.md)."""

    per_second: StrictInt | StrictFloat = Field(
        gt=0,
        le=MAX_TARGET_PER_SECOND,
        allow_inf_nan=False,
        description=f"At most this many requests in any second (more than 0, at most "
        f"{MAX_TARGET_PER_SECOND}); events beyond it wait, none is refused or dropped.",
    )
    max_concurrent: StrictInt = Field(
        default=MAX_TARGET_CONCURRENT,
        ge=1,
        le=MAX_TARGET_CONCURRENT,
        description=f"At most this many requests in flight at once (1 to "
        f"{MAX_TARGET_CONCURRENT}).",
    )


class HttpTarget(_Model):
    """An HTTP request per message."""

    type: Literal["http"] = Field(description="Send to an HTTP endpoint.")
    url: Annotated[StrictStr, AfterValidator(_no_credentials_in_url)] = Field(
        min_length=1, max_length=2048, description="Where to send."
    )
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(
        default="POST",
        description="POST, PUT and PATCH send the transformed payload as a JSON body; GET "
        "sends its top-level fields as query parameters.",
    )
    headers: dict[str, StrictStr] = Field(
        default_factory=dict, description="Extra request headers."
    )
    auth: Auth | None = Field(default=None, description="How to authenticate, if at all.")
    timeout_seconds: float = Field(
        default=DEFAULT_HTTP_TIMEOUT_S,
        gt=0,
        le=MAX_HTTP_TIMEOUT_S,
        description="How long to wait for the answer.",
    )
    idempotency_header: StrictStr | None = Field(
        default="Idempotency-Key",
        min_length=1,
        description="Header carrying the run id, the same on every retry; null turns it off.",
    )
    signing: SigningConfig | None = Field(
        default=None, description="Sign every request with Standard Webhooks headers."
    )
    rate_limit: TargetRateLimit | None = Field(
        default=None,
        description="Optional: pace delivery through the target's own queue (perSecond, "
        "maxConcurrent).",
    )
    receiver_schema: dict[str, Any] | None = Field(
        default=None,
        alias="schema",
        description="The receiver's JSON Schema (2020-12) of what it accepts: an output that "
        "breaks it is not sent (the run is error, with schemaViolations). Only references "
        "inside it (#...) are followed; nothing is fetched.",
    )


MAX_EMAIL_BODY_TEMPLATE_CHARS = 100_000


class EmailTarget(_Model):
    """An email per message, over SMTP."""

    type: Literal["email"] = Field(description="Send an email.")
    smtp_server: StrictStr = Field(min_length=1, description="The SMTP server's host name.")
    smtp_port: StrictInt = Field(default=587, ge=1, le=65535, description="Its port.")
    smtp_username: StrictStr | None = Field(
        default=None, description="Log in with this user name (none: no login)."
    )
    smtp_password: Secret | None = Field(
        default=None, description="The SMTP password." + _SECRET_NOTE
    )
    from_email: StrictStr = Field(min_length=3, description="The sender's address.")
    to_email: StrictStr = Field(
        min_length=1,
        description="The recipient; may hold {{path}} placeholders filled from the "
        "transformed payload (then the source payload).",
    )
    subject: StrictStr = Field(default="", description="May hold {{path}} placeholders.")
    use_tls: StrictBool = Field(
        default=True, alias="useTLS", description="Upgrade with STARTTLS (never falls back)."
    )
    use_ssl: StrictBool = Field(
        default=False, alias="useSSL", description="Connect with implicit TLS; wins over useTLS."
    )
    body: StrictStr | None = Field(
        default=None,
        max_length=MAX_EMAIL_BODY_TEMPLATE_CHARS,
        description="The message text, with {{path}} placeholders filled from the transformed "
        "payload (then the source payload); none: the payload's own text (see docs/targets.md).",
    )
    body_type: Literal["text", "html"] = Field(
        default="text",
        description="text: text/plain; html: text/html, each filled-in value HTML-escaped "
        "(needs body).",
    )
    receiver_schema: dict[str, Any] | None = Field(
        default=None,
        alias="schema",
        description="The receiver's JSON Schema (2020-12) of what it accepts: an output that "
        "breaks it is not sent (the run is error, with schemaViolations). Only references "
        "inside it (#...) are followed; nothing is fetched.",
    )


Target = Annotated[Union[HttpTarget, EmailTarget], Field(discriminator="type")]


_TARGET_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_-]{{0,{MAX_TARGET_NAME_CHARS - 1}}}")


def _target_name(value: Any) -> Any:
    # The name keys the target's delivery on the run and its delivery queue: kept plain.
    if isinstance(value, str) and not _TARGET_NAME.fullmatch(value):
        raise PydanticCustomError(
            "target_name",
            "must be 1 to {most} letters, digits, - or _, starting with a letter or digit",
            {"most": MAX_TARGET_NAME_CHARS},
        )
    return value


class _Routing(_Model):
    """What a fan-out target may carry beside its connection: its name, condition, mappings."""

    name: Annotated[StrictStr, AfterValidator(_target_name)] | None = Field(
        default=None,
        description="Unique among the targets (default target-<n>, n from 1); it names the "
        "target's delivery on each run, so keep it stable.",
    )
    condition: StrictStr | None = Field(
        default=None,
        max_length=MAX_CODE_CHARS,
        description="This target's own condition; absent: the integration's.",
    )
    mappings: list[Mapping] | None = Field(
        default=None,
        max_length=MAX_MAPPINGS,
        description="This target's own mappings; absent: the integration's.",
    )


class HttpFanoutTarget(HttpTarget, _Routing):
    """An HTTP target of a fan-out."""


class EmailFanoutTarget(EmailTarget, _Routing):
    """An email target of a fan-out."""


FanoutTarget = Annotated[
    Union[HttpFanoutTarget, EmailFanoutTarget], Field(discriminator="type")
]


@dataclass(frozen=True)
class Route:
    """One target of an integration with the condition and mappings its output is made by."""

    name: str
    target: HttpTarget | EmailTarget
    condition: str | None
    mappings: tuple[Mapping, ...]
    own: bool  # its own condition or mappings, not the integration's


def target_name(index: int, given: str | None) -> str:
    """The name of the fan-out's `index`th target (from 0): its own, else target-<n>."""
    return given or f"target-{index + 1}"


# --- the integration ----------------------------------------------------------------------


class SandboxLimits(_Model):
    """Limits of the JavaScript (condition and custom transforms) of this integration."""

    timeout_ms: StrictInt = Field(
        default=DEFAULT_JS_TIMEOUT_MS,
        ge=1,
        le=MAX_JS_TIMEOUT_MS,
        description="Time limit of one JavaScript call, in milliseconds.",
    )
    memory_mb: StrictInt = Field(
        default=DEFAULT_JS_MEMORY_MB,
        ge=8,
        le=MAX_JS_MEMORY_MB,
        description="V8 heap limit, in MB.",
    )


class RetryPolicy(_Model):
    """How often and how long a failed delivery is tried again, counted by the platform."""

    max_attempts: StrictInt = Field(
        default=DEFAULT_MAX_ATTEMPTS,
        ge=1,
        le=MAX_ATTEMPTS,
        description="Attempts in all, the first included; after the last one fails the run "
        "is dead_lettered.",
    )
    initial_backoff_seconds: StrictInt = Field(
        default=DEFAULT_INITIAL_BACKOFF_S,
        ge=1,
        le=MAX_BACKOFF_S,
        description="The wait after the first failed attempt; it doubles after each one.",
    )
    max_backoff_seconds: StrictInt = Field(
        default=DEFAULT_MAX_BACKOFF_S,
        ge=1,
        le=MAX_BACKOFF_S,
        description="The longest wait between attempts, a Retry-After answer's included.",
    )
    max_age_seconds: StrictInt = Field(
        default=DEFAULT_MAX_AGE_S,
        ge=60,
        le=MAX_AGE_S,
        description="No attempt starts later than this after the event was accepted; the run "
        "is dead_lettered instead.",
    )

    @model_validator(mode="after")
    def _backoffs_in_order(self) -> RetryPolicy:
        if self.initial_backoff_seconds > self.max_backoff_seconds:
            raise PydanticCustomError(
                "backoff_order", "initialBackoffSeconds must not exceed maxBackoffSeconds"
            )
        return self


class CircuitBreaker(_Model):
    """Pause delivery by itself after this many failed attempts in a row."""

    consecutive_failures: StrictInt = Field(
        ge=1,
        le=MAX_CONSECUTIVE_FAILURES,
        description="Failed attempts in a row (any run of the integration; a success resets "
        "the count) after which delivery is paused with by: circuit, until resumed.",
    )


# A plain `local@domain` address: dot-atom local part (without braces, which the email
# sender reads as placeholders), dot-separated DNS labels.
_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`|~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`|~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
    r"[A-Za-z0-9])?)+"
)
MAX_EMAIL_CHARS = 254


def _plain_address(value: str) -> str:
    if not _ADDRESS.fullmatch(value):
        raise PydanticCustomError("email_address", "must be one plain address: name@example.com")
    return value


def _http_url(value: str) -> str:
    if urlsplit(value).scheme not in {"http", "https"}:
        raise PydanticCustomError("url_scheme", "must be an http:// or https:// URL")
    if "{{" in value:
        # The target's URL may be templated from the output; a notification has none.
        raise PydanticCustomError("url_template", "must not hold {{path}} placeholders")
    return value


class NotifyConfig(_Model):
    """Operational events (delivery paused or resumed, a run dead-lettered, source drift)."""

    url: Annotated[
        StrictStr, AfterValidator(_http_url), AfterValidator(_no_credentials_in_url)
    ] | None = Field(
        default=None,
        max_length=2048,
        description="POST each event here, signed with Standard Webhooks headers.",
    )
    email: Annotated[StrictStr, AfterValidator(_plain_address)] | None = Field(
        default=None, max_length=MAX_EMAIL_CHARS, description="Mail each event to this address."
    )
    secret: Secret | None = Field(
        default=None,
        description="The whsec_ key signing the POSTs when the target does not sign; "
        "generated by the platform when omitted." + _SECRET_NOTE,
    )

    @model_validator(mode="after")
    def _somewhere(self) -> NotifyConfig:
        if self.url is None and self.email is None:
            raise PydanticCustomError("notify_nowhere", "needs a url, an email or both")
        return self


def _server(description: str) -> Any:
    """A field the server sets: accepted on write (a read can be sent back) and ignored."""
    return Field(default=None, description=description, json_schema_extra=SERVER_OWNED)


MAX_SEARCH_KEYS = 5


def _search_key(value: Any) -> Any:
    # A search key reads one value from the payload: a source path without [*].
    try:
        steps = parse_path(value)
    except PathError as exc:
        raise PydanticCustomError("search_key", "{reason}", {"reason": str(exc)}) from None
    if WILDCARD in steps:
        raise PydanticCustomError("search_key", "a search key reads one value: no [*]")
    return value


SearchKey = Annotated[StrictStr, AfterValidator(_search_key)]


MAX_TESTS = 20  # saved test cases per integration
MAX_TEST_BYTES = 16_000  # one test case (payload, expect, headers, attributes) as JSON


class TestCase(_Model):
    """A payload and what the integration must make of it: an output, or a skip."""

    __test__ = False  # not a pytest test class, whatever its name says

    name: StrictStr = Field(min_length=1, max_length=200, description="Unique in the list.")
    payload: Any = Field(description="The incoming payload, as `data` in the condition.")
    expect: Any = Field(
        default=None,
        description="The exact output expected (give this or expectSkipped: true).",
    )
    expect_skipped: StrictBool | None = Field(
        default=None, description="true: the condition must skip this payload."
    )
    headers: dict[str, StrictStr] | None = Field(
        default=None, description="Webhook headers, as `headers` in the condition."
    )
    attributes: dict[str, StrictStr] | None = Field(
        default=None, description="Pub/Sub attributes, as `attributes` in the condition."
    )


class Integration(_Model):
    """One integration: source -> condition -> mappings -> target."""

    id: StrictStr | None = _server("Server-assigned, read-only.")
    name: StrictStr = Field(min_length=1, max_length=200, description="Shown in lists.")
    active: StrictBool = Field(
        default=True,
        description="false pauses it: webhooks and pushes answer 503 with Retry-After, pull "
        "subscriptions are not drained.",
    )
    source: Source = Field(description="Where messages come from: a webhook or Pub/Sub.")
    condition: StrictStr | None = Field(
        default=None,
        max_length=MAX_CODE_CHARS,
        description="A JavaScript expression of `data` (the payload), `attributes` (Pub/Sub) "
        "and `headers` (webhook); falsy: the run is recorded as skipped and nothing is sent.",
    )
    mappings: list[Mapping] = Field(
        default_factory=list,
        max_length=MAX_MAPPINGS,
        description="How the output is built; empty: the payload passes through unchanged.",
    )
    jsonata: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CODE_CHARS,
        title="JSONata expression",
        description="Instead of mappings: a JSONata 2.x expression of the payload whose "
        "result is the output (`$data` is the payload too).",
        json_schema_extra={"x-control": "code"},
    )
    target: Target | None = Field(
        default=None, description="Where the output goes: HTTP or email (or give targets)."
    )
    targets: list[FanoutTarget] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TARGETS,
        description=f"Fan-out, instead of target: 1 to {MAX_TARGETS} targets, each attempted, "
        "retried and recorded on its own (the run's deliveries).",
    )
    sandbox: SandboxLimits = Field(
        default_factory=SandboxLimits, description="Limits of this integration's JavaScript."
    )
    retry: RetryPolicy | None = Field(
        default=None,
        description="How failed deliveries are retried; absent: the platform's settings "
        "(the defaults shown).",
    )
    circuit_breaker: CircuitBreaker | None = Field(
        default=None,
        description="Optional: pause delivery by itself after that many failed attempts in "
        "a row.",
    )
    notify: NotifyConfig | None = Field(
        default=None,
        description="Where operational events go (at most one a minute per type): a signed "
        "POST, an email, or both.",
    )
    sample_payload: Any = Field(
        default=None, description="A payload to try the integration with (test, preview)."
    )
    search_keys: list[SearchKey] | None = Field(
        default=None,
        max_length=MAX_SEARCH_KEYS,
        description=f"Up to {MAX_SEARCH_KEYS} source paths (e.g. data.object.id) whose values "
        "each run keeps, so that GET /api/runs/?key=<path>:<value> finds it (exact match).",
    )
    tests: list[TestCase] | None = Field(
        default=None,
        max_length=MAX_TESTS,
        description=f"Up to {MAX_TESTS} saved test cases: POST .../run_tests/ runs them, "
        "and a save whose cases fail is refused (400 tests_failed) unless ?force=true.",
    )
    ordering_key: SearchKey | None = Field(
        default=None,
        description="A source path (e.g. data.customer.id): events with the same value there "
        "are delivered in the order they were accepted, and a failing one holds back the "
        "later ones of its value until it succeeds or is dead_lettered; absent, or a missing "
        "or null value: no order.",
    )
    version: StrictInt | None = _server(
        "Server-set, read-only: 1 on creation, +1 on each change. Send the version you read "
        "with PUT to have a concurrent change refused with 409."
    )
    webhook_path: StrictStr | None = _server(
        "Webhook sources: the unguessable random token of the webhook URL; read-only."
    )
    webhook_url: StrictStr | None = _server("Webhook sources: where senders POST; read-only.")
    push_path: StrictStr | None = _server(
        "Pub/Sub push: the unguessable random token of the push endpoint; read-only."
    )
    push_endpoint: StrictStr | None = _server(
        "Pub/Sub push: where the subscription pushes; read-only."
    )
    listener_active: StrictBool | None = _server(
        "Pub/Sub: whether the subscription exists and is attached; read-only."
    )
    managed_subscription: StrictStr | None = _server(
        "The subscription the platform created (and will delete); read-only."
    )
    last_pulled_at: StrictStr | None = _server("Pull mode: when it was last drained; read-only.")
    listener_error: StrictStr | None = _server(
        "Pull mode: why the last pull failed, until one succeeds; read-only."
    )
    signature_failures: dict[str, Any] | None = _server(
        "Signed webhooks: refused signatures in the latest hour (count, firstSeenAt, "
        "lastSeenAt, reason, sampleHeaders); read-only."
    )
    new_signing_secret: StrictStr | None = _server(
        "The HTTP target's new whsec_ signing key, shown once: in the answer that created "
        "or rotated it, never again; read-only."
    )
    delivery: dict[str, Any] | None = _server(
        "Whether delivery is paused: state (active or paused), reason, since, by (user or "
        "circuit), held (runs waiting for resume), consecutiveFailures; read-only."
    )
    new_notify_secret: StrictStr | None = _server(
        "The whsec_ key signing notify POSTs, shown once: in the answer that generated it, "
        "never again; read-only."
    )
    created_at: StrictStr | None = _server("When it was created (ISO-8601); read-only.")
    updated_at: StrictStr | None = _server("When it last changed (ISO-8601); read-only.")

    @model_validator(mode="after")
    def _one_way_out(self) -> Integration:
        if self.target is None and self.targets is None:
            raise PydanticCustomError(
                "target_choice", "is required (or give targets, for a fan-out)", {"at": "target"}
            )
        if self.target is not None and self.targets is not None:
            raise PydanticCustomError(
                "target_choice", "give exactly one of target and targets", {"at": "targets"}
            )
        seen: dict[str, int] = {}
        for i, target in enumerate(self.targets or ()):
            name = target_name(i, target.name)
            if name in seen:
                raise PydanticCustomError(
                    "target_name_taken",
                    "is the name of targets[{first}] too; each target needs its own",
                    {"at": f"targets[{i}].name", "first": seen[name]},
                )
            seen[name] = i
        return self

    @property
    def fanout(self) -> bool:
        """True when the integration has `targets` (each recorded in the run's deliveries)."""
        return self.targets is not None

    def routes(self) -> tuple[Route, ...]:
        """Its targets, in order, each with its name and the condition and mappings it uses."""
        if self.targets is None:
            assert self.target is not None  # one of the two, by validation
            own = (Route(SINGLE_TARGET_NAME, self.target, self.condition, tuple(self.mappings),
                         False),)
            return own
        return tuple(
            Route(
                target_name(i, t.name),
                t,
                self.condition if t.condition is None else t.condition,
                tuple(self.mappings if t.mappings is None else t.mappings),
                t.condition is not None or t.mappings is not None,
            )
            for i, t in enumerate(self.targets)
        )

    @model_validator(mode="after")
    def _ordered_not_paced(self) -> Integration:
        # A delivery queue dispatches tasks concurrently and retries each on its own
        # schedule: it keeps no order (docs/delivery.md, "Ordering").
        if self.ordering_key is None:
            return self
        for at, target in [("target", self.target)] + [
            (f"targets[{i}]", t) for i, t in enumerate(self.targets or ())
        ]:
            if isinstance(target, HttpTarget) and target.rate_limit is not None:
                raise PydanticCustomError(
                    "ordered_not_paced",
                    "cannot be combined with orderingKey: a paced target's queue keeps no "
                    "order; remove one of the two",
                    {"at": f"{at}.rateLimit"},
                )
        return self

    @model_validator(mode="after")
    def _jsonata_or_mappings(self) -> Integration:
        if self.jsonata is not None and self.mappings:
            raise PydanticCustomError(
                "jsonata_or_mappings",
                "give jsonata or mappings, not both: the expression builds the whole output",
                {"at": "jsonata"},
            )
        return self


# --- parsing ------------------------------------------------------------------------------


def parse_integration(doc: Any) -> Integration:
    """Parse a document into an `Integration`, or raise `ConfigError` with every problem."""
    if not isinstance(doc, dict):
        raise ConfigError([Problem("", "an integration must be a JSON object")])
    try:
        return Integration.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(problems_from_pydantic(exc, doc)) from None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the integration document, as the API and UI use it."""
    schema = Integration.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Integration"
    return schema


def marked_paths(model: type[BaseModel], keyword: str) -> tuple[tuple[str, ...], ...]:
    """The JSON paths (alias names) of `model`'s fields whose schema says `keyword: true`.

    A field counts when the mark is on the field or on one of its own (not referenced)
    alternatives, as a secret's plain value is. Unions of models add no step; a list or a
    map adds `*`.
    """
    schema = model.model_json_schema(by_alias=True)
    found: list[tuple[str, ...]] = []
    _collect(schema, schema.get("$defs", {}), keyword, (), (), found)
    return tuple(found)


def _collect(
    node: Any,
    defs: dict[str, Any],
    keyword: str,
    path: tuple[str, ...],
    refs: tuple[str, ...],
    found: list[tuple[str, ...]],
) -> None:
    if not isinstance(node, dict):
        return
    ref = node.get("$ref", "")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        if name not in refs:  # a recursive model is walked once per path
            _collect(defs.get(name), defs, keyword, path, (*refs, name), found)
    for branch in node.get("anyOf", []) + node.get("oneOf", []) + node.get("allOf", []):
        _collect(branch, defs, keyword, path, refs, found)
    for name, field in node.get("properties", {}).items():
        if _marked(field, keyword):
            found.append((*path, name))
        _collect(field, defs, keyword, (*path, name), refs, found)
    for key in ("items", "additionalProperties"):
        _collect(node.get(key), defs, keyword, (*path, "*"), refs, found)


def _marked(field: dict[str, Any], keyword: str) -> bool:
    own = [field, *(b for b in field.get("anyOf", []) if "$ref" not in b)]
    return any(schema.get(keyword) is True for schema in own)


@cache
def secret_paths() -> tuple[tuple[str, ...], ...]:
    """Where write-only values sit in an integration document, e.g. ("target", "smtpPassword")."""
    # A `*` steps into a list: `targets` (expand_path gives the places in a document).
    return marked_paths(Integration, "writeOnly")


def secret_places(doc: Any) -> list[tuple[str | int, ...]]:
    """Where write-only values sit in this document: `secret_paths()` with lists expanded."""
    return [place for path in secret_paths() for place in expand_path(doc, path)]


def expand_path(doc: Any, path: tuple[str, ...]) -> list[tuple[str | int, ...]]:
    """The places of `path` present in `doc`, each `*` one index of the list found there."""
    if not path:
        return [()]
    head, rest = path[0], path[1:]
    if head == "*":
        if not isinstance(doc, list):
            return []
        return [(i, *tail) for i, item in enumerate(doc) for tail in expand_path(item, rest)]
    if not isinstance(doc, dict) or head not in doc:
        return []
    return [(head, *tail) for tail in expand_path(doc[head], rest)]


@cache
def server_fields() -> tuple[str, ...]:
    """The top-level fields the server owns (readOnly): accepted on write and ignored."""
    paths = marked_paths(Integration, "readOnly")
    if any(len(path) != 1 for path in paths):
        raise TypeError(f"only top-level fields can be read-only: {paths}")
    return tuple(path[0] for path in paths)


def format_path(parts: list[str | int]) -> str:
    """`["mappings", 2, "start"]` -> `mappings[2].start`."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def problems_from_pydantic(exc: ValidationError, doc: Any) -> list[Problem]:
    """Turn pydantic errors into user sentences at the document's own JSON paths."""
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        at = (err.get("ctx") or {}).get("at")  # a check of the whole document names its field
        path = at if isinstance(at, str) else format_path(_document_path(err["loc"], doc))
        message = _sentence(err)
        if (path, message) not in seen:
            seen.add((path, message))
            problems.append(Problem(path, message))
    return problems


def _document_path(loc: tuple[Any, ...], doc: Any) -> list[str | int]:
    # Pydantic puts union tags and type names into `loc`; keep only the steps that
    # exist in the user's document, plus the final missing key.
    parts: list[str | int] = []
    node = doc
    for i, step in enumerate(loc):
        if isinstance(node, dict) and step == node.get("type") and i < len(loc) - 1:
            continue  # the union tag (a transform "replace" has a field "replace" too)
        if isinstance(node, dict) and isinstance(step, str) and step in node:
            parts.append(step)
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            parts.append(step)
            node = node[step]
        elif i == len(loc) - 1 and isinstance(step, (str, int)) and not _is_type_tag(step):
            parts.append(step)
    return parts


def _is_type_tag(step: Any) -> bool:
    return isinstance(step, str) and (
        step.startswith(("function-", "union[", "list[", "dict[", "str", "int", "bool"))
        or step in {"SecretRef", "float"}
    )


_TYPE_WORDS = {
    "int": "an integer",
    "string": "a string",
    "bool": "true or false",
    "dict": "an object",
    "list": "a list",
    "float": "a number",
    "model": "an object",
}


def _sentence(err: Any) -> str:
    kind: str = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind in {"union_tag_invalid", "union_tag_not_found"}:
        expected = ctx.get("expected_tags", "")
        found = ctx.get("tag")
        if kind == "union_tag_not_found":
            return f'needs a "type", one of {expected}'
        return f"unknown type {found!r}; expected one of {expected}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind in {"greater_than_equal", "greater_than", "less_than_equal", "less_than"}:
        noun = "an integer" if isinstance(err.get("input"), int) else "a number"
        op = {
            "greater_than_equal": ">=",
            "greater_than": ">",
            "less_than_equal": "<=",
            "less_than": "<",
        }[kind]
        limit = next(iter(ctx.values()))
        return f"must be {noun} {op} {limit}"
    if kind in {"string_too_short", "too_short"}:
        least = ctx.get("min_length", 1)
        return "must not be empty" if least == 1 else f"must have at least {least} items"
    if kind in {"string_too_long", "too_long"}:
        return f"must be at most {ctx.get('max_length')} long"
    for prefix, words in _TYPE_WORDS.items():
        if kind.startswith(prefix) and kind.endswith(("_type", "_parsing")):
            return f"must be {words}"
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        return "must be an object"
    return str(err.get("msg", "is invalid")).rstrip(".")
