"""The floors the benchmarks measure the platform against: functions that do the least.

    accept        (http)        publish the request body to FLOOR_TOPIC, wait, answer 202
    accept_tuned  (http)        the same with the one-call publish the platform's Queue makes
    accept_recorded (http)      the tuned floor plus the run the contract requires: parse the
                                body, create a queued run (RunStore), publish (Queue), 202
    deliver       (cloudevent)  POST the pushed message's data to FLOOR_TARGET_URL, nothing else

Served by functions-framework exactly as the platform's own functions are. `accept` is the
bare function the delivery issue names: `PublisherClient()` with its defaults, as anyone
would first write it. `accept_tuned` publishes the way `mapper.queue.Queue.publish` does (one
Publish call from the request's thread, no batching timer), so that its ratio shows what the
platform costs beyond its own fastest publish. `accept_recorded` adds only the run, written
and published through the platform's own RunStore and Queue (no integration lookup, headers
or checks): the webhook against it is what the intake costs beyond the write the contract
asks for. bench/webhook_floor.py prints all three.
"""

from __future__ import annotations

import base64
import json
import os
import uuid

import flask
import functions_framework
import requests
from cloudevents.http import CloudEvent
from google.cloud import firestore, pubsub_v1
from google.pubsub_v1.services.publisher.client import PublisherClient as GeneratedPublisher

from mapper.queue import Queue
from mapper.store.runs import RunStore

PUBLISH_TIMEOUT_S = 30.0
POST_TIMEOUT_S = 10.0

_publisher = pubsub_v1.PublisherClient()
_topic = _publisher.topic_path(
    os.environ.get("GOOGLE_CLOUD_PROJECT", "demo-bench"), os.environ.get("FLOOR_TOPIC", "floor")
)


@functions_framework.http
def accept(request: flask.Request) -> flask.Response:
    """Publish the body as it came and answer 202."""
    _publisher.publish(_topic, request.get_data()).result(timeout=PUBLISH_TIMEOUT_S)
    return flask.make_response({"status": "queued"}, 202)


@functions_framework.http
def accept_tuned(request: flask.Request) -> flask.Response:
    """Publish the body in one Publish call, as the platform's Queue does, and answer 202."""
    message = pubsub_v1.types.PubsubMessage(data=request.get_data())
    GeneratedPublisher.publish(
        _publisher, topic=_topic, messages=[message], timeout=PUBLISH_TIMEOUT_S
    )
    return flask.make_response({"status": "queued"}, 202)


_runs = RunStore(firestore.Client())  # no request made until the first create
_queue = Queue(_publisher, _topic)


@functions_framework.http
def accept_recorded(request: flask.Request) -> flask.Response:
    """Create a queued run for the body, publish it, and answer 202 with the run id."""
    data = json.loads(request.get_data())
    run_id = f"floor.{uuid.uuid4().hex}"
    _runs.create(
        {"id": run_id, "integrationId": "floor", "sourceKind": "webhook", "status": "queued",
         "incomingPayload": data}
    )
    _queue.publish({"runId": run_id, "payload": data}, {"runId": run_id})
    return flask.make_response({"status": "queued", "runId": run_id}, 202)


@functions_framework.cloud_event
def deliver(event: CloudEvent) -> None:
    """POST the message's data to the target; a failure raises, so Pub/Sub retries."""
    data = base64.b64decode(event.data["message"]["data"])
    reply = requests.post(
        os.environ["FLOOR_TARGET_URL"],
        data=data,
        headers={"Content-Type": "application/json"},
        timeout=POST_TIMEOUT_S,
    )
    reply.raise_for_status()
