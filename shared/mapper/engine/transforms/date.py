"""`date`: read a date (ISO 8601, Unix seconds or milliseconds, or a format) and write it.

Both sides compute with whole seconds since 1970-01-01T00:00:00Z and microseconds, the
proleptic Gregorian calendar, and zone tables built from zoneinfo (`_zones.py`); neither
uses a platform date library for the result, so they agree to the microsecond.
"""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_right
from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, ConfigDict, Field, StrictStr
from pydantic_core import PydanticCustomError

from ..model import Model
from ._registry import TransformFn, fail, register
from ._text import NUMBER_TEXT, WHITESPACE, show
from ._zones import ZoneTable, zone_table

KEYWORDS = ("iso", "unix", "unix_ms")
DIRECTIVES = "YmdHMSfzZjab"
MAX_FORMAT_CHARS = 200  # docs/limits.md
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
FIRST_SECOND = -62135596800  # 0001-01-01T00:00:00Z
LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z
_ORDINAL_1970 = 719163  # date(1970, 1, 1).toordinal()
ISO = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[Tt ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:[.,]([0-9]{1,9}))?)?(Z|z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
)
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")


def _either_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" for c in word)


# What each directive reads; runtime.js builds the same regular expression.
_READS = {
    "Y": "([0-9]{4})",
    "m": "([0-9]{1,2})",
    "d": "([0-9]{1,2})",
    "H": "([0-9]{1,2})",
    "M": "([0-9]{1,2})",
    "S": "([0-9]{1,2})",
    "f": "([0-9]{1,6})",
    "j": "([0-9]{1,3})",
    "z": "(Z|[+-][0-9]{2}(?::?[0-9]{2})?)",
    "Z": "([A-Za-z]+)",
    "a": "(" + "|".join(_either_case(d) for d in DAYS) + ")",
    "b": "(" + "|".join(_either_case(m) for m in MONTHS) + ")",
}
_SPECIAL = set("\\^$.|?*+()[]{}")


def tokens(fmt: str) -> list[str]:
    """A format as literal characters and `%X` directives; ValueError names a bad one."""
    out: list[str] = []
    i = 0
    while i < len(fmt):
        if fmt[i] != "%":
            out.append(fmt[i])
            i += 1
            continue
        if i + 1 == len(fmt):
            raise ValueError("ends with a lone %")
        d = fmt[i + 1]
        if d == "%":
            out.append("%")
        elif d in DIRECTIVES:
            out.append("%" + d)
        else:
            raise ValueError(f"%{d} is not supported (use %Y %m %d %H %M %S %f %z %Z %j %a %b %%)")
        i += 2
    return out


def _date_choice(value: str) -> str:
    if value in KEYWORDS:
        return value
    try:
        parts = tokens(value)
    except ValueError as exc:
        raise PydanticCustomError("date_format", "{reason}", {"reason": str(exc)}) from None
    if not any(len(p) == 2 for p in parts):
        raise PydanticCustomError(
            "date_format", "must be iso, unix, unix_ms or a format with a % directive"
        )
    return value


def _zone_name(value: str) -> str:
    try:
        if _ZONE_NAME.fullmatch(value) is None:
            raise ValueError(value)
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone", "is not an IANA time zone name such as Europe/Paris or UTC"
        ) from None
    return value


DateChoice = Annotated[StrictStr, AfterValidator(_date_choice)]


