"""The output limit of the transforms that can grow a value: replace, concat, join, template.

Each result is measured before it is built (from its parts' lengths) and refused past
`MAX_VALUE_CHARS`; the results of one message's transforms together are held to
`MAX_MESSAGE_CHARS`. The generated mapping code (codegen.py) starts each message's
budget with `new_message()`. runtime.js holds the JavaScript side (`charge`) to the same
numbers, which it receives in the program's spec. docs/limits.md names both.
"""

from __future__ import annotations

import threading
from typing import NoReturn

from ...errors import OutputTooLarge

# The largest message we accept is 10 MB (the webhook body, Pub/Sub's message): a value may
# be as large as a whole message, and one message's transforms may write two.
MAX_VALUE_CHARS = 10_000_000
MAX_MESSAGE_CHARS = 20_000_000


class _Budget(threading.local):
    # What the current message's transforms may still write, per thread (the threads of
    # an instance map messages side by side).
    left = MAX_MESSAGE_CHARS


BUDGET = _Budget()


def new_message() -> None:
    """Give the message about to be mapped (on this thread) the whole per-message budget."""
    BUDGET.left = MAX_MESSAGE_CHARS


def room() -> int:
    """How long the next result may be: the per-value limit, or less of the message's."""
    left = BUDGET.left
    return left if left < MAX_VALUE_CHARS else MAX_VALUE_CHARS


def charge(where: str, name: str, size: int) -> None:
    """Count a result of `size` characters against the limits, or refuse it."""
    left = BUDGET.left - size
    if size > MAX_VALUE_CHARS or left < 0:
        refuse(where, name, size)
    BUDGET.left = left


def refuse(where: str, name: str, size: int) -> NoReturn:
    """Refuse a result of `size` characters; runtime.js's `charge` says the same."""
    if size > MAX_VALUE_CHARS:
        limit = f"{MAX_VALUE_CHARS:,} characters per value"
    else:
        limit = f"{MAX_MESSAGE_CHARS:,} characters per message"
    raise OutputTooLarge(where, f"{name}: the result would pass the output limit of {limit}")


def limits() -> dict[str, int]:
    """The limits as runtime.js receives them in the program's spec."""
    return {"value": MAX_VALUE_CHARS, "message": MAX_MESSAGE_CHARS}
