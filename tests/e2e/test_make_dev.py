"""`make dev` after a crash: the leftovers of the crashed run are stopped, nothing fails."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from local.emulators import _group_alive, free_port

from .test_readme_walkthrough import PLATFORM_SETTINGS, ROOT, START_TIMEOUT_S


def start(state: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in PLATFORM_SETTINGS}
    env.update(PORT=str(port), LOCAL_STATE_DIR=str(state))
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/python"), "-m", "local.dev"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while "The platform is running" not in log.read_text(errors="replace"):
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    return proc


def test_a_second_start_after_a_crash_stops_the_leftovers_and_works(tmp_path: Path) -> None:
    port = free_port()
    first = start(tmp_path, port, tmp_path / "first.log")
    leftovers = json.loads((tmp_path / "dev.pids").read_text())
    assert leftovers and all(_group_alive(g) for g in leftovers)
    first.send_signal(signal.SIGKILL)  # a crash: no cleanup at all
    first.wait(timeout=10)
    assert all(_group_alive(g) for g in leftovers)  # the emulators outlived it

    second = start(tmp_path, port, tmp_path / "second.log")
    try:
        assert (
            "Stopped 2 emulator(s) left by an earlier run" in (tmp_path / "second.log").read_text()
        )
        assert not any(_group_alive(g) for g in leftovers)
        reply = requests.get(f"http://localhost:{port}/api/openapi.json", timeout=10)
        assert reply.status_code == 200
        started = json.loads((tmp_path / "dev.pids").read_text())
    finally:
        os.killpg(second.pid, signal.SIGINT)  # Ctrl-C
        second.wait(timeout=30)
    assert not any(_group_alive(g) for g in started)  # Ctrl-C stopped what it started
    assert not (tmp_path / "dev.pids").exists()
