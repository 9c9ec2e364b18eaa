"""The one interface every delivery target implements, and what a delivery records.

`Delivery` lives on the ground floor (`mapper.delivery`), since the error tree names it
too; it is imported here for the targets.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..delivery import Delivery
from ..engine.config import SecretRef
from ..redact import encodings

__all__ = ["Delivery", "SecretResolver", "Target", "scrub"]


@runtime_checkable
class Target(Protocol):
    """A destination: deliver one transformed payload or raise a TargetError."""

    def send(self, payload: Any, context: Any, run_id: str | None = None) -> Delivery:
        """Deliver `payload`; `context` is the source payload (for templating fallbacks).

        `run_id` is the same on every attempt of one run: targets pass it on so that the
        receiver can deduplicate (an `Idempotency-Key` header, an email's Message-ID).
        """
        ...

    def close(self) -> None:
        """Release connections; the target is not used again."""
        ...


class SecretResolver(Protocol):
    """Turns a secret field into its value: plain strings as they are, references looked up."""

    def resolve(self, value: str | SecretRef) -> str:
        """Return the secret's value, or raise SecretError."""
        ...


def scrub(text: str, secret_values: list[str]) -> str:
    """Replace every secret value, in each quoted form, in a message we write ourselves."""
    forms = {form for value in secret_values if value for form in encodings(value)}
    for form in sorted(forms, key=len, reverse=True):  # a longer form holds shorter ones
        text = text.replace(form, "[redacted]")
    return text
