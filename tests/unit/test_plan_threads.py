"""A plan shared by the threads of one function instance (the worker runs concurrency > 1)."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mapper.engine.config import parse_integration
from mapper.engine.js_process import JsProcess
from mapper.engine.plan import Message, PlanCache
from mapper.engine.sandbox import MAX_JS_PROCESSES, close_isolates, init_v8
from mapper.errors import SandboxTimeout

init_v8()  # on the main thread, as the functions do at import


def integration(version: int = 1, timeout_ms: int = 50) -> object:
    return parse_integration(
        {
            "id": "threads",
            "version": version,
            "name": "threads",
            "source": {"type": "webhook"},
            "condition": "data.n >= 0",
            "mappings": [
                {
                    "source": "n",
                    "target": "n",
                    "transforms": [
                        {
                            "type": "custom",
                            "code": "if (data.slow) { while (true) {} } return value * 2",
                        }
                    ],
                }
            ],
            "target": {"type": "http", "url": "https://example.com/"},
            "sandbox": {"timeoutMs": timeout_ms},
        }
    )


def test_concurrent_messages_each_get_their_own_result_despite_timeouts_beside_them() -> None:
    cache = PlanCache()

    def one(n: int) -> tuple[int, object]:
        slow = n % 10 == 0
        plan = cache.get(integration())
        outcome = plan.apply(Message({"n": n, "slow": slow}))
        return n, outcome

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(200)))
    for n, outcome in results:
        if n % 10 == 0:
            assert isinstance(outcome.error, SandboxTimeout), (n, outcome)
        else:
            assert outcome.error is None, (n, outcome.error)
            assert outcome.output == {"n": n * 2}


def test_a_new_version_compiled_while_the_old_one_runs_breaks_no_message() -> None:
    cache = PlanCache()

    def one(n: int) -> object:
        # Versions keep replacing each other: about 150 isolates are built (SES lockdown,
        # ~100 ms of CPU each) beside the calls, so no message here is slow on purpose and
        # the limit is generous: what must not happen is an isolate closed under a call.
        plan = cache.get(integration(version=1 + n % 3, timeout_ms=1000))
        return plan.apply(Message({"n": n, "slow": False}))

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(one, range(150)))
    assert [o.error for o in outcomes if o.error is not None] == []
    assert [o.output for o in outcomes] == [{"n": n * 2} for n in range(150)]


def _js_processes() -> int:
    """This process's live JavaScript children (js_host.py), by /proc."""
    me, count = str(os.getpid()), 0
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            if stat[0] != "Z" and stat[1] == me and "js_host" in Path(
                    f"/proc/{pid}/cmdline").read_text():
                count += 1
        except (OSError, IndexError):
            continue
    return count


def test_more_requests_than_javascript_processes_start_no_more_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A worker at a concurrency of 32 may hold messages of 32 integrations at once. Each
    # call here is held before it runs until all that can have started have: the calls that
    # got in keep their processes busy, so none can be ended to make room, and the others
    # must wait for a slot rather than start processes of their own (docs/limits.md).
    extra = 4
    entered: list[int] = []
    release = threading.Event()
    evaluate = JsProcess.eval

    def held(self: JsProcess, code: str, *args: object, **kwargs: object) -> object:
        if code.startswith("__run("):
            entered.append(1)
            release.wait(60)
        return evaluate(self, code, *args, **kwargs)

    monkeypatch.setattr(JsProcess, "eval", held)
    cache = PlanCache()

    def one(n: int) -> object:
        plan = cache.get(integration().model_copy(update={"id": f"busy-{n}"}))
        return plan.apply(Message({"n": n, "slow": False}))

    pool = ThreadPoolExecutor(max_workers=MAX_JS_PROCESSES + extra)
    try:
        futures = [pool.submit(one, n) for n in range(MAX_JS_PROCESSES + extra)]
        deadline = time.monotonic() + 60
        while len(entered) < MAX_JS_PROCESSES and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(3)  # time enough for the others to build processes, were they let
        started = _js_processes()
        release.set()
        outcomes = [f.result(timeout=60) for f in futures]
    finally:
        release.set()
        pool.shutdown()
    assert [o.output for o in outcomes] == [{"n": n * 2} for n in range(len(outcomes))]
    assert len(entered) == MAX_JS_PROCESSES + extra  # every call ran in the end
    assert started == MAX_JS_PROCESSES
    close_isolates()
