"""Real Firestore and Pub/Sub emulators for the store tests, started once per session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from google.cloud import firestore, pubsub_v1

from local.emulators import Emulators, reset_firestore, start_emulators

PROJECT = "demo-test"


@pytest.fixture(scope="session")
def emulators() -> Iterator[Emulators]:
    """Both emulators, with the environment variables that Google's clients read set."""
    if shutil.which("gcloud") is None:
        pytest.skip("gcloud with the Firestore and Pub/Sub emulators is not installed")
    with start_emulators(project=PROJECT) as running, pytest.MonkeyPatch.context() as env:
        for name, value in running.env().items():
            env.setenv(name, value)
        yield running


@pytest.fixture(scope="session")
def firestore_session(emulators: Emulators) -> Iterator[firestore.Client]:
    client = firestore.Client(project=emulators.project)
    yield client
    client.close()


@pytest.fixture()
def db(emulators: Emulators, firestore_session: firestore.Client) -> firestore.Client:
    """A Firestore client on an emptied emulator."""
    assert emulators.firestore_host is not None
    reset_firestore(emulators.firestore_host, emulators.project)
    return firestore_session


@pytest.fixture(scope="session")
def publisher(emulators: Emulators) -> Iterator[pubsub_v1.PublisherClient]:
    client = pubsub_v1.PublisherClient()
    yield client
    client.stop()


@pytest.fixture(scope="session")
def subscriber(emulators: Emulators) -> Iterator[pubsub_v1.SubscriberClient]:
    client = pubsub_v1.SubscriberClient()
    yield client
    client.close()
