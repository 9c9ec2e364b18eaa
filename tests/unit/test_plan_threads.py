"""A plan shared by the threads of one function instance (the worker runs concurrency > 1)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from mapper.engine.config import parse_integration
from mapper.engine.plan import Message, PlanCache
from mapper.engine.sandbox import init_v8
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
