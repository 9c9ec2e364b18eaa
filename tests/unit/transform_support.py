"""Run a chain of transforms in Python and in JavaScript (after a no-op custom) and compare."""

from __future__ import annotations

import json
import re
from typing import Any

from mapper.engine.config import parse_integration
from mapper.engine.plan import Message, Plan
from mapper.engine.transforms import json_text

MAX_PLANS = 100
_PLANS: dict[str, tuple[Plan, Plan]] = {}
_WHERE = re.compile(r"^mappings\[0\]\.transforms\[(\d+)\]: ")


def _plan(chain: list[dict[str, Any]]) -> Plan:
    return Plan(
        parse_integration(
            {
                "name": "parity",
                "source": {"type": "webhook"},
                "target": {"type": "http", "url": "https://example.com"},
                # Generous: this is about results, and shares the machine with others.
                "sandbox": {"timeoutMs": 1000},
                "mappings": [{"source": "value", "target": "out", "transforms": chain}],
            }
        )
    )


def outcome(plan: Plan, value: Any, data: dict[str, Any] | None = None, shift: int = 0) -> str:
    """The output's JSON text (as JavaScript writes numbers), or `error: <message>`."""
    got = plan.apply(Message({**(data or {}), "value": value}))
    if got.error is not None:
        # The JavaScript chain starts with the no-op custom: its steps count one more.
        text = _WHERE.sub(
            lambda m: f"mappings[0].transforms[{int(m.group(1)) - shift}]: ", str(got.error)
        )
        return "error: " + text
    return json_text(got.output["out"])


def both(chain: list[dict[str, Any]], value: Any, data: dict[str, Any] | None = None) -> tuple:
    """(Python's outcome, JavaScript's outcome) of `chain` on `value`."""
    key = repr(chain)
    if key not in _PLANS and len(_PLANS) >= MAX_PLANS:  # each holds a V8 isolate
        for plans in _PLANS.values():
            for plan in plans:
                plan.close()
        _PLANS.clear()
    if key not in _PLANS:
        _PLANS[key] = (_plan(chain), _plan([{"type": "custom", "code": "return value"}, *chain]))
    python, javascript = _PLANS[key]
    return outcome(python, value, data), outcome(javascript, value, data, shift=1)


def run(chain: list[dict[str, Any]], value: Any, data: dict[str, Any] | None = None) -> Any:
    """Python's result, checked against JavaScript's; an error is `error: <message>`."""
    python, javascript = both(chain, value, data)
    assert python == javascript, (chain, value)
    return python if python.startswith("error: ") else json.loads(python)