class Date(Model):
    """A date read one way and written another."""

    model_config = ConfigDict(title="Date")

    type: Literal["date"] = Field(description="Read a date and write it another way.")
    from_: DateChoice = Field(
        default="iso",
        alias="from",
        max_length=MAX_FORMAT_CHARS,
        title="From",
        description="How the value is written: iso (ISO 8601), unix (seconds), unix_ms "
        "(milliseconds), or a format such as %d/%m/%Y %H:%M (%Y %m %d %H %M %S %f %z %Z "
        "%j %a %b %%).",
        examples=["iso", "unix", "unix_ms", "%d/%m/%Y %H:%M"],
    )
    to: DateChoice = Field(
        default="iso",
        max_length=MAX_FORMAT_CHARS,
        title="To",
        description="How to write it: iso, unix, unix_ms, or a format.",
        examples=["iso", "unix", "unix_ms", "%Y-%m-%d"],
    )
    timezone: Annotated[StrictStr, AfterValidator(_zone_name)] | None = Field(
        default=None,
        max_length=64,
        title="Time zone (optional)",
        description="IANA name (Europe/Paris): dates without an offset are read as local "
        "time there, and the result is written there. Left out: UTC, or the offset the "
        "value carried.",
        examples=["Europe/Paris", "America/New_York", "UTC"],
    )


def _js_spec(spec: Date) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "date", "from": spec.from_, "to": spec.to}
    out["zone"] = zone_table(spec.timezone).as_json() if spec.timezone else None
    return out


# --- reading ------------------------------------------------------------------------------


class _Bad(Exception):
    """A value this step cannot read; the message names why."""


