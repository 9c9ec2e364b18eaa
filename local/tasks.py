"""A local stand-in for Cloud Tasks: the REST calls `mapper.cloud_tasks` makes, honoured.

`make dev` and the tests run it so that the same adapter, through the real
`google-cloud-tasks` client (`transport="rest"`), paces local delivery as Cloud Tasks paces
it in the cloud. The packaged emulator (PyPI `gcloud-tasks-emulator`) speaks gRPC only and
ignores rate limits, concurrency, queue updates and duplicate names (docs/delivery.md).

    POST   /v2/{parent}/queues                   create a queue (409 if it exists)
    GET    /v2/{queue}                           get it
    PATCH  /v2/{queue}?updateMask=...            set its rate and retries (creates it if missing)
    DELETE /v2/{queue}                           delete it and its tasks; its name is tombstoned
    POST   /v2/{queue}:pause | :resume | :purge  hold, dispatch again, drop every task
    POST   /v2/{queue}/tasks                     create a task (409 if its name was used)
    GET    /v2/{queue}/tasks                     list tasks (pageSize, pageToken)

What it honours, per queue: `maxDispatchesPerSecond` (a token bucket holding one token, so
never more than the rate in any second), `maxConcurrentDispatches`, pause and resume (held
tasks go oldest first), `scheduleTime`, and retries on a non-2xx answer or a failed
connection, with backoff doubling from `minBackoff` to `maxBackoff`, until `maxAttempts` or
`maxRetryDuration`. A task is an HTTP request to its URL with Cloud Tasks' X-CloudTasks-*
headers; no OIDC token (the local deliver route does not check one). A task name stays
taken after its task ran or was deleted, as in Cloud Tasks (for about an hour there).
Like Cloud Tasks, a create of a deleted queue's name seems to work but makes nothing.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_RATE = 500.0  # Cloud Tasks' defaults for a queue created without rate limits
DEFAULT_CONCURRENT = 1000
DEFAULT_MAX_ATTEMPTS = 100
DEFAULT_MIN_BACKOFF_S = 0.1
DEFAULT_MAX_BACKOFF_S = 3600.0
DEFAULT_DEADLINE_S = 600.0
IDLE_WAIT_S = 0.5  # the dispatcher's longest sleep with nothing due
PAGE_SIZE = 1000

_QUEUE = r"projects/[^/]+/locations/[^/]+/queues/[A-Za-z0-9-]{1,100}"
_QUEUES = re.compile(r"^/v2/(projects/[^/]+/locations/[^/]+)/queues$")
_ONE_QUEUE = re.compile(rf"^/v2/({_QUEUE})$")
_QUEUE_VERB = re.compile(rf"^/v2/({_QUEUE}):(pause|resume|purge)$")
_TASKS = re.compile(rf"^/v2/({_QUEUE})/tasks$")
_ONE_TASK = re.compile(rf"^/v2/({_QUEUE})/tasks/([A-Za-z0-9_-]{{1,500}})$")
_STATUS = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 409: "ALREADY_EXISTS"}


@dataclass
class Task:
    """A task as the stand-in holds it; `order` keeps creation order among equal times."""

    name: str
    request: dict[str, Any]
    due: float  # epoch seconds
    order: int
    created: float
    deadline_s: float
    attempts: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "httpRequest": self.request,
            "scheduleTime": _rfc3339(self.due),
            "createTime": _rfc3339(self.created),
            "dispatchCount": self.attempts,
            "dispatchDeadline": f"{self.deadline_s:g}s",
        }


@dataclass
class Queue:
    """A queue's settings, its tasks, and what the dispatcher needs to pace it."""

    name: str
    rate: float = DEFAULT_RATE
    concurrent: int = DEFAULT_CONCURRENT
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    min_backoff_s: float = DEFAULT_MIN_BACKOFF_S
    max_backoff_s: float = DEFAULT_MAX_BACKOFF_S
    max_retry_s: float = 0.0
    paused: bool = False
    tasks: dict[str, Task] = field(default_factory=dict)
    in_flight: int = 0
    tokens: float = 1.0
    refilled: float = field(default_factory=time.monotonic)

    def configure(self, body: dict[str, Any]) -> None:
        rate = body.get("rateLimits") or {}
        retry = body.get("retryConfig") or {}
        self.rate = float(rate.get("maxDispatchesPerSecond") or self.rate)
        self.concurrent = int(rate.get("maxConcurrentDispatches") or self.concurrent)
        self.max_attempts = int(retry.get("maxAttempts") or self.max_attempts)
        self.min_backoff_s = _seconds(retry.get("minBackoff"), self.min_backoff_s)
        self.max_backoff_s = _seconds(retry.get("maxBackoff"), self.max_backoff_s)
        self.max_retry_s = _seconds(retry.get("maxRetryDuration"), self.max_retry_s)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rateLimits": {
                "maxDispatchesPerSecond": self.rate,
                "maxConcurrentDispatches": self.concurrent,
                "maxBurstSize": 1,
            },
            "retryConfig": {
                "maxAttempts": self.max_attempts,
                "minBackoff": f"{self.min_backoff_s:g}s",
                "maxBackoff": f"{self.max_backoff_s:g}s",
                "maxRetryDuration": f"{self.max_retry_s:g}s",
            },
            "state": "PAUSED" if self.paused else "RUNNING",
        }

    def take_token(self, now: float) -> float:
        """0 if a dispatch may start now (and it is counted), else seconds until one may."""
        self.tokens = min(1.0, self.tokens + (now - self.refilled) * self.rate)
        self.refilled = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


