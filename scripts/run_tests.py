"""`make test`: the whole suite in two pytest processes at once, and their coverage as one.

    .venv/bin/python scripts/run_tests.py --fail-under 90

One process runs the tests of the platform the session starts (tests/e2e, tests/security),
the other every other test, in the order a single run has them. Most of an e2e test is
waiting on the emulators, receivers and a browser, so on CI's 2 cores the two overlap
well. They must be processes of their own: the platform's functions build their clients
from the process environment once, and a test of the rest that sets its own emulators or
services in between would send them elsewhere.

The first process's output is shown as it runs, the platform's after it; then the line
and branch coverage of both together, failing below `--fail-under`. The exit status is 0
only when both runs passed and the coverage is above the floor.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATFORM_TESTS = ("tests/e2e", "tests/security")
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
    log_path = ROOT / ".test-platform.log"
    data = {"platform": ROOT / ".coverage.platform", "rest": ROOT / ".coverage.rest"}
    for path in [*data.values(), ROOT / ".coverage"]:
        path.unlink(missing_ok=True)

    def env(name: str) -> dict[str, str]:
        return {**os.environ, "COVERAGE_FILE": str(data[name])}

    rest = [arg for t in PLATFORM_TESTS for arg in ("--ignore", t)] + ["tests"]
    with log_path.open("w") as log:
        platform = subprocess.Popen(  # noqa: S603 - our own pytest
            pytest_command(list(PLATFORM_TESTS)), cwd=ROOT, env=env("platform"),
            stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            rest_status = subprocess.call(pytest_command(rest), cwd=ROOT, env=env("rest"))
        finally:
            platform_status = platform.wait()
    print(f"\n===== {' and '.join(PLATFORM_TESTS)} (run beside the above) =====", flush=True)
    sys.stdout.write(log_path.read_text())
    sys.stdout.flush()

    coverage = [sys.executable, "-m", "coverage"]
    report_status = subprocess.call(
        [*coverage, "combine", *map(str, data.values())], cwd=ROOT
    ) or subprocess.call(
        [*coverage, "report", "--skip-covered", f"--fail-under={args.fail_under}"], cwd=ROOT
    )
    print(f"\nexit status: tests {rest_status}, {' and '.join(PLATFORM_TESTS)} "
          f"{platform_status}, coverage {report_status}")
    return 0 if rest_status == platform_status == report_status == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
