"""Times as the stores write them: fixed-width UTC ISO-8601, so that text compares as time."""

from __future__ import annotations

from datetime import datetime, timezone

_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def now_iso() -> str:
    """The current UTC time in the fixed-width ISO-8601 form the stores write."""
    return datetime.now(timezone.utc).strftime(_TIMESTAMP_FORMAT)


def iso_timestamp(value: datetime | str) -> str:
    """`value` as 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (UTC); naive times are taken as UTC."""
    # One fixed-width form, so that comparing the strings compares the times.
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime(_TIMESTAMP_FORMAT)


def epoch_iso(epoch: float) -> str:
    """Seconds since the epoch (a clock's reading) in the same fixed-width UTC form."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime(_TIMESTAMP_FORMAT)


def epoch_seconds(value: datetime | str) -> float:
    """`value` (a stored timestamp) as seconds since the epoch; ValueError if unreadable."""
    # iso_timestamp gives the stores' UTC form ("...Z"), which fromisoformat reads as UTC.
    return datetime.fromisoformat(iso_timestamp(value)).timestamp()
