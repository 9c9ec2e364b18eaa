"""Cloud Tasks as the `DeliveryQueue`: one queue per paced or pausable target.

Each task is an HTTP POST of one run for one target to the deliver function, with an OIDC
token minted for the invoker service account, so that only Cloud Tasks (as that account)
gets in. The client is passed in: the real `google-cloud-tasks` client, over gRPC in the
cloud, or over REST (`transport="rest"`) to the local stand-in (local/tasks.py) and the
tests. Google's errors are mapped here, at the boundary, to `DeliveryQueueError`s.

Names (docs/delivery.md, "Queue and task names"):
- a queue is `<prefix>-<integration id, shortened>-<hash>-g<generation>`: the hash tells
  apart targets of one integration, the generation makes a deleted queue's name never come
  back (Cloud Tasks keeps a deleted name tombstoned for days, and a create in that window
  may only seem to succeed);
- a task is `t<hash of run id, target, resend>`: the same run for the same target is the
  same task, which Cloud Tasks itself refuses twice. A hashed name is what Google
  recommends for spreading task names.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.auth import exceptions as auth_exc
from google.cloud import tasks_v2
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2

from .errors import DeliveryQueueError, DeliveryQueueNotFound, DeliveryQueueUnavailable
from .json_text import dumps_bytes
from .pipeline.ports import DeliveryTask, Enqueued, QueueConfig, QueueKey

CALL_TIMEOUT_S = 30.0
# Cloud Tasks' own bounds (RateLimits): a config beyond them is refused here, in words.
MAX_DISPATCHES_PER_SECOND = 500.0
MAX_CONCURRENT_DISPATCHES = 5000
# How long Cloud Tasks waits for the deliver function's answer: its timeout (infra/).
DISPATCH_DEADLINE_S = 300
QUEUE_HASH_CHARS = 12
QUEUE_ID_CHARS = 40  # of the integration id, kept readable in the console
TASK_HASH_CHARS = 40
LIST_PAGE_SIZE = 1000  # tasks per ListTasks call when counting held tasks
# Cloud Tasks' largest task is 1 MB; the body is most of it (kept under, counted in bytes).
MAX_TASK_BODY_BYTES = 1_000_000 - 10_000

DEFAULT_RETRY = gretry.Retry(
    predicate=gretry.if_transient_error, initial=0.1, maximum=2.0, timeout=10.0
)
_NOT_ID = re.compile(r"[^A-Za-z0-9-]+")
# Fields `update` sets; a PATCH with this mask leaves the queue's state (paused) alone.
_CONFIG_FIELDS = ["rate_limits", "retry_config"]


def queue_id(prefix: str, key: QueueKey) -> str:
    """The Cloud Tasks queue id of a target's queue (letters, digits, hyphens; <= 100)."""
    digest = hashlib.sha256(f"{key.integration_id}\n{key.target}".encode()).hexdigest()
    readable = _NOT_ID.sub("-", key.integration_id).strip("-")[:QUEUE_ID_CHARS] or "x"
    return f"{prefix}-{readable}-{digest[:QUEUE_HASH_CHARS]}-g{key.generation}"


def task_id(task: DeliveryTask) -> str:
    """The task id of one run for one target (letters, digits, hyphens, underscores)."""
    seed = f"{task.run_id}\n{task.target}\n{task.resend}".encode()
    return "t" + hashlib.sha256(seed).hexdigest()[:TASK_HASH_CHARS]


def queue_settings(config: QueueConfig) -> tuple[tasks_v2.RateLimits, tasks_v2.RetryConfig]:
    """`rateLimit` and `retry` as Cloud Tasks' RateLimits and RetryConfig."""
    if config.per_second > MAX_DISPATCHES_PER_SECOND:
        raise DeliveryQueueError(
            f"rateLimit.perSecond {config.per_second} is over Cloud Tasks' "
            f"{MAX_DISPATCHES_PER_SECOND:g} dispatches a second per queue"
        )
    if config.max_concurrent > MAX_CONCURRENT_DISPATCHES:
        raise DeliveryQueueError(
            f"rateLimit.maxConcurrent {config.max_concurrent} is over Cloud Tasks' "
            f"{MAX_CONCURRENT_DISPATCHES} concurrent dispatches per queue"
        )
    retry = config.retry
    rate = tasks_v2.RateLimits(
        max_dispatches_per_second=config.per_second,
        max_concurrent_dispatches=config.max_concurrent,
    )
    return rate, tasks_v2.RetryConfig(
        max_attempts=retry.max_attempts,
        min_backoff=_duration(retry.min_backoff_s),
        max_backoff=_duration(retry.max_backoff_s),
        max_retry_duration=_duration(retry.max_retry_duration_s),
    )


