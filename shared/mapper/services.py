"""The one place that builds clients, lazily, from the environment (README, "Settings").

Nothing connects at import: each function's first request builds what it uses, once per
instance. Every other module receives its clients from here.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .access import Access
    from .admin import Admin, Listeners, Site
    from .audit import AuditLog
    from .cloud_tasks import CloudTasksQueue
    from .delivery_control import DeliveryControl
    from .engine.plan import PlanCache
    from .notify import PlatformNotifier
    from .pipeline import Intake, Integrations, Reconciler, Worker
    from .pipeline.deliver import Deliverer
    from .pipeline.drift_notices import DriftNotices
    from .pull import Puller
    from .queue import InternalQueue, Queue
    from .redrive import Redriver
    from .secrets import SecretBackend, SecretResolver
    from .sources.oidc import OidcVerifier
    from .sources.subscriptions import PubSubClients
    from .store.delivery import DeliveryStateStore
    from .store.integrations import IntegrationStore
    from .store.jobs import PullStateStore, RedriveJobStore, SignatureFailureStore
    from .store.notify import NotifyWindowStore
    from .store.runs import RunStore
    from .store.shapes import DedupeKeyStore, SourceShapeStore
    from .store.team import AuditStore, KeyStore, SignInFailureStore
    from .targets import EgressPolicy

log = logging.getLogger(__name__)

T = TypeVar("T")


def once(build: Callable[[], T]) -> Callable[[], T]:
    """`build()` run at most once per process, however many threads ask for it first.

    An instance serves up to its concurrency (32 threads for the worker) from its first
    request on, and `functools.cache` lets every caller that arrives before the first build
    ends build its own copy: clients, thread pools and kept connections made and dropped.
    `cache_clear()` forgets the result (tests rebuild with another environment).
    """
    lock = threading.Lock()
    built: list[T] = []

    @wraps(build)
    def get() -> T:
        if not built:
            with lock:
                if not built:
                    built.append(build())
        return built[0]

    def cache_clear() -> None:
        with lock:
            built.clear()

    get.cache_clear = cache_clear  # type: ignore[attr-defined]
    return get

DEFAULT_TOPIC = "mapper-events"
DEFAULT_PULL_TASKS_TOPIC = "mapper-pull-tasks"
DEFAULT_MAX_BODY_BYTES = 10_000_000


def setting(name: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    """An operator setting from the environment (every one is listed in the README)."""
    return (environ if environ is not None else os.environ).get(name) or default


def success_payloads_kept(run_days: int, environ: Mapping[str, str] | None = None) -> bool:
    """SUCCESS_PAYLOAD_RETENTION_DAYS: 0 drops a successful run's mapped output, request and
    response when it succeeds; the run's own retention (the default) keeps them as long as
    the run. Nothing between: each way to expire them apart (a second document with its
    own TTL, or a sweep) costs more in writes than the storage it saves (docs/deploy.md)."""
    days = int(setting("SUCCESS_PAYLOAD_RETENTION_DAYS", str(run_days), environ))
    if 0 < days < run_days:
        raise ValueError(
            f"SUCCESS_PAYLOAD_RETENTION_DAYS must be 0 or at least RUN_RETENTION_DAYS "
            f"({run_days}), not {days}"
        )
    return days != 0


def record_at_accept(environ: Mapping[str, str] | None = None) -> bool:
    """RECORD_AT_ACCEPT: `true` (the default) also writes a webhook event's run `queued`
    once its sender has the 202, off the sender's path, so that an event survives even the
    loss of its Pub/Sub message; `false` leaves the first record to the worker, one write
    and one read an event fewer (docs/data-plane.md, "When a run is recorded")."""
    value = setting("RECORD_AT_ACCEPT", "true", environ).strip().lower()
    if value not in ("true", "false"):
        raise ValueError(f"RECORD_AT_ACCEPT must be true or false, not {value!r}")
    return value == "true"


def max_body_bytes() -> int:
    """Largest webhook or push body accepted (MAX_BODY_BYTES, default 10 MB)."""
    return int(setting("MAX_BODY_BYTES", str(DEFAULT_MAX_BODY_BYTES)))


@dataclass
class Services:
    """Every client of this process, built once by `build_services`."""

    integration_store: IntegrationStore
    integrations: Integrations
    runs: RunStore
    queue: InternalQueue
    secrets: SecretResolver
    secret_backend: SecretBackend
    egress: EgressPolicy
    plans: PlanCache
    pull_state: PullStateStore
    signature_failures: SignatureFailureStore
    # The management API's only (docs/api.md, "Team use").
    keys: KeyStore | None = None
    audit: AuditStore | None = None
    sign_in_failures: SignInFailureStore | None = None
    redrive_jobs: RedriveJobStore | None = None  # the api's and the pull function's
    source_shapes: SourceShapeStore | None = None  # docs/mapping.md, "Source shape and drift"
    dedupe_keys: DedupeKeyStore | None = None  # source.dedupe
    delivery_states: DeliveryStateStore | None = None  # paused delivery, circuit breaker
    notify_windows: NotifyWindowStore | None = None  # the worker's and dead_letter's


def build_services(environ: Mapping[str, str] | None = None) -> Services:
    """Connect every client the functions need, as configured by `environ`."""
    from google.cloud import firestore, pubsub_v1

    from .engine.plan import PlanCache
    from .pipeline import Integrations
    from .pipeline.integrations import DEFAULT_TTL_S
    from .queue import InternalQueue, Queue, latency_publisher_settings, ordered_topic
    from .secrets import LocalSecretBackend, SecretManagerBackend, SecretResolver
    from .store.delivery import DeliveryStateStore
    from .store.integrations import IntegrationStore
    from .store.jobs import PullStateStore, RedriveJobStore, SignatureFailureStore
    from .store.notify import NotifyWindowStore
    from .store.runs import RunStore
    from .store.shapes import DedupeKeyStore, SourceShapeStore
    from .store.team import DEFAULT_AUDIT_RETENTION_DAYS, AuditStore, KeyStore, SignInFailureStore
    from .targets import EgressPolicy

    env = os.environ if environ is None else environ
    project = setting("GOOGLE_CLOUD_PROJECT", "demo-mapper", env)
    db = firestore.Client(project=project)
    publisher = pubsub_v1.PublisherClient(batch_settings=latency_publisher_settings())
    topic = setting("INTERNAL_TOPIC", DEFAULT_TOPIC, env)
    backend_spec = setting("SECRET_BACKEND", "secret-manager", env)
    if backend_spec.startswith("local:"):
        backend: SecretBackend = LocalSecretBackend(backend_spec.removeprefix("local:"))
    else:
        from google.cloud import secretmanager

        backend = SecretManagerBackend(secretmanager.SecretManagerServiceClient(), project)
    store = IntegrationStore(db)
    retention = timedelta(days=int(setting("RUN_RETENTION_DAYS", "30", env)))
    audit_days = int(setting("AUDIT_RETENTION_DAYS", str(DEFAULT_AUDIT_RETENTION_DAYS), env))
    runs = RunStore(db, retention=retention,
                    keep_success_payloads=success_payloads_kept(retention.days, env))
    return Services(
        integration_store=store,
        integrations=Integrations(
            store, float(setting("CONFIG_CACHE_SECONDS", str(DEFAULT_TTL_S), env))
        ),
        runs=runs,
        queue=InternalQueue(
            Queue(publisher, publisher.topic_path(project, topic)),
            Queue(publisher, publisher.topic_path(project, ordered_topic(topic))),
        ),
        secrets=SecretResolver(backend),
        secret_backend=backend,
        egress=EgressPolicy.from_env(env),
        plans=PlanCache(int(setting("PLAN_CACHE_SIZE", "64", env))),
        pull_state=PullStateStore(db),
        signature_failures=SignatureFailureStore(db, retention=retention),
        keys=KeyStore(db),
        sign_in_failures=SignInFailureStore(db),
        audit=AuditStore(db, retention=timedelta(days=audit_days)),
        redrive_jobs=RedriveJobStore(db, retention=retention),
        source_shapes=SourceShapeStore(db),
        dedupe_keys=DedupeKeyStore(db),
        delivery_states=DeliveryStateStore(db, runs=runs),  # a run read with its state
        notify_windows=NotifyWindowStore(db),
    )


@once
def services() -> Services:
    """This process's services, built on first use (never at import: cold starts matter)."""
    return build_services()


