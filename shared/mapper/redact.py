"""The one place where secrets are taken out of what we record or log.

`redact_headers` hides headers that carry credentials by their name; a `Redactor` built
from the secret values in play hides those values wherever they appear in JSON-like data,
and the values of credential-like query parameters in URLs. `RedactingFilter` applies the
same to log records, using the process-wide registry that `register_secret` fills.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"

_SENSITIVE_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)
_SENSITIVE_HEADER_WORDS = (
    "signature",
    "token",
    "secret",
    "api-key",
    "apikey",
    "api_key",
    "password",
)


def is_sensitive_header(name: str) -> bool:
    """True when a header of this name carries a credential."""
    lowered = name.lower()
    return lowered in _SENSITIVE_HEADERS or any(w in lowered for w in _SENSITIVE_HEADER_WORDS)


def redact_headers(headers: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """A copy of `headers` with the values of credential-carrying headers replaced."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {name: REDACTED if is_sensitive_header(name) else value for name, value in items}


# A query parameter whose name says it is a credential: `?api_key=...`, `&access_token=...`,
# `&X-Amz-Signature=...`, `&sig=...` (Azure SAS). Matched in any string, not only in whole
# URLs, because URLs also end up inside error messages. The name is bounded and checked
# apart so that the scan stays linear on hostile input (no nested backtracking).
_QUERY_PARAM = re.compile(r"([?&;])([^=&#;\s]{1,100})=([^&#;\s\"'<>]*)")
_SECRET_PARAM_NAME = re.compile(
    r"key|token|secret|signature|password|passwd|credential|^(?:sig|pwd|auth)$", re.IGNORECASE
)


def _redact_param(match: re.Match[str]) -> str:
    lead, name, value = match.groups()
    if value and _SECRET_PARAM_NAME.search(name):
        return f"{lead}{name}={REDACTED}"
    return match.group(0)


# Values shorter than this are redacted only where they are a whole string. As substrings
# they would turn up by chance all over ("1", "ok"), shredding unrelated text, and the
# pattern of [REDACTED] marks would then spell out the secret to anyone reading the record.
MIN_SUBSTRING_LENGTH = 4


class Redactor:
    """Replaces known secret values (and credential query parameters) with [REDACTED]."""

    def __init__(self, secret_values: Iterable[str] = ()) -> None:
        whole: set[str] = set()
        for value in secret_values:
            if isinstance(value, str) and len(value) >= MIN_SUBSTRING_LENGTH:
                whole.update(encodings(value))
            elif isinstance(value, str) and value:
                whole.add(value)
        self._whole = frozenset(whole)
        long = sorted((v for v in whole if len(v) >= MIN_SUBSTRING_LENGTH), key=len, reverse=True)
        # Longest first, so that a secret containing another is removed whole.
        self._pattern = re.compile("|".join(map(re.escape, long))) if long else None

    def scrub(self, obj: Any) -> Any:
        """A copy of JSON-like `obj` with every secret occurrence in its strings replaced."""
        if isinstance(obj, str):
            return self._scrub_text(obj)
        if isinstance(obj, Mapping):
            return {key: self.scrub(value) for key, value in obj.items()}
        if isinstance(obj, list):
            return [self.scrub(value) for value in obj]
        if isinstance(obj, tuple):
            return tuple(self.scrub(value) for value in obj)
        if isinstance(obj, (bytes, bytearray)):
            try:
                text = bytes(obj).decode("utf-8")
            except UnicodeDecodeError:
                return obj  # binary bodies are not recorded as text anyway
            return self._scrub_text(text).encode("utf-8")
        return obj

    def headers(self, headers: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, Any]:
        """Headers for a run record: sensitive names hidden, then secret values scrubbed."""
        return self.scrub(redact_headers(headers))

    def _scrub_text(self, text: str) -> str:
        if text in self._whole:
            return REDACTED
        if self._pattern is not None:
            text = self._pattern.sub(REDACTED, text)
        if "=" in text:
            text = _QUERY_PARAM.sub(_redact_param, text)
        return text


def encodings(value: str) -> set[str]:
    """Every form `value` takes on its way into a message or record."""
    # As is; URL-encoded in a query string; escaped inside serialised JSON (both with and
    # without \\uXXXX for non-ASCII); and quoted by repr(), as requests and http.client
    # quote a header value they refuse (a secret ending in "\n" shows as `...\\n'`),
    # as text and as UTF-8 bytes.
    forms = {
        value,
        quote(value, safe=""),
        quote_plus(value, safe=""),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        repr(value)[1:-1],
        repr(value.encode("utf-8", errors="surrogatepass"))[2:-1],
    }
    return {form for form in forms if form}


# --- logging ------------------------------------------------------------------------------

# Process-wide on purpose, and only here: logging filters are global to the process and
# cannot be handed each request's secrets, so whatever resolves a secret registers it.
_registry: set[str] = set()


def register_secret(value: str) -> None:
    """Make the logging filter hide `value` from now on, in this process."""
    if isinstance(value, str) and value:
        _registry.add(value)


class RedactingFilter(logging.Filter):
    """Scrubs each record's message, arguments and traceback text; attach it to handlers."""

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        self._size = -1
        self._redactor = Redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        redactor = self._current()
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: logging reports it later, as usual
            message = str(record.msg)
        scrubbed = redactor.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redactor.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = redactor.scrub(record.stack_info)
        return True

    def _current(self) -> Redactor:
        # The registry only grows, so its size tells whether to rebuild.
        if len(_registry) != self._size:
            values = list(_registry)
            self._redactor, self._size = Redactor(values), len(values)
        return self._redactor


def install_logging_filter(logger: logging.Logger | None = None) -> RedactingFilter:
    """Attach one `RedactingFilter` to every handler of `logger` (default: the root)."""
    target = logger or logging.getLogger()
    flt = RedactingFilter()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(flt)
    return flt
