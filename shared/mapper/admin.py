"""The control plane: integrations and runs as the management API offers them. No HTTP here.

`Admin` takes documents in the contract's shape and returns them in it. It validates once
(every problem with its path), moves secrets out before anything is stored, assigns the
unguessable webhook and push paths, and never returns a secret's value. `functions/api`
maps its typed errors to statuses.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import secrets as pysecrets
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from . import versions
from .backtest import DEFAULT_RUNS
from .backtest import MAX_RUNS as MAX_BACKTEST_RUNS
from .backtest import backtest as run_backtest
from .delivery_control import DeliveryControl
from .engine import config as cfg
from .engine.cases import run_cases
from .engine.plan import Message, Plan, routed
from .engine.receiver_schema import violations
from .engine.validate import validate, validate_for_preview
from .errors import (
    BlockedDestinationError,
    ConfigError,
    ConflictError,
    ListenerError,
    MapperError,
    NotFoundError,
    Problem,
    SecretError,
    TestsFailed,
    TlsNotOffered,
)
from .pipeline import Intake
from .pipeline.ports import (
    IntegrationDocs,
    Listeners,
    PullState,
    RunRecords,
    SignatureFailures,
    SourceShapes,
)
from .pipeline.reconcile import DEFAULT_HORIZON_S
from .pipeline.runs import IN_FLIGHT, TERMINAL, RunStatus, SourceKind, event_id, run_id_for
from .pipeline.shape import read_paths, source_schema
from .redrive import Redriver
from .secrets import (
    SecretBackend,
    credentials_left_behind,
    is_secret_ref,
    mask_secrets,
    obsolete_refs,
    secret_refs,
    store_secrets,
)
from .sources.subscriptions import Change
from .store.common import DEFAULT_PAGE_SIZE
from .targets import EgressPolicy, EmailTargetSender
from .targets.signing import DEFAULT_OVERLAP_HOURS, new_signing_secret
from .timestamps import iso_timestamp

ENDED = tuple(s for s in RunStatus if s in TERMINAL)  # the stats' counts, in a stable order
PATH_BYTES = 24  # 192 random bits per webhook or push path (the contract asks for >= 128)
REACHABILITY_TIMEOUT_S = 3.0
# What a viewer does not see: the unguessable paths and the URLs made from them.
ENDPOINT_FIELDS = frozenset({"webhookPath", "webhookUrl", "pushPath", "pushEndpoint"})

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Site:
    """Where users reach the public routes: the bases of webhook URLs and push endpoints."""

    webhook_base: str
    push_base: str

    def webhook_url(self, path: str) -> str:
        return f"{self.webhook_base.rstrip('/')}/webhook/{path}/"

    def push_endpoint(self, path: str) -> str:
        return f"{self.push_base.rstrip('/')}/pubsub/{path}/"


class NoListeners:
    """For platforms without Pub/Sub: nothing to keep in step, and Pub/Sub sources refused."""

    def prepare(self, new: dict[str, Any], old: dict[str, Any] | None) -> Change:
        if (new.get("source") or {}).get("type") == "pubsub":
            raise ConfigError([Problem("source.type", "Pub/Sub sources are not enabled here")])
        return Change()

    def remove(self, doc: dict[str, Any]) -> None:
        return None

    def is_listening(self, doc: dict[str, Any]) -> bool:
        return False

    def publish_test(self, doc: dict[str, Any], payload: Any) -> str:
        raise ConflictError("this integration does not read from Pub/Sub")


@dataclass(frozen=True)
class AdminStores:
    """What the control plane reads and writes: documents, runs, pull state, secrets, egress."""

    integrations: IntegrationDocs
    runs: RunRecords
    pull_state: PullState
    secret_backend: SecretBackend
    egress: EgressPolicy
    signature_failures: SignatureFailures | None = None
    source_shapes: SourceShapes | None = None
    stuck_after_s: float = DEFAULT_HORIZON_S  # the reconciler's horizon: older is "stuck"


class Admin:
    """Integration and run operations behind `/api/`."""

    def __init__(
        self,
        store: AdminStores,
        intake: Intake,
        site: Site,
        listeners: Listeners | None = None,
        *,
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        redriver: Redriver | None = None,
        delivery: DeliveryControl | None = None,
    ) -> None:
        self._s = store
        self._intake = intake
        self._site = site
        self._listeners = listeners or NoListeners()
        self._new_id = new_id
        self._redriver = redriver
        self._delivery = delivery  # pause, resume, paced targets' queues (None: not here)
        self._shows_endpoints = True

    def for_viewer(self) -> Admin:
        """This control plane as a viewer reads it: without the webhook and push endpoints.

        Whoever holds an endpoint can have the integration deliver, with its stored
        credentials, what they send it: that is an editor's power (docs/api.md, "Team use").
        """
        view = copy.copy(self)
        view._shows_endpoints = False
        return view

    # --- integrations -------------------------------------------------------------------

    def list_integrations(
        self, limit: int, cursor: str | None, **filters: Any
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of integrations, newest first, as users see them (filters as the store's)."""
        wanted = {name: value for name, value in filters.items() if value is not None}
        docs, next_cursor = self._s.integrations.list(limit=limit, cursor=cursor, **wanted)
        return [self._with_delivery(self._shown(doc)) for doc in docs], next_cursor

    def get_integration(self, integration_id: str) -> dict[str, Any]:
        """One integration, with its listener's state checked now."""
        doc = self._stored(integration_id)
        source = doc.get("source") or {}
        if source.get("type") == "pubsub":
            doc["listenerActive"] = self._listeners.is_listening(doc)  # as it is, not as saved
        if source.get("mode") == "pull":
            state = self._s.pull_state.get_many([integration_id]).get(integration_id, {})
            doc["lastPulledAt"] = state.get("lastPulledAt")
            doc["listenerError"] = state.get("lastError")
            doc = _without_nulls(doc)
        if source.get("signature") and self._s.signature_failures is not None:
            failures = self._s.signature_failures.latest(integration_id)
            if failures is not None:
                doc["signatureFailures"] = failures
        return self._with_delivery(self._shown(doc))

    def snapshot(self, integration_id: str) -> dict[str, Any]:
        """The stored integration as users see it, asking no listener (the audit's before)."""
        return self._with_delivery(self._shown(self._stored(integration_id)))

    def create_integration(self, doc: Any, *, force: bool = False) -> dict[str, Any]:
        """Validate, move secrets out, make its paths and subscription, then store it.

        Its saved test cases must pass (TestsFailed) unless `force`.
        """
        body = {"active": True, **_checked(doc, force)}
        integration_id = self._new_id()
        body = self._with_paths(body, None)
        new_secret = _with_signing_secret(body)
        new_notify = _with_notify_secret(body)
        stored = store_secrets(body, self._s.secret_backend, integration_id)
        change = Change()
        try:
            change = self._listen({**stored, "id": integration_id}, None)
            if self._delivery is not None:
                self._delivery.prepare({**stored, "id": integration_id}, None)
            created = self._s.integrations.create(
                _without_nulls({**stored, **change.fields, "id": integration_id})
            )
        except BaseException:
            change.rollback()
            self._discard_secrets(secret_refs(stored))
            raise
        change.commit()
        return _with_new_secret(self._with_delivery(self._shown(created)), new_secret, new_notify)

    def replace_integration(
        self, integration_id: str, doc: Any, *, note: str | None = None, force: bool = False
    ) -> dict[str, Any]:
        """Replace the whole document (409 on a stale `version`), keeping its paths.

        `note` starts the summary of the version this save keeps. Unless `force` (as the
        API's PUT asks), its saved test cases must pass (TestsFailed).
        """
        old = self._stored(integration_id)
        expected = doc.get("version") if isinstance(doc, dict) else None
        body = _checked(doc, force)
        left_behind = credentials_left_behind(old, body)
        if left_behind:
            raise ConfigError(left_behind)
        body = self._with_paths(body, old)
        new_secret = _with_signing_secret(body)
        new_notify = _with_notify_secret(body)
        stored = store_secrets(body, self._s.secret_backend, integration_id)
        fresh = obsolete_refs(stored, old)  # what this write stored anew: undone if it fails
        change = Change()
        try:
            if _is_int(expected) and expected != old.get("version"):
                raise ConflictError(
                    f"integration {integration_id} is at version {old.get('version')}, "
                    f"not {expected}; read it again"
                )
            change = self._listen({**stored, "id": integration_id}, old)
            if self._delivery is not None:
                self._delivery.prepare({**stored, "id": integration_id}, old)
            replaced = self._s.integrations.replace(
                integration_id,
                _without_nulls({**stored, **change.fields}),
                expected_version=expected if _is_int(expected) else None,
                note=note,
            )
        except BaseException:
            change.rollback()
            self._discard_secrets(fresh)
            raise
        change.commit()
        if self._delivery is not None:
            self._delivery.saved(replaced, old)
        self._discard_secrets(obsolete_refs(old, replaced))
        return _with_new_secret(self._with_delivery(self._shown(replaced)), new_secret, new_notify)

    def rotate_signing_secret(self, integration_id: str) -> dict[str, Any]:
        """A new signing key; the current one keeps signing for the target's overlapHours."""
        old = self._stored(integration_id)
        target = copy.deepcopy(old.get("target") or {})
        signing = target.get("signing")
        if target.get("type") != "http" or not isinstance(signing, dict):
            raise ConflictError("this integration's target does not sign its requests")
        hours = int(signing.get("overlapHours") or DEFAULT_OVERLAP_HOURS)
        until = datetime.now(timezone.utc) + timedelta(hours=hours)
        new_secret = new_signing_secret()
        signing.update(
            secret=new_secret,
            previousSecret=signing.get("secret"),
            previousUntil=iso_timestamp(until),
        )
        server = cfg.server_fields()
        doc = {k: v for k, v in old.items() if k not in server} | {"target": target}
        shown = self.replace_integration(
            integration_id, doc, note="signing secret rotated", force=True
        )
        return _with_new_secret(shown, new_secret)

    def delete_integration(self, integration_id: str) -> None:
        """Delete it, the subscription it made and its secrets; its runs stay until they expire."""
        old = self._stored(integration_id)
        self._listeners.remove(old)
        if not self._s.integrations.delete(integration_id):
            raise NotFoundError(f"no integration {integration_id}")
        if self._delivery is not None:
            self._delivery.removed(old)
        self._discard_secrets(secret_refs(old))
        if self._s.source_shapes is not None:
            with contextlib.suppress(MapperError):  # a leftover shape names no integration
                self._s.source_shapes.delete(integration_id)

    def toggle_active(self, integration_id: str) -> dict[str, Any]:
        """Flip `active`."""
        old = self._stored(integration_id)
        updated = self._s.integrations.update_fields(
            integration_id, {"active": not old.get("active", True)}
        )
        return self._with_delivery(self._shown(updated))

    def pause_delivery(self, integration_id: str, reason: str | None = None) -> dict[str, Any]:
        """Pause delivery: events are still accepted, their runs are held, nothing is sent."""
        doc = self._stored(integration_id)
        self._delivery_control().pause(doc, reason, "user")
        return self.get_integration(integration_id)

    def resume_delivery(self, integration_id: str) -> dict[str, Any]:
        """Resume delivery: the held runs are sent, oldest first, within the rate limit."""
        doc = self._stored(integration_id)
        self._delivery_control().resume(doc)
        return self.get_integration(integration_id)

    def _delivery_control(self) -> DeliveryControl:
        if self._delivery is None:
            raise ConflictError("pausing delivery is not enabled on this platform")
        return self._delivery

    def _with_delivery(self, shown: dict[str, Any]) -> dict[str, Any]:
        if self._delivery is None or not shown.get("id"):
            return shown
        return shown | {"delivery": self._delivery.shown(str(shown["id"]))}

    # --- versions -----------------------------------------------------------------------

    def list_versions(
        self, integration_id: str, limit: int = DEFAULT_PAGE_SIZE, before: int | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Versions (version, savedAt, summary), newest first, and the next page's cursor."""
        self._stored(integration_id)
        found = self._s.integrations.list_versions(integration_id, limit + 1, before)
        page = [versions.listed(record) for record in found[:limit]]
        return page, str(page[-1]["version"]) if len(found) > limit else None

    def get_version(self, integration_id: str, version: int) -> dict[str, Any]:
        """The document as saved at `version`, shown as reads show it (secrets masked)."""
        return self._shown(self._version(integration_id, version)["document"])

    def rollback(self, integration_id: str, version: int) -> dict[str, Any]:
        """Save version `version`'s content as a new version (docs/api.md, "Versions")."""
        current = self._stored(integration_id)
        body = versions.content(self._version(integration_id, version)["document"])
        for path in cfg.secret_places(body):
            old_value, now_value = _at(body, path), _at(current, path)
            if not is_secret_ref(old_value):
                continue
            # Secret values are not versioned (a replaced secret is deleted): the field keeps
            # the integration's current secret; one only the old version has must still exist.
            if is_secret_ref(now_value):
                _put_at(body, path, {"secret": now_value["secret"]})
                continue
            try:
                self._s.secret_backend.resolve(old_value["secret"])
            except SecretError:
                raise ConflictError(
                    f"version {version}'s {cfg.format_path(list(path))} was deleted since; "
                    "roll back, then set it again with PUT"
                ) from None
        # The version's content as it was saved: its own test cases are not run again.
        return self.replace_integration(
            integration_id, body, note=f"rollback to version {version}", force=True
        )

    def _version(self, integration_id: str, version: int) -> dict[str, Any]:
        self._stored(integration_id)
        record = self._s.integrations.get_version(integration_id, version)
        if record is None:
            raise NotFoundError(f"integration {integration_id} has no version {version}")
        return record

    # --- checking -----------------------------------------------------------------------

    def validate(self, doc: Any, check_target: bool = False) -> list[Problem]:
        """Every problem of `doc` (empty when valid); with `check_target`, can we reach it."""
        try:
            integration = validate(doc)
        except ConfigError as exc:
            return exc.problems
        if not check_target:
            return []
        if integration.targets is None:
            assert integration.target is not None
            places: list[tuple[str, cfg.HttpTarget | cfg.EmailTarget]] = [
                ("target", integration.target)]
        else:
            places = [(f"targets[{i}]", t) for i, t in enumerate(integration.targets)]
        problems = []
        for at, target in places:
            found = self._reachability(target, at)
            # One line per check, whatever it took (a connection, an SMTP greeting, TLS).
            log.info(
                "target check of %s: %s",
                _where(target),
                "; ".join(p.message for p in found) or "reachable",
            )
            problems += found
        return problems

    def sample_violations(self, doc: Any) -> list[dict[str, str]]:
        """Where the sample's output breaks the target's schema (none without either)."""
        try:
            integration = validate(doc)
        except ConfigError:
            return []
        if integration.target is None:
            return []  # a fan-out: its targets' schemas are not checked on the sample yet
        schema = integration.target.receiver_schema
        if integration.sample_payload is None or schema is None:
            return []
        plan = Plan(integration)
        try:
            outcome = plan.apply(Message(integration.sample_payload))
        finally:
            plan.close()
        if outcome.error is not None or outcome.skipped:
            return []  # preview says why; there is no output to check
        return violations(schema, outcome.output)

    def run_tests(self, integration_id: str) -> dict[str, Any]:
        """The stored integration's test cases, run as preview runs them; nothing is sent."""
        return run_cases(cfg.parse_integration(self._stored(integration_id)))

    def run_tests_unsaved(self, doc: Any) -> dict[str, Any]:
        """A whole document's test cases (a draft's); nothing is sent or stored."""
        return run_cases(validate(doc))

    def validate_saved(self, integration_id: str, check_target: bool = False) -> list[Problem]:
        """The problems of the stored document."""
        return self.validate(self._stored(integration_id), check_target)

    def preview(
        self,
        doc: Any,
        payload: Any,
        attributes: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Condition and mapping on one payload; nothing is sent, nothing is stored.

        `doc` may be partial: a name, source or target it lacks (or leaves empty) gets a
        stand-in, as none of them changes the output; one it gives is checked. A fan-out's
        answer adds `targets`: each target's own (its condition and mappings, else the
        integration's).
        """
        integration = validate_for_preview(doc)
        message = Message(payload, attributes, headers)
        result = _previewed(Plan(integration), message)
        if integration.fanout:
            result["targets"] = [
                {"name": route.name, **(
                    _previewed(Plan(routed(integration, route)), message) if route.own
                    else {k: v for k, v in result.items() if k != "targets"}
                )}
                for route in integration.routes()
            ]
        elif (
            "error" not in result
            and not result["skipped"]
            and integration.target is not None
            and integration.target.receiver_schema is not None
        ):
            result["schemaViolations"] = violations(
                integration.target.receiver_schema, result["output"]
            )
        return result

    def preview_saved(self, integration_id: str, payload: Any, **kwargs: Any) -> dict[str, Any]:
        """`preview` with the stored document."""
        return self.preview(self._stored(integration_id), payload, **kwargs)

    def backtest(
        self,
        integration_id: str,
        candidate: Any,
        *,
        status: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = DEFAULT_RUNS,
    ) -> dict[str, Any]:
        """A candidate document over this integration's stored runs; nothing sent or written."""
        self._stored(integration_id)
        integration = validate(candidate)
        runs, _ = self._s.runs.list(
            integration_id=integration_id,
            status=status,
            since=since,
            until=until,
            limit=min(limit, MAX_BACKTEST_RUNS),
        )
        return run_backtest(integration, runs)

    def test_pubsub(self, integration_id: str, payload: Any = None) -> str:
        """Publish a payload (default: the saved sample) to the integration's topic."""
        doc = self._stored(integration_id)
        return self._listeners.publish_test(doc, _payload_or_sample(doc, payload))

    def send_test(self, integration_id: str, payload: Any = None) -> dict[str, Any]:
        """Queue a payload (default: the saved sample) as a real run of kind `test`."""
        integration = self._stored(integration_id)
        payload = _payload_or_sample(integration, payload)
        typed = cfg.parse_integration(integration)
        if not typed.active:
            raise ConflictError("the integration is paused; activate it to send a test event")
        run_id = run_id_for(integration_id, None)
        self._intake.accept(
            typed, payload, run_id=run_id, source_kind=SourceKind.TEST, deduplicate=False
        )
        return {"status": RunStatus.QUEUED, "runId": run_id}

    def source_schema(self, integration_id: str) -> dict[str, Any]:
        """The shape of its accepted payloads and their drift (docs/mapping.md)."""
        doc = self._stored(integration_id)
        shapes = self._s.source_shapes
        stored = shapes.get(integration_id) if shapes is not None else None
        try:
            reads = read_paths(cfg.parse_integration(doc))
        except ConfigError:
            reads = []  # a stored document that no longer parses: drift is still shown
        return source_schema(stored, reads)

    def stats(self, integration_id: str, since: str) -> dict[str, Any]:
        """Run counts since a time, and the latest run, for the integrations list."""
        self._stored(integration_id)
        runs = self._s.runs
        total = runs.count(integration_id, since=since)  # refuses a `since` that is no time
        counts = {s: runs.count(integration_id, s, since) for s in ENDED}
        # A failure is a run that ended without delivering: an error or a dead letter.
        counts["failed"] = counts[RunStatus.ERROR] + counts[RunStatus.DEAD_LETTERED]
        in_flight = sum(runs.count(integration_id, s) for s in IN_FLIGHT)
        stuck = runs.count_stale(integration_id, IN_FLIGHT, self._s.stuck_after_s)
        latest, _ = runs.list(integration_id=integration_id, limit=1)
        return {
            "since": iso_timestamp(since),
            "total": total,
            **{_camel(status): n for status, n in counts.items()},
            "inFlight": in_flight,
            "stuck": stuck,
            "lastRun": {k: latest[0].get(k) for k in ("id", "status", "createdAt")}
            if latest
            else None,
        }

    # --- runs ---------------------------------------------------------------------------

    def list_runs(self, **filters: Any) -> tuple[list[dict[str, Any]], str | None]:
        """One page of runs, newest first (filters as `RunRecords.list`)."""
        return self._s.runs.list(**filters)

    def get_run(self, run_id: str) -> dict[str, Any]:
        """One run, whole."""
        run = self._s.runs.get(run_id)
        if run is None:
            raise NotFoundError(f"no run {run_id}")
        return run

    def replay(self, run_id: str) -> dict[str, Any]:
        """Queue the run's incoming payload again, with the integration as it is now.

        The same event sent again: the receiver sees the original's key (`originalRunId`).
        A run still in flight is not replayed, and a run is replayed (or redriven) once:
        the next replay is of the run this one makes.
        """
        original = self.get_run(run_id)
        status = original.get("status")
        if status not in TERMINAL:
            raise ConflictError(
                f"the run is {status}: the platform is still delivering it; replay it once it "
                "has ended"
            )
        if original.get("incomingRaw") or "incomingPayload" not in original:
            raise ConflictError("this run holds no JSON payload to replay (its body was refused)")
        payload = original["incomingPayload"]
        if isinstance(payload, dict) and payload.get("truncated") is True:
            raise ConflictError("this run's payload was too large to keep whole; resend it")
        integration = cfg.parse_integration(self._stored(original["integrationId"]))
        if not integration.active:
            raise ConflictError("the integration is paused; activate it before replaying")
        new_id = run_id_for(original["integrationId"], None)
        # Taken in one transaction: of two clicks (or a click and a redrive job), one resends.
        refused = self._s.runs.claim_redrive(run_id, f"replay:{new_id}", new_id, TERMINAL)
        if refused is not None:
            raise ConflictError(f"not replayed: {refused}")
        self._intake.accept(
            integration,
            payload,
            run_id=new_id,
            source_kind=SourceKind.REPLAY,
            headers=original.get("incomingHeaders"),
            attributes=original.get("incomingAttributes"),
            replay_of=run_id,
            original_run_id=event_id(original),
            deduplicate=False,
        )
        return {"status": RunStatus.QUEUED, "runId": new_id, "replayOf": run_id}

    def redrive(
        self,
        statuses: list[str],
        integration_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Count the failed runs a filter matches; unless `dry_run`, start resending them."""
        if self._redriver is None:
            raise ConflictError("bulk redrive is not enabled on this platform")
        if integration_id is not None:
            self._stored(integration_id)
        return self._redriver.start(statuses, integration_id, since, until, dry_run)

    def redrive_jobs(
        self, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Redrive jobs, newest first."""
        if self._redriver is None:
            return [], None
        return self._redriver.jobs(limit, cursor)

    def redrive_status(self, job_id: str) -> dict[str, Any]:
        """A redrive job's progress."""
        if self._redriver is None:
            raise NotFoundError(f"no redrive job {job_id}")
        return self._redriver.status(job_id)

    # --- helpers ------------------------------------------------------------------------

    def _stored(self, integration_id: str) -> dict[str, Any]:
        doc = self._s.integrations.get(integration_id)
        if doc is None:
            raise NotFoundError(f"no integration {integration_id}")
        return doc

    def _shown(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        shown = mask_secrets(doc)
        if not self._shows_endpoints:
            return {k: v for k, v in shown.items() if k not in ENDPOINT_FIELDS}
        if shown.get("webhookPath"):
            shown["webhookUrl"] = self._site.webhook_url(shown["webhookPath"])
        if shown.get("pushPath"):
            shown["pushEndpoint"] = self._site.push_endpoint(shown["pushPath"])
        return shown

    def _with_paths(self, body: dict[str, Any], old: Mapping[str, Any] | None) -> dict[str, Any]:
        """Keep the integration's public paths; make one when its source first needs it."""
        old = old or {}
        source = body.get("source") or {}
        if source.get("type") == "webhook":
            body["webhookPath"] = old.get("webhookPath") or pysecrets.token_urlsafe(PATH_BYTES)
        if source.get("type") == "pubsub" and source.get("mode") == "push":
            body["pushPath"] = old.get("pushPath") or pysecrets.token_urlsafe(PATH_BYTES)
        return body

    def _listen(self, doc: dict[str, Any], old: dict[str, Any] | None) -> Change:
        try:
            return self._listeners.prepare(doc, old)
        except ListenerError as exc:
            if exc.retryable:
                raise
            raise ConfigError([Problem(exc.path, str(exc))]) from exc

    def _discard_secrets(self, refs: list[str]) -> None:
        # Best effort: a secret left behind costs a little storage, never a leak.
        for ref in refs:
            with contextlib.suppress(SecretError):
                self._s.secret_backend.delete(ref)

    def _reachability(
        self, target: cfg.HttpTarget | cfg.EmailTarget, at: str = "target"
    ) -> list[Problem]:
        if isinstance(target, cfg.EmailTarget):
            return self._smtp_reachability(target, at)
        parts = urlsplit(target.url)
        host, where = parts.hostname or "", f"{at}.url"
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            address = self._s.egress.resolve(host, port)
        except BlockedDestinationError as exc:
            return [Problem(where, str(exc))]
        except MapperError as exc:
            return [Problem(where, str(exc))]
        try:
            with socket.create_connection((str(address), port), REACHABILITY_TIMEOUT_S):
                return []
        except OSError as exc:
            return [Problem(where, f"cannot connect to {host}:{port}: {exc.strerror or exc}")]


    def _smtp_reachability(self, target: cfg.EmailTarget, at: str = "target") -> list[Problem]:
        # The SMTP greeting and the TLS a send would use: a server that lacks STARTTLS
        # fails here, naming useTLS, not at the first run.
        sender = EmailTargetSender(
            target, self._s.secret_backend, self._s.egress, timeout=REACHABILITY_TIMEOUT_S
        )
        try:
            sender.check()
        except TlsNotOffered as exc:
            return [Problem(f"{at}.useTLS", str(exc))]
        except MapperError as exc:
            return [Problem(f"{at}.smtpServer", str(exc))]
        return []


def _where(target: cfg.HttpTarget | cfg.EmailTarget) -> str:
    if isinstance(target, cfg.EmailTarget):
        return f"smtp://{target.smtp_server}:{target.smtp_port}"
    parts = urlsplit(target.url)
    return f"{parts.scheme}://{parts.netloc}"


def _previewed(plan: Plan, message: Message) -> dict[str, Any]:
    """One plan's preview of one message (skipped, output, timings, error); the plan closed."""
    try:
        outcome = plan.apply(message)
    finally:
        plan.close()
    result: dict[str, Any] = {
        "skipped": outcome.skipped,
        "output": None if outcome.skipped else outcome.output,
        "timings": {"transformMs": round(outcome.transform_ms, 3)},
    }
    if outcome.error is not None:
        result["error"] = _error_body(outcome.error)
    return result


def _with_signing_secret(body: dict[str, Any]) -> str | None:
    """Generate the signing key of an HTTP target that signs but has none yet; the new key."""
    target = body.get("target")
    signing = target.get("signing") if isinstance(target, dict) else None
    if not isinstance(signing, dict) or signing.get("secret"):
        return None
    signing["secret"] = new_signing_secret()
    return str(signing["secret"])


def _with_notify_secret(body: dict[str, Any]) -> str | None:
    """Generate the key signing notify POSTs when the target does not sign; the new key."""
    notify, target = body.get("notify"), body.get("target")
    if not isinstance(notify, dict) or not notify.get("url") or notify.get("secret"):
        return None
    if isinstance(target, dict) and isinstance(target.get("signing"), dict):
        return None  # the target's signing key signs the notifications too
    notify["secret"] = new_signing_secret()
    return str(notify["secret"])


def _with_new_secret(
    shown: dict[str, Any], new_secret: str | None, new_notify: str | None = None
) -> dict[str, Any]:
    # Shown once, in this answer: stored only in Secret Manager, masked on every read.
    shown = shown | {"newSigningSecret": new_secret} if new_secret else shown
    return shown | {"newNotifySecret": new_notify} if new_notify else shown


def _checked(doc: Any, force: bool = True) -> dict[str, Any]:
    """The valid document without the fields the server owns (readOnly in the schema).

    They are accepted so that a document read can be written back.

    Validated whole, so that read-only fields sent back must still have their types; unless
    `force`, its test cases are run and must pass.
    """
    integration = validate(doc)
    if not force:
        report = run_cases(integration)
        if report["failed"]:
            raise TestsFailed(report)
    server = cfg.server_fields()
    return {key: copy.deepcopy(value) for key, value in doc.items() if key not in server}


def _payload_or_sample(doc: dict[str, Any], payload: Any) -> Any:
    if payload is None:
        payload = doc.get("samplePayload")
    if payload is None:
        raise ConflictError("give a payload, or save a samplePayload with the integration")
    return payload


def _at(doc: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        if isinstance(key, int):  # a fan-out's targets[i]
            doc = doc[key] if isinstance(doc, list) and 0 <= key < len(doc) else None
        else:
            doc = doc.get(key) if isinstance(doc, Mapping) else None
    return doc


def _put_at(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _without_nulls(doc: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in doc.items() if value is not None}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _error_body(error: MapperError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": str(error), "code": error.code}
    where = getattr(error, "where", None)
    if where:
        body["path"] = where
        body["error"] = getattr(error, "detail", str(error))
    position = getattr(error, "position", None)  # a JSONata error's place in its expression
    if position is not None:
        body["position"] = position
    return body
