"""`make dev`: the whole platform on this machine, at one URL, until Ctrl-C.

Starts the Firestore and Pub/Sub emulators (or uses the ones FIRESTORE_EMULATOR_HOST and
PUBSUB_EMULATOR_HOST name), creates the internal topics and subscriptions, serves every
function, and prints the base URL and the admin token. Local mode only:
- secrets live in `.local/secrets.json` (SECRET_BACKEND=local:...), never in Secret Manager;
- loopback addresses are allowlisted as targets, so a target can run on this machine;
- delivery queues live in a Cloud Tasks stand-in on 127.0.0.1 (local/tasks.py), which
  paces and dispatches their tasks to the deliver route;
- `/_local/inbox` is a request bin to point targets at (see local/inbox.py), and an SMTP
  mail catcher on 127.0.0.1 shows what email targets sent at `/_local/mail` (local/mail.py).
A second `make dev` in the same checkout refuses while the first is alive (`.local/dev.owner`);
emulators a crashed run left behind are stopped at the next start (`.local/dev.pids`).
The first Ctrl-C or SIGTERM stops everything, even during the start. When the Pub/Sub
emulator restarts under it, the internal topics and subscriptions are made again
(local/pubsub_watch.py); when an emulator it started itself stops, it stops too, saying why.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from local.emulators import DEFAULT_PROJECT, Emulators, start_emulators, stop_leftover_groups
from local.inbox import Inbox
from local.mail import MailCatcher
from local.pubsub_watch import PubSubWatch
from local.serve import LocalServer, serve, start_pull_timer
from local.tasks import TasksStandIn

ROOT = Path(__file__).resolve().parents[1]
# LOCAL_STATE_DIR lets tests run a second platform beside a developer's own.
STATE = Path(os.environ.get("LOCAL_STATE_DIR") or ROOT / ".local")
PIDS = STATE / "dev.pids"
OWNER = STATE / "dev.owner"  # the running make dev of this checkout: {"pid", "url"}
TOKEN_FILE = STATE / "admin-token"
DEFAULT_PORT = 8080
DEFAULT_MAIL_PORT = 2525  # the local mail catcher's SMTP port (MAIL_PORT); a free one if taken
LOOPBACK = "127.0.0.0/8,::1/128"
PULL_TICK_S = 60.0  # as the Cloud Scheduler job; PULL_TICK_SECONDS overrides (fault suite)
# Local backoffs are 1-2 s (local/serve.py), so a run in flight for this long is lost
# (the longest lease, 150 s, is respected by the reconciler itself).
LOCAL_RECONCILE_AFTER_S = "60"


def settings(
    environ: Mapping[str, str], port: int, tasks_url: str = ""
) -> dict[str, str]:
    """The environment the functions run with locally; the operator's own values win."""
    site = f"http://localhost:{port}"
    return {
        # Delivery queues: the stand-in's API, and the route its tasks are dispatched to.
        "CLOUD_TASKS_ENDPOINT": tasks_url,
        "DELIVER_URL": f"http://127.0.0.1:{port}/_functions/deliver",
        "SITE_URL": site,
        "SECRET_BACKEND": f"local:{STATE / 'secrets.json'}",
        "EGRESS_ALLOW_CIDRS": LOOPBACK,
        "LOG_FORMAT": "text",
        "PUSH_VERIFY_OIDC": "false",  # the emulator sends no token
        # The emulator pushes to this address: "localhost" may resolve to ::1 for its Java.
        "PUSH_BASE_URL": f"http://127.0.0.1:{port}",
        "RECONCILE_AFTER_SECONDS": LOCAL_RECONCILE_AFTER_S,
        # The local mail catcher speaks plain SMTP on loopback; no other server may.
        "SMTP_PLAINTEXT_ALLOW": "127.0.0.1,localhost,::1",
        **{k: v for k, v in environ.items() if k in _OVERRIDABLE},
        "ADMIN_TOKEN": environ.get("ADMIN_TOKEN") or secrets.token_urlsafe(24),
    }


_OVERRIDABLE = (
    "SITE_URL",
    "PUSH_BASE_URL",
    "SECRET_BACKEND",
    "EGRESS_ALLOW_CIDRS",
    "LOG_FORMAT",
    "RECONCILE_AFTER_SECONDS",
    "SMTP_PLAINTEXT_ALLOW",
)


class _Stopped(Exception):
    """The first SIGINT or SIGTERM: unwinds whatever the main thread was doing."""


def _stop_on_first_signal(signum: int, frame: object) -> None:
    # Later signals are ignored: they would interrupt the cleanup that stops the emulators.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise _Stopped(signal.Signals(signum).name)


