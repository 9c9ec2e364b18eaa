"""The receiver cases of `make faults`: delivery shaped by the receiver, driven as a user would.

Each case makes its integration through the API, sends its events as webhooks, changes how
the receiver answers (faults/receiver_sink.py) and pauses, resumes or redrives through the
API, on the same local stack as the other experiments (`python -m local.dev`, with its
Cloud Tasks stand-in). Then it counts, per event, the requests the receiver answered 200:

- rate-limit: a receiver that admits 10 requests in any sliding second (429 with
  `Retry-After: 1` past that), behind `target.rateLimit` of 10 a second: the most requests
  it saw in any second, the 429s it answered, each event delivered once;
- down: the receiver answers 503 for `--down-seconds` (120 s); `circuitBreaker` pauses
  delivery, the operator's `notify.url` gets the signed `delivery.paused`, nothing is sent
  while the circuit is open, and resume delivers each event once;
- pause: delivery paused, n events accepted, resumed: none sent while paused, each once;
- redrive-twice: n events refused (400, so their runs end `error`), the receiver fixed,
  then two redrive jobs started at once over them: each event sent once more, carrying
  its original `Idempotency-Key`.

docs/performance.md, "Fault suite", has the table and what each column means.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests
from standardwebhooks import Webhook, WebhookVerificationError

from mapper.pipeline.runs import IN_FLIGHT, RunStatus

from .receiver_sink import NOTIFY_PATH, ReceiverSink
from .stack import Stack

CASES = ("rate-limit", "down", "pause", "redrive-twice")
DEFAULT_DOWN_S = 120.0
PER_SECOND = 10  # the receiver's limit, and the integration's rateLimit
CIRCUIT_FAILURES = 5  # circuitBreaker.consecutiveFailures of the down case
TIMEOUT_S = 5.0  # the target's timeout
CONCURRENCY = 8  # sender threads
SEND_DEADLINE_S = 120.0  # one event's sends, retries included
CLIENT_TIMEOUT_S = 30.0
API_TIMEOUT_S = 60.0  # the api function's own timeout in the cloud (infra/variables.tf)
# A resume sends the held runs before it answers (up to 5,000, delivery_control), and on a
# paced target that is a task and two run operations each: allowed longer, and timed.
RESUME_TIMEOUT_S = 600.0
POLL_S = 1.0
# The slowest delivery a case waits for, beyond the stack's horizon: a case of n events may
# take n / MIN_RATE seconds more before it counts what did not arrive as lost.
MIN_RATE = 5.0
# Sends already under way when the circuit opened may still arrive this long after its
# `since` (the worker read the state before the pause was written, docs/delivery.md).
IN_FLIGHT_GRACE_S = 10.0


@dataclass(frozen=True)
class ReceiverCase:
    """One receiver case: its name (for --only), its title, how many events."""

    name: str
    title: str
    n: int
    down_s: float = DEFAULT_DOWN_S
    max_concurrent: int | None = None  # rateLimit.maxConcurrent of the rate-limit case
    paced: int | None = None  # rateLimit.perSecond of the other cases: the paced path


@dataclass
class CaseResult:
    """What one receiver case counted; None where the case does not measure it."""

    experiment: ReceiverCase
    accepted: int = 0
    delivered: int = 0  # events the receiver answered 200
    lost: list[str] = field(default_factory=list)  # accepted, never answered 200
    twice: int = 0  # events the receiver answered 200 more than once
    max_per_s: int | None = None  # the most requests in any sliding second
    answered_429: int | None = None
    sent_while_paused: int | None = None
    notified: int | None = None  # signed delivery.paused notifications that verified
    same_key: int | None = None  # events delivered with their original Idempotency-Key
    seconds: float = 0.0
    broken: list[str] = field(default_factory=list)  # the case's own expectations
    notes: list[str] = field(default_factory=list)

    def failures(self) -> list[str]:
        """Every expectation this result breaks, as sentences."""
        found = []
        if self.accepted < self.experiment.n:
            found.append(f"only {self.accepted} of {self.experiment.n} events accepted")
        if self.lost:
            found.append(f"{len(self.lost)} accepted events never delivered, e.g. {self.lost[:3]}")
        if self.twice:
            found.append(f"{self.twice} events delivered more than once")
        return found + self.broken


def cases(
    n: int, down_s: float, only: Sequence[str], max_concurrent: int | None = None,
    paced: int | None = None,
) -> list[ReceiverCase]:
    """The receiver cases --only names (all when it names none)."""
    at_once = "" if max_concurrent is None else f", maxConcurrent {max_concurrent}"
    path = "" if paced is None else f" (paced, {paced}/s)"
    every = [
        ReceiverCase("rate-limit", f"receiver limited to {PER_SECOND}/s, rateLimit "
                     f"{PER_SECOND}/s{at_once}", n, max_concurrent=max_concurrent),
        ReceiverCase("down", f"receiver down {down_s:g} s, circuit breaker, resume{path}", n,
                     down_s=down_s, paced=paced),
        ReceiverCase("pause", f"pause, events accepted, resume{path}", n, paced=paced),
        ReceiverCase("redrive-twice", f"two redrive jobs at once over failed runs{path}", n,
                     paced=paced),
    ]
    return [c for c in every if not only or c.name in only]


def run_cases(stack: Stack, chosen: Sequence[ReceiverCase]) -> list[CaseResult]:
    """Run the cases one after the other against the running stack."""
    steps: dict[str, Callable[[_User, ReceiverSink, ReceiverCase], CaseResult]] = {
        "rate-limit": _rate_limit,
        "down": _down,
        "pause": _pause,
        "redrive-twice": _redrive_twice,
    }
    sink = ReceiverSink()
    user = _User(stack)
    results = []
    try:
        for case in chosen:
            print(f"- {case.title} ...", flush=True)
            began = time.monotonic()
            result = steps[case.name](user, sink, case)
            result.seconds = time.monotonic() - began
            results.append(result)
            for note in result.notes:
                print(f"    {note}", flush=True)
    finally:
        sink.stop()
    return results


def table(results: Sequence[CaseResult]) -> str:
    """The receiver cases as a Markdown table."""
    head = (
        "| receiver case | sent | accepted | delivered | lost | delivered twice | max/s "
        "| 429s | sent while paused | notified | same key | s |"
    )
    lines = [head, "|" + "---|" * 12]

    def shown(value: int | None) -> str:
        return "-" if value is None else str(value)

    for r in results:
        lines.append(
            f"| {r.experiment.title} | {r.experiment.n} | {r.accepted} | {r.delivered} "
            f"| {len(r.lost)} | {r.twice} | {shown(r.max_per_s)} | {shown(r.answered_429)} "
            f"| {shown(r.sent_while_paused)} | {shown(r.notified)} | {shown(r.same_key)} "
            f"| {r.seconds:.0f} |"
        )
    return "\n".join(lines)


# --- the cases ------------------------------------------------------------------------------


def _rate_limit(user: _User, sink: ReceiverSink, case: ReceiverCase) -> CaseResult:
    path = f"/{case.name}"
    sink.answer_with(200, per_second=PER_SECOND)
    limit = {"perSecond": PER_SECOND}
    if case.max_concurrent is not None:
        limit["maxConcurrent"] = case.max_concurrent
    hook = user.create(case, sink.url + path, target={"rateLimit": limit})
    accepted = _send(hook, case)
    result = CaseResult(case, accepted=len(accepted))
    _settle(user, sink, path, hook["id"], accepted, case.n / PER_SECOND)
    hits = sink.hits(path)
    result.max_per_s = most_in_a_second([h.at for h in hits])
    result.answered_429 = sum(1 for h in hits if h.status == 429)
    if result.max_per_s > 2 * PER_SECOND:
        result.broken.append(
            f"the receiver saw {result.max_per_s} requests in a second; the rate is {PER_SECOND}"
        )
    _count(result, user, sink, path, hook["id"], accepted)
    return result


def _down(user: _User, sink: ReceiverSink, case: ReceiverCase) -> CaseResult:
    path = f"/{case.name}"
    sink.answer_with(503)
    went_down = time.time()
    hook = user.create(
        case, sink.url + path,
        circuitBreaker={"consecutiveFailures": CIRCUIT_FAILURES},
        notify={"url": sink.url + NOTIFY_PATH},
    )
    accepted = _send(hook, case)
    result = CaseResult(case, accepted=len(accepted))
    opened = _wait(lambda: user.delivery(hook["id"]).get("by") == "circuit", 60)
    if not opened:
        result.broken.append("the circuit did not open")
    # Everything accepted is held (or ended) while the receiver is still down.
    _wait(lambda: _in_flight(user, hook["id"]) == 0, user.horizon(case.n))
    time.sleep(max(0.0, went_down + case.down_s - time.time()))
    sink.answer_with(200)
    shown = user.delivery(hook["id"])
    result.notes.append(
        f"receiver up again after {time.time() - went_down:.0f} s; delivery {shown['state']} "
        f"by {shown['by']} ({shown['reason']}), {shown['held']} held"
    )
    resumed_at = time.time()
    user.resume(hook["id"], result)
    _settle(user, sink, path, hook["id"], accepted, 0)
    hits = sink.hits(path)
    if opened and shown.get("since"):
        since = datetime.fromisoformat(str(shown["since"]).replace("Z", "+00:00")).timestamp()
        result.sent_while_paused = sum(
            1 for h in hits if since + IN_FLIGHT_GRACE_S <= h.at < resumed_at
        )
        after_open = sum(1 for h in hits if since <= h.at < resumed_at)
        result.notes.append(
            f"requests before the resume: {sum(1 for h in hits if h.at < resumed_at)}, "
            f"of them after the circuit opened: {after_open}"
        )
    result.notified = _verified_pauses(sink, hook)
    if not result.notified:
        result.broken.append("no signed delivery.paused notification arrived")
    if result.sent_while_paused:
        result.broken.append(f"{result.sent_while_paused} requests sent while the circuit was open")
    _count(result, user, sink, path, hook["id"], accepted)
    return result


def _pause(user: _User, sink: ReceiverSink, case: ReceiverCase) -> CaseResult:
    path = f"/{case.name}"
    sink.answer_with(200)
    hook = user.create(case, sink.url + path)
    user.pause(hook["id"], "faults: receiver maintenance")
    accepted = _send(hook, case)
    result = CaseResult(case, accepted=len(accepted))
    held = _wait(lambda: user.delivery(hook["id"])["held"] >= len(accepted),
                 user.horizon(case.n))
    time.sleep(2 * POLL_S)  # a send that would come late still has time to arrive
    result.sent_while_paused = len(sink.hits(path))
    result.notes.append(f"held before resume: {user.delivery(hook['id'])['held']}")
    if not held:
        result.broken.append("not every accepted event was held before the resume")
    if result.sent_while_paused:
        result.broken.append(f"{result.sent_while_paused} requests sent while paused")
    user.resume(hook["id"], result)
    _settle(user, sink, path, hook["id"], accepted, 0)
    _count(result, user, sink, path, hook["id"], accepted)
    return result


def _redrive_twice(user: _User, sink: ReceiverSink, case: ReceiverCase) -> CaseResult:
    path = f"/{case.name}"
    sink.answer_with(400)  # refused: each run ends `error`, not retried
    hook = user.create(case, sink.url + path)
    accepted = _send(hook, case)
    result = CaseResult(case, accepted=len(accepted))
    _wait(lambda: _in_flight(user, hook["id"]) == 0, user.horizon(case.n))
    failed = Counter(str(r.get("status")) for r in user.stack.runs(hook["id"]).values())
    result.notes.append("before the redrive: " + _listed(failed))
    refused = Counter(h.event for h in sink.hits(path))
    result.notes.append(f"events sent more than once before the redrive: "
                        f"{sum(1 for c in refused.values() if c > 1)}")
    first_keys = {h.event: h.key for h in reversed(sink.hits(path))}
    sink.answer_with(200)
    jobs = _at_once(2, lambda: user.redrive(hook["id"]))
    done = [_wait_job(user, job, user.horizon(case.n)) for job in jobs]
    resent = sum(int(j.get("queued") or 0) for j in done)
    not_resent = sum(int(j.get("failed") or 0) for j in done)
    result.notes.append(
        "jobs: " + "; ".join(
            f"{j.get('state')}, total {j.get('total')}, queued {j.get('queued')}, "
            f"failed {j.get('failed')}" for j in done
        )
    )
    if resent != len(accepted):
        result.broken.append(f"the two jobs resent {resent} runs, not {len(accepted)}")
    _settle(user, sink, path, hook["id"], accepted, 0)
    delivered = [h for h in sink.hits(path) if h.status == 200]
    result.same_key = sum(
        1 for h in delivered
        if h.event in accepted and h.key == accepted[h.event] == first_keys.get(h.event)
    )
    if result.same_key != len(delivered):
        result.broken.append(
            f"{len(delivered) - result.same_key} deliveries with another key than the original's"
        )
    result.notes.append(f"refused by the other job (already resent): {not_resent}")
    _count(result, user, sink, path, hook["id"], accepted)
    return result


# --- the user: the API and the webhook, over HTTP ---------------------------------------------


class _User:
    """What a user does to the platform, through its HTTP API and webhook URLs."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._session = requests.Session()
        self._session.trust_env = False  # loopback only, never through a proxy
        self._session.headers["Authorization"] = f"Bearer {stack.admin_token}"

    def api(
        self, method: str, path: str, body: Any = None, expect: int = 200,
        timeout: float = API_TIMEOUT_S,
    ) -> Any:
        reply = self._session.request(method, self.stack.url + path, json=body, timeout=timeout)
        if reply.status_code != expect:
            raise RuntimeError(f"{method} {path}: {reply.status_code} {reply.text[:500]}")
        return reply.json()

    def create(self, case: ReceiverCase, url: str, **extra: Any) -> dict[str, Any]:
        target = {"type": "http", "url": url, "method": "POST", "timeoutSeconds": TIMEOUT_S,
                  **extra.pop("target", {})}
        if case.paced is not None:
            target.setdefault("rateLimit", {"perSecond": case.paced})
        created: dict[str, Any] = self.api("POST", "/api/integrations/", {
            "name": f"faults {case.name}",
            "source": {"type": "webhook"},
            "mappings": [{"source": "id", "target": "orderId"}, {"source": "n", "target": "n"}],
            "target": target,
            **extra,
        }, expect=201)
        created["localWebhookUrl"] = f"{self.stack.url}/webhook/{created['webhookPath']}/"
        return created

    def delivery(self, integration_id: str) -> dict[str, Any]:
        return dict(self.api("GET", f"/api/integrations/{integration_id}/")["delivery"])

    def pause(self, integration_id: str, reason: str) -> None:
        self.api("POST", f"/api/integrations/{integration_id}/pause_delivery/", {"reason": reason})

    def resume(self, integration_id: str, result: CaseResult) -> None:
        began = time.monotonic()
        self.api("POST", f"/api/integrations/{integration_id}/resume_delivery/",
                 timeout=RESUME_TIMEOUT_S)
        took = time.monotonic() - began
        result.notes.append(f"the resume call answered in {took:.1f} s")
        if took > API_TIMEOUT_S:
            result.notes.append(f"longer than the api function's {API_TIMEOUT_S:g} s timeout")

    def redrive(self, integration_id: str) -> str:
        started = self.api("POST", "/api/runs/redrive/", {
            "integrationId": integration_id, "statuses": [RunStatus.ERROR], "dryRun": False,
        }, expect=202)
        return str(started["jobId"])

    def horizon(self, n: int) -> float:
        """How long a case of n events may take to settle before it counts."""
        return self.stack.horizons.settle_s(TIMEOUT_S + 30) + n / MIN_RATE


