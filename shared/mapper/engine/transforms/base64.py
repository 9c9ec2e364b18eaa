"""`base64`: text encoded as Base64 (of its UTF-8 bytes), or Base64 decoded to text."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, StrictBool

from ..model import Model
from ._registry import TransformFn, fail, register
from ._text import show, to_text, utf8

_STANDARD = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_URL_SAFE = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_SPACES = str.maketrans("", "", " \t\n\r")


class Base64(Model):
    """Base64: encode text, or decode it back to text."""

    model_config = ConfigDict(title="Base64")

    type: Literal["base64"] = Field(description="Encode text as Base64, or decode Base64.")
    mode: Literal["encode", "decode"] = Field(
        default="encode", title="Mode", description="encode: text to Base64; decode: back."
    )
    url_safe: StrictBool = Field(
        default=False,
        title="URL-safe alphabet",
        description="Use - and _ for + and /, without = padding (RFC 4648 section 5, as in "
        "JWTs); decoding then accepts padding or none.",
    )


def build(spec: Base64, where: str) -> TransformFn:
    """The Python side."""
    if spec.mode == "encode":
        url_safe = spec.url_safe

        def encode(value: Any, data: Any) -> Any:
            if value is None:
                return None
            raw = utf8(to_text(value))
            if url_safe:
                return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
            return base64.b64encode(raw).decode("ascii")

        return encode
    alphabet = _URL_SAFE if spec.url_safe else _STANDARD

    def decode(value: Any, data: Any) -> Any:
        if value is None:
            return None
        if type(value) is not str:
            fail(where, f"base64: {show(value)} is not Base64 text")
        text = value.translate(_SPACES)
        body = text.rstrip("=")
        padded = len(text) - len(body)
        if (
            alphabet.fullmatch(text) is None
            or len(body) % 4 == 1
            or (padded and (len(text) % 4 or padded > 2))
        ):
            fail(where, f"base64: {show(value)} is not Base64 text")
        body += "=" * (-len(body) % 4)
        try:
            raw = base64.b64decode(body.replace("-", "+").replace("_", "/"), validate=True)
            return raw.decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            fail(where, f"base64: {show(value)} does not decode to UTF-8 text")

    return decode


JAVASCRIPT = r"""(t) => {
  const STANDARD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const alphabet = t.urlSafe ? STANDARD.slice(0, 62) + "-_" : STANDARD;
  const valid = t.urlSafe ? /^[A-Za-z0-9_-]*={0,2}$/ : /^[A-Za-z0-9+/]*={0,2}$/;
  if (t.mode === "encode") {
    return (v) => {
      if (v === null || v === undefined) return null;
      const bytes = utf8(text(v));
      let out = "";
      for (let i = 0; i < bytes.length; i += 3) {
        const n = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
        const left = bytes.length - i;
        out += alphabet[(n >> 18) & 63] + alphabet[(n >> 12) & 63] +
          (left > 1 ? alphabet[(n >> 6) & 63] : (t.urlSafe ? "" : "=")) +
          (left > 2 ? alphabet[n & 63] : (t.urlSafe ? "" : "="));
      }
      return out;
    };
  }
  return (v) => {
    if (v === null || v === undefined) return null;
    if (typeof v !== "string") fail("base64: " + show(v) + " is not Base64 text");
    const s = v.replace(/[ \t\n\r]/g, "");
    const body = s.replace(/=+$/, "");
    const padded = s.length - body.length;
    if (!valid.test(s) || body.length % 4 === 1 || (padded && (s.length % 4 || padded > 2))) {
      fail("base64: " + show(v) + " is not Base64 text");
    }
    const bytes = [];
    let bits = 0, acc = 0;
    for (const ch of body) {
      acc = ((acc << 6) | alphabet.indexOf(ch)) & 0xffffff;
      bits += 6;
      if (bits >= 8) { bits -= 8; bytes.push((acc >> bits) & 255); }
    }
    const out = fromUtf8(bytes);
    if (out === null) fail("base64: " + show(v) + " does not decode to UTF-8 text");
    return out;
  };
}"""

register(Base64, build, JAVASCRIPT, order=130)