Sender = Callable[[str, dict[str, str], bytes, float], int]


def http_send(url: str, headers: dict[str, str], body: bytes, timeout: float) -> int:
    """POST `body` to `url`; the status, or 0 when no answer came."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


class TasksStandIn:
    """The queues, the REST API over them, and the thread that dispatches their tasks."""

    def __init__(self, send: Sender = http_send, clock: Callable[[], float] = time.time) -> None:
        # Every API request: method, path, query, body (what the tests hold the adapter to).
        self.calls: list[tuple[str, str, dict[str, list[str]], Any]] = []
        self._send = send
        self._clock = clock
        self._queues: dict[str, Queue] = {}
        # Every task name ever created: taken while the task waits, runs or is retried, and
        # after it ran or was deleted (Cloud Tasks frees a name after about an hour).
        self._names: set[str] = set()
        # (monotonic time, task name) of each dispatch, when the dispatcher let it go.
        self.dispatched: list[tuple[float, str]] = []
        self._tombstones: set[str] = set()
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._stopping = False
        self._httpd: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self.url = ""

    # --- the REST API ----------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, dict[str, Any]]:
        """Answer one API request: (HTTP status, JSON body)."""
        with self._changed:
            self.calls.append((method, path, query, body))
            answer = self._route(method, path, query, body or {})
            self._changed.notify_all()
            return answer

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        if method == "POST" and (m := _QUEUES.match(path)):
            return self._create_queue(m.group(1), body)
        if m := _ONE_QUEUE.match(path):
            name = m.group(1)
            if method == "PATCH":
                return 200, self._queue_or_new(name, body).to_json()
            queue = self._queues.get(name)
            if queue is None:
                return _error(404, f"Queue {name} does not exist.")
            if method == "GET":
                return 200, queue.to_json()
            if method == "DELETE":
                self._tombstones.add(name)
                del self._queues[name]
                return 200, {}
        if method == "POST" and (m := _QUEUE_VERB.match(path)):
            queue = self._queues.get(m.group(1))
            if queue is None:
                return _error(404, f"Queue {m.group(1)} does not exist.")
            if m.group(2) == "purge":
                queue.tasks.clear()
            else:
                queue.paused = m.group(2) == "pause"
            return 200, queue.to_json()
        if m := _TASKS.match(path):
            queue = self._queues.get(m.group(1))
            if queue is None:
                return _error(404, f"Queue {m.group(1)} does not exist.")
            if method == "POST":
                return self._create_task(queue, body.get("task") or {})
            if method == "GET":
                return 200, self._list_tasks(queue, query)
        if method == "DELETE" and (m := _ONE_TASK.match(path)):
            queue = self._queues.get(m.group(1))
            name = f"{m.group(1)}/tasks/{m.group(2)}"
            if queue is None or name not in queue.tasks:
                return _error(404, f"Task {name} does not exist.")
            del queue.tasks[name]
            return 200, {}
        return _error(404, f"No route for {method} {path}")

    def _create_queue(self, parent: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = str(body.get("name") or "")
        if not name.startswith(f"{parent}/queues/") or not _ONE_QUEUE.match(f"/v2/{name}"):
            return _error(400, f"Queue name {name!r} is not under {parent}.")
        if name in self._queues:
            return _error(409, f"Queue {name} already exists.")
        queue = Queue(name)
        queue.configure(body)
        if name not in self._tombstones:  # a tombstoned name: seems created, is not
            self._queues[name] = queue
        return 200, queue.to_json()

    def _queue_or_new(self, name: str, body: dict[str, Any]) -> Queue:
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = Queue(name)
        queue.configure(body)
        return queue

    def _create_task(self, queue: Queue, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        request = body.get("httpRequest")
        if not isinstance(request, dict) or not request.get("url"):
            return _error(400, "Only HTTP tasks with a URL are supported.")
        now = self._clock()
        name = str(body.get("name") or f"{queue.name}/tasks/{next(self._order)}")
        if not name.startswith(f"{queue.name}/tasks/"):
            return _error(400, f"Task name {name!r} is not in {queue.name}.")
        if name in self._names:
            return _error(409, f"Requested entity already exists: task {name}.")
        scheduled = body.get("scheduleTime")
        task = Task(
            name=name,
            request=request,
            due=_epoch(scheduled) if scheduled else now,
            order=next(self._order),
            created=now,
            deadline_s=_seconds(body.get("dispatchDeadline"), DEFAULT_DEADLINE_S),
        )
        queue.tasks[name] = task
        self._names.add(name)
        return 200, task.to_json()

    def _list_tasks(self, queue: Queue, query: dict[str, list[str]]) -> dict[str, Any]:
        size = min(int((query.get("pageSize") or [PAGE_SIZE])[0]), PAGE_SIZE)
        start = int((query.get("pageToken") or ["0"])[0] or 0)
        ordered = sorted(queue.tasks.values(), key=lambda t: (t.due, t.order))
        page: dict[str, Any] = {"tasks": [t.to_json() for t in ordered[start : start + size]]}
        if start + size < len(ordered):
            page["nextPageToken"] = str(start + size)
        return page

    # --- dispatching -----------------------------------------------------------------------

    def _dispatch_loop(self) -> None:
        with self._changed:
            while not self._stopping:
                wait = IDLE_WAIT_S
                for queue in list(self._queues.values()):
                    wait = min(wait, self._dispatch_due(queue))
                self._changed.wait(timeout=max(wait, 0.001))

    def _dispatch_due(self, queue: Queue) -> float:
        """Start what `queue` may start now; seconds until it may start more."""
        if queue.paused:
            return IDLE_WAIT_S
        while queue.in_flight < queue.concurrent:
            now = self._clock()
            due = [t for t in queue.tasks.values() if t.due <= now]
            if not due:
                later = [t.due - now for t in queue.tasks.values()]
                return min(later, default=IDLE_WAIT_S)
            decided = time.monotonic()
            wait = queue.take_token(decided)
            if wait > 0:
                return wait
            task = min(due, key=lambda t: (t.due, t.order))
            del queue.tasks[task.name]  # out of the queue while in flight, as in Cloud Tasks
            self.dispatched.append((decided, task.name))
            task.attempts += 1
            queue.in_flight += 1
            thread = threading.Thread(
                target=self._attempt, args=(queue, task), name="tasks-dispatch", daemon=True
            )
            thread.start()
        return IDLE_WAIT_S  # woken when a dispatch ends

    def _attempt(self, queue: Queue, task: Task) -> None:
        request = task.request
        headers = {
            **(request.get("headers") or {}),
            "X-CloudTasks-QueueName": queue.name.rsplit("/", 1)[-1],
            "X-CloudTasks-TaskName": task.name.rsplit("/", 1)[-1],
            "X-CloudTasks-TaskRetryCount": str(task.attempts - 1),
            "X-CloudTasks-TaskExecutionCount": str(task.attempts - 1),
            "X-CloudTasks-TaskETA": f"{task.due:.6f}",
        }
        body = base64.b64decode(request.get("body") or "")
        status = self._send(str(request["url"]), headers, body, task.deadline_s)
        with self._changed:
            queue.in_flight -= 1
            if not 200 <= status < 300:
                self._retry_or_drop(queue, task, status)
            self._changed.notify_all()

    def _retry_or_drop(self, queue: Queue, task: Task, status: int) -> None:
        now = self._clock()
        out_of_attempts = queue.max_attempts != -1 and task.attempts >= queue.max_attempts
        too_old = queue.max_retry_s > 0 and now - task.created >= queue.max_retry_s
        if out_of_attempts or too_old or self._queues.get(queue.name) is not queue:
            print(f"local tasks: gave up on {task.name} after {task.attempts} attempts "
                  f"(last answer {status or 'none'})", file=sys.stderr)
            return
        backoff = queue.min_backoff_s * 2 ** (task.attempts - 1)
        task.due = now + min(backoff, queue.max_backoff_s)
        queue.tasks[task.name] = task

    # --- serving ---------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve the API and dispatch tasks in background threads; the API's base URL."""
        handle = self.handle

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    status, answer = _error(400, "The body is not JSON.")
                else:
                    status, answer = handle(self.command, url.path, parse_qs(url.query), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # one line per API call would drown make dev's output

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self.url = f"http://{host}:{self._httpd.server_address[1]}"
        self._threads = [
            threading.Thread(
                target=self._httpd.serve_forever, args=(0.05,), name="tasks-api", daemon=True
            ),
            threading.Thread(target=self._dispatch_loop, name="tasks-dispatcher", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and dispatching (dispatches under way finish on their own)."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> TasksStandIn:
        if not self.url:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _error(code: int, message: str) -> tuple[int, dict[str, Any]]:
    # Google's JSON error envelope; google.api_core maps it by HTTP status.
    return code, {"error": {"code": code, "message": message, "status": _STATUS[code]}}


def _seconds(duration: Any, default: float) -> float:
    """A protobuf JSON Duration ("10s", "0.500s") in seconds."""
    if not duration:
        return default
    return float(str(duration).removesuffix("s"))


def _epoch(stamp: str) -> float:
    """An RFC 3339 timestamp (as protobuf JSON writes it, up to nanoseconds) in epoch seconds."""
    head, _, rest = stamp.rstrip("Z").partition(".")
    whole = datetime.fromisoformat(head).replace(tzinfo=UTC).timestamp()
    return whole + (float(f"0.{rest}") if rest else 0.0)


def _rfc3339(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def main() -> None:
    """`python -m local.tasks [PORT]`: serve the stand-in alone until Ctrl-C."""
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    stand_in = TasksStandIn()
    print(f"Cloud Tasks stand-in at {stand_in.start(port=port)}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        stand_in.stop()


if __name__ == "__main__":
    main()
