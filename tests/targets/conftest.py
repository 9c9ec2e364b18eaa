"""Fixtures for target tests: a loopback-only network guard, secrets, a TLS certificate."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any

import pytest

from .support import Cert, DictSecrets, make_cert


@dataclass
class ConnectLog:
    """Every socket connect attempted during a test."""

    attempts: list[Any] = field(default_factory=list)

    def hosts(self) -> list[str]:
        return [str(a[0]) if isinstance(a, tuple) else str(a) for a in self.attempts]


@pytest.fixture(autouse=True)
def network_guard(monkeypatch: pytest.MonkeyPatch) -> ConnectLog:
    """Record every connect and refuse any that is not to 127.0.0.0/8.

    The egress policy must refuse blocked destinations before connecting; this guard is the
    safety net that keeps a regression from sending real traffic off this machine.
    """
    log = ConnectLog()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def allowed(address: Any) -> bool:
        try:
            return ipaddress.ip_address(address[0]) in ipaddress.ip_network("127.0.0.0/8")
        except (ValueError, TypeError, IndexError):
            return False

    def connect(self: socket.socket, address: Any) -> None:
        log.attempts.append(address)
        if not allowed(address):
            raise PermissionError(f"test network guard: connect to {address!r} refused")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        log.attempts.append(address)
        if not allowed(address):
            raise PermissionError(f"test network guard: connect to {address!r} refused")
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return log


@pytest.fixture
def secrets() -> DictSecrets:
    return DictSecrets({"projects/p/secrets/token/versions/latest": "s3cret-token"})


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Cert:
    return make_cert(tmp_path_factory.mktemp("tls"))