# --- what each function uses --------------------------------------------------------------


@once
def intake() -> Intake:
    """The webhook's, push's and pull's way in (MAX_BODY_BYTES, the push OIDC check)."""
    from .pipeline import Intake
    from .pipeline.shape import ShapeRecorder, log_drift

    s = services()
    # Drift is logged here and filed in the shape; the tick notifies it (drift_notices()).
    shapes = ShapeRecorder(s.source_shapes, on_drift=log_drift) if s.source_shapes else None
    built = Intake(
        s.integrations,
        s.runs,
        s.queue,
        s.secrets,
        max_body_bytes=max_body_bytes(),
        push_verifier=push_verifier(),
        signature_failures=s.signature_failures,
        dedupe_keys=s.dedupe_keys,
        shapes=shapes,
        record_in_background=record_at_accept(),
    )
    settle_heap()
    return built


def settle_heap() -> None:
    """Leave what start-up built out of every later full garbage collection.

    Modules, clients and protobuf classes are most of a warm instance's objects, and a
    full collection walked them all: 30-70 ms with every request's thread stopped, a few
    times a minute under load, which set the webhook's p99 (docs/performance.md). Once
    frozen they are never walked again; what requests allocate is collected as before.
    """
    import gc

    gc.collect()  # what start-up left unreachable goes now, not into the frozen set
    gc.freeze()


