"""worker: Pub/Sub-triggered; runs one queued message; raises so Pub/Sub retries."""

from __future__ import annotations

import base64

import functions_framework
from cloudevents.http import CloudEvent
from werkzeug.exceptions import ServiceUnavailable

from mapper.engine.sandbox import init_v8
from mapper.errors import MapperError
from mapper.logs import bind_log_context, logged, setup_logging
from mapper.pipeline import QueuedMessage
from mapper.services import worker as pipeline_worker

# V8 must start on the main thread (see init_v8); functions-framework imports us there.
init_v8()
setup_logging()


@functions_framework.cloud_event
@logged
def worker(event: CloudEvent) -> None:
    """Process the internal message; a retryable failure raises and is redelivered."""
    message = QueuedMessage.from_bytes(base64.b64decode(event.data["message"]["data"]))
    bind_log_context(integration_id=message.integration_id, run_id=message.run_id)
    try:
        pipeline_worker().process(message)  # logs one line per attempt
    except MapperError as exc:  # retryable: a 503 (no traceback) makes Pub/Sub deliver it again
        raise ServiceUnavailable(str(exc)) from None
