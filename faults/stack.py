"""The local stack under test, in processes this module can kill and start again.

The Firestore and Pub/Sub emulators run in process groups of their own (local.emulators);
the platform is `python -m local.dev` in another, pointed at them through
FIRESTORE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST, so it neither starts nor stops them.
Killing the platform leaves the emulators; killing the Pub/Sub emulator and starting it on
the same port is what a developer's restarted emulator looks like to `make dev`.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from local.emulators import Emulator, EmulatorError, Emulators, free_port, start_emulators

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "demo-faults"
START_TIMEOUT_S = 90.0
READY_LINE = "The platform is running"


@dataclass(frozen=True)
class Horizons:
    """The short local horizons a fault run uses (each is a platform setting)."""

    reconcile_after_s: int = 20  # RECONCILE_AFTER_SECONDS
    max_republishes: int = 3  # RECONCILE_MAX_REPUBLISHES
    pull_tick_s: float = 3.0  # PULL_TICK_SECONDS: how often the reconciler sweeps

    def settle_s(self, lease_s: float) -> float:
        """The longest a run may stay in flight: every republish, a lease, the ticks, slack."""
        sweeps = (self.max_republishes + 1) * (self.reconcile_after_s + self.pull_tick_s)
        return sweeps + lease_s + 30


class Stack:
    """Emulators and a platform process; `stop` ends every process it started."""

    def __init__(self, horizons: Horizons, log_dir: Path | None = None) -> None:
        self.horizons = horizons
        self.dir = Path(log_dir or tempfile.mkdtemp(prefix="mapper-faults-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.admin_token = "faults-" + secrets.token_urlsafe(18)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.dir / "platform.log"
        self.emulators: Emulators | None = None
        self._platform: subprocess.Popen[bytes] | None = None
        self._saved_env: dict[str, str | None] = {}

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Start both emulators, then the platform; return once it serves."""
        self.emulators = start_emulators(project=PROJECT, data_dir=self.dir / "emulators")
        added = self.emulators.env()
        # This process's own Firestore reads; put back at stop, so that nothing else in the
        # process (a test session's own platform) is pointed at emulators that are gone.
        self._saved_env = {name: os.environ.get(name) for name in added}
        os.environ.update(added)
        self.start_platform()

    def stop(self) -> None:
        """Stop the platform and the emulators (safe to repeat)."""
        self.kill_platform(signal.SIGTERM)
        if self.emulators is not None:
            self.emulators.stop()
            self.emulators = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env = {}

    def start_platform(self) -> None:
        """Start `python -m local.dev` and wait for its banner."""
        assert self.emulators is not None
        env = {
            **os.environ,
            **self.emulators.env(),
            "PORT": str(self.port),
            "LOCAL_STATE_DIR": str(self.dir / "state"),
            "ADMIN_TOKEN": self.admin_token,
            "EGRESS_ALLOW_CIDRS": "127.0.0.2/32",
            "RECONCILE_AFTER_SECONDS": str(self.horizons.reconcile_after_s),
            "RECONCILE_MAX_REPUBLISHES": str(self.horizons.max_republishes),
            "PULL_TICK_SECONDS": str(self.horizons.pull_tick_s),
            "LOG_FORMAT": "text",
        }
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as out:
            self._platform = subprocess.Popen(
                [sys.executable, "-m", "local.dev"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own group: killed whole, emulators untouched
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while READY_LINE not in self.log_since(offset):
            if self._platform.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the platform did not start:\n{self.log_since(offset)[-3000:]}")
            time.sleep(0.2)

    def kill_platform(self, signum: int = signal.SIGKILL) -> None:
        """Kill the platform's whole process group (SIGKILL: a crash, no cleanup)."""
        proc, self._platform = self._platform, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def kill_pubsub(self) -> None:
        """Kill the Pub/Sub emulator (its whole group): every topic and message is gone."""
        assert self.emulators is not None and self.emulators.pubsub is not None
        emulator = self.emulators.pubsub
        emulator.signal(signal.SIGKILL)
        deadline = time.monotonic() + 15
        while emulator.alive() and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart_pubsub(self) -> None:
        """Start a fresh Pub/Sub emulator on the same port, as a developer would."""
        assert self.emulators is not None and self.emulators.pubsub is not None
        old = self.emulators.pubsub
        fresh = Emulator("pubsub", self.emulators.state_dir, port=old.port)
        self.emulators.pubsub = fresh  # stopped with the others from now on
        deadline = time.monotonic() + 60
        while True:
            fresh.start()
            try:
                fresh.wait_ready(time.monotonic() + 30)
                return
            except EmulatorError:
                fresh.stop()
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)  # the port may linger for a moment after the kill

    def log_since(self, offset: int = 0) -> str:
        """The platform's output from `offset` on."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    # --- talking to it ----------------------------------------------------------------

    def add_integration(self, name: str, target_url: str, timeout_s: float) -> dict[str, Any]:
        """Create a webhook integration through the API; the document, webhook URL local."""
        doc = {
            "name": name,
            "source": {"type": "webhook"},
            "mappings": [
                {"source": "id", "target": "orderId"},
                {"source": "customer.email", "target": "email",
                 "transforms": [{"type": "lowercase"}]},
                {"source": "items[*].sku", "target": "skus[*]"},
                {"source": "totals.total", "target": "total"},
            ],
            "target": {
                "type": "http",
                "url": target_url,
                "method": "POST",
                "timeoutSeconds": timeout_s,
            },
        }
        reply = requests.post(
            f"{self.url}/api/integrations/",
            json=doc,
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=30,
        )
        if reply.status_code != 201:
            raise RuntimeError(f"could not create the integration: {reply.text}")
        created = reply.json()
        created["localWebhookUrl"] = f"{self.url}/webhook/{created['webhookPath']}/"
        return created

    def runs(self, integration_id: str) -> dict[str, dict[str, Any]]:
        """Every run of the integration: id -> {status, errorMessage}, read from Firestore."""
        from google.cloud import firestore
        from google.cloud.firestore_v1.base_query import FieldFilter

        db = firestore.Client(project=PROJECT)
        query = (
            db.collection("runs")
            .where(filter=FieldFilter("integrationId", "==", integration_id))
            .select(["status", "errorMessage"])
        )
        found = {s.id: s.to_dict() or {} for s in query.stream(timeout=60)}
        db.close()
        return found
