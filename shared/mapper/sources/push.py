"""Pub/Sub messages as the platform sees them: the push envelope, and message data as JSON."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import EnvelopeError
from ..json_body import BodyError, parse_json_body


@dataclass(frozen=True)
class PubSubMessage:
    """One Pub/Sub message: raw data bytes, attributes, and Pub/Sub's own identifiers."""

    data: bytes
    message_id: str
    attributes: dict[str, str] = field(default_factory=dict)
    publish_time: str | None = None
    subscription: str | None = None


def decode_push_envelope(body: bytes) -> PubSubMessage:
    """The message inside a push request body, or `EnvelopeError` saying what is wrong."""
    try:
        envelope = parse_json_body(body)  # strict: attributes end up in the run as they are
    except BodyError as exc:
        raise EnvelopeError(f"the push body is not JSON: {exc}") from None
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if not isinstance(message, dict):
        raise EnvelopeError('the push body has no "message" object')
    message_id = message.get("messageId") or message.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise EnvelopeError("the message has no messageId")
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
    ):
        raise EnvelopeError("the message attributes are not a string map")
    try:
        data = base64.b64decode(message.get("data") or "", validate=True)
    except (binascii.Error, TypeError, ValueError) as exc:
        raise EnvelopeError(f"the message data is not base64: {exc}") from None
    subscription = envelope.get("subscription")
    return PubSubMessage(
        data=data,
        message_id=message_id,
        attributes=attributes,
        publish_time=message.get("publishTime") or message.get("publish_time"),
        subscription=subscription if isinstance(subscription, str) else None,
    )


def parse_data(data: bytes) -> Any:
    """The message data as JSON (the condition's `data`), or ValueError."""
    return json.loads(data.decode("utf-8"))
