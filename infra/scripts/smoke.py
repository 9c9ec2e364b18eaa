"""Prove a deployed platform works, in its own project, then remove what the proof made.

    python3 infra/scripts/smoke.py --project P --region R --outputs OUTPUTS.json
    (./deploy.sh PROJECT REGION --smoke, or --smoke-only after a deploy, runs this)

OUTPUTS.json is `terraform output -json` of the deployment. The smoke creates temporary
integrations through the management API, all named smoke-<stamp>-..., whose targets are
the platform's own webhook URLs: a "sink" integration (active, condition false, so each
arrival is recorded as a skipped run and nothing is sent on) answers 202, and a "closed"
one (inactive) always answers 503. Then, one line per step with its time:

  webhook       a signed-off webhook integration's run ends success
  signature     a request with a bad signature to a signed integration answers 401
  push          a Pub/Sub push integration on a temporary topic: its run ends success
  pull          a pull integration on a temporary topic, drained by the scheduled pull
                function (the scheduler job is run at once): its run ends success
  dead letter   an integration whose target always answers 503 ends dead_lettered; a
                temporary subscription on the internal topic, filtered to that
                integration, retries every 10 s and dead-letters after 5 attempts
  arrivals      the sink recorded one arrival per successful delivery

Everything it made is deleted at the end, also when a step fails or it is interrupted.
Exit status 0 only when every step passed. Standard library only, plus the gcloud CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

TERMINAL = {"success", "error", "skipped", "partial", "dead_lettered"}
POLL_S = 2.0
DEAD_LETTER_ATTEMPTS = 5
DEAD_LETTER_BACKOFF = "10s"
# A target that answers 503 at once; the worker gives each try this long at most.
FAILING_TIMEOUT_S = 10


class StepFailed(Exception):
    """A step did not see what it had to: the line says what it saw instead."""


@dataclass
class Platform:
    """The deployment as `terraform output -json` describes it."""

    project: str
    region: str
    site_url: str
    worker_url: str
    invoker: str
    internal_topic: str
    dead_letter_topic: str
    admin_token_secret: str
    scheduler_job: str
    pubsub_agent: str

    @classmethod
    def from_outputs(cls, project: str, region: str, outputs: dict[str, Any]) -> Platform:
        """Read the outputs the smoke needs (each is `{"value": ...}`)."""
        value = {name: entry["value"] for name, entry in outputs.items()}
        return cls(
            project=project,
            region=region,
            site_url=value["site_url"].rstrip("/"),
            worker_url=value["function_urls"]["worker"],
            invoker=value["invoker_service_account"],
            internal_topic=value["topics"]["internal"],
            dead_letter_topic=value["topics"]["dead_letter"],
            admin_token_secret=value["admin_token_secret"],
            scheduler_job=value["pull_scheduler_job"],
            pubsub_agent=value["pubsub_service_agent"],
        )


def gcloud(*args: str) -> str:
    """Run gcloud quietly; its stdout, or StepFailed with its error."""
    result = subprocess.run(
        ["gcloud", *args, "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"},
    )
    if result.returncode != 0:
        raise StepFailed(f"gcloud {' '.join(args[:3])}: {result.stderr.strip()[-300:]}")
    return result.stdout.strip()


class Api:
    """The management API and the public edges, over HTTPS with the admin token."""

    def __init__(self, base: str, token: str) -> None:
        self._base = base
        self._token = token
        # The platform's URLs only: no HTTP(S)_PROXY from the environment.
        self._http = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(self, method: str, path: str, body: Any = None, *, missing_ok: bool = False) -> Any:
        """One /api/ request; its JSON answer (None for a 404 when `missing_ok`), or
        StepFailed with the status and body."""
        status, answer = self.send(
            method, f"{self._base}{path}", body, {"Authorization": f"Bearer {self._token}"}
        )
        if status == 404 and missing_ok:
            return None
        if status >= 300:
            raise StepFailed(f"{method} {path} answered {status}: {answer}")
        return answer

    def send(
        self, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """(status, JSON or text answer) of one request to any URL."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with self._http.open(request, timeout=60) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw or b"null")
        except ValueError:
            return status, raw.decode(errors="replace")[:300]


