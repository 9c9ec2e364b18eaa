"""The local stand-in paces like Cloud Tasks, measured at a real HTTP receiver.

Queues and tasks are made by the cloud adapter through the real client (REST), so these
tests also prove the adapter drives pacing, pausing, scheduling and retries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from google.cloud import tasks_v2

from local.tasks import TasksStandIn
from mapper.cloud_tasks import CloudTasksQueue
from mapper.pipeline.ports import DeliveryTask, QueueConfig, QueueKey, RetryPolicy

KEY = QueueKey("paced", "target")
# Arrival times are measured after a loopback hop and a handler thread's start, which on a
# busy machine differ by tens of milliseconds between two requests (0.041 s seen): the
# receiver's windows allow this much. The stand-in's own dispatch decisions allow nothing.
JITTER_S = 0.1


@dataclass
class Receiver:
    """A local HTTP server that records each request's arrival and how many were in flight."""

    hold_s: float = 0.0
    statuses: list[int] = field(default_factory=list)  # answers to give first, then 200
    arrivals: list[tuple[float, str, dict[str, str]]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def serve(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    receiver.arrivals.append((time.time(), body.decode(), headers))
                    receiver.in_flight += 1
                    receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                time.sleep(receiver.hold_s)
                with receiver.lock:
                    receiver.in_flight -= 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.url = f"http://127.0.0.1:{server.server_address[1]}/deliver"
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return server

    def bodies(self) -> list[str]:
        with self.lock:
            return [body for _, body, _ in self.arrivals]

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.time() + timeout
        while len(self.arrivals) < count and time.time() < deadline:
            time.sleep(0.02)
        assert len(self.arrivals) >= count, f"{len(self.arrivals)} of {count} arrived"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    server = receiver.serve()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def queues(client: tasks_v2.CloudTasksClient, receiver: Receiver) -> CloudTasksQueue:
    return CloudTasksQueue(
        client, "p", "local", deliver_url=receiver.url, invoker_email="invoker@p.example"
    )


def send(queues: CloudTasksQueue, n: int, **kw: Any) -> None:
    for i in range(n):
        assert queues.enqueue(KEY, DeliveryTask(f"run-{i}", "target", {"n": i}, **kw)) == "added"


def test_fifty_tasks_at_ten_a_second_take_five_seconds_and_never_burst(
    queues: CloudTasksQueue, receiver: Receiver, stand_in: TasksStandIn
) -> None:
    receiver.hold_s = 0.25  # with 3 at once, 12 a second could go: the rate is what binds
    queues.ensure(KEY, QueueConfig(per_second=10, max_concurrent=3))
    queues.pause(KEY)
    send(queues, 50)
    queues.resume(KEY)

    receiver.wait_for(50, timeout=20)

    times = sorted(t for t, _, _ in receiver.arrivals)
    assert times[-1] - times[0] >= 4.5
    for i in range(len(times) - 10):  # the 11th after any arrival comes a second later
        assert times[i + 10] - times[i] >= 1.0 - JITTER_S, (i, times[i + 10] - times[i])
    starts = [at for at, _ in stand_in.dispatched]
    assert len(starts) == 50
    for i in range(len(starts) - 10):  # and left the stand-in a second later, exactly
        assert starts[i + 10] - starts[i] >= 1.0 - 1e-9, (i, starts[i + 10] - starts[i])
    assert receiver.max_in_flight <= 3
    assert sorted(receiver.bodies()) == sorted(f'{{"n":{i}}}' for i in range(50))


def test_max_concurrent_caps_the_requests_in_flight(
    queues: CloudTasksQueue, receiver: Receiver
) -> None:
    receiver.hold_s = 0.3
    queues.ensure(KEY, QueueConfig(per_second=100, max_concurrent=2))
    send(queues, 8)

    receiver.wait_for(8, timeout=10)

    assert receiver.max_in_flight == 2
    times = [t for t, _, _ in receiver.arrivals]
    assert times[-1] - times[0] >= 3 * 0.3 - JITTER_S  # 2 at a time: the last pair 3rd after


def test_a_paused_queue_holds_its_tasks_and_resume_sends_them_oldest_first(
    queues: CloudTasksQueue, receiver: Receiver
) -> None:
    queues.ensure(KEY, QueueConfig(per_second=50, max_concurrent=1))
    queues.pause(KEY)
    send(queues, 6)

    time.sleep(1.0)
    assert receiver.arrivals == []
    assert queues.held(KEY) == 6

    queues.resume(KEY)
    receiver.wait_for(6, timeout=10)
    assert receiver.bodies() == [f'{{"n":{i}}}' for i in range(6)]
    assert queues.held(KEY) == 0


def test_a_duplicate_task_is_refused_and_sent_once(
    queues: CloudTasksQueue, receiver: Receiver
) -> None:
    queues.ensure(KEY, QueueConfig(per_second=50, max_concurrent=1))
    task = DeliveryTask("run-1", "target", {"n": 1})
    assert queues.enqueue(KEY, task) == "added"
    assert queues.enqueue(KEY, task) == "already_added"
    receiver.wait_for(1, timeout=5)
    # Still refused after the task ran: the name stays taken.
    assert queues.enqueue(KEY, task) == "already_added"
    time.sleep(0.5)
    assert len(receiver.arrivals) == 1


def test_a_scheduled_task_waits_for_its_time(
    queues: CloudTasksQueue, receiver: Receiver
) -> None:
    queues.ensure(KEY, QueueConfig(per_second=50, max_concurrent=5))
    not_before = time.time() + 1.5
    queues.enqueue(KEY, DeliveryTask("later", "target", {"n": "later"}, not_before=not_before))
    queues.enqueue(KEY, DeliveryTask("now", "target", {"n": "now"}))

    receiver.wait_for(2, timeout=5)

    (now_at, now_body, _), (later_at, later_body, headers) = receiver.arrivals
    assert (now_body, later_body) == ('{"n":"now"}', '{"n":"later"}')
    assert now_at < not_before <= later_at
    assert headers["x-cloudtasks-queuename"] == queues.queue_name(KEY).rsplit("/", 1)[-1]


def test_a_failed_dispatch_is_retried_with_backoff_until_max_attempts(
    queues: CloudTasksQueue, receiver: Receiver
) -> None:
    retry = RetryPolicy(max_attempts=3, min_backoff_s=0.2, max_backoff_s=0.3)
    queues.ensure(KEY, QueueConfig(per_second=50, max_concurrent=5, retry=retry))
    receiver.statuses = [503, 500, 429, 200]
    queues.enqueue(KEY, DeliveryTask("flaky", "target", {"n": 1}))

    receiver.wait_for(3, timeout=5)
    time.sleep(0.8)

    times = [t for t, _, _ in receiver.arrivals]
    assert len(times) == 3  # max_attempts: the fourth answer (200) is never asked for
    assert times[1] - times[0] >= 0.2 - JITTER_S  # min_backoff
    assert times[2] - times[1] >= 0.3 - JITTER_S  # doubled, capped at max_backoff
    retries = [h["x-cloudtasks-taskretrycount"] for _, _, h in receiver.arrivals]
    assert retries == ["0", "1", "2"]
    assert queues.held(KEY) == 0
