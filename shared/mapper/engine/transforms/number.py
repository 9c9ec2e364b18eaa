"""`number`: text or a number as a number, multiplied and rounded (half away from zero)."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictFloat, StrictInt

from ..model import Model
from ._registry import TransformFn, fail, register
from ._text import NUMBER_TEXT, WHITESPACE, number_text, show

MAX_DECIMALS = 20  # docs/limits.md
_SAFE = 2**53
# Enough digits for any double written in fixed notation with MAX_DECIMALS decimals.
_CONTEXT = Context(prec=400, rounding=ROUND_HALF_UP)


class Number(Model):
    """Text or a number as a number: multiplied, rounded, written."""

    model_config = ConfigDict(title="Number")

    type: Literal["number"] = Field(description="Read a number from text; scale and round it.")
    multiply: StrictInt | StrictFloat | None = Field(
        default=None,
        title="Multiply by (optional)",
        description="Multiply the number by this, e.g. 0.01 for cents to units.",
        examples=[100, 0.01],
    )
    decimals: StrictInt | None = Field(
        default=None,
        ge=0,
        le=MAX_DECIMALS,
        title="Decimals (optional)",
        description="Round to this many decimals, half away from zero (2.345 -> 2.35).",
    )
    output: Literal["number", "string"] = Field(
        default="number",
        title="Output",
        description="number: a JSON number; string: text, with exactly `decimals` "
        "decimals when they are set.",
    )


def read(value: Any, where: str) -> int | float | None:
    """The number a value holds: itself, or the number its text spells; "" is null."""
    if type(value) in (int, float):
        return value
    if type(value) is not str:
        fail(where, f"number: {show(value)} is not a number")
    text = value.strip(WHITESPACE)
    if text == "":
        return None
    if NUMBER_TEXT.fullmatch(text) is None:
        fail(where, f"number: {show(value)} is not a number")
    x = float(text)
    if math.isinf(x):
        fail(where, f"number: {show(value)} is out of range")
    return whole(x)


def whole(x: float) -> int | float:
    """An integral double below 2**53 as an int, so that it is written without '.0'."""
    return int(x) if x.is_integer() and -_SAFE < x < _SAFE else x


def rounded(x: int | float, decimals: int) -> str:
    """x rounded half away from zero, in fixed notation with exactly `decimals` decimals.

    Rounds the shortest decimal that reads back as x (what JavaScript's String(x) writes),
    so that 1.005 rounds to 1.01 as written, not as the double just below it.
    """
    if type(x) is int and -_SAFE < x < _SAFE:
        text = str(x) + ("." + "0" * decimals if decimals else "")
    else:
        shortest = repr(float(x))
        point = shortest.find(".")
        places = len(shortest) - point - 1
        if "e" in shortest or (places == decimals + 1 and shortest[-1] == "5"):
            # Exponent forms and ties: exact decimal arithmetic on the shortest form.
            exact = Decimal(shortest).quantize(Decimal(1).scaleb(-decimals), context=_CONTEXT)
            text = format(exact, "f")
        elif places <= decimals:
            text = shortest + "0" * (decimals - places) if decimals else shortest[:point]
        else:
            # Not a tie, and the shortest form is as close to x as any decimal with these
            # places: the double and its shortest form round alike (docs/mapping.md).
            text = f"{x:.{decimals}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text


def build(spec: Number, where: str) -> TransformFn:
    """The Python side."""
    multiply, decimals, as_text = spec.multiply, spec.decimals, spec.output == "string"
    factor = None if multiply is None else float(multiply)
    isinf = math.isinf

    def scaled(value: Any) -> int | float | None:
        # The number `value` holds, multiplied; None for null and "".
        kind = type(value)
        if kind is int or kind is float:
            x = value
        elif value is None:
            return None
        else:
            x = read(value, where)  # text; anything else fails here
            if x is None:
                return None
        if factor is None:
            return x
        try:
            x = x * factor
        except OverflowError:  # an integer past the largest double (json reads those)
            x = math.inf
        if isinf(x):
            fail(where, f"number: {show(value)} times {number_text(multiply)} is out of range")
        return x

    if decimals is None:

        def number(value: Any, data: Any) -> Any:
            x = scaled(value)
            if x is None:
                return None
            if factor is not None:
                x = whole(x)
            return number_text(x) if as_text else x

        return number
    fixed = f"{{:.{decimals}f}}".format
    scale = 10.0**decimals
    zeros = ["0" * n for n in range(decimals + 1)]

    def number_fixed(value: Any, data: Any) -> Any:
        kind = type(value)
        if factor is not None and (kind is float or (kind is int and -_SAFE < value < _SAFE)):
            x = value * factor
            if isinf(x):
                x = scaled(value)  # says why
        else:
            x = scaled(value)
            if x is None:
                return None
        if type(x) is float:
            # rounded()'s common cases, inline: this runs once per value of a hot path.
            # Far from a tie and from the double's own precision, the double rounds as its
            # shortest form does: format it directly.
            y = x * scale
            if -1e12 < y < 1e12 and abs(y % 1.0 - 0.5) > 1e-3:
                text = fixed(x)
                if text[0] == "-" and not text.strip("-0."):
                    text = text[1:]
                return text if as_text else whole(float(text))
            shortest = repr(x)
            places = len(shortest) - shortest.find(".") - 1
            if "e" in shortest or (places == decimals + 1 and shortest[-1] == "5"):
                text = rounded(x, decimals)
            elif places <= decimals:
                text = shortest + zeros[decimals - places] if decimals else shortest[:-2]
                if text[0] == "-" and not text.strip("-0."):
                    text = text[1:]
            else:
                text = fixed(x)
                if text[0] == "-" and not text.strip("-0."):
                    text = text[1:]
        else:
            text = rounded(x, decimals)
        return text if as_text else whole(float(text))

    return number_fixed


JAVASCRIPT = r"""(t) => {
  const NUMBER_TEXT = /^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
  // x rounded half away from zero on its shortest decimal (String(x)), as fixed text.
  function rounded(x, decimals) {
    const neg = x < 0;
    const s = String(neg ? -x : x);
    const [mantissa, exp] = s.split("e");
    const dot = mantissa.indexOf(".");
    let digits = mantissa.replace(".", "");
    let point = (dot < 0 ? mantissa.length : dot) + (exp === undefined ? 0 : Number(exp));
    const lead = digits.length - digits.replace(/^0+/, "").length;  // "0.00123"
    digits = digits.slice(lead); point -= lead;
    if (digits === "") { digits = "0"; point = 1; }
    const keep = point + decimals;  // digits of round(x * 10^decimals)
    let n;
    if (keep >= digits.length) n = digits + "0".repeat(keep - digits.length);
    else if (keep < 0) n = "0";
    else {
      n = keep === 0 ? "0" : digits.slice(0, keep);
      if (digits.charCodeAt(keep) >= 53) {  // "5".."9": up, away from zero
        const d = n.split("");
        let i = d.length - 1;
        while (i >= 0 && d[i] === "9") { d[i] = "0"; i--; }
        if (i < 0) d.unshift("1"); else d[i] = String(Number(d[i]) + 1);
        n = d.join("");
      }
    }
    n = n.replace(/^0+(?=[0-9])/, "");
    if (decimals > 0) {
      n = n.padStart(decimals + 1, "0");
      n = n.slice(0, n.length - decimals) + "." + n.slice(n.length - decimals);
    }
    return neg && /[1-9]/.test(n) ? "-" + n : n;
  }
  const whole = (x) => x;  // one number type: 5.0 is 5 already
  return (v) => {
    if (v === null || v === undefined) return null;
    let x;
    if (typeof v === "number") x = v;
    else if (typeof v === "string") {
      const s = trimWhitespace(v);
      if (s === "") return null;
      if (!NUMBER_TEXT.test(s)) fail("number: " + show(v) + " is not a number");
      x = Number(s);
      if (!Number.isFinite(x)) fail("number: " + show(v) + " is out of range");
    } else fail("number: " + show(v) + " is not a number");
    if (t.multiply !== null && t.multiply !== undefined) {
      x = x * t.multiply;
      if (!Number.isFinite(x)) {
        fail("number: " + show(v) + " times " + String(t.multiply) + " is out of range");
      }
    }
    if (t.decimals === null || t.decimals === undefined) {
      return t.output === "string" ? String(x) : whole(x);
    }
    const fixed = rounded(x, t.decimals);
    return t.output === "string" ? fixed : Number(fixed);
  };
}"""

register(Number, build, JAVASCRIPT, order=100)
