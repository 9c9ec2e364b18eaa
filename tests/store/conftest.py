"""Real Firestore and Pub/Sub emulators for the store tests, started once per session.

Their environment (the emulators' hosts, the project) is set for each store test and for
the making of the session's clients only, never for the whole session: a run of both
directories has the e2e platform in the same process, and its functions read the
process environment when they build their clients.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from google.cloud import firestore, pubsub_v1

from local.emulators import Emulators, reset_firestore, start_emulators

PROJECT = "demo-test"

T = TypeVar("T")


@pytest.fixture(scope="session")
def emulators() -> Iterator[Emulators]:
    """Both emulators."""
    if shutil.which("gcloud") is None:
        pytest.skip("gcloud with the Firestore and Pub/Sub emulators is not installed")
    with start_emulators(project=PROJECT) as running:
        yield running


@pytest.fixture(autouse=True)
def emulator_environment(emulators: Emulators, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment variables Google's clients read, set for this test only."""
    for name, value in emulators.env().items():
        monkeypatch.setenv(name, value)


def made_in(emulators: Emulators, make: Callable[[], T]) -> T:
    """A client made with the emulators' environment (clients read it when made)."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in emulators.env().items():
            env.setenv(name, value)
        return make()


@pytest.fixture(scope="session")
def firestore_session(emulators: Emulators) -> Iterator[firestore.Client]:
    client = made_in(emulators, lambda: firestore.Client(project=emulators.project))
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
    client = made_in(emulators, pubsub_v1.PublisherClient)
    yield client
    client.stop()


@pytest.fixture(scope="session")
def subscriber(emulators: Emulators) -> Iterator[pubsub_v1.SubscriberClient]:
    client = made_in(emulators, pubsub_v1.SubscriberClient)
    yield client
    client.close()
