"""The secret backends and the resolver; Secret Manager through its real REST client."""

from __future__ import annotations

import base64
import os
import socket
import stat
from collections.abc import Iterator

import pytest
from fake_secret_manager import PROJECT_NUMBER, FakeSecretManager, FakeServer
from google.api_core import retry as gretry
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import secretmanager

from mapper import redact
from mapper.engine.config import SecretRef
from mapper.errors import InvalidSecretRef, SecretAccessDenied, SecretError, SecretNotFound
from mapper.secrets import LocalSecretBackend, SecretManagerBackend, SecretResolver

# Short enough for tests, long enough for a few attempts.
FAST_RETRY = gretry.Retry(
    predicate=gretry.if_transient_error, initial=0.01, maximum=0.05, timeout=1.0
)


def make_client(endpoint: str) -> secretmanager.SecretManagerServiceClient:
    return secretmanager.SecretManagerServiceClient(
        transport="rest",
        client_options=ClientOptions(api_endpoint=endpoint),
        credentials=AnonymousCredentials(),
    )


@pytest.fixture
def fake() -> Iterator[FakeSecretManager]:
    yield FakeSecretManager(project="test-project")


@pytest.fixture
def endpoint(fake: FakeSecretManager) -> Iterator[str]:
    with FakeServer(fake) as server:
        yield server.endpoint


@pytest.fixture
def client(endpoint: str) -> Iterator[secretmanager.SecretManagerServiceClient]:
    client = make_client(endpoint)
    yield client
    client.transport.close()


@pytest.fixture
def backend(client: secretmanager.SecretManagerServiceClient) -> SecretManagerBackend:
    return SecretManagerBackend(client, "test-project", retry=FAST_RETRY, timeout=5.0)


# --- Secret Manager -----------------------------------------------------------------------


def test_store_creates_a_replicated_secret_and_returns_its_version(
    backend: SecretManagerBackend, fake: FakeSecretManager
) -> None:
    ref = backend.store("integration-42/target.auth.token", "s3cret-value")

    assert ref.startswith(f"projects/{PROJECT_NUMBER}/secrets/mapper-integration-42-target-auth")
    assert ref.endswith("/versions/1")
    (create, add) = fake.calls
    assert create[0:2] == ("POST", "/v1/projects/test-project/secrets")
    assert create[2]["replication"] == {"automatic": {}}
    assert add[1].endswith(":addVersion")
    assert base64.b64decode(add[2]["payload"]["data"]) == b"s3cret-value"


def test_store_sanitises_the_hint_and_never_reuses_an_id(backend: SecretManagerBackend) -> None:
    first = backend.store("a b/c.d:é!" + "x" * 400, "one")
    second = backend.store("a b/c.d:é!" + "x" * 400, "two")

    secret_id = first.split("/")[3]
    assert first != second
    assert len(secret_id) <= 255
    assert all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in secret_id)


def test_resolve_returns_the_stored_text(backend: SecretManagerBackend) -> None:
    ref = backend.store("hint", "pässwörd ✓")

    assert backend.resolve(ref) == "pässwörd ✓"


def test_delete_removes_the_secret_and_later_reads_are_not_retryable(
    backend: SecretManagerBackend, fake: FakeSecretManager
) -> None:
    ref = backend.store("hint", "value-to-forget")
    backend.delete(ref)

    assert fake.secrets == {}
    with pytest.raises(SecretNotFound) as caught:
        backend.resolve(ref)
    assert caught.value.retryable is False
    assert ref in str(caught.value)
    assert "value-to-forget" not in str(caught.value)


def test_unknown_secret_is_not_found(backend: SecretManagerBackend) -> None:
    with pytest.raises(SecretNotFound):
        backend.resolve("projects/test-project/secrets/nope/versions/1")
    with pytest.raises(SecretNotFound):
        backend.delete("projects/test-project/secrets/nope/versions/1")


