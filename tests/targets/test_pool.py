"""Kept senders (targets/pool.py) against a real local server that counts TCP connections."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mapper.engine.config import EmailTarget, HttpTarget
from mapper.errors import BlockedDestinationError
from mapper.targets import build_target
from mapper.targets.egress import EgressPolicy
from mapper.targets.email import EmailTargetSender
from mapper.targets.http import HttpTargetSender
from mapper.targets.pool import TargetPool

from .support import CountingServer, DictSecrets, serving

ONLY_127_0_0_1 = EgressPolicy(["127.0.0.1/32"])


@pytest.fixture
def server() -> Iterator[CountingServer]:
    with serving(CountingServer()) as srv:
        yield srv


@pytest.fixture
def pool() -> Iterator[TargetPool]:
    kept = TargetPool()
    yield kept
    kept.close()


def http(url: str, **doc: Any) -> HttpTarget:
    return HttpTarget.model_validate({"type": "http", "url": url, **doc})


def deliver(factory: Any, config: Any, secrets: Any, egress: EgressPolicy, n: int = 1) -> None:
    """As the worker does it: build (or take) the target, send, close, once per message."""
    for i in range(n):
        target = factory(config, secrets, egress)
        try:
            target.send({"n": i}, {"n": i}, run_id=f"run-{i}")
        finally:
            target.close()


def test_deliveries_to_one_target_share_one_connection(
    pool: TargetPool, server: CountingServer, secrets: DictSecrets
) -> None:
    deliver(pool, http(server.url()), secrets, ONLY_127_0_0_1, n=3)
    assert server.connections == 1
    assert len(pool) == 1


def test_without_the_pool_each_delivery_connects_anew(
    server: CountingServer, secrets: DictSecrets
) -> None:
    # What the pool saves: the same three deliveries, a sender built for each.
    deliver(build_target, http(server.url()), secrets, ONLY_127_0_0_1, n=3)
    assert server.connections == 3


def test_targets_differing_in_credentials_never_share_a_sender(
    pool: TargetPool, server: CountingServer
) -> None:
    secrets = DictSecrets({"projects/p/secrets/a/versions/1": "token-a",
                           "projects/p/secrets/b/versions/1": "token-b"})
    a = http(server.url(), auth={"type": "bearer",
                                 "token": {"secret": "projects/p/secrets/a/versions/1"}})
    b = http(server.url(), auth={"type": "bearer",
                                 "token": {"secret": "projects/p/secrets/b/versions/1"}})
    deliver(pool, a, secrets, ONLY_127_0_0_1)
    deliver(pool, b, secrets, ONLY_127_0_0_1)
    deliver(pool, a, secrets, ONLY_127_0_0_1)
    assert server.auth == ["Bearer token-a", "Bearer token-b", "Bearer token-a"]
    assert len(pool) == 2 and server.connections == 2
    first, second = pool(a, secrets, ONLY_127_0_0_1), pool(b, secrets, ONLY_127_0_0_1)
    assert first.sender is not second.sender  # type: ignore[attr-defined]
    first.close()
    second.close()


def test_the_same_target_built_with_another_policy_is_another_sender(
    pool: TargetPool, server: CountingServer, secrets: DictSecrets
) -> None:
    config = http(server.url())
    deliver(pool, config, secrets, ONLY_127_0_0_1)
    with pytest.raises(BlockedDestinationError):
        deliver(pool, config, secrets, EgressPolicy())  # loopback not allowlisted
    assert server.connections == 1


def test_a_kept_connection_is_still_judged_on_every_request(
    pool: TargetPool, server: CountingServer, secrets: DictSecrets
) -> None:
    # The allowlist changes while the connection stays open: the next request is refused
    # before it is sent, so the guard runs per request, not once per connection.
    policy = EgressPolicy(["127.0.0.1/32"])
    config = http(server.url())
    deliver(pool, config, secrets, policy, n=2)
    policy.allow_networks = ()
    with pytest.raises(BlockedDestinationError):
        deliver(pool, config, secrets, policy)
    assert len(server.auth) == 2 and server.connections == 1


def test_another_host_through_the_pool_is_judged_on_its_own(
    pool: TargetPool, server: CountingServer, secrets: DictSecrets
) -> None:
    deliver(pool, http(server.url()), secrets, ONLY_127_0_0_1)
    port = server.server_address[1]
    with pytest.raises(BlockedDestinationError, match="127.0.0.2"):
        deliver(pool, http(f"http://127.0.0.2:{port}/hook"), secrets, ONLY_127_0_0_1)
    assert server.connections == 1


def test_the_least_recently_used_sender_is_closed_beyond_the_limit(
    server: CountingServer, secrets: DictSecrets
) -> None:
    pool = TargetPool(size=1)
    a, b = http(server.url("/a")), http(server.url("/b"))
    held = pool(a, secrets, ONLY_127_0_0_1)
    held.send({}, {})
    sender_a = held.sender  # type: ignore[attr-defined]
    assert isinstance(sender_a, HttpTargetSender)
    deliver(pool, b, secrets, ONLY_127_0_0_1)  # evicts a, which is still in use
    assert sender_a._session is not None
    held.send({}, {})  # a delivery in flight finishes on it
    held.close()
    assert sender_a._session is None  # closed once handed back
    assert len(pool) == 1
    deliver(pool, a, secrets, ONLY_127_0_0_1)  # built anew
    assert server.connections == 3
    pool.close()


def test_email_targets_are_built_per_message(secrets: DictSecrets) -> None:
    pool = TargetPool()
    config = EmailTarget.model_validate({
        "type": "email", "smtpServer": "127.0.0.1", "smtpPort": 2525,
        "fromEmail": "a@example.com", "toEmail": "b@example.com",
    })
    one, two = pool(config, secrets, ONLY_127_0_0_1), pool(config, secrets, ONLY_127_0_0_1)
    assert isinstance(one, EmailTargetSender) and one is not two
    assert len(pool) == 0


def test_a_pool_keeps_at_least_one_sender() -> None:
    with pytest.raises(ValueError):
        TargetPool(size=0)