@once
def worker() -> Worker:
    """The worker's and dead-letter function's pipeline half."""
    from .engine import config as cfg
    from .pipeline import Worker
    from .pipeline.ports import NotifyEvent

    s = services()
    # For integrations without `retry`: the worker subscription's own settings (infra/).
    platform_retry = cfg.RetryPolicy(
        max_attempts=int(setting("MAX_DELIVERY_ATTEMPTS", str(cfg.DEFAULT_MAX_ATTEMPTS))),
        initial_backoff_seconds=int(
            setting("RETRY_MIN_BACKOFF_SECONDS", str(cfg.DEFAULT_INITIAL_BACKOFF_S))
        ),
        max_backoff_seconds=int(
            setting("RETRY_MAX_BACKOFF_SECONDS", str(cfg.DEFAULT_MAX_BACKOFF_S))
        ),
    )
    gate = None
    if s.delivery_states is not None:
        from .pipeline.pacing import DeliveryGate

        def circuit_opened(integration_id: str, fields: dict[str, Any]) -> None:
            integration = s.integrations.by_id(integration_id)
            sender = optional_notifier()
            if integration is not None and sender is not None:
                sender.notify(integration, NotifyEvent.DELIVERY_PAUSED, fields)

        gate = DeliveryGate(s.delivery_states, s.runs, paced_queues, on_pause=circuit_opened)
    # One kept sender per distinct target: connections stay open between runs.
    from .targets.pool import TargetPool

    return Worker(
        s.integrations, s.runs, s.plans, s.secrets, s.egress, retry=platform_retry,
        queue=s.queue, gate=gate, notifier=notifier(), targets=TargetPool(),
    )


@once
def notifier() -> PlatformNotifier:
    """Operational events to each integration's `notify` (NOTIFY_SMTP_* for the mail).

    Call `notifier().notify(integration, NotifyEvent.DELIVERY_PAUSED, data)`; it never
    raises, and sends at most one notification per integration and type a minute.
    """
    from .notify import PlatformNotifier, SmtpSettings

    s = services()
    assert s.notify_windows is not None
    smtp = SmtpSettings.from_env(os.environ)
    return PlatformNotifier(s.notify_windows, s.secrets, s.egress, smtp)


def optional_notifier() -> PlatformNotifier | None:
    """The notifier where this platform keeps notification windows, else None."""
    return notifier() if services().notify_windows is not None else None


@once
def deliverer() -> Deliverer:
    """The deliver function's pipeline: a queued task's run, sent by the worker's code."""
    from .pipeline.deliver import Deliverer

    s = services()
    return Deliverer(worker(), s.runs, paced_queues, s.delivery_states)


def paced_queues() -> CloudTasksQueue | None:
    """The delivery queues when this platform has them (DELIVER_URL set), else None.

    Without them every run takes the fast path, and `target.rateLimit` is refused on save.
    Read on each use, not once: cheap (the queues themselves are built once).
    """
    if not setting("DELIVER_URL", ""):
        return None
    return delivery_queues()