def test_permission_denied_is_not_retryable_and_hides_the_value(
    backend: SecretManagerBackend, fake: FakeSecretManager
) -> None:
    fake.deny = True

    with pytest.raises(SecretAccessDenied) as caught:
        backend.store("hint", "do-not-print-me")
    assert caught.value.retryable is False
    assert isinstance(caught.value, SecretError)
    assert "do-not-print-me" not in str(caught.value)
    assert "projects/test-project/secrets/mapper-hint-" in str(caught.value)

    with pytest.raises(SecretAccessDenied):
        backend.resolve("projects/test-project/secrets/any/versions/1")


def test_transient_unavailability_is_retried(
    backend: SecretManagerBackend, fake: FakeSecretManager
) -> None:
    ref = backend.store("hint", "value")
    fake.fail_next = 2

    assert backend.resolve(ref) == "value"


def test_lasting_unavailability_is_a_retryable_secret_error(
    backend: SecretManagerBackend, fake: FakeSecretManager
) -> None:
    fake.fail_next = 10_000

    with pytest.raises(SecretError) as caught:
        backend.resolve("projects/test-project/secrets/s/versions/1")
    assert caught.value.retryable is True


def test_unreachable_service_is_a_retryable_secret_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_client(f"http://127.0.0.1:{port}")
    try:
        backend = SecretManagerBackend(client, "p", retry=FAST_RETRY, timeout=1.0)
        with pytest.raises(SecretError) as caught:
            backend.resolve("projects/p/secrets/s/versions/1")
    finally:
        client.transport.close()
    assert caught.value.retryable is True
    assert type(caught.value) is SecretError


@pytest.mark.parametrize(
    "ref",
    [
        "local-secrets/abc",
        "projects/p/secrets/s",
        "projects/p/secrets/s/versions/1/../../x",
        "projects/p/secrets/a b/versions/1",
        "projects/../secrets/s/versions/1",
        "projects/p/secrets/s/versions/1?alt=media",
        "projects/p/secrets/s/versions/%2e%2e",
        "",
    ],
)
def test_malformed_references_are_refused_before_any_call(
    backend: SecretManagerBackend, fake: FakeSecretManager, ref: str
) -> None:
    with pytest.raises(InvalidSecretRef) as caught:
        backend.resolve(ref)
    assert caught.value.retryable is False
    assert fake.calls == []


