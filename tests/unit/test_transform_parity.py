"""Built-ins run in Python, or in JavaScript after a custom transform: both must agree."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mapper.engine.config import parse_integration
from mapper.engine.plan import Message, Plan
from mapper.engine.transforms import json_text

# Object keys that look like integers are ordered first by JavaScript; docs/mapping.md says so.
keys = st.text(max_size=5).filter(lambda k: not k.isdigit())
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)
builtin = st.one_of(
    st.just({"type": "uppercase"}),
    st.just({"type": "lowercase"}),
    st.builds(
        lambda s, n: {"type": "substring", "start": s, "length": n},
        st.integers(0, 6),
        st.none() | st.integers(0, 6),
    ),
    st.builds(
        lambda f, r: {"type": "replace", "find": f, "replace": r},
        st.text(min_size=1, max_size=3),
        st.text(max_size=3),
    ),
    st.builds(lambda v: {"type": "default", "value": v}, values),
    st.builds(
        lambda sep: {"type": "concat", "fields": ["other", "value"], "separator": sep},
        st.text(max_size=2),
    ),
)


def plan(chain: list[dict]) -> Plan:
    """Two mappings: the chain in Python, and the same chain after a no-op custom (in JS)."""
    return Plan(
        parse_integration(
            {
                "name": "parity",
                "source": {"type": "webhook"},
                "target": {"type": "http", "url": "https://example.com"},
                # Generous: this test is about results, and shares the machine with others.
                "sandbox": {"timeoutMs": 1000},
                "mappings": [
                    {"source": "value", "target": "python", "transforms": chain},
                    {
                        "source": "value",
                        "target": "js",
                        "transforms": [{"type": "custom", "code": "return value"}, *chain],
                    },
                ],
            }
        )
    )


@pytest.fixture(scope="module")
def plans() -> Iterator[dict]:
    cache: dict = {}
    yield cache
    for p in cache.values():
        p.close()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(chain=st.lists(builtin, min_size=1, max_size=3), value=values, other=values)
def test_python_and_javascript_built_ins_agree(
    plans: dict, chain: list, value: object, other: object
) -> None:
    key = repr(chain)
    if key not in plans:
        plans[key] = plan(chain)
    outcome = plans[key].apply(Message({"value": value, "other": other}))
    assert outcome.error is None
    # JavaScript has one number type (2.0 comes back as 2), so compare as JSON text.
    assert json_text(outcome.output["python"]) == json_text(outcome.output["js"])