def _send(hook: dict[str, Any], case: ReceiverCase) -> dict[str, str]:
    """POST the case's n events; event id -> the run id of its 202 (each one accepted)."""
    url = hook["localWebhookUrl"]
    accepted: dict[str, str] = {}
    lock = threading.Lock()
    local = threading.local()

    def send(i: int) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.trust_env = False
        event = f"{case.name}-{i}"
        body = json.dumps({"id": event, "n": i})
        # A sender's retry carries the same webhook-id: accepted once, whatever it takes.
        headers = {"Content-Type": "application/json", "webhook-id": f"{event}-key"}
        deadline = time.monotonic() + SEND_DEADLINE_S
        while time.monotonic() < deadline:
            try:
                reply = local.session.post(url, data=body, headers=headers,
                                           timeout=CLIENT_TIMEOUT_S)
            except requests.RequestException:
                time.sleep(POLL_S)
                continue
            if reply.status_code == 202:
                with lock:
                    accepted[event] = str(reply.json()["runId"])
                return
            if reply.status_code < 500:
                return
            time.sleep(POLL_S)

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(send, range(case.n)))
    return accepted


# --- waiting and counting ---------------------------------------------------------------------


def _wait(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_S)
    return True


def _in_flight(user: _User, integration_id: str) -> int:
    runs = user.stack.runs(integration_id)
    return sum(1 for r in runs.values() if r.get("status") in IN_FLIGHT)


