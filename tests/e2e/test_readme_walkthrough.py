"""The README's walkthrough, run as written against `make dev`, so that it cannot rot."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from local.emulators import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120
PLATFORM_SETTINGS = (
    "FIRESTORE_EMULATOR_HOST",
    "PUBSUB_EMULATOR_HOST",
    "GOOGLE_CLOUD_PROJECT",
    "SECRET_BACKEND",
    "SITE_URL",
    "WEBHOOK_BASE_URL",
    "PUSH_BASE_URL",
    "PUSH_VERIFY_OIDC",
    "EGRESS_ALLOW_CIDRS",
    "MAX_BODY_BYTES",
    "API_MAX_BODY_BYTES",
    "CONFIG_CACHE_SECONDS",
)


def walkthrough() -> str:
    """Every ```sh block between the walkthrough markers of README.md, in order."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("<!-- walkthrough:begin -->", 1)[1].split("<!-- walkthrough:end -->")[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert len(blocks) >= 4, "the walkthrough lost its commands"
    return "\n".join(blocks)


def json_documents(text: str) -> list[dict]:
    """The JSON objects a script printed, one after another, in order."""
    decoder = json.JSONDecoder()
    found, at = [], 0
    while (at := text.find("{", at)) != -1:
        try:
            doc, end = decoder.raw_decode(text, at)
        except ValueError:
            at += 1
            continue
        found.append(doc)
        at = end
    return found


@pytest.fixture(scope="module")
def make_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    state = tmp_path_factory.mktemp("dev-state")
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "LOCAL_STATE_DIR": str(state),
        "ADMIN_TOKEN": "",  # make dev must generate one
    }
    # As on a developer's machine: nothing of the e2e platform's settings leaks in.
    for name in PLATFORM_SETTINGS:
        env.pop(name, None)
    log = state / "make-dev.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["make", "dev"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while f"The platform is running at {base}" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield base, state
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does in a terminal
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    output = log.read_text()
    assert "Stopping" in output
    # The log is a file: no colour codes; an allowed loopback delivery warns of nothing;
    # the worker's own line per attempt is not doubled by a request line.
    assert "\x1b[" not in output
    assert "Forbidden IP address" not in output
    assert "POST /_functions/worker" not in output
    assert not (state / "dev.pids").exists()  # the emulators it started are gone


def test_make_dev_prints_one_url_where_everything_answers(make_dev: tuple[str, Path]) -> None:
    base, state = make_dev
    token = (state / "admin-token").read_text()
    assert len(token) >= 32
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{base}/api/integrations/", headers=headers, timeout=10).status_code == 200
    assert requests.get(f"{base}/api/integrations/", timeout=10).status_code == 401
    assert requests.get(f"{base}/api/openapi.json", timeout=10).status_code == 200
    assert requests.post(f"{base}/webhook/nothing-here/", timeout=10).status_code == 404
    assert requests.get(f"{base}/_local/inbox", timeout=10).json() == {"received": []}
    assert requests.get(f"{base}/", timeout=10).status_code in (200, 404)


def test_the_readme_walkthrough_works_as_written(
    make_dev: tuple[str, Path], tmp_path: Path
) -> None:
    base, state = make_dev
    token = (state / "admin-token").read_text()
    script = tmp_path / "walkthrough.sh"
    script.write_text("set -euo pipefail\n" + walkthrough())
    done = subprocess.run(
        ["bash", str(script)],
        cwd=tmp_path,
        env={**os.environ, "BASE": base, "TOKEN": token},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    integration = json.loads((tmp_path / ".local" / "integration.json").read_text())
    assert not (tmp_path / "integration.json").exists()  # nothing left beside the sources
    assert integration["target"]["auth"]["token"]["set"] is True
    # What the README says the reader sees:
    printed = json_documents(done.stdout)
    [run] = next(doc for doc in printed if "runs" in doc)["runs"]
    # The token is in no record the platform keeps; only the request bin, standing in for
    # the receiver, shows that it arrived.
    assert "fulfilment-s3cret" not in json.dumps([d for d in printed if "received" not in d])
    assert run["status"] == "success", run
    assert run["transformedPayload"] == {
        "orderId": 1001,
        "email": "ada@example.com",
        "amount": "42.50",
    }
    assert run["outgoingRequest"]["headers"]["Authorization"] == "[REDACTED]"
    inbox = next(doc for doc in printed if "received" in doc)["received"]
    assert inbox[-1]["path"] == "/_local/inbox/fulfilment"
    assert inbox[-1]["body"] == run["transformedPayload"]
    assert inbox[-1]["headers"]["Authorization"] == "Bearer fulfilment-s3cret"
    assert inbox[-1]["headers"]["Idempotency-Key"] == run["id"]
