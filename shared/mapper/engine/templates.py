"""Text with `{{path}}` placeholders: the `template` transform, the email target's headers
and body, the HTTP target's URL (`UrlTemplate`: path and query only, values encoded) and
header values (`header_value`: no line breaks). docs/targets.md says what each refuses.

A placeholder is `{{` a path (mapper.engine.paths syntax, spaces around it ignored) `}}`.
Each is read from a first document, then, where missing or null there, from a fallback
one; still null renders as "". A string goes in as it is; any other value as JavaScript
writes it (`3`, `2.0` -> `2`, `true`, arrays and objects as compact JSON).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

from ..errors import PathError, TargetError
from .paths import WILDCARD, Getter, Step, compile_getter, parse_path
from .transforms._text import to_text

PLACEHOLDER = re.compile(r"\{\{\s*(.*?)\s*\}\}")

# check(placeholder, text) may refuse a filled-in value by raising (the email target does).
Check = Callable[[str, str], None]


class Template:
    """A template parsed once; `render` fills it per message."""

    def __init__(self, text: str) -> None:
        """Parse `text`; raises PathError naming the placeholder whose path does not parse."""
        self.parts: list[str | tuple[str, tuple[Step, ...], Getter]] = []
        last = 0
        for match in PLACEHOLDER.finditer(text):
            try:
                steps = parse_path(match.group(1))
            except PathError as exc:
                raise PathError(f"placeholder {match.group(0)}: {exc}") from None
            placeholder = (match.group(0), steps, compile_getter(steps))
            self.parts += [text[last : match.start()], placeholder]
            last = match.end()
        self.parts.append(text[last:])

    def render(
        self,
        first: Any,
        fallback: Any,
        check: Check | None = None,
        encode: Callable[[str], str] | None = None,
    ) -> str:
        """Fill each placeholder from `first`, else from `fallback`; `encode` each value."""
        out: list[str] = []
        for part in self.parts:
            if type(part) is str:
                out.append(part)
                continue
            placeholder, _, get = part
            value = get(first)
            if value is None:
                value = get(fallback)
            text = "" if value is None else to_text(value)
            if check is not None:
                check(placeholder, text)
            out.append(text if encode is None else encode(text))
        return "".join(out)

    def js_parts(self) -> list[Any]:
        """The parts for runtime.js: strings, and placeholders as steps (null for [*])."""
        return [
            part if type(part) is str else [None if s is WILDCARD else s for s in part[1]]
            for part in self.parts
        ]


# Where a URL's authority ends: the first "/", "?" or "#" after "scheme://".
_AUTHORITY_END = re.compile(r"[/?#]")
_DOT_SEGMENTS = frozenset({".", ".."})


class UrlTemplate:
    """An HTTP target's `url` with placeholders in its path and query only, parsed once.

    The scheme, host and port are fixed text: the host decides where the request and its
    credentials go, so no payload may choose it. Each filled-in value is percent-encoded
    whole (`/`, `?`, `#`, `&`, `=`, `%` included), so it stays one path segment or one
    query value. A path segment that a value turns into `.` or `..` is refused (encoding
    them would not help: `%2E` is the same character to the URL's normaliser and to most
    servers), and so is a path placeholder whose value is missing, null or "" (the URL
    would name another resource, `/users/` for `/users/{{id}}`).
    """

    def __init__(self, url: str) -> None:
        """Parse `url`; raises PathError naming what is wrong with its placeholders."""
        problem = url_placeholder_problem(url)
        if problem:
            raise PathError(problem)
        self.url = url
        self.templated = PLACEHOLDER.search(url) is not None
        head, path, query = _split_url(url)
        self._head = head
        # The path by literal "/" (values never add one), so a segment is judged whole.
        self._segments = [Template(segment) for segment in _split_outside(path, "/")]
        self._query = Template(query) if query is not None else None

    def render(self, first: Any, fallback: Any) -> str:
        """The final URL, each value filled from `first`, else `fallback`, and encoded."""
        if not self.templated:
            return self.url
        segments = []
        for template in self._segments:
            segment = template.render(first, fallback, _path_value, encode=_encode)
            if len(template.parts) > 1 and unquote(segment) in _DOT_SEGMENTS:
                raise TargetError(
                    f"the URL's path segment {_shown(template)} became {segment!r}, which "
                    "would climb the path; refused"
                )
            segments.append(segment)
        url = self._head + "/".join(segments)
        if self._query is not None:
            url += "?" + self._query.render(first, fallback, encode=_encode)
        return url


def url_placeholder_problem(url: str) -> str | None:
    """Why the placeholders of this URL are not allowed (or do not parse); None when fine."""
    masked = _masked(url)
    authority_end = _authority_end(masked)
    fragment = masked.find("#")
    for match in PLACEHOLDER.finditer(url):
        if match.start() < authority_end:
            return (
                f"placeholder {match.group(0)} is in the scheme, host or port: placeholders "
                "may only stand in the path or the query (the host decides where the "
                "request and its credentials go)"
            )
        if 0 <= fragment < match.start():
            return f"placeholder {match.group(0)} is in the fragment, which is never sent"
        try:
            parse_path(match.group(1))
        except PathError as exc:
            return f"placeholder {match.group(0)}: {exc}"
    if "{{" in url[:authority_end]:
        return "a {{ in the scheme, host or port is not a placeholder and not a valid URL"
    return None


def url_without_placeholders(url: str) -> str:
    """The URL with each placeholder replaced by a plain value, for the address checks."""
    return PLACEHOLDER.sub("x", url)


def header_value(template: Template, name: str, first: Any, fallback: Any) -> str:
    """A header value filled in; a CR, LF or NUL in a filled-in value is refused."""

    def refuse_line_breaks(placeholder: str, text: str) -> None:
        if any(ch in text for ch in "\r\n\0"):
            raise TargetError(
                f"the {name} header's value for {placeholder} holds a line break or NUL, "
                "which would start a header of its own; refused"
            )

    return template.render(first, fallback, refuse_line_breaks)


def _masked(text: str) -> str:
    # The same text with each placeholder blanked out (same length): a "/" or "?" inside
    # a placeholder's path is no separator.
    return PLACEHOLDER.sub(lambda m: "\0" * len(m.group(0)), text)


def _authority_end(masked: str) -> int:
    scheme_end = masked.find("://")
    end = _AUTHORITY_END.search(masked, scheme_end + 3 if scheme_end >= 0 else 0)
    return end.start() if end else len(masked)


def _split_outside(text: str, sep: str) -> list[str]:
    """`text` split at each `sep` that is not inside a placeholder."""
    pieces, start = [], 0
    for i, ch in enumerate(_masked(text)):
        if ch == sep:
            pieces.append(text[start:i])
            start = i + 1
    return [*pieces, text[start:]]


def _split_url(url: str) -> tuple[str, str, str | None]:
    # (scheme://authority, path, query or None); a fragment stays on the query or path.
    masked = _masked(url)
    end = _authority_end(masked)
    head, rest, masked_rest = url[:end], url[end:], masked[end:]
    question, fragment = masked_rest.find("?"), masked_rest.find("#")
    if question < 0 or 0 <= fragment < question:  # no query: a "?" after "#" is fragment
        return head, rest, None
    return head, rest[:question], rest[question + 1 :]


def _path_value(placeholder: str, text: str) -> None:
    if text == "":
        raise TargetError(
            f"the URL's value for {placeholder} is missing or empty, which would name "
            "another resource; refused"
        )


def _encode(text: str) -> str:
    return quote(text, safe="")


def _shown(template: Template) -> str:
    return "".join(p if type(p) is str else p[0] for p in template.parts)