@once
def delivery_control() -> DeliveryControl | None:
    """Pause, resume and the paced targets' queues, for the control plane."""
    from .delivery_control import RESUME_BATCH_SIZE, DeliveryControl

    s = services()
    if s.delivery_states is None:
        return None
    return DeliveryControl(
        s.delivery_states, s.runs, s.queue, tasks_queue(), paced_queues,
        notifier=optional_notifier(),
        batch_size=int(setting("RESUME_BATCH_SIZE", str(RESUME_BATCH_SIZE))),
    )


@once
def deliver_verifier() -> OidcVerifier | None:
    """Checks the OIDC token of Cloud Tasks' calls, when the tasks' invoker account is set."""
    from .sources.oidc import GOOGLE_CERTS_URL, OidcVerifier

    account = setting("DELIVER_INVOKER_SERVICE_ACCOUNT", "")
    if not account:
        return None  # locally: the stand-in sends no token (Cloud Run's IAM guards the cloud)
    return OidcVerifier(
        setting("DELIVER_AUDIENCE", ""), account, setting("OIDC_CERTS_URL", GOOGLE_CERTS_URL)
    )


@once
def delivery_queues() -> CloudTasksQueue:
    """Per-target Cloud Tasks queues (docs/delivery.md): the stand-in's when one is named.

    DELIVER_URL, DELIVER_AUDIENCE and DELIVER_INVOKER_SERVICE_ACCOUNT say where tasks go
    and as whom; CLOUD_TASKS_LOCATION where queues live; CLOUD_TASKS_ENDPOINT (local only)
    points the client at local/tasks.py over REST.
    """
    from google.cloud import tasks_v2

    from .cloud_tasks import CloudTasksQueue

    endpoint = setting("CLOUD_TASKS_ENDPOINT", "")
    if endpoint:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        client = tasks_v2.CloudTasksClient(
            transport="rest",
            client_options=ClientOptions(api_endpoint=endpoint),
            credentials=AnonymousCredentials(),
        )
    else:
        client = tasks_v2.CloudTasksClient()
    deliver_url = setting("DELIVER_URL", "")
    return CloudTasksQueue(
        client,
        setting("GOOGLE_CLOUD_PROJECT", "demo-mapper"),
        setting("CLOUD_TASKS_LOCATION", "local"),
        deliver_url=deliver_url,
        invoker_email=setting("DELIVER_INVOKER_SERVICE_ACCOUNT", "local-tasks@localhost"),
        audience=setting("DELIVER_AUDIENCE", deliver_url),
        prefix=setting("DELIVERY_QUEUE_PREFIX", "mapper"),
    )


@once
def reconciler() -> Reconciler:
    """The sweep for runs left in flight (RECONCILE_AFTER_SECONDS, RECONCILE_MAX_REPUBLISHES)."""
    from .pipeline import Reconciler
    from .pipeline.reconcile import DEFAULT_HORIZON_S, DEFAULT_MAX_REPUBLISHES

    s = services()
    return Reconciler(
        s.runs,
        s.queue,
        horizon_s=float(setting("RECONCILE_AFTER_SECONDS", str(DEFAULT_HORIZON_S))),
        max_republishes=int(
            setting("RECONCILE_MAX_REPUBLISHES", str(DEFAULT_MAX_REPUBLISHES))
        ),
    )


@once
def admin() -> Admin:
    """The control plane behind /api/."""
    from .admin import Admin, AdminStores

    s = services()
    stores = AdminStores(
        integrations=s.integration_store,
        runs=s.runs,
        pull_state=s.pull_state,
        secret_backend=s.secret_backend,
        egress=s.egress,
        signature_failures=s.signature_failures,
        source_shapes=s.source_shapes,
        stuck_after_s=reconciler().horizon_s,
    )
    bulk = redriver() if s.redrive_jobs is not None else None  # tests may build without
    return Admin(
        stores, intake(), site(), listeners(), redriver=bulk, delivery=delivery_control()
    )


@once
def access() -> Access:
    """The API's sign-in: keys verified with a short cache, failed sign-ins limited."""
    from .access import FAILURE_LIMIT, FAILURE_WINDOW_SECONDS, Access, FailureLimiter
    from .keys import Keys

    limit = int(setting("AUTH_FAILURE_LIMIT", str(FAILURE_LIMIT)))
    s = services()
    limiter = FailureLimiter(limit, FAILURE_WINDOW_SECONDS, shared=s.sign_in_failures)
    return Access(Keys(s.keys), limiter)


