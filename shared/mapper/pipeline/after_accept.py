"""Runs written `queued` just after their 202, several in one round trip, by one thread.

With RECORD_AT_ACCEPT (docs/data-plane.md, "When a run is recorded") a webhook event
published unrecorded is written `queued` once its sender has the 202. The sender does not
wait for that write, but its CPU is the instance's: one Firestore round trip a run, each on
a thread of its own, showed in the next requests' tail (docs/performance.md).
`RunsAfterAccept.record` queues the run and returns at once; one thread writes what is
queued: it lets LINGER_S pass after the oldest waiting run for others to join it, then
writes up to MAX_RUNS in one `RunLog.create_each` (Firestore's BatchWrite, each create on
its own, on the condition that the run does not exist), and at once again while more wait.

Best effort, as before: a run not written here (refused, Firestore unreachable, more than
MAX_WAITING already waiting, the instance stopped first) is logged, and the worker that
takes its message records it (`RunLog.claim` with the message's first record). Whichever
of the two writes comes second finds the run and leaves it. `close` writes what is waiting;
it runs at the interpreter's exit, within CLOSE_TIMEOUT_S.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ..errors import MapperError
from .ports import RunLog

log = logging.getLogger("mapper.intake")

LINGER_S = 0.05  # after the oldest waiting run, for others to share its round trip
MAX_RUNS = 100  # runs per round trip (Firestore takes up to 500 writes in a BatchWrite)
MAX_WAITING = 10_000  # runs waiting to be written; past it a run is left to its worker
CLOSE_TIMEOUT_S = 5.0  # for what is waiting at exit (Cloud Run allows 10 s after SIGTERM)


class RunsAfterAccept:
    """Writes accepted runs `queued` off the sender's path, grouped, by one thread."""

    def __init__(
        self,
        runs: RunLog,
        *,
        linger_s: float = LINGER_S,
        max_runs: int = MAX_RUNS,
        max_waiting: int = MAX_WAITING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_runs < 1 or max_waiting < 1:
            raise ValueError("max_runs and max_waiting must be at least 1")
        self._runs = runs
        self._linger_s = linger_s
        self._max_runs = max_runs
        self._max_waiting = max_waiting
        self._clock = clock
        self._waiting: deque[tuple[float, dict[str, Any]]] = deque()  # (queued at, run)
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None  # started by the first run
        self._closed = False

    def record(self, run: dict[str, Any]) -> None:
        """Queue `run` to be written `queued`; returns at once (after `close`: writes it)."""
        with self._changed:
            if not self._closed:
                if len(self._waiting) >= self._max_waiting:
                    log.warning("run %s: not recorded at accept, %d runs wait already (its "
                                "worker records it)", run["id"], len(self._waiting))
                    return
                self._waiting.append((self._clock(), run))
                self._start()
                if len(self._waiting) in (1, self._max_runs):  # else it lingers: let it be
                    self._changed.notify()
                return
        self._write([run])  # the instance is stopping: no thread to hand it to

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Write what is waiting, within `timeout_s`, and stop the thread."""
        with self._changed:
            self._closed = True
            self._changed.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
        atexit.unregister(self.close)

    def _start(self) -> None:
        if self._thread is None:
            # A daemon: the interpreter's exit does not wait for it; `close` (atexit) does.
            self._thread = threading.Thread(
                target=self._run, name="intake-after-accept", daemon=True
            )
            self._thread.start()
            atexit.register(self.close)

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._write(batch)

    def _next_batch(self) -> list[dict[str, Any]] | None:
        """Up to MAX_RUNS runs, once the oldest has waited LINGER_S (at once when full or
        closing); None when closed with nothing left."""
        with self._changed:
            while not self._waiting:
                if self._closed:
                    return None
                self._changed.wait()
            while len(self._waiting) < self._max_runs and not self._closed:
                left = self._waiting[0][0] + self._linger_s - self._clock()
                if left <= 0:
                    break
                self._changed.wait(left)
            count = min(self._max_runs, len(self._waiting))
            return [self._waiting.popleft()[1] for _ in range(count)]

    def _write(self, batch: list[dict[str, Any]]) -> None:
        try:
            answers: list[bool | MapperError] = self._runs.create_each(batch)
        except MapperError as exc:
            answers = [exc] * len(batch)
        except Exception:  # noqa: BLE001 - a bug must not stop the thread; logged whole
            log.exception("runs %s: not recorded at accept (their workers record them)",
                          ", ".join(run["id"] for run in batch))
            return
        for run, answer in zip(batch, answers, strict=True):
            if isinstance(answer, MapperError):
                log.warning("run %s: not recorded at accept (its worker records it): %s",
                            run["id"], answer)
