"""`date` as docs/mapping.md documents it, and its zone tables against zoneinfo."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapper.engine import config as cfg
from mapper.engine.transforms._zones import ZONE_FROM, ZONE_UNTIL, zone_table
from mapper.errors import ConfigError
from tests.unit.transform_support import run

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
ZONES = ["America/New_York", "Europe/Paris", "Australia/Lord_Howe", "Asia/Kolkata",
         "America/St_Johns", "Pacific/Apia", "Africa/Casablanca", "Europe/Dublin"]


def date(value: object, **spec: object) -> object:
    return run([{"type": "date", **spec}], value)


@pytest.mark.parametrize(
    ("value", "spec", "expected"),
    [
        ("2026-11-27T12:00:00Z", {}, "2026-11-27T12:00:00Z"),
        ("2026-11-27", {}, "2026-11-27T00:00:00Z"),
        ("2026-11-27 12:00:00.5+02:00", {}, "2026-11-27T12:00:00.500+02:00"),
        ("2026-11-27T12:00:00.1234567Z", {}, "2026-11-27T12:00:00.123456Z"),
        ("2026-11-27T12:00:00+02:00", {"to": "unix"}, 1795773600),
        (1795773600, {"from": "unix", "timezone": "Europe/Paris"}, "2026-11-27T11:00:00+01:00"),
        ("1795773600500", {"from": "unix_ms", "to": "iso"}, "2026-11-27T10:00:00.500Z"),
        (-1.5, {"from": "unix", "to": "unix_ms"}, -1500),
        ("27/11/2026 13:05", {"from": "%d/%m/%Y %H:%M", "timezone": "Europe/Paris"},
         "2026-11-27T13:05:00+01:00"),
        ("2026-11-27T12:00:00Z", {"to": "%a, %d %b %Y %H:%M:%S %Z %z",
                                  "timezone": "America/New_York"},
         "Fri, 27 Nov 2026 07:00:00 EST -0500"),
        ("2026-11-27T12:00:00+05:30", {"to": "%H:%M %Z %z"}, "12:00 UTC+05:30 +0530"),
        ("331/2026", {"from": "%j/%Y", "to": "%Y-%m-%d"}, "2026-11-27"),
        ("nov 27 2026", {"from": "%b %d %Y", "to": "%Y-%m-%d"}, "2026-11-27"),
        # Clocks forward at 02:00 in Paris: 02:30 does not exist and moves on by the jump;
        # clocks back at 03:00: 02:30 happens twice and is the first one.
        ("31/03/2024 02:30", {"from": "%d/%m/%Y %H:%M", "timezone": "Europe/Paris"},
         "2024-03-31T03:30:00+02:00"),
        ("27/10/2024 02:30", {"from": "%d/%m/%Y %H:%M", "timezone": "Europe/Paris"},
         "2024-10-27T02:30:00+02:00"),
        (None, {}, None),
    ],
)
def test_documented_examples(value: object, spec: dict, expected: object) -> None:
    assert date(value, **spec) == expected


@pytest.mark.parametrize(
    ("value", "spec", "message"),
    [
        ("", {}, '"" is not an ISO 8601 date'),
        ("tomorrow", {}, '"tomorrow" is not an ISO 8601 date'),
        ("2026-02-30", {}, '"2026-02-30" is not a valid date'),
        ("2026-11-27T24:00:00Z", {}, "is not a valid date"),
        (20261127, {}, "the number 20261127 is not an ISO 8601 date"),
        ("0000-01-01", {}, "is not a valid date"),
        ("9999-12-31T23:59:59-01:00", {}, "is out of range (years 1 to 9999)"),
        (1e13, {"from": "unix"}, "the number 10000000000000 is out of range"),
        ("soon", {"from": "unix"}, '"soon" is not a number of seconds'),
        (True, {"from": "unix_ms"}, "a boolean is not a number of milliseconds"),
        ("27-11-2026", {"from": "%d/%m/%Y"}, '"27-11-2026" does not match "%d/%m/%Y"'),
    ],
)
def test_values_it_cannot_read_fail_the_message(value: object, spec: dict, message: str) -> None:
    result = date(value, **spec)
    assert result.startswith("error: mappings[0].transforms[0]: date: ")
    assert message in result


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"from": "%Y-%q"}, "from: %q is not supported"),
        ({"to": "dd/mm/yyyy"}, "to: must be iso, unix, unix_ms or a format with a % directive"),
        ({"to": "%Y%"}, "to: ends with a lone %"),
        ({"timezone": "Mars/Olympus"}, "timezone: is not an IANA time zone name"),
        ({"timezone": "../../etc/passwd"}, "timezone: is not an IANA time zone name"),
    ],
)
def test_bad_settings_are_refused_at_validation(spec: dict, problem: str) -> None:
    doc = {"name": "d", "source": {"type": "webhook"}, "target": {"type": "http", "url": "https://e.x"},
           "mappings": [{"target": "t", "transforms": [{"type": "date", **spec}]}]}
    with pytest.raises(ConfigError) as caught:
        cfg.parse_integration(doc)
    assert problem in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(zone=st.sampled_from(ZONES), seconds=st.integers(ZONE_FROM, ZONE_UNTIL))
def test_offsets_are_zoneinfos(zone: str, seconds: int) -> None:
    local = (EPOCH + timedelta(seconds=seconds)).astimezone(ZoneInfo(zone))
    assert zone_table(zone).at(seconds) == (
        int(local.utcoffset().total_seconds()),
        local.tzname(),
    )


@settings(max_examples=300, deadline=None)
@given(zone=st.sampled_from(ZONES), local=st.integers(ZONE_FROM + 86400, ZONE_UNTIL - 86400))
def test_local_times_are_read_as_zoneinfo_reads_them_with_fold_0(zone: str, local: int) -> None:
    naive = datetime(1970, 1, 1) + timedelta(seconds=local)
    expected = int(naive.replace(tzinfo=ZoneInfo(zone), fold=0).timestamp())
    assert zone_table(zone).utc(local) == expected