def _civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 of a valid date; _Bad when it is not one."""
    try:
        return date(y, m, d).toordinal() - _ORDINAL_1970
    except ValueError:
        raise _Bad("is not a valid date") from None


def _clock(h: int, mi: int, s: int) -> int:
    if h > 23 or mi > 59 or s > 59:
        raise _Bad("is not a valid date")
    return h * 3600 + mi * 60 + s


def _offset(text: str) -> int:
    """Seconds east of UTC of `Z`, `+HH`, `+HHMM` or `+HH:MM`."""
    if text in ("Z", "z"):
        return 0
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or "0")
    if hours > 23 or minutes > 59:
        raise _Bad("is not a valid date")
    return (hours * 3600 + minutes * 60) * (-1 if text[0] == "-" else 1)


def _micros(digits: str) -> int:
    return int((digits + "000000")[:6])


# Each reader: value -> (seconds, microseconds, offset): `seconds` local (offset None: the
# timezone, else UTC, says where) or UTC when offset is 0 and came with the value.
def _read_iso(value: Any) -> tuple[int, int, int | None]:
    match = ISO.fullmatch(value) if type(value) is str else None
    if match is None:
        raise _Bad("is not an ISO 8601 date")
    y, mo, d, h, mi, s, frac, off = match.groups()
    try:
        days = date(int(y), int(mo), int(d)).toordinal() - _ORDINAL_1970
    except ValueError:
        raise _Bad("is not a valid date") from None
    clock = 0
    if h is not None:
        hours, minutes, seconds = int(h), int(mi), int(s) if s else 0
        if hours > 23 or minutes > 59 or seconds > 59:
            raise _Bad("is not a valid date")
        clock = hours * 3600 + minutes * 60 + seconds
    micros = _micros(frac) if frac else 0
    return days * 86400 + clock, micros, None if off is None else _offset(off)


def _reader_unix(scale: int) -> Any:
    noun = "seconds" if scale == 1 else "milliseconds"

    def read(value: Any) -> tuple[int, int, int | None]:
        if type(value) is str and NUMBER_TEXT.fullmatch(value.strip(WHITESPACE)):
            x = float(value.strip(WHITESPACE))
        elif type(value) in (int, float):
            x = float(value)
        else:
            raise _Bad(f"is not a number of {noun}")
        if not math.isfinite(x) or abs(x) > 1e12 * scale:
            raise _Bad("is out of range (years 1 to 9999)")
        whole = math.floor(x)
        extra = math.floor((x - whole) * (1e6 / scale) + 0.5)
        if scale == 1:
            seconds, micros = whole, extra
        else:
            rest = whole % 1000
            seconds, micros = (whole - rest) // 1000, rest * 1000 + extra
        if micros >= 1_000_000:
            seconds, micros = seconds + 1, micros - 1_000_000
        return seconds, micros, 0

    return read


def _reader_format(fmt: str) -> Any:
    parts = tokens(fmt)
    pattern = re.compile(
        "".join(
            _READS[p[1]] if len(p) == 2 else ("\\" + p if p in _SPECIAL else p) for p in parts
        )
    )
    fields = [p[1] for p in parts if len(p) == 2]
    wanted = "does not match " + json.dumps(fmt, ensure_ascii=False)

    def read(value: Any) -> tuple[int, int, int | None]:
        match = pattern.fullmatch(value) if type(value) is str else None
        if match is None:
            raise _Bad(wanted)
        got = dict(zip(fields, match.groups(), strict=True))
        y = int(got.get("Y", "1970"))
        if y == 0:
            raise _Bad("is out of range (years 1 to 9999)")
        if "j" in got:
            day = int(got["j"])
            if not 1 <= day <= (366 if _civil(y, 12, 31) - _civil(y, 1, 1) == 365 else 365):
                raise _Bad("is not a valid date")
            days = _civil(y, 1, 1) + day - 1
        else:
            month = MONTHS.index(got["b"].title()) + 1 if "b" in got else 1
            days = _civil(y, int(got.get("m", month)), int(got.get("d", "1")))
        clock = _clock(int(got.get("H", "0")), int(got.get("M", "0")), int(got.get("S", "0")))
        offset = None
        if "z" in got:
            offset = _offset(got["z"])
        elif got.get("Z") in ("UTC", "GMT"):
            offset = 0
        return days * 86400 + clock, _micros(got.get("f", "")), offset

    return read


def _reader(choice: str) -> Any:
    if choice == "iso":
        return _read_iso
    if choice in ("unix", "unix_ms"):
        return _reader_unix(1 if choice == "unix" else 1000)
    return _reader_format(choice)


# --- writing ------------------------------------------------------------------------------


def _offset_text(offset: int, colon: bool) -> str:
    sign = "-" if offset < 0 else "+"
    h, rest = divmod(abs(offset), 3600)
    m, s = divmod(rest, 60)
    sep = ":" if colon else ""
    return f"{sign}{h:02d}{sep}{m:02d}" + (f"{sep}{s:02d}" if s else "")


def _writer(choice: str) -> Any:
    """writer(seconds UTC, micros, offset, abbreviation) -> the value written."""
    if choice == "unix":
        return lambda s, us, off, abbr: s
    if choice == "unix_ms":
        return lambda s, us, off, abbr: s * 1000 + us // 1000
    if choice == "iso":

        def iso(s: int, us: int, off: int, abbr: str) -> str:
            local = s + off
            d = date.fromordinal(local // 86400 + _ORDINAL_1970)
            clock = local % 86400
            frac = "" if us == 0 else f".{us // 1000:03d}" if us % 1000 == 0 else f".{us:06d}"
            zone = "Z" if off == 0 else _offset_text(off, colon=True)
            return (
                f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{clock // 3600:02d}:"
                f"{clock // 60 % 60:02d}:{clock % 60:02d}{frac}{zone}"
            )

        return iso
    # The format as one str.format template over positional fields, all passed each time
    # (str.format ignores those a format does not use); the dearer ones only when used.
    fields = {
        "Y": "{0:04d}",
        "m": "{1:02d}",
        "d": "{2:02d}",
        "H": "{3:02d}",
        "M": "{4:02d}",
        "S": "{5:02d}",
        "f": "{6:06d}",
        "z": "{7}",
        "Z": "{8}",
        "j": "{9:03d}",
        "a": "{10}",
        "b": "{11}",
    }
    parts = tokens(choice)
    template = "".join(
        fields[p[1]] if len(p) == 2 else p.replace("{", "{{").replace("}", "}}") for p in parts
    ).format
    used = {p[1] for p in parts if len(p) == 2}
    with_z, with_j, with_a = "z" in used, "j" in used, "a" in used
    fromordinal = date.fromordinal

    def formatted(s: int, us: int, off: int, abbr: str) -> str:
        local = s + off
        d = fromordinal(local // 86400 + _ORDINAL_1970)
        clock = local % 86400
        return template(
            d.year,
            d.month,
            d.day,
            clock // 3600,
            clock // 60 % 60,
            clock % 60,
            us,
            _offset_text(off, colon=False) if with_z else "",
            abbr,
            d.timetuple().tm_yday if with_j else 0,
            DAYS[d.weekday()] if with_a else "",
            MONTHS[d.month - 1],
        )

    return formatted


def build(spec: Date, where: str) -> TransformFn:
    """The Python side."""
    read, write = _reader(spec.from_), _writer(spec.to)
    zone: ZoneTable | None = zone_table(spec.timezone) if spec.timezone else None
    if zone is not None:  # ZoneTable.at, inline
        starts, offsets, abbrs = zone.starts, zone.offsets, zone.abbrs

    def convert(value: Any, data: Any) -> Any:
        if value is None:
            return None
        try:
            seconds, micros, offset = read(value)
            if offset is not None:
                seconds -= offset
            elif zone is not None:
                seconds = zone.utc(seconds)
            if zone is not None:
                i = bisect_right(starts, seconds) - 1
                out_offset, abbr = offsets[i if i > 0 else 0], abbrs[i if i > 0 else 0]
            elif offset:
                out_offset, abbr = offset, "UTC" + _offset_text(offset, colon=True)
            else:
                out_offset, abbr = 0, "UTC"
            if not (
                FIRST_SECOND <= seconds <= LAST_SECOND
                and FIRST_SECOND <= seconds + out_offset <= LAST_SECOND
            ):
                raise _Bad("is out of range (years 1 to 9999)")
            return write(seconds, micros, out_offset, abbr)
        except _Bad as exc:
            fail(where, f"date: {show(value)} {exc}")

    return convert


JAVASCRIPT = r"""(t) => {
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  const FIRST_SECOND = -62135596800, LAST_SECOND = 253402300799;
  const ISO = new RegExp("^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[Tt ]([0-9]{2}):([0-9]{2})" +
    "(?::([0-9]{2})(?:[.,]([0-9]{1,9}))?)?(Z|z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?$");
  const NUMBER = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
  const floor = Math.floor;
  class Bad { constructor(why) { this.why = why; } }
  const bad = (why) => { throw new Bad(why); };
  const OUT_OF_RANGE = "is out of range (years 1 to 9999)";
  const pad = (n, w) => String(n).padStart(w, "0");
  const leap = (y) => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  // Days since 1970-01-01 of y-m-d, and back (proleptic Gregorian; H. Hinnant's algorithms).
  function daysFrom(y, m, d) {
    const lengths = [31, leap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1 || d > lengths[m - 1]) bad("is not a valid date");
    const yy = m <= 2 ? y - 1 : y;
    const era = floor(yy / 400), yoe = yy - era * 400;
    const doy = floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
    return era * 146097 + yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy - 719468;
  }
  function civil(days) {
    const z = days + 719468, era = floor(z / 146097), doe = z - era * 146097;
    const yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365);
    const doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100));
    const mp = floor((5 * doy + 2) / 153), d = doy - floor((153 * mp + 2) / 5) + 1;
    const m = mp < 10 ? mp + 3 : mp - 9;
    return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
  }
  const clock = (h, mi, s) => (h > 23 || mi > 59 || s > 59 ? bad("is not a valid date") : h * 3600 + mi * 60 + s);
  function offsetOf(text) {
    if (text === "Z" || text === "z") return 0;
    const digits = text.slice(1).replace(":", "");
    const h = Number(digits.slice(0, 2)), m = Number(digits.slice(2, 4) || "0");
    if (h > 23 || m > 59) bad("is not a valid date");
    return (h * 3600 + m * 60) * (text[0] === "-" ? -1 : 1);
  }
  const micros = (digits) => Number((digits + "000000").slice(0, 6));
  function tokens(fmt) {
    const out = [];
    for (let i = 0; i < fmt.length; i++) {
      if (fmt[i] !== "%") { out.push(fmt[i]); continue; }
      out.push(fmt[i + 1] === "%" ? "%" : "%" + fmt[i + 1]);
      i++;
    }
    return out;
  }
  const eitherCase = (w) => Array.from(w).map((c) => "[" + c.toUpperCase() + c.toLowerCase() + "]").join("");
  const READS = {
    Y: "([0-9]{4})", m: "([0-9]{1,2})", d: "([0-9]{1,2})", H: "([0-9]{1,2})", M: "([0-9]{1,2})",
    S: "([0-9]{1,2})", f: "([0-9]{1,6})", j: "([0-9]{1,3})", z: "(Z|[+-][0-9]{2}(?::?[0-9]{2})?)",
    Z: "([A-Za-z]+)", a: "(" + DAYS.map(eitherCase).join("|") + ")",
    b: "(" + MONTHS.map(eitherCase).join("|") + ")",
  };
  const SPECIAL = "\\^$.|?*+()[]{}";
  function readIso(v) {
    const m = typeof v === "string" ? ISO.exec(v) : null;
    if (m === null) bad("is not an ISO 8601 date");
    const days = daysFrom(Number(m[1]), Number(m[2]), Number(m[3]));
    const c = clock(Number(m[4] || 0), Number(m[5] || 0), Number(m[6] || 0));
    return [days * 86400 + c, micros(m[7] || ""), m[8] === undefined ? null : offsetOf(m[8])];
  }
  function readerUnix(scale) {
    const noun = scale === 1 ? "seconds" : "milliseconds";
    return (v) => {
      let x;
      if (typeof v === "string" && NUMBER.test(trimWhitespace(v))) x = Number(trimWhitespace(v));
      else if (typeof v === "number") x = v;
      else bad("is not a number of " + noun);
      if (!Number.isFinite(x) || Math.abs(x) > 1e12 * scale) bad(OUT_OF_RANGE);
      const whole = floor(x);
      const extra = floor((x - whole) * (1e6 / scale) + 0.5);
      let s, us;
      if (scale === 1) { s = whole; us = extra; }
      else { const rest = ((whole % 1000) + 1000) % 1000; s = (whole - rest) / 1000; us = rest * 1000 + extra; }
      if (us >= 1000000) { s += 1; us -= 1000000; }
      return [s, us, 0];
    };
  }
  function readerFormat(fmt) {
    const parts = tokens(fmt);
    const re = new RegExp("^" + parts.map((p) => (p.length === 2 ? READS[p[1]]
      : (SPECIAL.includes(p) ? "\\" + p : p))).join("") + "$");
    const fields = parts.filter((p) => p.length === 2).map((p) => p[1]);
    const wanted = "does not match " + JSON.stringify(fmt);
    return (v) => {
      const m = typeof v === "string" ? re.exec(v) : null;
      if (m === null) bad(wanted);
      const got = {};
      fields.forEach((f, i) => { got[f] = m[i + 1]; });
      const y = Number(own(got, "Y") ? got.Y : "1970");
      if (y === 0) bad(OUT_OF_RANGE);
      let days;
      if (own(got, "j")) {
        const day = Number(got.j);
        if (day < 1 || day > (leap(y) ? 366 : 365)) bad("is not a valid date");
        days = daysFrom(y, 1, 1) + day - 1;
      } else {
        const month = own(got, "b") ? MONTHS.findIndex((n) => n.toLowerCase() === got.b.toLowerCase()) + 1 : 1;
        days = daysFrom(y, own(got, "m") ? Number(got.m) : month, own(got, "d") ? Number(got.d) : 1);
      }
      const c = clock(Number(got.H || 0), Number(got.M || 0), Number(got.S || 0));
      let offset = null;
      if (own(got, "z")) offset = offsetOf(got.z);
      else if (got.Z === "UTC" || got.Z === "GMT") offset = 0;
      return [days * 86400 + c, micros(got.f || ""), offset];
    };
  }
  const reader = (c) => (c === "iso" ? readIso : c === "unix" ? readerUnix(1)
    : c === "unix_ms" ? readerUnix(1000) : readerFormat(c));
  function offsetText(off, colon) {
    const a = Math.abs(off), sep = colon ? ":" : "";
    const h = floor(a / 3600), m = floor(a / 60) % 60, s = a % 60;
    return (off < 0 ? "-" : "+") + pad(h, 2) + sep + pad(m, 2) + (s ? sep + pad(s, 2) : "");
  }
  function writer(c) {
    if (c === "unix") return (s) => s;
    if (c === "unix_ms") return (s, us) => s * 1000 + floor(us / 1000);
    if (c === "iso") {
      return (s, us, off) => {
        const local = s + off, [y, m, d] = civil(floor(local / 86400)), k = local - floor(local / 86400) * 86400;
        const frac = us === 0 ? "" : us % 1000 === 0 ? "." + pad(us / 1000, 3) : "." + pad(us, 6);
        return pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2) + "T" + pad(floor(k / 3600), 2) + ":" +
          pad(floor(k / 60) % 60, 2) + ":" + pad(k % 60, 2) + frac + (off === 0 ? "Z" : offsetText(off, true));
      };
    }
    const parts = tokens(c);
    return (s, us, off, abbr) => {
      const local = s + off, days = floor(local / 86400), [y, m, d] = civil(days), k = local - days * 86400;
      let out = "";
      for (const p of parts) {
        if (p.length === 1) { out += p; continue; }
        switch (p[1]) {
          case "Y": out += pad(y, 4); break;
          case "m": out += pad(m, 2); break;
          case "d": out += pad(d, 2); break;
          case "H": out += pad(floor(k / 3600), 2); break;
          case "M": out += pad(floor(k / 60) % 60, 2); break;
          case "S": out += pad(k % 60, 2); break;
          case "f": out += pad(us, 6); break;
          case "z": out += offsetText(off, false); break;
          case "Z": out += abbr; break;
          case "j": out += pad(days - daysFrom(y, 1, 1) + 1, 3); break;
          case "a": out += DAYS[(((days + 3) % 7) + 7) % 7]; break;
          default: out += MONTHS[m - 1];
        }
      }
      return out;
    };
  }
  // The zone table's two readings (mapper/engine/transforms/_zones.py).
  const zone = t.zone;
  const walls = zone ? zone.starts.slice(1).map((st, i) => st + Math.max(zone.offsets[i], zone.offsets[i + 1])) : null;
  function lastAtOrBefore(list, x) {  // how many entries are <= x
    let lo = 0, hi = list.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (list[mid] <= x) lo = mid + 1; else hi = mid; }
    return lo;
  }
  const read = reader(t.from), write = writer(t.to);
  return (v) => {
    if (v === null || v === undefined) return null;
    try {
      let [s, us, offset] = read(v);
      if (offset !== null) s -= offset;
      else if (zone) s -= zone.offsets[lastAtOrBefore(walls, s)];
      let outOffset = 0, abbr = "UTC";
      if (zone) {
        const i = Math.max(lastAtOrBefore(zone.starts, s) - 1, 0);
        outOffset = zone.offsets[i]; abbr = zone.abbrs[i];
      } else if (offset) {
        outOffset = offset; abbr = "UTC" + offsetText(offset, true);
      }
      if (!(s >= FIRST_SECOND && s <= LAST_SECOND && s + outOffset >= FIRST_SECOND && s + outOffset <= LAST_SECOND)) {
        bad(OUT_OF_RANGE);
      }
      return write(s, us, outOffset, abbr);
    } catch (e) {
      if (e instanceof Bad) fail("date: " + show(v) + " " + e.why);
      throw e;
    }
  };
}"""  # noqa: E501 - JavaScript, read as a whole

register(Date, build, JAVASCRIPT, order=105, js_spec=_js_spec)
