"""Delivery targets behind one interface, chosen by the target's `type`.

    TARGETS["http"]   HttpTargetSender   one HTTP request per message
    TARGETS["email"]  EmailTargetSender  one SMTP message per message

A new target is one new module registered here; each sender is built as
`Sender(config, secrets, egress)` and offers `send(payload, context) -> Delivery`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ConfigError, Problem
from .base import Delivery, SecretResolver, Target
from .egress import EgressPolicy
from .email import EmailTargetSender
from .http import HttpTargetSender

TargetFactory = Callable[[Any, SecretResolver, EgressPolicy], Target]

TARGETS: dict[str, TargetFactory] = {"http": HttpTargetSender, "email": EmailTargetSender}


def build_target(config: Any, secrets: SecretResolver, egress: EgressPolicy) -> Target:
    """Build the sender registered for `config.type` (an HttpTarget, EmailTarget, ...)."""
    sender = TARGETS.get(getattr(config, "type", None))
    if sender is None:
        known = ", ".join(sorted(TARGETS))
        raise ConfigError([Problem("target.type", f"unknown target type; expected one of {known}")])
    return sender(config, secrets, egress)


__all__ = [
    "TargetFactory",
    "TARGETS",
    "Delivery",
    "EgressPolicy",
    "EmailTargetSender",
    "HttpTargetSender",
    "SecretResolver",
    "Target",
    "build_target",
]
