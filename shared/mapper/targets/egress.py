"""Outbound address policy: which addresses a target may connect to (the SSRF guard).

The resolve-once-and-pin work is `requests-hardened` (1.3.0). Out of the box it:
  * resolves the hostname once (`socket.getaddrinfo`, first answer) and connects to that
    very address, with the original name kept for `Host`, SNI and certificate checks, so a
    DNS answer that changes between check and connect (rebinding) cannot slip through;
  * unwraps IPv4-mapped IPv6 (`::ffff:0:0/96`) and judges the IPv4 address inside;
  * refuses `ip.is_private` (on this CPython: 0/8, 10/8, 127/8, 169.254/16, 172.16/12,
    192.0.0/29, 192.0.2/24, 192.168/16, 198.18/15, 198.51.100/24, 203.0.113/24, 240/4,
    255.255.255.255, ::1, ::, ::ffff:0:0/96, 100::/64, 2001::/23, 2001:db8::/32,
    fc00::/7, fe80::/10), `ip.is_multicast`, and its own extra list: 100.64/10 (CG-NAT),
    192.0.0/24, 192.88.99/24 (6to4 relay), 64:ff9b::/96 (NAT64), 64:ff9b:1::/48,
    2002::/16 (6to4), 2001:20::/28, 3fff::/20, 5f00::/16;
  * allows loopback only as an all-or-nothing switch (left off here).

What this module adds, and only this:
  * an operator allowlist of CIDRs (`EGRESS_ALLOW_CIDRS`) that may reach otherwise refused
    addresses, judged on the pinned address, so a name cannot borrow an allowlisted range
    unless it really resolves there;
  * ranges requests-hardened lets through: IPv6 `is_reserved` (unallocated space, which
    includes the IPv4-compatible `::/96`, e.g. `::127.0.0.1`, and SIIT `::ffff:0:0:0/96`)
    and the deprecated site-local `fec0::/10`;
  * a refusal before any DNS query of names known to be the metadata server
    (`metadata.google.internal`, `metadata`, `metadata.goog`), and of IP literals (so an
    IPv6 literal is refused as blocked, not reported as a DNS failure, on an IPv4-only host);
  * the same policy for SMTP (`resolve()`), which requests-hardened does not cover.

requests-hardened logs "Forbidden IP address" (WARNING) before the allowlist is consulted;
that line is dropped for an address the allowlist covers (HTTP and SMTP alike), so only a
refusal that stands is logged.
"""

from __future__ import annotations

import contextvars
import ipaddress
import logging
import os
import socket
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter
from requests_hardened.ip_filter import (
    EXTRA_BLOCKED_NET_RANGES,
    InvalidIPAddress,
    get_ip_address,
)
from requests_hardened.ip_filter_adapter import IPFilterAdapter

from ..errors import BlockedDestinationError, RetryableTargetError, TargetError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ENV_ALLOW_CIDRS = "EGRESS_ALLOW_CIDRS"

# Names that only ever mean the cloud metadata server; refused before DNS is asked.
BLOCKED_HOSTNAMES = frozenset({"metadata.google.internal", "metadata", "metadata.goog"})

# Ranges requests-hardened 1.3.0 lets through (see the module docstring).
_EXTRA_BLOCKED = (ipaddress.ip_network("fec0::/10"),)


def _plain(ip: IPAddress) -> IPAddress:
    # An IPv4-mapped address reaches the IPv4 host it carries; judge that one.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _hardened_refuses(ip: IPAddress) -> bool:
    # The rule of requests_hardened.ip_filter.get_ip_address, for checks made without it.
    return ip.is_private or ip.is_multicast or any(ip in net for net in EXTRA_BLOCKED_NET_RANGES)