@once
def audit_log() -> AuditLog:
    """The API's audit log (AUDIT_RETENTION_DAYS)."""
    from .audit import AuditLog

    return AuditLog(services().audit)


def site(environ: Mapping[str, str] | None = None) -> Site:
    """Where users reach the public routes (SITE_URL, WEBHOOK_BASE_URL, PUSH_BASE_URL)."""
    from .admin import Site

    site_url = setting("SITE_URL", "http://localhost:8080", environ)
    return Site(
        webhook_base=setting("WEBHOOK_BASE_URL", site_url, environ),
        push_base=setting("PUSH_BASE_URL", site_url, environ),
    )


def push_audience(environ: Mapping[str, str] | None = None) -> str:
    """The audience of Pub/Sub push OIDC tokens (PUSH_AUDIENCE, default the push base URL)."""
    return setting("PUSH_AUDIENCE", site(environ).push_base, environ)


def push_account_missing() -> str | None:
    """Why Pub/Sub push cannot work here (PUSH_SERVICE_ACCOUNT unset while checked), or None."""
    if setting("PUSH_VERIFY_OIDC", "true").lower() == "false" or setting(
        "PUSH_SERVICE_ACCOUNT", ""
    ):
        return None
    return (
        "PUSH_SERVICE_ACCOUNT is not set: Pub/Sub push integrations can be neither created "
        "nor received until an operator sets it (README, \"Settings\")"
    )


@once
def push_verifier() -> OidcVerifier | Unconfigured | None:
    """The push OIDC check, on unless PUSH_VERIFY_OIDC=false (the emulator sends no token)."""
    from .sources.oidc import GOOGLE_CERTS_URL, OidcVerifier

    if setting("PUSH_VERIFY_OIDC", "true").lower() == "false":
        return None
    missing = push_account_missing()
    if missing is not None:
        # Named once, when this process builds its clients; only pushes then fail (503).
        log.error("%s", missing)
        return Unconfigured(missing)
    return OidcVerifier(
        push_audience(),
        setting("PUSH_SERVICE_ACCOUNT", ""),
        setting("OIDC_CERTS_URL", GOOGLE_CERTS_URL),
    )


class Unconfigured:
    """A token check that cannot be made: every call fails with `NotConfigured`."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """Refuse: the check's setting is missing (503, the sender keeps the message)."""
        from .errors import NotConfigured

        raise NotConfigured(self.reason)


@once
def pull_verifier() -> OidcVerifier | None:
    """Checks Scheduler's and the task subscription's tokens, when an invoker is set."""
    from .sources.oidc import GOOGLE_CERTS_URL, OidcVerifier

    account = setting("PULL_INVOKER_SERVICE_ACCOUNT", "")
    if not account:
        return None  # Cloud Run's own IAM check guards the function (infra/)
    return OidcVerifier(
        setting("PULL_AUDIENCE", ""), account, setting("OIDC_CERTS_URL", GOOGLE_CERTS_URL)
    )


@once
def pubsub_clients() -> PubSubClients:
    """Pub/Sub clients for user subscriptions, per set of credentials."""
    from .sources.subscriptions import PubSubClients

    emulator = bool(setting("PUBSUB_EMULATOR_HOST", ""))
    return PubSubClients(services().secrets, emulator=emulator)


@once
def listeners() -> Listeners:
    """What keeps Pub/Sub subscriptions in step with integrations."""
    from .sources.subscriptions import PushIdentity, SubscriptionManager

    account = setting("PUSH_SERVICE_ACCOUNT", "")
    identity = PushIdentity(account, push_audience()) if account else None
    return SubscriptionManager(
        pubsub_clients(), site().push_endpoint, identity, push_missing=push_account_missing()
    )