def _settle(
    user: _User, sink: ReceiverSink, path: str, integration_id: str,
    accepted: dict[str, str], extra_s: float,
) -> bool:
    """Wait until nothing is in flight and every accepted event was delivered, or the horizon."""

    def done() -> bool:
        delivered = {h.event for h in sink.hits(path) if h.status == 200}
        return set(accepted) <= delivered and _in_flight(user, integration_id) == 0

    return _wait(done, user.horizon(len(accepted)) + extra_s)


def _count(
    result: CaseResult, user: _User, sink: ReceiverSink, path: str, integration_id: str,
    accepted: dict[str, str],
) -> None:
    ok = Counter(h.event for h in sink.hits(path) if h.status == 200)
    result.delivered = sum(1 for e in accepted if ok[e])
    result.twice = sum(1 for e in accepted if ok[e] > 1)
    result.lost = sorted(e for e in accepted if not ok[e])
    statuses = Counter(str(r.get("status")) for r in user.stack.runs(integration_id).values())
    result.notes.append("runs: " + _listed(statuses))
    answers = Counter(h.status for h in sink.hits(path))
    result.notes.append("receiver answered: " + _listed(answers))


def _listed(counts: Counter[Any]) -> str:
    return ", ".join(f"{k} x{v}" for k, v in sorted(counts.items(), key=lambda kv: str(kv[0])))


def most_in_a_second(times: list[float]) -> int:
    """The most arrivals within any window of one second."""
    times = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def _verified_pauses(sink: ReceiverSink, hook: dict[str, Any]) -> int:
    """The delivery.paused notifications for `hook` whose signature verifies with its key."""
    verifier = Webhook(hook["newNotifySecret"])
    found = 0
    for notice in sink.notices():
        try:
            event = verifier.verify(notice.body, notice.headers)
        except WebhookVerificationError:
            continue
        if event.get("type") == "delivery.paused" and event.get("integrationId") == hook["id"]:
            found += 1
    return found


def _at_once(copies: int, call: Callable[[], str]) -> list[str]:
    """`call` from `copies` threads released together."""
    barrier = threading.Barrier(copies)

    def go() -> str:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(copies) as pool:
        return list(pool.map(lambda _: go(), range(copies)))


def _wait_job(user: _User, job_id: str, timeout: float) -> dict[str, Any]:
    status: dict[str, Any] = {}

    def finished() -> bool:
        status.update(user.api("GET", f"/api/runs/redrive/{job_id}/"))
        return status.get("state") != "running"

    _wait(finished, timeout)
    return status
