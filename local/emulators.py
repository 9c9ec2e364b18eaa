"""Start and stop the Firestore and Pub/Sub emulators that ship with gcloud.

    with start_emulators(project="demo-test") as emulators:
        os.environ.update(emulators.env())
        ...

Run `python -m local.emulators` to keep both running and print the variables to export.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

DEFAULT_PROJECT = "demo-local"
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 5.0

_COMMANDS = {
    "firestore": ["gcloud", "beta", "emulators", "firestore", "start"],
    "pubsub": ["gcloud", "beta", "emulators", "pubsub", "start"],
}
# An HTTP answer alone is not proof: if another emulator grabbed the port first, ours logs a
# BindException and hangs while the probe gets the other one's "Ok". So each emulator must
# also have logged its own start line.
_READY_LINES = {
    "firestore": "Dev App Server is now running",
    "pubsub": "Server started, listening on",
}
_PORT_TAKEN = ("BindException", "Address already in use")
_START_TRIES = 3
# Requests to 127.0.0.1 must never go through an HTTP(S)_PROXY from the environment.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class EmulatorError(RuntimeError):
    """An emulator did not start, or did not answer."""


class Emulator:
    """One emulator: the gcloud wrapper and its Java child, alone in their process group."""

    def __init__(
        self, kind: str, state_dir: Path, args: tuple[str, ...] = (), port: int | None = None
    ) -> None:
        if kind not in _COMMANDS:
            raise ValueError(f"unknown emulator {kind!r}; expected one of {sorted(_COMMANDS)}")
        self.kind = kind
        self.args = args  # more flags for gcloud, e.g. --rules=FILE
        # A given port restarts an emulator where its clients already point (tests, faults).
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.log_path = state_dir / f"{kind}-{self.port}.log"
        self._data_dir = state_dir / f"{kind}-{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Launch the emulator without waiting for it."""
        self._data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [*_COMMANDS[self.kind], f"--host-port={self.host}", *self.args]
        if self.kind == "pubsub":
            # gcloud writes env.yaml there; its default is shared by every run of the user.
            cmd.append(f"--data-dir={self._data_dir}")
        env = {**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
        with open(self.log_path, "ab") as log:
            # Killing only gcloud would orphan the Java server: give them a group to kill.
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )

    def wait_ready(self, deadline: float) -> None:
        """Return once the emulator answers; raise `EmulatorError` with its log if it cannot."""
        if self._proc is None:
            raise EmulatorError(f"{self.kind} emulator was not started")
        while True:
            log = self._read_log()
            if self._proc.poll() is not None:
                self._fail(f"exited with code {self._proc.returncode}")
            if any(marker in log for marker in _PORT_TAKEN):
                self._fail(f"could not bind {self.host}")
            if _READY_LINES[self.kind] in log and _answers(self.host):
                return
            if time.monotonic() > deadline:
                self._fail("did not answer in time")
            time.sleep(0.1)

    def port_taken(self) -> bool:
        """Tell whether the emulator failed because its port was already in use."""
        return any(marker in self._read_log() for marker in _PORT_TAKEN)

    @property
    def pgid(self) -> int | None:
        """The emulator's process group (the gcloud wrapper's pid), once started."""
        return self._proc.pid if self._proc is not None else None

    def signal(self, signum: int) -> None:
        """Send `signum` to the emulator's whole process group."""
        if self._proc is not None:
            try:
                os.killpg(self._proc.pid, signum)
            except ProcessLookupError:
                pass

    def alive(self) -> bool:
        """Tell whether any process of the emulator's group is still running."""
        if self._proc is None:
            return False
        self._proc.poll()  # reap the wrapper, or its zombie would count as alive
        if _group_alive(self._proc.pid):
            return True
        # It may have died between the two looks: reap it now, or its Popen is left with
        # no exit status (a ResourceWarning when it is collected, a zombie until then).
        self._proc.poll()
        return False

    def stop(self, grace: float = STOP_GRACE_S) -> None:
        """SIGTERM the process group, SIGKILL whatever is left after `grace` seconds."""
        _stop_all([self], grace)

    def log_tail(self, lines: int = 30) -> str:
        """The last `lines` lines of the emulator's output."""
        return "\n".join(self._read_log().splitlines()[-lines:])

    def _read_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _fail(self, reason: str) -> None:
        raise EmulatorError(
            f"{self.kind} emulator on {self.host} {reason}; last lines of {self.log_path}:\n"
            f"{self.log_tail()}"
        )