class CloudTasksQueue:
    """Per-target delivery queues in Cloud Tasks, dispatching to the deliver function."""

    def __init__(
        self,
        client: tasks_v2.CloudTasksClient,
        project: str,
        location: str,
        *,
        deliver_url: str,
        invoker_email: str,
        audience: str | None = None,
        prefix: str = "mapper",
        retry: gretry.Retry | None = DEFAULT_RETRY,
        timeout: float = CALL_TIMEOUT_S,
    ) -> None:
        if not project or not location:
            raise ValueError("CloudTasksQueue needs a project and a location")
        if not deliver_url or not invoker_email:
            raise ValueError("CloudTasksQueue needs the deliver URL and the invoker account")
        self._client = client
        self._parent = f"projects/{project}/locations/{location}"
        self._deliver_url = deliver_url
        self._invoker_email = invoker_email
        self._audience = audience or deliver_url
        self._prefix = prefix
        self._retry = retry
        self._timeout = timeout

    def queue_name(self, key: QueueKey) -> str:
        """The queue's full resource name."""
        return f"{self._parent}/queues/{queue_id(self._prefix, key)}"

    def ensure(self, key: QueueKey, config: QueueConfig) -> str:
        """Create the queue, or bring an existing one to `config`; the queue's name."""
        name = self.queue_name(key)
        rate, retry = queue_settings(config)
        queue = tasks_v2.Queue(name=name, rate_limits=rate, retry_config=retry)
        with _mapped(f"queue {name}"):
            try:
                self._client.create_queue(
                    parent=self._parent, queue=queue, retry=self._retry, timeout=self._timeout
                )
            except gexc.Conflict:  # AlreadyExists over gRPC, a plain 409 over REST
                created = False
            else:
                created = True
        if not created:
            self.update(key, config)
            return name
        # Google's advice for a name in its tombstone window: the create may only seem to
        # have worked, and a get tells. Generations keep us out of it; this proves it.
        try:
            with _mapped(f"queue {name}"):
                self._client.get_queue(name=name, retry=self._retry, timeout=self._timeout)
        except DeliveryQueueNotFound:
            raise DeliveryQueueError(
                f"queue {name} was deleted recently and cannot be made again yet; "
                "its target needs the next generation"
            ) from None
        return name

    def update(self, key: QueueKey, config: QueueConfig) -> None:
        """Set the queue's rate, concurrency and retries (Cloud Tasks creates it if missing)."""
        name = self.queue_name(key)
        rate, retry = queue_settings(config)
        with _mapped(f"queue {name}"):
            self._client.update_queue(
                queue=tasks_v2.Queue(name=name, rate_limits=rate, retry_config=retry),
                update_mask=field_mask_pb2.FieldMask(paths=_CONFIG_FIELDS),
                retry=self._retry,
                timeout=self._timeout,
            )

    def pause(self, key: QueueKey) -> None:
        """Stop dispatching; tasks keep being accepted and are held."""
        name = self.queue_name(key)
        with _mapped(f"queue {name}"):
            self._client.pause_queue(name=name, retry=self._retry, timeout=self._timeout)

    def resume(self, key: QueueKey) -> None:
        """Dispatch again, held tasks first."""
        name = self.queue_name(key)
        with _mapped(f"queue {name}"):
            self._client.resume_queue(name=name, retry=self._retry, timeout=self._timeout)

    def delete(self, key: QueueKey) -> None:
        """Delete the queue and its tasks; nothing if it does not exist."""
        name = self.queue_name(key)
        with contextlib.suppress(DeliveryQueueNotFound), _mapped(f"queue {name}"):
            self._client.delete_queue(name=name, retry=self._retry, timeout=self._timeout)

    def enqueue(self, key: QueueKey, task: DeliveryTask) -> Enqueued:
        """Add an HTTP task for the deliver function; "already_added" if its name exists."""
        parent = self.queue_name(key)
        name = f"{parent}/tasks/{task_id(task)}"
        body = dumps_bytes(dict(task.body))
        if len(body) > MAX_TASK_BODY_BYTES:
            raise DeliveryQueueError(
                f"task {name} is {len(body)} bytes, over the {MAX_TASK_BODY_BYTES} a Cloud "
                "Tasks task can carry"
            )
        request = tasks_v2.HttpRequest(
            url=self._deliver_url,
            http_method=tasks_v2.HttpMethod.POST,
            headers={"Content-Type": "application/json"},
            body=body,
            oidc_token=tasks_v2.OidcToken(
                service_account_email=self._invoker_email, audience=self._audience
            ),
        )
        cloud_task = tasks_v2.Task(
            name=name,
            http_request=request,
            dispatch_deadline=_duration(DISPATCH_DEADLINE_S),
        )
        if task.not_before is not None:
            cloud_task.schedule_time = _timestamp(task.not_before)
        with _mapped(f"task {name}"):
            try:
                self._client.create_task(
                    parent=parent, task=cloud_task, retry=self._retry, timeout=self._timeout
                )
            except gexc.Conflict:
                # The queue itself refuses a second task of that name: the run is queued.
                return "already_added"
        return "added"

    def held(self, key: QueueKey) -> int:
        """How many tasks the queue holds, counted by listing them (one call per 1,000)."""
        name = self.queue_name(key)
        with _mapped(f"queue {name}"):
            pages = self._client.list_tasks(
                request={"parent": name, "page_size": LIST_PAGE_SIZE},
                retry=self._retry,
                timeout=self._timeout,
            )
            return sum(1 for _ in pages)


