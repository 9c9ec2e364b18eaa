"""`make test`: the whole suite in three pytest processes at once, and their coverage as one.

    .venv/bin/python scripts/run_tests.py --fail-under 90

Two processes run the tests of the platform a session starts (tests/e2e, tests/security),
each with a platform and emulators of its own: the e2e files that wait longest
(`SLOW_PLATFORM_TESTS`, retries and notification windows measured in minutes) in one, the
others and tests/security in the other. The third runs every other test, in the order a
single run has them. Most of an e2e test is waiting on the emulators, receivers and a
browser, so on CI's 2 cores they overlap well (one platform process took 15 min 22 s of
a 16-minute run; the rest 4 min 42 s). The rest must not share a process with a platform:
its functions build their clients from the process environment once, and a test that
sets its own emulators or services in between would send them elsewhere.

The rest's output is shown as it runs, the platform processes' after it; then the line
and branch coverage of all three together, failing below `--fail-under`. The exit status
is 0 only when every run passed and the coverage is above the floor.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATFORM_TESTS = ("tests/e2e", "tests/security")
# About half of the platform tests' time (measured 7 December 2026): they run beside the rest.
SLOW_PLATFORM_TESTS = (
    "tests/e2e/test_data_plane.py",
    "tests/e2e/test_notify.py",
    "tests/e2e/test_ordering.py",
    "tests/e2e/test_pause_delivery.py",
    "tests/e2e/test_cost_bench.py",
)
COVERED = ("shared/mapper", "functions", "local")
SLOWEST = 20  # --durations of each run: the suite's budget is 15 minutes on 2 cores


def pytest_command(paths: list[str]) -> list[str]:
    covered = [f"--cov={source}" for source in COVERED]
    return [sys.executable, "-m", "pytest", *covered, "--cov-branch", "--cov-report=",
            f"--durations={SLOWEST}", *paths]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fail-under", type=float, required=True)
    args = parser.parse_args(argv)
    ignore = [arg for t in PLATFORM_TESTS for arg in ("--ignore", t)]
    beside = [arg for t in SLOW_PLATFORM_TESTS for arg in ("--ignore", t)]
    runs = {  # name: the tests, after the options that leave some out
        "rest": [*ignore, "tests"],
        "slow platform tests": list(SLOW_PLATFORM_TESTS),
        "other platform tests": [*beside, *PLATFORM_TESTS],
    }
    data = {name: ROOT / f".coverage.{n}" for n, name in enumerate(runs)}
    logs = {name: ROOT / f".test-{n}.log" for n, name in enumerate(runs)}
    for path in [*data.values(), ROOT / ".coverage"]:
        path.unlink(missing_ok=True)

    def start(name: str) -> subprocess.Popen[bytes]:
        with logs[name].open("w") as log:
            return subprocess.Popen(  # noqa: S603 - our own pytest
                pytest_command(runs[name]), cwd=ROOT,
                env={**os.environ, "COVERAGE_FILE": str(data[name])},
                stdout=log, stderr=subprocess.STDOUT,
            )

    background = {name: start(name) for name in list(runs)[1:]}
    first = next(iter(runs))
    status: dict[str, int] = {}
    try:
        status[first] = subprocess.call(
            pytest_command(runs[first]), cwd=ROOT,
            env={**os.environ, "COVERAGE_FILE": str(data[first])},
        )
    finally:
        status.update({name: process.wait() for name, process in background.items()})
    for name in background:
        print(f"\n===== {name} (run beside the above) =====", flush=True)
        sys.stdout.write(logs[name].read_text())
        sys.stdout.flush()

    coverage = [sys.executable, "-m", "coverage"]
    status["coverage"] = subprocess.call(
        [*coverage, "combine", *map(str, data.values())], cwd=ROOT
    ) or subprocess.call(
        [*coverage, "report", "--skip-covered", f"--fail-under={args.fail_under}"], cwd=ROOT
    )
    print("\nexit status: " + ", ".join(f"{name} {code}" for name, code in status.items()))
    return 0 if not any(status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
