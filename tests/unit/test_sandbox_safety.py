"""User JavaScript cannot reach the host, outlive its call, or leak between messages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mapper.engine.config import parse_integration
from mapper.engine.plan import Message, Plan
from mapper.engine.sandbox import init_v8
from mapper.errors import SandboxError, SandboxMemoryError, SandboxTimeout

# CVE-2024-28397: the js2py sandbox escape, verbatim but for the command it runs.
JS2PY_ESCAPE = """
let cmd = "touch {marker}"
let hacked, bymarve, n11
let getattr, obj
hacked = Object.getOwnPropertyNames({{}})
bymarve = hacked.__getattribute__
n11 = bymarve("__getattribute__")
obj = n11("__class__").__base__
getattr = obj.__getattribute__
function findpopen(o) {{
    let result;
    for(let i in o.__subclasses__()) {{
        let item = o.__subclasses__()[i]
        if(item.__module__ == "subprocess" && item.__name__ == "Popen") {{
            return item
        }}
        if(item.__name__ != "type" && (result = findpopen(item))) {{
            return result
        }}
    }}
}}
n11 = findpopen(obj)(cmd, -1, null, -1, -1, -1, null, null, true).communicate()
"""


def plan_for(condition: str | None = None, code: str | None = None, **limits: int) -> Plan:
    mappings = [{"source": "x", "target": "y"}]
    if code is not None:
        mappings = [
            {"source": "x", "target": "y", "transforms": [{"type": "custom", "code": code}]}
        ]
    doc = {
        "name": "t",
        "source": {"type": "webhook"},
        "condition": condition,
        "mappings": mappings,
        "target": {"type": "http", "url": "https://example.com"},
    }
    if limits:
        doc["sandbox"] = limits
    return Plan(parse_integration(doc))


def healthy(plan: Plan) -> None:
    """The next message after a failure is processed normally."""
    outcome = plan.apply(Message({"x": 41}))
    assert outcome.error is None and outcome.output == {"y": 41}


@pytest.mark.parametrize("where", ["condition", "custom"])
def test_js2py_escape_is_a_clean_run_error(tmp_path: Path, where: str) -> None:
    marker = tmp_path / "pwned"
    program = JS2PY_ESCAPE.format(marker=marker)
    if where == "condition":
        plan = plan_for(condition=f"(() => {{ {program}; return true }})()", code="return value")
    else:
        plan = plan_for(code=program + "\nreturn value")
    outcome = plan.apply(Message({"x": 1}))
    assert isinstance(outcome.error, SandboxError)
    assert "TypeError" in str(outcome.error)
    assert not marker.exists()
    plan.close()


def test_infinite_loop_stops_at_the_time_limit_and_the_next_message_runs() -> None:
    plan = plan_for(code="if (value === 1) { while (true) {} } return value", timeout_ms=50)
    outcome = plan.apply(Message({"x": 1}))
    assert isinstance(outcome.error, SandboxTimeout)
    assert "mappings[0].transforms[0]" in str(outcome.error)
    assert "50 ms" in str(outcome.error)
    healthy(plan)


def test_growing_array_stops_at_the_memory_limit_and_the_next_message_runs() -> None:
    plan = plan_for(
        code="if (value === 1) { const a = []; while (true) a.push(new Array(100000).fill(1)) }"
        " return value",
        memory_mb=16,
        timeout_ms=1000,
    )
    outcome = plan.apply(Message({"x": 1}))
    assert isinstance(outcome.error, SandboxMemoryError)
    assert "16 MB" in str(outcome.error)
    healthy(plan)


@pytest.mark.parametrize(
    "attack",
    [
        "new Array(1e8).fill(0.5).length",
        "Array.from({ length: 1e8 }).length",
        "'x'.repeat(2 ** 28).split('').length",
    ],
)
def test_a_built_in_allocating_in_one_go_fails_its_message_and_the_next_runs(
    attack: str,
) -> None:
    # V8's heap and time limits do not stop these (tests/security/test_sandbox_memory.py
    # measures the process); the process that runs them is capped, and rebuilt.
    plan = plan_for(
        code=f"if (value === 1) {{ return {attack} }} return value", memory_mb=8, timeout_ms=100
    )
    outcome = plan.apply(Message({"x": 1}))
    assert isinstance(outcome.error, (SandboxMemoryError, SandboxTimeout)), outcome.error
    healthy(plan)
    plan.close()


def test_a_runaway_message_in_a_batch_fails_alone() -> None:
    plan = plan_for(code="if (value === 1) { while (true) {} } return value", timeout_ms=20)
    outcomes = list(plan.apply_many([Message({"x": n}) for n in [0, 1, 2]]))
    assert [o.output for o in outcomes] == [{"y": 0}, None, {"y": 2}]
    assert isinstance(outcomes[1].error, SandboxTimeout)


@pytest.mark.parametrize(
    "name",
    [
        "require",
        "process",
        "fetch",
        "setTimeout",
        "setInterval",
        "XMLHttpRequest",
        "Deno",
        "Bun",
        "module",
        "exports",
        "__timer_manager",
    ],
)
def test_host_objects_are_absent(name: str) -> None:
    plan = plan_for(code=f"return typeof {name}")
    assert plan.apply(Message({"x": 1})).output == {"y": "undefined"}


def test_dynamic_import_is_refused() -> None:
    plan = plan_for(code="import('fs'); return 1")
    outcome = plan.apply(Message({"x": 1}))
    # V8 without a module loader rejects the import; nothing is loaded either way.
    assert outcome.error is not None or outcome.output == {"y": 1}
    plan2 = plan_for(code="return typeof globalThis.require === 'undefined' && typeof os")
    assert plan2.apply(Message({"x": 1})).output == {"y": "undefined"}


def test_prototype_pollution_does_not_leak_into_the_next_message() -> None:
    plan = plan_for(code="if (value === 1) { Object.prototype.x = 1; } return ({}).x === undefined")
    first = plan.apply(Message({"x": 1}))
    assert first.error is not None and "TypeError" in str(first.error)
    assert plan.apply(Message({"x": 2})).output == {"y": True}


def test_globals_do_not_carry_over_between_messages() -> None:
    plan = plan_for(
        code="try { globalThis.seen = (globalThis.seen || 0) + 1 } catch (e) {}"
        " return typeof globalThis.seen"
    )
    assert plan.apply(Message({"x": 1})).output == {"y": "undefined"}
    assert plan.apply(Message({"x": 2})).output == {"y": "undefined"}


def test_data_is_read_only_to_user_code() -> None:
    plan = plan_for(code="data.x = 99; return value")
    outcome = plan.apply(Message({"x": 1}))
    assert outcome.error is not None and "read only" in str(outcome.error)


def test_standard_ecmascript_is_available() -> None:
    plan = plan_for(
        code="return [JSON.stringify({a: [1]}), Math.max(1, 2), new Date(0).toISOString(),"
        " 'a-b'.split('-').map(s => s.toUpperCase()).join(''), /x+/.test('xx')]"
    )
    assert plan.apply(Message({"x": 1})).output == {
        "y": ['{"a":[1]}', 2, "1970-01-01T00:00:00.000Z", "AB", True]
    }


def test_no_process_left_behind_by_js(tmp_path: Path) -> None:
    before = set(os.listdir("/proc"))
    plan = plan_for(code="return value")
    plan.apply(Message({"x": 1}))
    plan.close()
    new = [p for p in set(os.listdir("/proc")) - before if p.isdigit()]

    def read(pid: str, name: str) -> str:
        try:
            return Path(f"/proc/{pid}/{name}").read_text(errors="replace")
        except FileNotFoundError:
            return ""  # ended meanwhile

    # The sandbox's own JavaScript process (kept as a spare after close) is expected;
    # nothing else may have been started by us or by it.
    hosts = {pid for pid in new if "js_host.py" in read(pid, "cmdline")}
    parents = {str(os.getpid()), *hosts}
    for pid in set(new) - hosts:
        ppid = next(
            (
                line.split()[1]
                for line in read(pid, "status").splitlines()
                if line.startswith("PPid:")
            ),
            "",
        )
        assert ppid not in parents, read(pid, "cmdline")


# Closing the isolate is what stops the runaway promise job; mini-racer then reports the
# aborted calls' late callbacks as "ignored" (harmless, the isolate is gone).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_async_work_cannot_outlive_its_call() -> None:
    plan = plan_for(
        code="if (value === 1) { (async () => { await 0; while (true) {} })() } return value",
        timeout_ms=50,
    )
    outcomes = list(plan.apply_many([Message({"x": n}) for n in [0, 1, 2]]))
    assert outcomes[0].output == {"y": 0} and outcomes[2].output == {"y": 2}
    assert isinstance(outcomes[1].error, SandboxTimeout)
    assert "async" in str(outcomes[1].error)
    healthy(plan)


def test_promise_and_timer_globals_are_gone() -> None:
    # Atomics (and Atomics.waitAsync with it) is gone: it works on typed arrays only.
    plan = plan_for(
        code="return [typeof Promise, typeof Atomics, typeof WebAssembly,"
        " typeof FinalizationRegistry, typeof Array.fromAsync]"
    )
    assert plan.apply(Message({"x": 1})).output == {"y": ["undefined"] * 5}


@pytest.mark.parametrize(
    "code",
    [
        "Function('return 1')(); return value",
        "eval('1'); return value",
        "(() => {}).constructor('return 1')(); return value",
        "(function* () {}).constructor('yield 1'); return value",
    ],
)
def test_code_from_strings_is_refused(code: str) -> None:
    outcome = plan_for(code=code).apply(Message({"x": 1}))
    # The global eval and Function are ours; a function's `constructor` is SES lockdown's.
    assert outcome.error is not None and str(outcome.error).endswith(
        (
            "EvalError: code from strings is disabled",
            "TypeError: Function.prototype.constructor is not a valid constructor.",
        )
    )


def test_v8_started_on_the_main_thread_serves_threads_that_come_and_go() -> None:
    import threading

    init_v8()  # as every entry point does at import
    worker = threading.Thread(target=lambda: plan_for(code="return value").apply(Message({"x": 1})))
    worker.start()
    worker.join()
    healthy(plan_for(code="return value"))
