"""`make faults`: every fault experiment against the real local stack, as one table.

    .venv/bin/python -m faults.run [--n 1000] [--only healthy,same-key] [--trials 20]
        [--down-seconds 120] [--max-concurrent 1] [--paced 50]

Starts its own emulators and `python -m local.dev` (faults/stack.py) and a recording sink
on 127.0.0.2, runs the experiments one after the other, prints a Markdown table and every
broken expectation, and exits 1 if there is one: 0 lost, 0 duplicates with a different key
or none, 0 runs in flight after the horizon, 0 events a deduplicating receiver applied
twice. Then the receiver cases (faults/receivers.py: rate limit, down, pause, redrive
twice) in a table of their own. Loopback only; every wait is bounded.
docs/performance.md, "Fault suite".
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from . import receivers
from .experiments import Experiment, Result, run_experiment
from .ordered import run_ordered
from .sink import Behaviour, RecordingSink
from .stack import Horizons, Stack

DEFAULT_N = 1000


def experiments(n: int, trials: int, copies: int) -> list[Experiment]:
    """The suite, in the order it runs."""
    return [
        Experiment("healthy", "healthy target", n, keyless_share=0.5),
        Experiment("platform-kill", "platform killed mid-stream and restarted", n,
                   fault="platform"),
        Experiment("pubsub-kill", "Pub/Sub emulator killed and restarted mid-stream", n,
                   fault="pubsub", keyless_share=0.5),
        Experiment("same-key", f"same webhook-id sent {copies} times at once x {trials}",
                   trials, copies=copies),
        Experiment("failing-30", "30 % of requests fail (500)", n,
                   Behaviour(fail_rate=0.3), keyless_share=0.5),
        Experiment("hanging-10", "10 % hang past the 5 s target timeout", n,
                   Behaviour(hang_rate=0.1, hang_s=8.0)),
        Experiment("dedup-receiver", "receiver deduplicates by Idempotency-Key (10 % hang)", n,
                   Behaviour(hang_rate=0.1, hang_s=8.0, dedup=True)),
        Experiment("ordered-30", "30 % fail on an ordered integration (10 keys)", n,
                   Behaviour(fail_rate=0.3), keys=10),
    ]


def table(results: Sequence[Result]) -> str:
    """The results as a Markdown table."""
    head = (
        "| experiment | sent | 202s | accepted | delivered | lost | dup, other/no key "
        "| dup, same key | applied twice | in flight after horizon | ended with reason "
        "| delivered/s | out of order |"
    )
    lines = [head, "|" + "---|" * 13]
    for r in results:
        e = r.experiment
        sent = f"{e.n}x{e.copies}" if e.copies > 1 else str(e.n)
        twice = "-" if r.applied_twice is None else str(r.applied_twice)
        lines.append(
            f"| {e.title} | {sent} | {r.answered_202} | {r.accepted} | {r.delivered} "
            f"| {len(r.lost)} | {r.dup_other_key} | {r.dup_same_key} | {twice} | {r.in_flight} "
            f"| {r.ended_with_reason} | {r.per_second:.1f} | {_order(r)} |"
        )
    return "\n".join(lines)


def _order(r: Result) -> str:
    """The ordered case's breaks: out of order + requests that overtook ('-' elsewhere)."""
    if r.out_of_order is None:
        return "-"
    return f"{r.out_of_order} + {r.overtaken}"


def run(
    argv: Sequence[str] | None = None,
) -> tuple[int, list[Result | receivers.CaseResult]]:
    """Run the suite as the command line says; (exit status, results)."""
    args = _parser().parse_args(argv)
    chosen = [e for e in experiments(args.n, args.trials, args.copies)
              if not args.only or e.name in args.only.split(",")]
    cases = receivers.cases(args.n, args.down_seconds, args.only.split(",") if args.only else [],
                            args.max_concurrent, args.paced)
    if not chosen and not cases:
        print(f"no experiment named {args.only!r}", file=sys.stderr)
        return 2, []
    horizons = Horizons(args.reconcile_after, args.max_republishes, args.tick)
    stack = Stack(horizons, Path(args.log_dir) if args.log_dir else None)
    sink = RecordingSink()
    results: list[Result] = []
    case_results: list[receivers.CaseResult] = []
    began = time.monotonic()
    try:
        print(f"Starting the emulators and the platform (logs in {stack.dir}) ...", flush=True)
        stack.start()
        for exp in chosen:
            print(f"- {exp.title} ...", flush=True)
            result = (run_ordered if exp.keys else run_experiment)(stack, sink, exp)
            results.append(result)
            for note in result.notes:
                print(f"    {note}", flush=True)
        case_results = receivers.run_cases(stack, cases)
    finally:
        stack.stop()
        sink.stop()
    print()
    print(
        f"horizon: RECONCILE_AFTER_SECONDS={horizons.reconcile_after_s}, "
        f"RECONCILE_MAX_REPUBLISHES={horizons.max_republishes}, "
        f"PULL_TICK_SECONDS={horizons.pull_tick_s:g}; {time.monotonic() - began:.0f} s in all"
    )
    if results:
        print(table(results))
    if case_results:
        print(receivers.table(case_results))
    everything: list[Result | receivers.CaseResult] = [*results, *case_results]
    broken = [(r.experiment.title, f) for r in everything for f in r.failures()]
    for title, failure in broken:
        print(f"FAILED {title}: {failure}")
    if not broken:
        print("every expectation held")
    return (1 if broken else 0), everything


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m faults.run", description=__doc__)
    parser.add_argument("--n", type=int, default=int(os.environ.get("N") or DEFAULT_N),
                        help="messages per experiment (default: $N or 1000)")
    parser.add_argument("--only", default="", help="comma-separated experiment names")
    parser.add_argument("--trials", type=int, default=20, help="same-key trials")
    parser.add_argument("--copies", type=int, default=20, help="same-key copies per trial")
    parser.add_argument("--reconcile-after", type=int, default=20,
                        help="RECONCILE_AFTER_SECONDS of the platform (default 20)")
    parser.add_argument("--max-republishes", type=int, default=3,
                        help="RECONCILE_MAX_REPUBLISHES (default 3)")
    parser.add_argument("--tick", type=float, default=3.0,
                        help="PULL_TICK_SECONDS: how often the reconciler sweeps (default 3)")
    parser.add_argument("--down-seconds", type=float, default=receivers.DEFAULT_DOWN_S,
                        help="how long the receiver of the `down` case is down (default 120)")
    parser.add_argument("--max-concurrent", type=int, default=None,
                        help="rateLimit.maxConcurrent of the rate-limit case (default: unset)")
    parser.add_argument("--paced", type=int, default=None,
                        help="rateLimit.perSecond for the down, pause and redrive-twice cases: "
                        "the paced path (default: the fast path)")
    parser.add_argument("--log-dir", default="", help="where the platform and emulator logs go")
    return parser


def main() -> int:
    """The command line."""
    # SIGTERM unwinds like Ctrl-C, so that the emulators and the platform are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    status, _ = run()
    return status


if __name__ == "__main__":
    sys.exit(main())