def test_a_create_retried_after_a_lost_answer_carries_on(
    backend: SecretManagerBackend, fake: FakeSecretManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first create succeeded but its answer was lost: the secret already exists.
    monkeypatch.setattr("mapper.secrets.backends._random.token_hex", lambda n: "0" * (2 * n))
    fake.secrets["mapper-hint-000000000000"] = []

    ref = backend.store("hint", "value")

    assert ref.endswith("secrets/mapper-hint-000000000000/versions/1")
    assert backend.resolve(ref) == "value"


def test_backend_needs_a_project(client: secretmanager.SecretManagerServiceClient) -> None:
    with pytest.raises(ValueError):
        SecretManagerBackend(client, "")


# --- local backend ------------------------------------------------------------------------


def test_local_backend_round_trips_through_a_private_file(tmp_path) -> None:
    path = tmp_path / "dev" / "secrets.json"
    backend = LocalSecretBackend(path)

    ref = backend.store("integration-1/target.auth.token", "local-value")

    assert ref.startswith("local-secrets/mapper-integration-1-target-auth-token-")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert LocalSecretBackend(path).resolve(ref) == "local-value"  # another process, same file
    backend.delete(ref)
    with pytest.raises(SecretNotFound):
        backend.resolve(ref)
    with pytest.raises(SecretNotFound):
        backend.delete(ref)


def test_local_backend_keeps_other_entries_and_refuses_bad_names(tmp_path) -> None:
    backend = LocalSecretBackend(tmp_path / "secrets.json")
    one = backend.store("a", "1111")
    two = backend.store("b", "2222")
    backend.delete(one)

    assert backend.resolve(two) == "2222"
    for bad in ("projects/p/secrets/s/versions/1", "local-secrets/../x", "local-secrets/"):
        with pytest.raises(InvalidSecretRef):
            backend.resolve(bad)


def test_local_backend_reports_a_corrupt_file(tmp_path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text("[1, 2")

    with pytest.raises(SecretError, match="not JSON"):
        LocalSecretBackend(path).resolve("local-secrets/x")


# --- resolver -----------------------------------------------------------------------------


class CountingBackend:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.reads: list[str] = []

    def store(self, name_hint: str, value: str) -> str:
        raise NotImplementedError

    def resolve(self, ref: str) -> str:
        self.reads.append(ref)
        if ref not in self.values:
            raise SecretNotFound(f"secret {ref} was not found")
        return self.values[ref]

    def delete(self, ref: str) -> None:
        raise NotImplementedError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_resolver_returns_plain_strings_untouched() -> None:
    backend = CountingBackend({})
    resolver = SecretResolver(backend)

    assert resolver.resolve("plain-token") == "plain-token"
    assert backend.reads == []


def test_resolver_caches_references_for_the_ttl() -> None:
    backend = CountingBackend({"ref/1": "resolved-value-1"})
    clock = Clock()
    resolver = SecretResolver(backend, ttl_seconds=300, clock=clock)

    assert resolver.resolve(SecretRef(secret="ref/1")) == "resolved-value-1"
    clock.now += 299
    assert resolver.resolve({"secret": "ref/1", "set": True}) == "resolved-value-1"
    assert backend.reads == ["ref/1"]

    clock.now += 2
    backend.values["ref/1"] = "rotated-value-1"
    assert resolver.resolve(SecretRef(secret="ref/1")) == "rotated-value-1"
    assert backend.reads == ["ref/1", "ref/1"]


def test_resolver_with_zero_ttl_always_reads_and_forget_drops_entries() -> None:
    backend = CountingBackend({"r": "value-r"})
    uncached = SecretResolver(backend, ttl_seconds=0)
    uncached.resolve({"secret": "r"})
    uncached.resolve({"secret": "r"})
    assert len(backend.reads) == 2

    cached = SecretResolver(backend)
    cached.resolve({"secret": "r"})
    cached.forget("r")
    cached.resolve({"secret": "r"})
    assert len(backend.reads) == 4


def test_resolver_errors_are_not_cached_and_bad_values_refused() -> None:
    backend = CountingBackend({})
    resolver = SecretResolver(backend)

    for _ in range(2):
        with pytest.raises(SecretNotFound):
            resolver.resolve(SecretRef(secret="missing"))
    assert backend.reads == ["missing", "missing"]
    with pytest.raises(InvalidSecretRef):
        resolver.resolve({"set": True})  # type: ignore[arg-type]


def test_resolved_values_are_registered_for_log_redaction() -> None:
    resolver = SecretResolver(CountingBackend({"r": "registered-by-resolver"}))

    resolver.resolve({"secret": "r"})

    assert "registered-by-resolver" in redact._registry


def test_resolver_over_secret_manager(backend: SecretManagerBackend) -> None:
    ref = backend.store("hint", "end-to-end")

    assert SecretResolver(backend).resolve(SecretRef(secret=ref)) == "end-to-end"


def test_resolver_turns_plain_credentials_into_json_text() -> None:
    backend = CountingBackend({})

    text = SecretResolver(backend).resolve({"type": "service_account", "project_id": "p"})

    assert text == '{"project_id":"p","type":"service_account"}'
    assert backend.reads == []


def test_a_failed_version_leaves_no_empty_secret_behind(
    backend: SecretManagerBackend, fake: FakeSecretManager
) -> None:
    fake.fail_add_version = True

    with pytest.raises(InvalidSecretRef):
        backend.store("hint", "value")
    assert fake.secrets == {}
    assert [call[0] for call in fake.calls] == ["POST", "POST", "DELETE"]
