"""worker: Pub/Sub-triggered; runs one queued message; raises so Pub/Sub retries."""

from __future__ import annotations

import base64

import functions_framework
from cloudevents.http import CloudEvent

from mapper.pipeline import Worker, decode_internal
from mapper.sandbox import init_v8
from mapper.services import services

# V8 must start on the main thread (see init_v8); functions-framework imports us there.
init_v8()


@functions_framework.cloud_event
def worker(event: CloudEvent) -> None:
    """Process the internal message; a retryable failure raises and is redelivered."""
    message = decode_internal(base64.b64decode(event.data["message"]["data"]))
    Worker(services()).process(message)
