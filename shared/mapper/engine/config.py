"""The integration document (CONTRACT.md section 2) as typed objects, and its validation.

`parse_integration(doc)` returns an `Integration` or raises `ConfigError` listing every
problem at once, each with its JSON path. Checks that need more than types (paths that
parse, JavaScript that compiles, wildcard counts) live in `mapper.validate`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from ..errors import ConfigError, Problem

# Limits a user can set per integration; docs/limits.md names them all.
DEFAULT_JS_TIMEOUT_MS = 100
MAX_JS_TIMEOUT_MS = 1000
DEFAULT_JS_MEMORY_MB = 32
MAX_JS_MEMORY_MB = 128
MAX_MAPPINGS = 500
MAX_TRANSFORMS = 20
MAX_CODE_CHARS = 20_000
DEFAULT_HTTP_TIMEOUT_S = 30
MAX_HTTP_TIMEOUT_S = 120


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )


# --- secrets ------------------------------------------------------------------------------


class SecretRef(_Model):
    """A write-only value kept in Secret Manager; Firestore holds only its resource name."""

    secret: StrictStr = Field(min_length=1)
    set: StrictBool | None = None


# A secret field holds the plain value on write and a SecretRef once stored.
Secret = Union[StrictStr, SecretRef]


def _not_empty(value: Any) -> Any:
    if value == "":
        raise PydanticCustomError("not_empty", "must not be empty")
    return value


# A secret where an empty value can only be a mistake (a bearer token, an API key, a
# signing secret); a basic-auth password or an SMTP password may be empty.
RequiredSecret = Annotated[Secret, AfterValidator(_not_empty)]


# --- sources ------------------------------------------------------------------------------


class SignatureConfig(_Model):
    scheme: Literal["standard-webhooks", "hmac-sha256"]
    secret: RequiredSecret
    header: StrictStr | None = Field(
        default=None,
        description="hmac-sha256 only: the header holding the signature "
        "(default X-Hub-Signature-256; Stripe-Signature is understood too).",
    )


class WebhookSource(_Model):
    type: Literal["webhook"]
    signature: SignatureConfig | None = None


class PubSubSource(_Model):
    type: Literal["pubsub"]
    project_id: StrictStr = Field(min_length=1)
    topic: StrictStr = Field(min_length=1)
    subscription: StrictStr | None = None
    mode: Literal["push", "pull"] = "pull"
    pull_interval_seconds: StrictInt = Field(default=60, ge=1, le=3600)
    credentials: Secret | dict[str, Any] | None = None


Source = Annotated[Union[WebhookSource, PubSubSource], Field(discriminator="type")]


# --- transforms ---------------------------------------------------------------------------


class Uppercase(_Model):
    type: Literal["uppercase"]


class Lowercase(_Model):
    type: Literal["lowercase"]


class Substring(_Model):
    type: Literal["substring"]
    start: StrictInt = Field(ge=0)
    length: StrictInt | None = Field(default=None, ge=0)


class Replace(_Model):
    type: Literal["replace"]
    find: StrictStr = Field(min_length=1)
    replace: StrictStr = ""


class Default(_Model):
    type: Literal["default"]
    value: Any = None


class Concat(_Model):
    type: Literal["concat"]
    fields: list[StrictStr] = Field(min_length=1, max_length=50)
    separator: StrictStr = ""


class Custom(_Model):
    type: Literal["custom"]
    code: StrictStr = Field(min_length=1, max_length=MAX_CODE_CHARS)


Transform = Annotated[
    Union[Uppercase, Lowercase, Substring, Replace, Default, Concat, Custom],
    Field(discriminator="type"),
]


class Mapping(_Model):
    source: StrictStr | None = None
    target: StrictStr = Field(min_length=1)
    transforms: list[Transform] = Field(default_factory=list, max_length=MAX_TRANSFORMS)


# --- targets ------------------------------------------------------------------------------


class BearerAuth(_Model):
    type: Literal["bearer"]
    token: RequiredSecret


class BasicAuth(_Model):
    type: Literal["basic"]
    username: StrictStr
    password: Secret


class ApiKeyAuth(_Model):
    type: Literal["apiKey"]
    header: StrictStr | None = None
    query_param: StrictStr | None = None
    value: RequiredSecret


Auth = Annotated[Union[BearerAuth, BasicAuth, ApiKeyAuth], Field(discriminator="type")]


class HttpTarget(_Model):
    type: Literal["http"]
    url: StrictStr = Field(min_length=1, max_length=2048)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[str, StrictStr] = Field(default_factory=dict)
    auth: Auth | None = None
    timeout_seconds: float = Field(default=DEFAULT_HTTP_TIMEOUT_S, gt=0, le=MAX_HTTP_TIMEOUT_S)


class EmailTarget(_Model):
    type: Literal["email"]
    smtp_server: StrictStr = Field(min_length=1)
    smtp_port: StrictInt = Field(default=587, ge=1, le=65535)
    smtp_username: StrictStr | None = None
    smtp_password: Secret | None = None
    from_email: StrictStr = Field(min_length=3)
    to_email: StrictStr = Field(min_length=1)
    subject: StrictStr = ""
    use_tls: StrictBool = Field(default=True, alias="useTLS")
    use_ssl: StrictBool = Field(default=False, alias="useSSL")


Target = Annotated[Union[HttpTarget, EmailTarget], Field(discriminator="type")]


# --- the integration ----------------------------------------------------------------------


class SandboxLimits(_Model):
    timeout_ms: StrictInt = Field(default=DEFAULT_JS_TIMEOUT_MS, ge=1, le=MAX_JS_TIMEOUT_MS)
    memory_mb: StrictInt = Field(default=DEFAULT_JS_MEMORY_MB, ge=8, le=MAX_JS_MEMORY_MB)


class Integration(_Model):
    """One integration: source -> condition -> mappings -> target."""

    id: StrictStr | None = None
    name: StrictStr = Field(min_length=1, max_length=200)
    active: StrictBool = True
    source: Source
    condition: StrictStr | None = Field(default=None, max_length=MAX_CODE_CHARS)
    mappings: list[Mapping] = Field(default_factory=list, max_length=MAX_MAPPINGS)
    target: Target
    sandbox: SandboxLimits = Field(default_factory=SandboxLimits)
    sample_payload: Any = None
    # Read-only, set by the server; accepted so that a document read can be written back.
    version: StrictInt | None = None
    webhook_path: StrictStr | None = None
    webhook_url: StrictStr | None = None
    push_path: StrictStr | None = None
    push_endpoint: StrictStr | None = None
    listener_active: StrictBool | None = None
    managed_subscription: StrictStr | None = Field(
        default=None, description="The subscription the platform created (and will delete)."
    )
    last_pulled_at: StrictStr | None = Field(default=None, description="Pull mode only.")
    listener_error: StrictStr | None = Field(
        default=None, description="Pull mode: why the last pull failed, until one succeeds."
    )
    created_at: StrictStr | None = None
    updated_at: StrictStr | None = None


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
        path = format_path(_document_path(err["loc"], doc))
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
