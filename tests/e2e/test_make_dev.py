"""`make dev` after a crash: the leftovers of the crashed run are stopped, nothing fails."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
from google.cloud import firestore

from local.emulators import _group_alive, free_port, start_emulators

from .test_readme_walkthrough import PLATFORM_SETTINGS, ROOT, START_TIMEOUT_S


def start(
    state: Path, port: int, log: Path, extra: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in PLATFORM_SETTINGS}
    env.update(PORT=str(port), LOCAL_STATE_DIR=str(state), **(extra or {}))
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


def test_emulators_named_in_the_environment_are_used_and_left_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulators = start_emulators(project="demo-dev-env")
    try:
        port = free_port()
        proc = start(tmp_path, port, tmp_path / "dev.log", extra=emulators.env())
        try:
            output = (tmp_path / "dev.log").read_text()
            assert "Using the emulators named by" in output
            assert "Starting the Firestore and Pub/Sub emulators" not in output
            token = (tmp_path / "admin-token").read_text()
            reply = requests.post(
                f"http://localhost:{port}/api/integrations/",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "name": "kept",
                    "source": {"type": "webhook"},
                    "target": {"type": "http", "url": "https://example.com/"},
                },
                timeout=30,
            )
            assert reply.status_code == 201, reply.text
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=30)
        # Not ours to stop: the emulators still run, and still hold what was stored.
        assert emulators.firestore is not None and emulators.firestore.alive()
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulators.firestore_host or "")
        db = firestore.Client(project="demo-dev-env")
        names = [d.to_dict()["name"] for d in db.collection("integrations").stream()]
        assert names == ["kept"]
    finally:
        emulators.stop()
