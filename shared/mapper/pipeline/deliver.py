"""The paced path: one task of a target's delivery queue -> send that run to that target.

A task's body is the internal message of the run (`QueuedMessage`) with the name of the
target it is for. Sending and recording are the worker's own (`Worker.process`: claim,
condition, mapping, target, run record), so a run sent through a queue is claimed, leased,
redacted and recorded exactly as one sent by the fast path; this module only reads the
task and says which target. docs/delivery.md tells which integrations take which path.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from ..errors import MapperError
from .ports import DeliveryTask, RunLog
from .runs import QueuedMessage, RunStatus
from .worker import Worker

log = logging.getLogger("mapper.deliver")

# The name of an integration's single `target` (a fan-out's targets carry their own).
DEFAULT_TARGET = "target"


class TaskBodyError(MapperError):
    """A delivery task's body is not a run for a target; it would fail the same every time."""

    code = "invalid_task"


@dataclass(frozen=True)
class TargetedRun:
    """What one delivery task asks: send the run of `message` to the target `target`."""

    message: QueuedMessage
    target: str = DEFAULT_TARGET

    def to_dict(self) -> dict[str, Any]:
        """The task's JSON body: the internal message and the target's name."""
        return {**self.message.to_dict(), "target": self.target}

    @classmethod
    def from_body(cls, body: bytes) -> TargetedRun:
        """The request in a task's body, or `TaskBodyError` saying what is wrong."""
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise TypeError("the body is not a JSON object")
            target = data.get("target", DEFAULT_TARGET)
            if not isinstance(target, str) or not target:
                raise TypeError("target is not a name")
            return cls(QueuedMessage.from_dict(data), target)
        except (ValueError, KeyError, TypeError) as exc:
            raise TaskBodyError(f"not a delivery task: {exc!r}") from None

    def task(self, *, not_before: float | None = None, resend: int = 0) -> DeliveryTask:
        """The `DeliveryTask` that queues this request (named by run and target)."""
        return DeliveryTask(
            run_id=self.message.run_id,
            target=self.target,
            body=self.to_dict(),
            not_before=not_before,
            resend=resend,
        )


class Deliverer:
    """Sends one run to one target and records it; raises what the queue should retry."""

    def __init__(self, worker: Worker, runs: RunLog) -> None:
        self._worker = worker
        self._runs = runs

    def deliver(self, body: bytes) -> str:
        """The run's status after this attempt; a retryable `MapperError` to be sent again."""
        request = TargetedRun.from_body(body)
        if request.target != DEFAULT_TARGET:
            # Only fan-out integrations name their targets, and none is paced yet: a task
            # for another name cannot be sent however often it comes back.
            reason = f"the integration has no target named {request.target!r}"
            log.warning("run %s: %s", request.message.run_id, reason)
            return self._runs.end_unless_leased(
                request.message.run_id, RunStatus.ERROR, {"errorMessage": reason}
            )
        return self._worker.process(request.message)
