"""`hash`: the SHA-256, SHA-1 or MD5 digest of a value's text (UTF-8), in hex or Base64."""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Literal

from pydantic import ConfigDict, Field

from ..model import Model
from ._registry import TransformFn, register
from ._text import to_text, utf8


class Hash(Model):
    """A digest of the value's text."""

    model_config = ConfigDict(title="Hash")

    type: Literal["hash"] = Field(description="Replace a value by a digest of its text.")
    algorithm: Literal["sha256", "sha1", "md5"] = Field(
        default="sha256",
        title="Algorithm",
        description="sha256; sha1 and md5 only where a receiver asks for them (neither "
        "resists collisions).",
    )
    encoding: Literal["hex", "base64"] = Field(
        default="hex", title="Encoding", description="hex (lower case) or Base64 (padded)."
    )


def build(spec: Hash, where: str) -> TransformFn:
    """The Python side."""
    algorithm, as_hex = spec.algorithm, spec.encoding == "hex"

    def digest(value: Any, data: Any) -> Any:
        if value is None:
            return None
        # usedforsecurity=False: a fingerprint of data, and FIPS builds allow it so.
        h = hashlib.new(algorithm, utf8(to_text(value)), usedforsecurity=False)
        return h.hexdigest() if as_hex else base64.b64encode(h.digest()).decode("ascii")

    return digest


# Plain arrays of numbers: the sandbox has no typed arrays and no crypto.
JAVASCRIPT = r"""(t) => {
  const rotl = (x, n) => (x << n) | (x >>> (32 - n));
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  // Message blocks: bytes, 0x80, zeros, the bit length (64 bits, big or little endian).
  function blocks(bytes, littleEndian) {
    const m = bytes.slice();
    const bits = bytes.length * 8;
    m.push(0x80);
    while (m.length % 64 !== 56) m.push(0);
    const hi = Math.floor(bits / 4294967296), lo = bits >>> 0;
    const len = [];
    for (let i = 3; i >= 0; i--) len.push((hi >>> (8 * i)) & 255);
    for (let i = 3; i >= 0; i--) len.push((lo >>> (8 * i)) & 255);
    if (littleEndian) len.reverse();
    return m.concat(len);
  }
  function word(m, i, littleEndian) {
    return littleEndian
      ? (m[i] | (m[i + 1] << 8) | (m[i + 2] << 16) | (m[i + 3] << 24))
      : ((m[i] << 24) | (m[i + 1] << 16) | (m[i + 2] << 8) | m[i + 3]);
  }
  function bytesOf(words, littleEndian) {
    const out = [];
    for (const w of words) {
      for (let i = 0; i < 4; i++) {
        out.push((littleEndian ? w >>> (8 * i) : w >>> (24 - 8 * i)) & 255);
      }
    }
    return out;
  }
  const K256 = [];
  {
    const primes = [];
    for (let n = 2; primes.length < 64; n++) if (primes.every((p) => n % p)) primes.push(n);
    for (const p of primes) K256.push((Math.cbrt(p) % 1) * 4294967296 >>> 0);
  }
  function sha256(bytes) {
    const m = blocks(bytes, false);
    const h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
      0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    const w = new Array(64);
    for (let off = 0; off < m.length; off += 64) {
      for (let i = 0; i < 16; i++) w[i] = word(m, off + 4 * i, false);
      for (let i = 16; i < 64; i++) {
        const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
        const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
      }
      let [a, b, c, d, e, f, g, hh] = h;
      for (let i = 0; i < 64; i++) {
        const s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        const t1 = (hh + s1 + ((e & f) ^ (~e & g)) + K256[i] + w[i]) | 0;
        const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      const next = [a, b, c, d, e, f, g, hh];
      for (let i = 0; i < 8; i++) h[i] = (h[i] + next[i]) | 0;
    }
    return bytesOf(h, false);
  }
  function sha1(bytes) {
    const m = blocks(bytes, false);
    const h = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];
    const w = new Array(80);
    for (let off = 0; off < m.length; off += 64) {
      for (let i = 0; i < 16; i++) w[i] = word(m, off + 4 * i, false);
      for (let i = 16; i < 80; i++) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
      let [a, b, c, d, e] = h;
      for (let i = 0; i < 80; i++) {
        const [f, k] = i < 20 ? [(b & c) | (~b & d), 0x5a827999]
          : i < 40 ? [b ^ c ^ d, 0x6ed9eba1]
          : i < 60 ? [(b & c) | (b & d) | (c & d), 0x8f1bbcdc]
          : [b ^ c ^ d, 0xca62c1d6];
        const tmp = (rotl(a, 5) + f + e + k + w[i]) | 0;
        e = d; d = c; c = rotl(b, 30); b = a; a = tmp;
      }
      const next = [a, b, c, d, e];
      for (let i = 0; i < 5; i++) h[i] = (h[i] + next[i]) | 0;
    }
    return bytesOf(h, false);
  }
  const S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
  const KMD5 = [];
  for (let i = 0; i < 64; i++) KMD5.push(Math.floor(Math.abs(Math.sin(i + 1)) * 4294967296) >>> 0);
  function md5(bytes) {
    const m = blocks(bytes, true);
    const h = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
    for (let off = 0; off < m.length; off += 64) {
      const x = [];
      for (let i = 0; i < 16; i++) x.push(word(m, off + 4 * i, true));
      let [a, b, c, d] = h;
      for (let i = 0; i < 64; i++) {
        let f, g;
        if (i < 16) { f = (b & c) | (~b & d); g = i; }
        else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) % 16; }
        else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) % 16; }
        else { f = c ^ (b | ~d); g = (7 * i) % 16; }
        const tmp = d; d = c; c = b;
        b = (b + rotl((a + f + KMD5[i] + x[g]) | 0, S[4 * (i >> 4) + (i & 3)])) | 0;
        a = tmp;
      }
      const next = [a, b, c, d];
      for (let i = 0; i < 4; i++) h[i] = (h[i] + next[i]) | 0;
    }
    return bytesOf(h, true);
  }
  const ALGORITHMS = { sha256: sha256, sha1: sha1, md5: md5 };
  const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  function encode(bytes) {
    if (t.encoding === "hex") {
      return bytes.map((b) => (b < 16 ? "0" : "") + b.toString(16)).join("");
    }
    let out = "";
    for (let i = 0; i < bytes.length; i += 3) {
      const n = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
      const left = bytes.length - i;
      out += B64[(n >> 18) & 63] + B64[(n >> 12) & 63] +
        (left > 1 ? B64[(n >> 6) & 63] : "=") + (left > 2 ? B64[n & 63] : "=");
    }
    return out;
  }
  const digest = ALGORITHMS[t.algorithm];
  return (v) => (v === null || v === undefined ? null : encode(digest(utf8(text(v)))));
}"""

register(Hash, build, JAVASCRIPT, order=120)
