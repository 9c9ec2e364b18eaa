"""Text with `{{path}}` placeholders: the email target's headers and the `template` transform.

A placeholder is `{{` a path (mapper.engine.paths syntax, spaces around it ignored) `}}`.
Each is read from a first document, then, where missing or null there, from a fallback
one; still null renders as "". A string goes in as it is; any other value as JavaScript
writes it (`3`, `2.0` -> `2`, `true`, arrays and objects as compact JSON).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..errors import PathError
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

    def render(self, first: Any, fallback: Any, check: Check | None = None) -> str:
        """Fill each placeholder from `first`, else from `fallback`."""
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
            out.append(text)
        return "".join(out)

    def js_parts(self) -> list[Any]:
        """The parts for runtime.js: strings, and placeholders as steps (null for [*])."""
        return [
            part if type(part) is str else [None if s is WILDCARD else s for s in part[1]]
            for part in self.parts
        ]