@once
def puller() -> Puller:
    """The pull function's dispatcher and drainer (PULL_TASKS_TOPIC, PULL_BATCH_SIZE)."""
    from google.cloud import pubsub_v1

    from .pull import DEFAULT_BATCH_SIZE, DEFAULT_CONCURRENCY, Puller
    from .queue import Queue
    from .sources.subscriptions import PubSubSubscriptions

    project = setting("GOOGLE_CLOUD_PROJECT", "demo-mapper")
    publisher = pubsub_v1.PublisherClient()
    tasks = publisher.topic_path(project, setting("PULL_TASKS_TOPIC", DEFAULT_PULL_TASKS_TOPIC))
    s = services()
    return Puller(
        s.integration_store,
        s.pull_state,
        intake(),
        PubSubSubscriptions(pubsub_clients()),
        Queue(publisher, tasks),
        int(setting("PULL_BATCH_SIZE", str(DEFAULT_BATCH_SIZE))),
        int(setting("PULL_CONCURRENCY", str(DEFAULT_CONCURRENCY))),
    )


@once
def tasks_queue() -> Queue:
    """The pull-tasks topic (PULL_TASKS_TOPIC): pull drains and redrive batches."""
    from google.cloud import pubsub_v1

    from .queue import Queue

    project = setting("GOOGLE_CLOUD_PROJECT", "demo-mapper")
    publisher = pubsub_v1.PublisherClient()
    return Queue(
        publisher,
        publisher.topic_path(project, setting("PULL_TASKS_TOPIC", DEFAULT_PULL_TASKS_TOPIC)),
    )


@once
def redriver() -> Redriver:
    """Bulk redrive (REDRIVE_RATE_PER_SECOND, REDRIVE_BATCH_SIZE): jobs and their tasks."""
    from .redrive import BATCH_SIZE, RATE_PER_S, Redriver

    s = services()
    assert s.redrive_jobs is not None
    return Redriver(
        s.runs,
        s.redrive_jobs,
        s.integration_store,
        intake(),
        tasks_queue(),
        batch_size=int(setting("REDRIVE_BATCH_SIZE", str(BATCH_SIZE))),
        rate_per_s=float(setting("REDRIVE_RATE_PER_SECOND", str(RATE_PER_S))),
    )


@once
def drift_notices() -> DriftNotices | None:
    """The tick's `source.drift` sender, where shapes and notification windows are kept."""
    from .pipeline.drift_notices import DriftNotices

    s = services()
    if s.source_shapes is None or s.notify_windows is None:
        return None
    return DriftNotices(s.source_shapes, s.integrations, notifier())


def sweep_in_flight() -> dict[str, dict[str, int]]:
    """The tick's sweeps: runs left in flight, redrive jobs and resumes whose task was lost,
    and the source drift the intake filed, notified."""
    sweep = reconciler()
    runs = sweep.sweep().as_dict()
    jobs = {"resumed": 0, "ended": 0}
    if services().redrive_jobs is not None:
        jobs = redriver().resume_stalled(sweep.horizon_s, sweep.max_republishes)
    swept = {"reconciled": runs, "redriveJobs": jobs}
    if (control := delivery_control()) is not None:
        swept["resumeDrains"] = {"republished": control.resume_stalled(sweep.horizon_s)}
    if (drift := drift_notices()) is not None:
        swept["sourceDrift"] = drift.sweep().as_dict()
    return swept


def resume_step(integration_id: str, resumes: int) -> Callable[[], dict[str, Any]]:
    """A resume's next batch of held runs (mapper.delivery_control), with the integration
    as it is now."""

    def step() -> dict[str, Any]:
        control = delivery_control()
        doc = services().integration_store.get(integration_id)
        if control is None or doc is None:
            return {"integrationId": integration_id, "sent": 0,
                    "skipped": "no such integration or no delivery control here"}
        return control.step(doc, resumes)

    return step


def task_handler(task: Any) -> Callable[[], dict[str, Any]]:
    """What a pull-tasks message asks: drain one integration, a redrive job's next batch, or
    a resume's next batch of held runs.

    Raises KeyError or TypeError for a body that is neither (the caller acknowledges it).
    """
    from .logs import bind_log_context

    if isinstance(task, dict) and "redriveJob" in task:
        job_id = str(task["redriveJob"])
        return lambda: redriver().step(job_id).as_dict()
    if isinstance(task, dict) and "resumeDelivery" in task:
        return resume_step(str(task["resumeDelivery"]), int(task["resumes"]))
    integration_id = str(task["integrationId"])
    bind_log_context(integration_id=integration_id)
    return lambda: puller().drain(integration_id).as_dict()