def _we_refuse(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_reserved:
        return True
    return any(ip in net for net in _EXTRA_BLOCKED if net.version == ip.version)


class EgressPolicy:
    """Refuses private, reserved and metadata destinations except the allowlisted CIDRs."""

    def __init__(self, allow_cidrs: Iterable[str] = ()) -> None:
        networks: list[IPNetwork] = []
        for raw in allow_cidrs:
            text = raw.strip()
            if not text:
                continue
            try:
                networks.append(ipaddress.ip_network(text, strict=True))
            except ValueError as exc:
                raise ValueError(f"{ENV_ALLOW_CIDRS}: {text!r} is not a CIDR ({exc})") from None
        self.allow_networks: tuple[IPNetwork, ...] = tuple(networks)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EgressPolicy:
        """Read `EGRESS_ALLOW_CIDRS` (comma-separated CIDRs, default none)."""
        env = os.environ if environ is None else environ
        return cls(env.get(ENV_ALLOW_CIDRS, "").split(","))

    def __repr__(self) -> str:
        return f"EgressPolicy({[str(n) for n in self.allow_networks]!r})"

    def permits(self, ip: IPAddress) -> bool:
        """True when the operator allowlist covers this address."""
        ip = _plain(ip)
        return any(ip in net for net in self.allow_networks if net.version == ip.version)

    def is_blocked(self, ip: IPAddress) -> bool:
        """True when connecting to this address must be refused."""
        ip = _plain(ip)
        return (_hardened_refuses(ip) or _we_refuse(ip)) and not self.permits(ip)

    def check_host(self, host: str) -> None:
        """Refuse, without any DNS query, a metadata name or a blocked IP literal."""
        name = host.strip("[]").rstrip(".").lower()
        if not name:
            raise BlockedDestinationError("the target URL has no host")
        if name in BLOCKED_HOSTNAMES:
            raise BlockedDestinationError(f"{host} is the metadata server; refused")
        try:
            ip = ipaddress.ip_address(name)
        except ValueError:
            return  # a name: judged once resolved
        if self.is_blocked(ip):
            raise BlockedDestinationError(_refusal(host, ip))

    def resolve(self, host: str, port: int) -> IPAddress:
        """Resolve `host` once and return the address to connect to, or refuse it."""
        self.check_host(host)
        checking = _CHECKING_FOR.set(self)
        try:
            ip, _ = get_ip_address(host.strip("[]"), port, allow_loopback=False)
        except InvalidIPAddress as exc:
            ip = exc.args[0]
            if not self.permits(ip):
                raise BlockedDestinationError(_refusal(host, ip)) from None
            return ip
        except socket.gaierror as exc:
            raise RetryableTargetError(f"cannot resolve {host}: {exc}") from None
        except UnicodeError:
            raise TargetError(f"{host!r} is not a valid host name") from None
        finally:
            _CHECKING_FOR.reset(checking)
        if self.is_blocked(ip):
            raise BlockedDestinationError(_refusal(host, ip))
        return ip

    def mount(self, session: requests.Session) -> requests.Session:
        """Make every http(s) request of `session` go through this policy."""
        # Replace all adapters, not just the two prefixes: a longer prefix someone mounted
        # (say "https://api.example.com") would otherwise win and skip the guard.
        for adapter in session.adapters.values():
            adapter.close()
        session.adapters.clear()
        session.mount("https://", _GuardedAdapter(self, is_https=True))
        session.mount("http://", _GuardedAdapter(self, is_https=False))
        # Proxies from the environment would resolve the name themselves, and .netrc could
        # add credentials nobody configured: neither applies to a target.
        session.trust_env = False
        return session


class _QuietForAllowlisted(logging.Filter):
    """Drops requests-hardened's "Forbidden IP address" warning for allowlisted addresses.

    It warns before we get to apply the allowlist, so every local delivery (loopback is
    allowlisted in `make dev`) logged a warning about a request that then went through.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        ip = getattr(record, "dst_ip", None)
        policy = _CHECKING_FOR.get()
        return ip is None or policy is None or not policy.permits(ip)


# The policy whose adapter is checking an address right now (this thread or task only).
_CHECKING_FOR: contextvars.ContextVar[EgressPolicy | None] = contextvars.ContextVar(
    "egress_policy", default=None
)
logging.getLogger("requests_hardened.ip_filter").addFilter(_QuietForAllowlisted())


def _refusal(host: str, ip: Any) -> str:
    shown = host.strip("[]")
    where = f"{shown}" if shown == str(ip) else f"{shown} ({ip})"
    return f"{where} is a private or reserved address and is not allowlisted; refused"


# Connections a kept sender keeps open per address: at least the requests one instance
# serves at once (the worker's and deliver's concurrency, 32 in infra/variables.tf), or the
# connections of the requests past it are closed after each use, with a warning logged for
# each (requests' default is 10).
MAX_CONNECTIONS_PER_ADDRESS = 64


class _GuardedAdapter(IPFilterAdapter):
    """requests-hardened's pinning adapter, plus the allowlist and the extra ranges."""

    def __init__(self, policy: EgressPolicy, *, is_https: bool) -> None:
        super().__init__(is_https_proto=is_https, allow_loopback=False)
        self._policy = policy
        self._pool_maxsize = MAX_CONNECTIONS_PER_ADDRESS  # what requests pickles and restores
        self.init_poolmanager(self._pool_connections, MAX_CONNECTIONS_PER_ADDRESS,
                              block=self._pool_block)

    def build_connection_pool_key_attributes(
        self,
        request: requests.PreparedRequest,
        verify: bool | str,
        cert: str | tuple[str, str] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host = urlparse(request.url).hostname or ""
        self._policy.check_host(host)
        checking = _CHECKING_FOR.set(self._policy)
        try:
            host_params, pool_kwargs = super().build_connection_pool_key_attributes(
                request, verify, cert
            )
        except InvalidIPAddress as exc:
            ip = exc.args[0]  # the one address requests-hardened resolved and refused
            if not self._policy.permits(ip):
                raise BlockedDestinationError(_refusal(host, ip)) from None
            return self._pin_allowlisted(request, verify, cert, host, ip)
        finally:
            _CHECKING_FOR.reset(checking)
        ip = ipaddress.ip_address(host_params["host"].strip("[]"))
        if self._policy.is_blocked(ip):
            raise BlockedDestinationError(_refusal(host, ip))
        return host_params, pool_kwargs

    def _pin_allowlisted(
        self,
        request: requests.PreparedRequest,
        verify: bool | str,
        cert: str | tuple[str, str] | None,
        host: str,
        ip: IPAddress,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        # requests-hardened has set the Host header already but raised before pinning;
        # pin the address it resolved (no second lookup) with the same TLS settings.
        host_params, pool_kwargs = HTTPAdapter.build_connection_pool_key_attributes(
            self, request, verify, cert
        )
        if self._is_https_proto:
            pool_kwargs["assert_hostname"] = host
            if self._tls_sni_support:
                pool_kwargs["server_hostname"] = host
        host_params["host"] = f"[{ip}]" if ip.version == 6 else str(ip)
        return host_params, pool_kwargs
