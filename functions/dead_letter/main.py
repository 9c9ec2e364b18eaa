"""dead_letter: Pub/Sub-triggered on the dead-letter topic; ends the run as dead_lettered.

Unless the run has attempts left by its own count: it stays retrying (Worker.dead_letter).
"""

from __future__ import annotations

import base64
import logging

import functions_framework
from cloudevents.http import CloudEvent

from mapper.engine.sandbox import init_v8
from mapper.logs import bind_log_context, logged, setup_logging
from mapper.pipeline import QueuedMessage
from mapper.pipeline.runs import RunStatus
from mapper.services import worker

# V8 must start on the main thread (see init_v8); functions-framework imports us there.
init_v8()
setup_logging()
log = logging.getLogger("dead_letter")


@functions_framework.cloud_event
@logged
def dead_letter(event: CloudEvent) -> None:
    """Record that Pub/Sub gave up on this message after its last attempt."""
    message = QueuedMessage.from_bytes(base64.b64decode(event.data["message"]["data"]))
    bind_log_context(integration_id=message.integration_id, run_id=message.run_id)
    status = worker().dead_letter(message)
    if status == RunStatus.RETRYING:  # not an outcome: the run's own retries go on
        log.info("the queue gave up on the message; the run has attempts left")
        return
    log.warning("gave up on the run: %s", status, extra={"status": status})