@contextlib.contextmanager
def _mapped(what: str) -> Iterator[None]:
    """Turn Google client errors into `DeliveryQueueError`s that name `what`."""
    # The HTTP-level classes: REST raises them by status code (Conflict, Forbidden), gRPC
    # their subclasses (AlreadyExists, PermissionDenied).
    try:
        yield
    except gexc.NotFound as exc:
        raise DeliveryQueueNotFound(f"Cloud Tasks has no {what}") from exc
    except gexc.Conflict as exc:
        raise DeliveryQueueError(f"Cloud Tasks already has {what}") from exc
    except (gexc.Forbidden, gexc.Unauthorized) as exc:
        raise DeliveryQueueError(
            f"no permission to use Cloud Tasks {what}: the caller needs "
            "roles/cloudtasks.enqueuer on it (queue changes: roles/cloudtasks.queueAdmin) "
            "and roles/iam.serviceAccountUser on the invoker account"
        ) from exc
    except (
        gexc.TooManyRequests,
        gexc.ServiceUnavailable,
        gexc.InternalServerError,
        gexc.GatewayTimeout,
        gexc.DeadlineExceeded,
        gexc.RetryError,
    ) as exc:
        raise DeliveryQueueUnavailable(f"Cloud Tasks failed for now on {what}: {exc}") from exc
    except gexc.GoogleAPIError as exc:
        raise DeliveryQueueError(f"Cloud Tasks refused {what}: {exc}") from exc
    except (auth_exc.GoogleAuthError, OSError) as exc:
        # OSError covers requests' connection errors on the REST transport.
        raise DeliveryQueueUnavailable(f"cannot reach Cloud Tasks for {what}: {exc}") from exc


def _duration(seconds: float) -> duration_pb2.Duration:
    whole = int(seconds)
    return duration_pb2.Duration(seconds=whole, nanos=int(round((seconds - whole) * 1e9)))


def _timestamp(epoch_s: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.fromtimestamp(epoch_s, tz=UTC))
    return stamp
