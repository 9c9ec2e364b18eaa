"""Built-ins run in Python, or in JavaScript after a custom transform: both must agree."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.transform_support import both

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


# Each example draws one chain (one V8 isolate to build, about 100 ms) and several values
# to run through it (a millisecond each): many values per isolate keep this suite quick.
PER_CHAIN = 8


@settings(max_examples=60, deadline=None)
@given(
    chain=st.lists(builtin, min_size=1, max_size=3),
    messages=st.lists(st.tuples(values, values), min_size=1, max_size=PER_CHAIN),
)
def test_python_and_javascript_built_ins_agree(
    chain: list, messages: list[tuple[object, object]]
) -> None:
    for value, other in messages:
        # As JSON text: JavaScript has one number type (2.0 comes back as 2).
        python, javascript = both(chain, value, {"other": other})
        assert not python.startswith("error: "), python
        assert python == javascript


# --- the transform library (docs/mapping.md): results and error messages agree ----------

ZONES = [None, "UTC", "America/New_York", "Europe/Paris", "Australia/Lord_Howe",
         "Asia/Kolkata", "America/St_Johns", "Pacific/Apia"]
FORMATS = ["%Y-%m-%d", "%d/%m/%Y %H:%M", "%Y%m%dT%H%M%S.%f%z", "%a, %d %b %Y %H:%M:%S %Z",
           "%j/%Y %H:%M", "%b %d %Y", "at %H:%M:%S %% %z"]
CHOICES = ["iso", "unix", "unix_ms", *FORMATS]
SECONDS = st.integers(-62135596800, 253402300799)


def agree(chain: list[dict], value: object, data: dict | None = None) -> str:
    python, javascript = both(chain, value, data)
    assert python == javascript, (chain, value, data)
    return python


def numeric_text() -> st.SearchStrategy[str]:
    return st.from_regex(
        r"\A\s?[+-]?([0-9]{1,25}(\.[0-9]{0,8})?|\.[0-9]{1,8})([eE][+-]?[0-9]{1,3})?\s?\Z"
    )


@settings(max_examples=60, deadline=None)
@given(
    multiply=st.none() | st.integers(-1000, 1000) | st.floats(-1e6, 1e6, allow_nan=False),
    decimals=st.none() | st.integers(0, 20),
    output=st.sampled_from(["number", "string"]),
    values_=st.lists(
        numeric_text() | st.floats(allow_nan=False, allow_infinity=False)
        | st.integers(-(2**60), 2**60) | scalars | values,
        min_size=1,
        max_size=PER_CHAIN,
    ),
)
def test_number_agrees(
    multiply: object, decimals: object, output: str, values_: list[object]
) -> None:
    spec = {"type": "number", "output": output}
    if multiply is not None:
        spec["multiply"] = multiply
    if decimals is not None:
        spec["decimals"] = decimals
    for value in values_:
        agree([spec], value)


@settings(max_examples=200, deadline=None)
@given(
    algorithm=st.sampled_from(["sha256", "sha1", "md5"]),
    encoding=st.sampled_from(["hex", "base64"]),
    value=values,
)
def test_hash_agrees(algorithm: str, encoding: str, value: object) -> None:
    agree([{"type": "hash", "algorithm": algorithm, "encoding": encoding}], value)


@settings(max_examples=300, deadline=None)
@given(
    url_safe=st.booleans(),
    text=st.text(max_size=20),
    junk=st.text(alphabet="AQw8+/-_= \n=", max_size=12),
    value=values,
)
def test_base64_agrees(url_safe: bool, text: str, junk: str, value: object) -> None:
    encode = {"type": "base64", "mode": "encode", "urlSafe": url_safe}
    decode = {"type": "base64", "mode": "decode", "urlSafe": url_safe}
    agree([encode], value)
    agree([encode, decode], text)
    agree([decode], junk)
    agree([decode], value)


@settings(max_examples=50, deadline=None)
@given(
    table=st.dictionaries(st.sampled_from(["a", "1", "2.5", "true", "null", ""]), values),
    default=st.none() | st.tuples(values),
    values_=st.lists(
        st.sampled_from(["a", 1, 2.5, True, None, "", "b", [1], {"a": 1}]) | values,
        min_size=1,
        max_size=PER_CHAIN,
    ),
)
def test_lookup_agrees(table: dict, default: tuple | None, values_: list[object]) -> None:
    spec = {"type": "lookup", "table": table}
    if default is not None:
        spec["default"] = default[0]
    for value in values_:
        agree([spec], value)


@settings(max_examples=80, deadline=None)
@given(
    parts=st.lists(
        st.sampled_from(["a", "b.c", "n[0]", "n[-1]", "items[*].x", "missing", '["k.y"]'])
        | st.text(alphabet="ab {}-", max_size=4),
        max_size=5,
    ),
    value=values | st.fixed_dictionaries({"a": values}),
    data=st.fixed_dictionaries(
        {"a": values, "b": st.fixed_dictionaries({"c": values}), "n": st.lists(scalars),
         "items": st.lists(st.fixed_dictionaries({"x": scalars})), "k.y": scalars}
    ),
)
def test_template_agrees(parts: list[str], value: object, data: dict) -> None:
    known = {"a", "b.c", "n[0]", "n[-1]", "items[*].x", "missing", '["k.y"]'}
    template = "".join("{{" + p + "}}" if p in known else p for p in parts)
    agree([{"type": "template", "template": template}], value, data)


@settings(max_examples=50, deadline=None)
@given(
    separator=st.text(max_size=2),
    values_=st.lists(
        st.text(alphabet="a,;😀 ", max_size=10) | values, min_size=1, max_size=PER_CHAIN
    ),
)
def test_split_and_join_agree(separator: str, values_: list[object]) -> None:
    for value in values_:
        agree([{"type": "split", "separator": separator}], value)
        agree([{"type": "join", "separator": separator}], value)
        split_join = [{"type": "split", "separator": separator}, {"type": "join", "separator": "|"}]
        agree(split_join, value)


@settings(max_examples=60, deadline=None)
@given(
    source=st.sampled_from(CHOICES),
    target=st.sampled_from(CHOICES),
    zone=st.sampled_from(ZONES),
    moments=st.lists(
        st.tuples(
            SECONDS | st.integers(-(10**9), 3 * 10**9),
            st.sampled_from([0, 0.001, 0.25, 0.5, 0.999999, 0.1234567]),
        ),
        min_size=1,
        max_size=PER_CHAIN,
    ),
    junk=st.lists(
        values | st.sampled_from(["2026-02-30", "2026-13-01T00:00:00Z", "1e12", "0000-01-01",
                                  "9999-12-31T23:59:59-01:00", "", "31/02/2026 10:00"]),
        max_size=3,
    ),
)
def test_date_agrees(
    source: str,
    target: str,
    zone: str | None,
    moments: list[tuple[int, float]],
    junk: list[object],
) -> None:
    def spec(source: str, target: str) -> dict:
        out = {"type": "date", "from": source, "to": target}
        if zone is not None:
            out["timezone"] = zone
        return out

    for seconds, fraction in moments:
        # A date written in `source`'s way (both sides write it), then read and written again.
        written = agree([spec("unix", source)], seconds + fraction)
        if not written.startswith("error: "):
            agree([spec(source, target)], json.loads(written))
    for value in junk:
        agree([spec(source, target)], value)
    agree([spec(source, target)], junk)