@dataclass
class Made:
    """What the smoke created, so that cleanup removes exactly that."""

    integrations: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    subscriptions: list[str] = field(default_factory=list)


class Smoke:
    """The steps, their report lines, and the cleanup."""

    def __init__(
        self,
        platform: Platform,
        api: Api,
        *,
        timeout: float,
        out: TextIO = sys.stdout,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.p = platform
        self.api = api
        self.timeout = timeout
        self.out = out
        self.clock = clock
        self.sleep = sleep
        self.prefix = f"smoke-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
        self.made = Made()
        self.ids: dict[str, dict[str, Any]] = {}
        self.delivered = 0
        self.failures = 0

    # --- reporting --------------------------------------------------------------------

    @contextmanager
    def step(self, name: str) -> Iterator[list[str]]:
        """Time a step and print one line: PASS or FAIL, its name, what it saw, seconds."""
        started = self.clock()
        detail: list[str] = []
        try:
            yield detail
        except Exception as exc:  # noqa: BLE001 - any failure of a step is its FAIL line
            self.failures += 1
            text = str(exc) if isinstance(exc, StepFailed) else f"{type(exc).__name__}: {exc}"
            self._line("FAIL", name, text, self.clock() - started)
        else:
            self._line("PASS", name, "; ".join(detail), self.clock() - started)

    def _line(self, verdict: str, name: str, detail: str, seconds: float) -> None:
        print(f"{verdict}  {name:<12} {seconds:6.1f}s  {detail}", file=self.out, flush=True)

    # --- set-up -----------------------------------------------------------------------

    def integration(self, key: str, doc: dict[str, Any]) -> dict[str, Any]:
        """Create one temporary integration; remembered for cleanup at once."""
        saved = self.api.call("POST", "/api/integrations/", {"name": f"{self.prefix}-{key}", **doc})
        self.made.integrations.append(saved["id"])
        self.ids[key] = saved
        return saved

    def setup(self) -> None:
        """Topics, the sink and closed targets, and the integrations under test."""
        for kind in ("push", "pull"):
            topic = f"{self.prefix}-{kind}"
            gcloud("pubsub", "topics", "create", topic, f"--project={self.p.project}")
            self.made.topics.append(topic)
        nowhere = {"type": "http", "url": "https://smoke.invalid/", "method": "POST"}
        webhook = {"type": "webhook"}
        sink = self.integration(
            "sink", {"active": True, "source": webhook, "condition": "false", "target": nowhere}
        )
        closed = self.integration("closed", {"active": False, "source": webhook, "target": nowhere})
        to_sink = {"type": "http", "url": sink["webhookUrl"], "method": "POST"}
        self.integration("webhook", {"active": True, "source": webhook, "target": to_sink})
        signed = {
            "type": "webhook",
            "signature": {"scheme": "hmac-sha256", "secret": secrets.token_hex(16)},
        }
        self.integration("signed", {"active": True, "source": signed, "target": to_sink})
        for mode in ("push", "pull"):
            source = {
                "type": "pubsub",
                "projectId": self.p.project,
                "topic": f"{self.prefix}-{mode}",
                "mode": mode,
            }
            if mode == "pull":
                source["pullIntervalSeconds"] = 60
            self.integration(mode, {"active": True, "source": source, "target": to_sink})
        failing_target = {
            "type": "http",
            "url": closed["webhookUrl"],
            "method": "POST",
            "timeoutSeconds": FAILING_TIMEOUT_S,
        }
        failing = self.integration(
            "failing", {"active": True, "source": webhook, "target": failing_target}
        )
        self._dead_letter_subscription(failing["id"])

    def _dead_letter_subscription(self, integration_id: str) -> None:
        # The deployed worker subscription waits up to 600 s between its 10 attempts; this
        # one takes only the failing integration's messages (the intake tags each internal
        # message with integrationId) and gives up after 5 tries 10 s apart. Both deliver
        # the message; the run's lease keeps them from sending at the same time.
        name = f"{self.prefix}-dead-letter"
        gcloud(
            "pubsub",
            "subscriptions",
            "create",
            name,
            f"--project={self.p.project}",
            f"--topic={self.p.internal_topic}",
            f'--message-filter=attributes.integrationId = "{integration_id}"',
            f"--push-endpoint={self.p.worker_url}",
            f"--push-auth-service-account={self.p.invoker}",
            f"--push-auth-token-audience={self.p.worker_url}",
            "--ack-deadline=300",
            f"--min-retry-delay={DEAD_LETTER_BACKOFF}",
            f"--max-retry-delay={DEAD_LETTER_BACKOFF}",
            f"--dead-letter-topic={self.p.dead_letter_topic}",
            f"--max-delivery-attempts={DEAD_LETTER_ATTEMPTS}",
            "--expiration-period=1d",
        )
        self.made.subscriptions.append(name)
        # Pub/Sub dead-letters as its service agent, which must read this subscription.
        gcloud(
            "pubsub",
            "subscriptions",
            "add-iam-policy-binding",
            name,
            f"--project={self.p.project}",
            f"--member=serviceAccount:{self.p.pubsub_agent}",
            "--role=roles/pubsub.subscriber",
        )

    # --- waiting ----------------------------------------------------------------------

    def wait_for_run(self, key: str, run_id: str | None = None) -> dict[str, Any]:
        """The integration's run (that one, or its first) once it is terminal."""
        deadline = self.clock() + self.timeout
        integration_id = self.ids[key]["id"]
        last: dict[str, Any] | None = None
        while True:
            if run_id is not None:
                # A webhook event without a key is recorded when the worker takes its
                # message: 404 until then (docs/data-plane.md, "When a run is recorded").
                last = self.api.call("GET", f"/api/runs/{run_id}/", missing_ok=True)
            else:
                page = self.api.call("GET", f"/api/runs/?integration_id={integration_id}")
                runs = page.get("runs", [])
                last = runs[-1] if runs else None
            if last is not None and last.get("status") in TERMINAL:
                return last
            if self.clock() > deadline:
                seen = f"run {last.get('id')} is {last.get('status')}" if last else "no run"
                raise StepFailed(f"after {self.timeout:.0f}s: {seen}")
            self.sleep(POLL_S)

    def expect(self, key: str, run: dict[str, Any], status: str) -> str:
        if run.get("status") != status:
            reason = run.get("errorMessage") or ""
            raise StepFailed(
                f"run {run.get('id')} ended {run.get('status')}, not {status}: {reason}"
            )
        return f"run {run.get('id')} {status}"

    # --- the steps --------------------------------------------------------------------

    def run(self) -> int:
        """Every step, then cleanup; the exit status."""
        started = self.clock()
        try:
            with self.step("setup") as detail:
                self.setup()
                detail.append(f"{len(self.made.integrations)} integrations {self.prefix}-*")
            if self.failures == 0:
                self.steps()
        finally:
            self.cleanup()
        verdict = "all steps passed" if self.failures == 0 else f"{self.failures} failed"
        print(f"smoke: {verdict} in {self.clock() - started:.1f}s", file=self.out, flush=True)
        return 0 if self.failures == 0 else 1

    def steps(self) -> None:
        """The proofs, in order; each failure is reported and the next step still runs."""
        with self.step("webhook") as detail:
            status, answer = self.api.send(
                "POST", self.ids["webhook"]["webhookUrl"], {"smoke": "webhook"}
            )
            if status != 202:
                raise StepFailed(f"the webhook answered {status}: {answer}")
            run = self.wait_for_run("webhook", answer["runId"])
            detail.append(self.expect("webhook", run, "success"))
            self.delivered += 1
        with self.step("signature") as detail:
            status, answer = self.api.send(
                "POST",
                self.ids["signed"]["webhookUrl"],
                {"smoke": "signature"},
                {"X-Signature-256": "sha256=" + "0" * 64, "X-Hub-Signature-256": "sha256=00"},
            )
            if status != 401:
                raise StepFailed(f"a bad signature answered {status}, not 401: {answer}")
            detail.append("bad signature refused with 401")
        for mode in ("push", "pull"):
            with self.step(mode) as detail:
                self.api.call(
                    "POST",
                    f"/api/integrations/{self.ids[mode]['id']}/test_pubsub/",
                    {"payload": {"smoke": mode}},
                )
                if mode == "pull":
                    # Do not wait up to a minute for the next scheduled round.
                    gcloud(
                        "scheduler",
                        "jobs",
                        "run",
                        self.p.scheduler_job,
                        f"--location={self.p.region}",
                        f"--project={self.p.project}",
                    )
                detail.append(self.expect(mode, self.wait_for_run(mode), "success"))
                self.delivered += 1
        with self.step("dead letter") as detail:
            status, answer = self.api.send(
                "POST", self.ids["failing"]["webhookUrl"], {"smoke": "dead letter"}
            )
            if status != 202:
                raise StepFailed(f"the webhook answered {status}: {answer}")
            run = self.wait_for_run("failing", answer["runId"])
            seen = self.expect("failing", run, "dead_lettered")
            detail.append(f"{seen} after {run.get('attempts')} attempts")
        with self.step("arrivals") as detail:
            sink = self.ids["sink"]["id"]
            page = self.api.call("GET", f"/api/runs/?integration_id={sink}")
            arrived = len(page.get("runs", []))
            if arrived != self.delivered:
                raise StepFailed(
                    f"the sink recorded {arrived} arrivals, {self.delivered} were sent"
                )
            detail.append(f"the sink recorded {arrived} arrivals, one per delivery")

    # --- cleanup ----------------------------------------------------------------------

    def cleanup(self) -> None:
        """Delete everything the smoke made; report what could not be deleted."""
        with self.step("cleanup") as detail:
            left: list[str] = []
            # The api deletes the subscriptions it made for the Pub/Sub integrations.
            for integration_id in self.made.integrations:
                try:
                    self.api.call("DELETE", f"/api/integrations/{integration_id}/")
                except (StepFailed, OSError) as exc:
                    left.append(f"integration {integration_id} ({exc})")
            for name in self.made.subscriptions:
                try:
                    gcloud("pubsub", "subscriptions", "delete", name, f"--project={self.p.project}")
                except StepFailed as exc:
                    left.append(f"subscription {name} ({exc})")
            for name in self.made.topics:
                try:
                    gcloud("pubsub", "topics", "delete", name, f"--project={self.p.project}")
                except StepFailed as exc:
                    left.append(f"topic {name} ({exc})")
            if left:
                raise StepFailed("left behind: " + "; ".join(left))
            made = self.made
            detail.append(
                f"deleted {len(made.integrations)} integrations, {len(made.topics)} topics, "
                f"{len(made.subscriptions)} subscription"
            )


def _interrupted(signum: int, frame: Any) -> None:
    # SIGTERM (and SIGINT) unwind through `finally`, so the cleanup still runs.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run the smoke against the deployment the outputs describe."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--project", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--outputs", required=True, help="`terraform output -json`, saved")
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds each step may wait (default 300)"
    )
    args = parser.parse_args(argv)
    with open(args.outputs) as handle:
        platform = Platform.from_outputs(args.project, args.region, json.load(handle))
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        token = gcloud(
            "secrets",
            "versions",
            "access",
            "latest",
            f"--secret={platform.admin_token_secret}",
            f"--project={platform.project}",
        )
    except StepFailed as exc:
        print(f"smoke: cannot read the admin token: {exc}", file=sys.stderr)
        return 1
    print(f"smoke: {platform.site_url} in {platform.project} ({platform.region})", flush=True)
    try:
        return Smoke(platform, Api(platform.site_url, token), timeout=args.timeout).run()
    except KeyboardInterrupt:
        print("smoke: interrupted; what it made was deleted (see cleanup above)", flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
