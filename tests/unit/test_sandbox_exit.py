"""Isolates are closed at exit, before the interpreter finalizes.

An isolate left open at exit is closed by mini-racer's own `__del__` during finalization,
which can wait forever on V8's threads: `python -m mapper validate` on a document with
JavaScript hung at exit in 10 of 30 runs on a busy machine (py-spy: MiniRacer.__del__ ->
~ContextHolder -> future::get). The same 30 runs after the fix all exited.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import atexit
    from mapper.engine import sandbox
    from mapper.engine.config import parse_integration
    from mapper.engine.plan import Message, Plan

    sandbox.init_v8()
    assert sandbox.syntax_errors([("condition", "data.n > 1")]) == [None]
    plan = Plan(parse_integration({
        "name": "exit", "source": {"type": "webhook"},
        "target": {"type": "http", "url": "https://example.com"},
        "condition": "data.n > 1",
        "mappings": [{"source": "n", "target": "n",
                      "transforms": [{"type": "custom", "code": "return value * 2"}]}],
    }))
    assert plan.apply(Message({"n": 2})).output == {"n": 4}
    # Nothing closed by hand, as a process that simply ends: the exit handlers run now.
    open_before = (sandbox._checker is not None, plan._sandbox._ctx is not None)
    atexit._run_exitfuncs()
    print(open_before, (sandbox._checker is None, plan._sandbox._ctx is None))
    """
)


def test_the_checker_and_every_plan_isolate_are_closed_by_the_exit_handlers() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[0] == "(True, True) (True, True)"