def main(environ: Mapping[str, str] = os.environ) -> int:
    port = int(environ.get("PORT") or DEFAULT_PORT)
    tick_s = float(environ.get("PULL_TICK_SECONDS") or PULL_TICK_S)
    STATE.mkdir(parents=True, exist_ok=True)
    running = _running_owner()
    if running is not None:
        print(
            f"make dev: already running in this checkout (pid {running['pid']}, "
            f"{running.get('url')}). Stop it first (Ctrl-C in its terminal, or "
            f"kill {running['pid']}); a second platform needs another checkout and PORT.",
            file=sys.stderr,
        )
        return 1
    _stop_leftovers()
    OWNER.write_text(json.dumps({"pid": os.getpid(), "url": f"http://localhost:{port}"}))
    mail = MailCatcher()
    tasks = TasksStandIn()
    emulators: Emulators | None = None
    server: LocalServer | None = None
    watch: PubSubWatch | None = None
    stop = threading.Event()
    try:
        # A start takes up to a minute (the emulators): a signal must not wait for it.
        signal.signal(signal.SIGTERM, _stop_on_first_signal)
        signal.signal(signal.SIGINT, _stop_on_first_signal)
        env = settings(environ, port, tasks.start())
        if environ.get("FIRESTORE_EMULATOR_HOST") and environ.get("PUBSUB_EMULATOR_HOST"):
            env["GOOGLE_CLOUD_PROJECT"] = environ.get("GOOGLE_CLOUD_PROJECT", DEFAULT_PROJECT)
            print("Using the emulators named by FIRESTORE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST")
        else:
            print("Starting the Firestore and Pub/Sub emulators ...", flush=True)
            emulators = start_emulators(
                project=environ.get("GOOGLE_CLOUD_PROJECT", DEFAULT_PROJECT),
                data_dir=STATE / "emulators",
            )
            PIDS.write_text(json.dumps(emulators.process_groups()))
            env.update(emulators.env())
        server = serve(
            env,
            host="127.0.0.1",
            port=port,
            extra={"/_local/inbox": Inbox(), "/_local/mail": mail},
            public_url=f"http://localhost:{port}",
        )
        start_pull_timer(f"http://127.0.0.1:{port}", tick_s, stop)
        env["LOCAL_MAIL_PORT"] = str(_start_mail(mail, environ))
        # Read when the worker first notifies (mapper.services.notifier): set before any run.
        notify_mail = notify_smtp(env["LOCAL_MAIL_PORT"], environ)
        env.update(notify_mail)
        os.environ.update(notify_mail)
        own_pubsub = emulators.pubsub if emulators is not None else None
        watch = PubSubWatch(
            env["GOOGLE_CLOUD_PROJECT"],
            f"http://127.0.0.1:{port}",
            env.get("INTERNAL_TOPIC") or "mapper-events",
            env.get("PULL_TASKS_TOPIC") or "mapper-pull-tasks",
            stop,
            emulator_alive=own_pubsub.alive if own_pubsub is not None else None,
        )
        watch.start()
        TOKEN_FILE.touch(mode=0o600)
        TOKEN_FILE.write_text(env["ADMIN_TOKEN"])
        print(_banner(server.url, env), flush=True)
        stop.wait()
        print("\nStopping ...", flush=True)
    except _Stopped as signalled:
        print(f"\nStopping ({signalled}) ...", flush=True)
    except OSError as exc:
        print(f"make dev: cannot start: {exc} (is port {port} taken? set PORT)", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the cleanup below is bounded
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop.set()  # the pull timer and the watchdog
        mail.stop()
        tasks.stop()
        OWNER.unlink(missing_ok=True)
        if server is not None:
            server.stop()
        if emulators is not None:
            emulators.stop()
            PIDS.unlink(missing_ok=True)
    return 1 if watch is not None and watch.failure else 0


def _running_owner() -> dict[str, object] | None:
    """The make dev of this checkout that is still alive, if any (else a crash's leftover)."""
    try:
        owner = json.loads(OWNER.read_text())
        pid = int(owner["pid"])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid() or b"local.dev" not in cmdline:
        return None  # that process is gone, or the pid was reused by another program
    return owner


def notify_smtp(mail_port: str, environ: Mapping[str, str]) -> dict[str, str]:
    """NOTIFY_SMTP_* pointing notification mail at the local mail catcher, unless the
    operator set NOTIFY_SMTP_HOST or the catcher did not start."""
    if environ.get("NOTIFY_SMTP_HOST") or not mail_port.isdigit():
        return {}
    return {
        "NOTIFY_SMTP_HOST": "127.0.0.1",
        "NOTIFY_SMTP_PORT": mail_port,
        "NOTIFY_SMTP_TLS": "none",
        "NOTIFY_SMTP_FROM": "mapper@localhost",
    }


def _start_mail(mail: MailCatcher, environ: Mapping[str, str]) -> int | str:
    """Start the mail catcher on MAIL_PORT (2525), else any free port; never stops make dev."""
    wanted = int(environ.get("MAIL_PORT") or DEFAULT_MAIL_PORT)
    reason: Exception | None = None
    for port in (wanted if _free(wanted) else 0, 0):
        try:
            return mail.start(port=port)
        except Exception as exc:  # noqa: BLE001 - aiosmtpd raises several kinds; none is fatal
            reason = exc
    print(f"make dev: the mail catcher did not start ({reason}); email targets have no "
          "local server", file=sys.stderr)
    return "(not running)"


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _stop_leftovers() -> None:
    try:
        groups = json.loads(PIDS.read_text())
    except (OSError, ValueError):
        return
    stopped = stop_leftover_groups([g for g in groups if isinstance(g, int)])
    if stopped:
        print(f"Stopped {len(stopped)} emulator(s) left by an earlier run")
    PIDS.unlink(missing_ok=True)


def _banner(url: str, env: Mapping[str, str]) -> str:
    return "\n".join(
        [
            "",
            f"  The platform is running at {url}",
            "",
            f"  Web UI         {url}/",
            f"  API            {url}/api/   (OpenAPI: {url}/api/openapi.json)",
            f"  Webhooks       {url}/webhook/<path>/",
            f"  Pub/Sub push   {url}/pubsub/<path>/",
            f"  API reference  {url}/api/docs",
            f"  Request bin    {url}/_local/inbox   (a target to try things with; shows headers)",
            f"  Cloud Tasks    {env['CLOUD_TASKS_ENDPOINT']}   (stand-in: delivery queues, "
            "dispatching to /_functions/deliver)",
            f"  Mail catcher   SMTP 127.0.0.1:{env.get('LOCAL_MAIL_PORT')}, no TLS   "
            f"(received mail: {url}/_local/mail)",
            "",
            f"  Admin token    {env['ADMIN_TOKEN']}   (also in {TOKEN_FILE})",
            "",
            "  Ctrl-C stops everything.",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
