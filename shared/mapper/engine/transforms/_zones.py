"""Time zones as tables of periods, built from zoneinfo, for both sides of `date`.

A table lists periods: the UTC second each starts at, its offset from UTC in seconds and its
abbreviation. The first period also covers every earlier instant, the last every later one.
Both Python and runtime.js read a table with the same two rules (docs/mapping.md, "date"):

- an instant's offset is that of the last period starting at or before it;
- a local time L is read with the last period i whose local start, starts[i] plus the larger
  of offsets[i-1] and offsets[i], is at or before L: L - offsets[i]. So a repeated local time
  (clocks turned back) is its first occurrence and a skipped one (clocks turned forward)
  moves forward by the jump, as Python's zoneinfo does with fold=0.

Periods are zoneinfo's between ZONE_FROM and ZONE_UNTIL: the transitions listed in the zone's
TZif file, then (past its last one) zoneinfo's own answers probed every week.
"""

from __future__ import annotations

import bisect
import struct
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from zoneinfo import TZPATH, ZoneInfo

ZONE_FROM = -5364662400  # 1800-01-01T00:00:00Z
ZONE_UNTIL = 4102444800  # 2100-01-01T00:00:00Z
PROBE_SECONDS = 7 * 86400
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class ZoneTable:
    """The periods of one zone, and the two readings of them."""

    def __init__(self, starts: list[int], offsets: list[int], abbrs: list[str]) -> None:
        self.starts, self.offsets, self.abbrs = starts, offsets, abbrs
        # The local time each period starts at, as the second rule above reads it.
        self._walls = [starts[i] + max(offsets[i - 1], offsets[i]) for i in range(1, len(starts))]

    def at(self, seconds: int) -> tuple[int, str]:
        """The offset and abbreviation in effect at a UTC second."""
        i = max(bisect.bisect_right(self.starts, seconds) - 1, 0)
        return self.offsets[i], self.abbrs[i]

    def utc(self, local: int) -> int:
        """The UTC second of a local second (first occurrence; a skipped one moved forward)."""
        return local - self.offsets[bisect.bisect_right(self._walls, local)]

    def as_json(self) -> dict[str, list[int] | list[str]]:
        """The table as runtime.js receives it."""
        return {"starts": self.starts, "offsets": self.offsets, "abbrs": self.abbrs}


@lru_cache(maxsize=64)
def zone_table(name: str) -> ZoneTable:
    """The table of an IANA zone (ZoneInfo raises for an unknown name)."""
    zone = ZoneInfo(name)

    def at(seconds: int) -> tuple[int, str]:
        local = (_EPOCH + timedelta(seconds=seconds)).astimezone(zone)
        offset = local.utcoffset()
        return (int(offset.total_seconds()) if offset else 0), local.tzname() or ""

    listed, ruled = _tzif_transitions(name)
    moments = [t for t in listed if ZONE_FROM < t < ZONE_UNTIL]
    periods = [(ZONE_FROM, *at(ZONE_FROM))] + [(t, *at(t)) for t in moments]
    # Past the file's last transition zoneinfo follows the file's rule (when it has one
    # with daylight saving time): probe it.
    t = max(moments[-1] if moments else ZONE_FROM, ZONE_FROM)
    before = at(t)
    while ruled and t < ZONE_UNTIL:
        step = min(t + PROBE_SECONDS, ZONE_UNTIL)
        now = at(step)
        if now != before:
            low, high = t, step  # at(low) == before, at(high) == now
            while high - low > 1:
                middle = (low + high) // 2
                if at(middle) == before:
                    low = middle
                else:
                    high = middle
            periods.append((high, *now))
            before = now
        t = step
    periods.sort()
    starts: list[int] = []
    offsets: list[int] = []
    abbrs: list[str] = []
    for start, offset, abbr in periods:
        if starts and (offsets[-1], abbrs[-1]) == (offset, abbr):
            continue
        starts.append(start)
        offsets.append(offset)
        abbrs.append(abbr)
    return ZoneTable(starts, offsets, abbrs)


def _tzif_transitions(name: str) -> tuple[list[int], bool]:
    """The transition times listed in the zone's TZif file (where zoneinfo finds it), and
    whether transitions may follow them (a footer rule with daylight saving time, or none)."""
    data = _tzif_bytes(name)
    if data is None or data[:4] != b"TZif":
        return [], True

    def counts(at: int) -> tuple[int, ...]:
        return struct.unpack(">6l", data[at + 20 : at + 44])

    isut, isstd, leap, times, types, chars = counts(0)
    if data[4:5] < b"2":
        return list(struct.unpack(f">{times}l", data[44 : 44 + 4 * times])), True
    # Version 2+: skip the 32-bit block; the 64-bit one follows its own header.
    second = 44 + times * 5 + types * 6 + chars + leap * 8 + isstd + isut
    times = counts(second)[3]
    start = second + 44
    end = len(data) - 1  # the file ends with "\n<footer>\n"
    footer = data[data.rindex(b"\n", 0, end) + 1 : end] if data.endswith(b"\n") else b","
    return list(struct.unpack(f">{times}q", data[start : start + 8 * times])), b"," in footer


def _tzif_bytes(name: str) -> bytes | None:
    for folder in TZPATH:
        path = Path(folder, name)
        if path.is_file():
            return path.read_bytes()
    try:
        return resources.files("tzdata.zoneinfo").joinpath(*name.split("/")).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return None
