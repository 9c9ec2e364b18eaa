"""`make dev`: leftovers of a crashed run are stopped; the first signal stops it; a Pub/Sub
emulator restarted under it gets its topics back, and its own dying stops it with a reason."""

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

from local.emulators import Emulator, _group_alive, free_port, start_emulators

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

    # While the first is alive, a second make dev in the same checkout refuses, and
    # touches nothing of the first (it used to stop its emulators, then die on the port).
    env = {k: v for k, v in os.environ.items() if k not in PLATFORM_SETTINGS}
    env.update(PORT=str(free_port()), LOCAL_STATE_DIR=str(tmp_path))
    refused = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "local.dev"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert refused.returncode == 1
    assert f"already running in this checkout (pid {first.pid}" in refused.stderr
    assert all(_group_alive(g) for g in leftovers)
    assert requests.get(f"http://localhost:{port}/api/openapi.json", timeout=10).ok

    first.send_signal(signal.SIGKILL)  # a crash: no cleanup at all
    first.wait(timeout=10)
    assert all(_group_alive(g) for g in leftovers)  # the emulators outlived it

    second = start(tmp_path, port, tmp_path / "second.log", extra={"MAIL_PORT": str(free_port())})
    try:
        assert (
            "Stopped 2 emulator(s) left by an earlier run" in (tmp_path / "second.log").read_text()
        )
        assert not any(_group_alive(g) for g in leftovers)
        reply = requests.get(f"http://localhost:{port}/api/openapi.json", timeout=10)
        assert reply.status_code == 200
        started = json.loads((tmp_path / "dev.pids").read_text())
        _mail_and_headers_arrive(tmp_path, port, (tmp_path / "second.log").read_text())
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
            # The Cloud Tasks stand-in is up at the address printed, and its tasks' route.
            tasks_url = output.split("Cloud Tasks    ")[1].split()[0]
            missing = requests.get(f"{tasks_url}/v2/projects/p/locations/l/queues/q", timeout=10)
            assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"
            not_a_task = requests.post(f"http://127.0.0.1:{port}/_functions/deliver", timeout=30,
                                       data=b"{}")
            assert "not a delivery task" in not_a_task.json()["skipped"]
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


def _mail_and_headers_arrive(state: Path, port: int, log: str) -> None:
    """An email integration reaches the mail catcher; the request bin shows headers."""
    base = f"http://localhost:{port}"
    auth = {"Authorization": f"Bearer {(state / 'admin-token').read_text()}"}
    smtp_port = int(log.split("SMTP 127.0.0.1:")[1].split(",")[0])
    mailer = requests.post(f"{base}/api/integrations/", headers=auth, timeout=30, json={
        "name": "mail", "source": {"type": "webhook"},
        "target": {"type": "email", "smtpServer": "127.0.0.1", "smtpPort": smtp_port,
                   "useTLS": False, "useSSL": False, "fromEmail": "mapper@example.com",
                   "toEmail": "{{to}}", "subject": "Order {{id}}"},
    })
    assert mailer.status_code == 201, mailer.text
    binned = requests.post(f"{base}/api/integrations/", headers=auth, timeout=30, json={
        "name": "bin", "source": {"type": "webhook"},
        "target": {"type": "http", "url": f"http://127.0.0.1:{port}/_local/inbox",
                   "auth": {"type": "bearer", "token": "tok-for-the-bin"}},
    })
    assert binned.status_code == 201, binned.text
    for created, body in ((mailer, {"to": "ada@example.com", "id": 7}), (binned, {"id": 8})):
        sent = requests.post(created.json()["webhookUrl"], json=body, timeout=30)
        assert sent.status_code == 202, sent.text
    deadline = time.monotonic() + 60
    mail: list = []
    received: list = []
    while (not mail or not received) and time.monotonic() < deadline:
        mail = requests.get(f"{base}/_local/mail", timeout=10).json()["mail"]
        received = requests.get(f"{base}/_local/inbox", timeout=10).json()["received"]
        time.sleep(0.5)
    runs = requests.get(f"{base}/api/runs/", headers=auth, timeout=10).json()["runs"]
    assert [(m["to"], m["subject"]) for m in mail] == [(["ada@example.com"], "Order 7")], runs
    assert received[-1]["headers"]["Authorization"] == "Bearer tok-for-the-bin"


# --- stopping on the first signal, and a Pub/Sub emulator that restarts under it ---------


def processes_of(state: Path, command: bytes = b"") -> list[int]:
    """Live processes started for this state directory (make dev's env names it)."""
    marker = f"LOCAL_STATE_DIR={state}".encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            state_field = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if marker in environ and command in cmdline and state_field not in ("Z", "X"):
            found.append(int(pid))
    return found


