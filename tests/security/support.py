"""Plans with one custom transform or condition, as a hostile user would write them."""

from __future__ import annotations

from typing import Any

from mapper.engine.config import parse_integration
from mapper.engine.plan import Plan


def document(
    code: str | None = None,
    condition: str | None = None,
    then: list[dict[str, Any]] | None = None,
    **limits: int,
) -> dict[str, Any]:
    """An integration mapping `x` to `y`, through `code` (and the built-ins `then`)."""
    transforms: list[dict[str, Any]] = []
    if code is not None:
        transforms.append({"type": "custom", "code": code})
    transforms.extend(then or [])
    doc: dict[str, Any] = {
        "name": "hostile",
        "source": {"type": "webhook"},
        "condition": condition,
        "mappings": [{"source": "x", "target": "y", "transforms": transforms}],
        "target": {"type": "http", "url": "https://example.com/"},
    }
    # Generous by default: these tests are about outcomes, on a machine shared with others.
    doc["sandbox"] = {"timeoutMs": 1000, **limits}
    return doc


def plan_for(
    code: str | None = None,
    condition: str | None = None,
    then: list[dict[str, Any]] | None = None,
    **limits: int,
) -> Plan:
    """The compiled plan of `document(...)`."""
    return Plan(parse_integration(document(code, condition, then, **limits)))
