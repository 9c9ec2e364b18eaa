"""What one delivery sent and what came back: the record every target returns.

On the ground floor (docs/architecture.md): the error tree names it (a `TargetError`
carries the delivery that failed), targets build it, and the worker records it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Delivery:
    """What was sent and what came back, as the run record keeps it (before redaction).

    `request` is {method, url, headers, body} exactly as sent, secrets included;
    `response` is {status, headers, body, truncated}, or None when nothing came back.
    `secret_values` lists every secret string (and each encoding of it that appears in
    the request) so that the redaction choke point can scrub them; nothing here is
    redacted yet, which is why `repr()` shows neither the request nor the secrets.
    """

    request: dict[str, Any] = field(repr=False)
    response: dict[str, Any] | None = None
    duration_ms: float = 0.0
    secret_values: list[str] = field(default_factory=list, repr=False)