class Emulators:
    """The emulators of one local session; a context manager that stops them on exit."""

    def __init__(
        self,
        project: str,
        state_dir: Path,
        firestore: Emulator | None,
        pubsub: Emulator | None,
    ) -> None:
        self.project = project
        self.state_dir = state_dir
        self.firestore = firestore
        self.pubsub = pubsub

    @property
    def firestore_host(self) -> str | None:
        """`host:port` of the Firestore emulator, or None when it was not started."""
        return self.firestore.host if self.firestore else None

    @property
    def pubsub_host(self) -> str | None:
        """`host:port` of the Pub/Sub emulator, or None when it was not started."""
        return self.pubsub.host if self.pubsub else None

    def env(self) -> dict[str, str]:
        """The environment variables that point Google's clients at these emulators."""
        env = {"GOOGLE_CLOUD_PROJECT": self.project}
        if self.firestore_host:
            env["FIRESTORE_EMULATOR_HOST"] = self.firestore_host
        if self.pubsub_host:
            env["PUBSUB_EMULATOR_HOST"] = self.pubsub_host
        return env

    def process_groups(self) -> list[int]:
        """The process group of each running emulator (to stop leftovers after a crash)."""
        return [e.pgid for e in (self.firestore, self.pubsub) if e is not None and e.pgid]

    def stop(self) -> None:
        """Stop every emulator and delete the session's state directory; safe to repeat."""
        atexit.unregister(self.stop)
        _stop_all([e for e in (self.firestore, self.pubsub) if e is not None])
        self.firestore = self.pubsub = None
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> Emulators:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_emulators(
    firestore: bool = True,
    pubsub: bool = True,
    data_dir: str | os.PathLike[str] | None = None,
    project: str = DEFAULT_PROJECT,
    timeout: float = START_TIMEOUT_S,
    firestore_rules: str | os.PathLike[str] | None = None,
) -> Emulators:
    """Start the chosen emulators on fresh free ports and wait until they answer.

    State and logs go to a new directory under `data_dir` (default: the system temp dir),
    deleted on stop, so nothing from an earlier run is ever seen. `firestore_rules` is a
    security rules file the Firestore emulator applies to client (non-admin) requests.
    """
    if data_dir is not None:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
    state_dir = Path(tempfile.mkdtemp(prefix="mapper-emulators-", dir=data_dir))
    started: dict[str, Emulator] = {}
    try:
        kinds = [k for k, wanted in (("firestore", firestore), ("pubsub", pubsub)) if wanted]
        for kind in kinds:
            rules = kind == "firestore" and firestore_rules is not None
            args = (f"--rules={firestore_rules}",) if rules else ()
            started[kind] = Emulator(kind, state_dir, args)
            started[kind].start()
        deadline = time.monotonic() + timeout
        for kind in kinds:
            started[kind] = _wait_or_restart(started[kind], state_dir, deadline)
    except BaseException:
        _stop_all(list(started.values()))
        shutil.rmtree(state_dir, ignore_errors=True)
        raise
    emulators = Emulators(project, state_dir, started.get("firestore"), started.get("pubsub"))
    atexit.register(emulators.stop)
    return emulators


RESET_TIMEOUT_S = 60


def reset_firestore(host: str, project: str) -> None:
    """Delete every document of `project` in the Firestore emulator at `host`."""
    url = f"http://{host}/emulator/v1/projects/{project}/databases/(default)/documents"
    try:
        # The emulator deletes document by document: on a loaded 2-core machine, with a
        # test's thousands of runs stored, that took longer than 10 s (seen in CI).
        with _HTTP.open(urllib.request.Request(url, method="DELETE"),
                        timeout=RESET_TIMEOUT_S) as resp:
            resp.read()
    except (urllib.error.URLError, OSError) as exc:
        raise EmulatorError(f"could not reset the Firestore emulator at {host}: {exc}") from exc


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_leftover_groups(pgids: list[int], grace: float = STOP_GRACE_S) -> list[int]:
    """Stop process groups a crashed session left, if they still run an emulator."""
    stopped = []
    for pgid in pgids:
        if _group_alive(pgid) and _runs_emulator(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            stopped.append(pgid)
    deadline = time.monotonic() + grace
    while any(_group_alive(g) for g in stopped) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pgid in stopped:
        if _group_alive(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
    return stopped


def _runs_emulator(pgid: int) -> bool:
    # A recycled pid must not be killed: only a group with an emulator process in it (the
    # gcloud wrapper may be gone while its Java server still runs).
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and b"emulator" in command:
            return True
    return False


def _wait_or_restart(emulator: Emulator, state_dir: Path, deadline: float) -> Emulator:
    # The port was free when picked, but something may take it before Java binds it.
    for attempt in range(1, _START_TRIES + 1):
        try:
            emulator.wait_ready(deadline)
            return emulator
        except EmulatorError:
            emulator.stop()
            if attempt == _START_TRIES or not emulator.port_taken():
                raise
        emulator = Emulator(emulator.kind, state_dir, emulator.args)
        emulator.start()
    raise AssertionError("unreachable")


def _stop_all(emulators: list[Emulator], grace: float = STOP_GRACE_S) -> None:
    # Signal every group first, so that their shutdowns overlap.
    for emulator in emulators:
        emulator.signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(e.alive() for e in emulators) and time.monotonic() < deadline:
        time.sleep(0.05)
    for emulator in emulators:
        if emulator.alive():
            emulator.signal(signal.SIGKILL)
    deadline = time.monotonic() + grace
    while any(e.alive() for e in emulators) and time.monotonic() < deadline:
        time.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    # A zombie still receives signal 0, so where /proc exists count only live processes.
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name: state, ppid, pgrp, ...
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def _answers(host: str) -> bool:
    try:
        with _HTTP.open(f"http://{host}/", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def main() -> int:
    """Run both emulators until interrupted, printing the variables to export."""
    project = os.environ.get("GOOGLE_CLOUD_PROJECT", DEFAULT_PROJECT)
    # SIGTERM would otherwise end Python without unwinding, leaving the emulators running.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        with start_emulators(project=project) as emulators:
            for name, value in emulators.env().items():
                print(f"export {name}={value}", flush=True)
            signal.pause()
    except KeyboardInterrupt:
        pass
    return 0


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