def wait_gone(state: Path, timeout: float) -> list[int]:
    """Wait until no process of `state` is left; the ones still there at the timeout."""
    deadline = time.monotonic() + timeout
    while (left := processes_of(state)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_the_first_sigterm_to_make_dev_stops_it_and_its_emulators(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in PLATFORM_SETTINGS}
    env.update(PORT=str(free_port()), LOCAL_STATE_DIR=str(tmp_path))
    log = tmp_path / "make-dev.log"
    with open(log, "ab") as out:
        # -o: never reinstall the virtualenv from a test; `make dev` otherwise as typed.
        proc = subprocess.Popen(
            ["make", "-s", "-o", ".venv/.installed", "dev"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "The platform is running" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        groups = json.loads((tmp_path / "dev.pids").read_text())
        assert groups and all(_group_alive(g) for g in groups)
        proc.send_signal(signal.SIGTERM)  # to make alone, as `kill <pid>` does
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "Stopping (SIGTERM)" in log.read_text()
    assert wait_gone(tmp_path, 10) == []
    assert not any(_group_alive(g) for g in groups)
    assert not (tmp_path / "dev.pids").exists()


def test_ctrl_c_while_the_emulators_start_stops_at_once(tmp_path: Path) -> None:
    log = tmp_path / "dev.log"
    env = {k: v for k, v in os.environ.items() if k not in PLATFORM_SETTINGS}
    env.update(PORT=str(free_port()), LOCAL_STATE_DIR=str(tmp_path))
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/python"), "-m", "local.dev"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while "Starting the Firestore and Pub/Sub emulators" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        while not processes_of(tmp_path, b"emulator"):  # one is on its way up
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert "The platform is running" not in log.read_text()
        signalled = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal
        proc.wait(timeout=20)
        took = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # The start alone takes longer than this; stopping the emulators takes up to 10 s.
    assert took < 15, f"took {took:.1f} s to stop"
    assert "Stopping (SIGINT)" in log.read_text()
    assert "The platform is running" not in log.read_text()
    assert wait_gone(tmp_path, 10) == []


def test_a_restarted_pubsub_emulator_gets_the_topics_back(tmp_path: Path) -> None:
    emulators = start_emulators(project="demo-dev-restart", data_dir=tmp_path / "emulators")
    try:
        port = free_port()
        proc = start(tmp_path, port, tmp_path / "dev.log", extra=emulators.env())
        try:
            base = f"http://127.0.0.1:{port}"
            token = (tmp_path / "admin-token").read_text()
            created = requests.post(
                f"{base}/api/integrations/",
                headers={"Authorization": f"Bearer {token}"},
                json={
                    "name": "through a restart",
                    "source": {"type": "webhook"},
                    "target": {"type": "http", "url": f"{base}/_local/inbox"},
                },
                timeout=30,
            ).json()
            webhook = f"{base}/webhook/{created['webhookPath']}/"
            old = emulators.pubsub
            assert old is not None
            old.signal(signal.SIGKILL)
            deadline = time.monotonic() + 15
            while old.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            # While it is down, webhooks are refused with 503, not accepted and dropped.
            assert requests.post(webhook, json={"n": 0}, timeout=60).status_code == 503
            fresh = Emulator("pubsub", emulators.state_dir, port=old.port)
            emulators.pubsub = fresh  # stopped with the other one at the end
            fresh.start()
            fresh.wait_ready(time.monotonic() + 60)
            deadline = time.monotonic() + 30
            while "topics and subscriptions recreated" not in (tmp_path / "dev.log").read_text():
                assert time.monotonic() < deadline, (tmp_path / "dev.log").read_text()
                time.sleep(0.2)
            # As a sender would: a 503 (the publisher's connection still coming back) is
            # retried; anything but 503 or 202 fails.
            deadline = time.monotonic() + 60
            while (reply := requests.post(webhook, json={"n": 1}, timeout=60)).status_code == 503:
                assert time.monotonic() < deadline, reply.text
                time.sleep(1)
            assert reply.status_code == 202, reply.text
            deadline = time.monotonic() + 60
            while True:
                inbox = requests.get(f"{base}/_local/inbox", timeout=10).json()["received"]
                if any(r.get("body") == {"n": 1} for r in inbox):
                    break
                assert time.monotonic() < deadline, inbox
                time.sleep(0.3)
        finally:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=30)
    finally:
        emulators.stop()


def test_make_dev_stops_with_a_reason_when_its_own_pubsub_emulator_dies(tmp_path: Path) -> None:
    port = free_port()
    proc = start(tmp_path, port, tmp_path / "dev.log")
    try:
        groups = json.loads((tmp_path / "dev.pids").read_text())
        pubsub = [g for g in groups if b"pubsub" in _cmdline_of_group(g)]
        assert len(pubsub) == 1
        os.killpg(pubsub[0], signal.SIGKILL)
        assert proc.wait(timeout=60) == 1
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    output = (tmp_path / "dev.log").read_text()
    assert "the Pub/Sub emulator it started has stopped" in output
    assert wait_gone(tmp_path, 10) == []  # the Firestore emulator was stopped too
    assert not (tmp_path / "dev.pids").exists()


def _cmdline_of_group(pgid: int) -> bytes:
    """The command lines of every process in the group, joined."""
    found = b""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
            if len(fields) > 2 and fields[2] == str(pgid):
                found += Path(f"/proc/{pid}/cmdline").read_bytes() + b"\n"
        except OSError:
            continue
    return found
