"""Built-ins that allocate in one go cannot take a platform process past its memory.

Issue "Hostile input, third round", finding 5: `new Array(1e8).fill(0.5)` under an 8 MB
heap and 100 ms limit reached 1,144 MB RSS and ran 7.3 s in the worker's own process,
because V8 checks its heap and time limits only where it looks, and a long built-in does
not look. Each attack runs as a custom transform through `Plan.apply`, the worker's path,
in a child Python process that reports its own peak RSS and that of the JavaScript
processes it started (docs/limits.md: "JavaScript memory").
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from mapper.engine.js_process import KILL_GRACE_S, added_memory_bound_mb

HEAP_MB = 8
TIMEOUT_MS = 100

ATTACKS = [
    "new Array(1e8).fill(0.5).length",
    "(() => { const a = new Array(1e8); for (let i = 0; i < 1e8; i++) a[i] = i; })()",
    "'x'.repeat(2 ** 28).split('').length",
    "new Uint8Array(5e8).length",
    "Array.from({ length: 1e8 }).length",
    "(() => { let s = 'x'; for (;;) s += s; })()",
    "Array(2 ** 24).join('abcdefgh').length",
    "JSON.stringify(Array(1e7).fill('xxxxxxxxxx')).length",
    "(() => { const f = (n) => f(n + 1) + 1; return f(0); })()",
]

# Prints one JSON line per attack: how it ended, how long it took, whether the next
# message still came out right; then the peak RSS of this process and of its children.
RUN_ATTACKS = textwrap.dedent(
    """
    import json, resource, sys, time
    from mapper.engine.config import parse_integration
    from mapper.engine.plan import Message, Plan
    from mapper.engine.sandbox import init_v8

    init_v8()
    attacks = json.loads(sys.argv[1])
    code = "if (value === 1) { return ATTACK } return value * 2"
    plans = [Plan(parse_integration({
        "name": "attack", "source": {"type": "webhook"},
        "mappings": [{"source": "x", "target": "y",
                      "transforms": [{"type": "custom", "code": code.replace("ATTACK", a)}]}],
        "target": {"type": "http", "url": "https://example.com/"},
        "sandbox": {"memoryMb": %(heap)d, "timeoutMs": %(timeout)d},
    })) for a in attacks]
    for plan in plans:
        plan.apply(Message({"x": 21}))  # the process and program exist before the attack
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for plan in plans:
        started = time.perf_counter()
        outcome = plan.apply(Message({"x": 1}))
        seconds = time.perf_counter() - started
        after = plan.apply(Message({"x": 21}))
        plan.close()
        print(json.dumps({
            "error": None if outcome.error is None else type(outcome.error).__name__,
            "message": str(outcome.error), "seconds": seconds,
            "next": after.output, "next_error": str(after.error),
        }))
    print(json.dumps({
        "self_grew_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024,
        "children_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }))
    """
) % {"heap": HEAP_MB, "timeout": TIMEOUT_MS}

# A JavaScript process at rest (the isolate with SES and runtime.js built) holds about
# 80 MB resident, most of it the V8 library's pages, shared between processes.
AT_REST_MB = 128


def test_allocation_attacks_end_in_error_quickly_within_the_memory_bound() -> None:
    done = subprocess.run(
        [sys.executable, "-c", RUN_ATTACKS, json.dumps(ATTACKS)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    *reports, peaks = [json.loads(line) for line in done.stdout.strip().splitlines()]
    assert len(reports) == len(ATTACKS)
    for attack, report in zip(ATTACKS, reports, strict=True):
        assert report["error"] is not None and report["error"].startswith("Sandbox"), (
            attack,
            report,
        )
        # The time limit, the kill grace, and room for a busy machine.
        assert report["seconds"] < TIMEOUT_MS / 1000 + KILL_GRACE_S + 1.5, (attack, report)
        assert report["next"] == {"y": 42}, (attack, report)
    # The platform process itself does not grow with what JavaScript allocates ...
    assert peaks["self_grew_mb"] < 32, peaks
    # ... and no JavaScript process grows past its documented bound.
    assert peaks["children_peak_mb"] < AT_REST_MB + added_memory_bound_mb(HEAP_MB), peaks
