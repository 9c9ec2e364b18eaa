"""Where a target may point, judged without the network: URL shape, host names, IP literals.

Validation uses this to refuse, when a document is saved, what every message would fail
on later: a URL that is not http(s), has no host or a bad port, or names an address the
egress policy refuses. It is pure (no DNS, no requests): names are judged again, once
resolved, by `mapper.targets.egress` when a message is sent.

The address rule is the egress policy's (`mapper/targets/egress.py`): requests-hardened
1.3.0's refusals (`ip.is_private`, `ip.is_multicast` and its extra ranges) plus the
egress module's own (IPv6 `is_reserved`, `fec0::/10`), unless the operator's allowlist
(`EGRESS_ALLOW_CIDRS`) covers the address. tests/security/test_validate_urls.py holds the
two to each other.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ENV_ALLOW_CIDRS = "EGRESS_ALLOW_CIDRS"
SCHEMES = ("http", "https")
MAX_HOST_CHARS = 253  # DNS: a name of at most 253 characters, labels of at most 63
MAX_LABEL_CHARS = 63

# Names that only ever mean the cloud metadata server (egress.BLOCKED_HOSTNAMES).
METADATA_HOSTNAMES = frozenset({"metadata.google.internal", "metadata", "metadata.goog"})

# requests-hardened 1.3.0's EXTRA_BLOCKED_NET_RANGES, then the egress module's fec0::/10.
REFUSED_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "192.88.99.0/24",
        "100.64.0.0/10",
        "5f00::/16",
        "64:ff9b::/96",
        "2001:20::/28",
        "192.0.0.0/24",
        "64:ff9b:1::/48",
        "2002::/16",
        "3fff::/20",
        "fec0::/10",
    )
)

# The allowlist of checks made for what sends nothing (a preview): no address is refused.
NOTHING_SENT = ("0.0.0.0/0", "::/0")
# What `localhost` (and any name under `.localhost`, RFC 6761) resolves to: judged as these
# before any DNS, as the IP literals are, so that `localhost` and `127.0.0.1` agree.
LOOPBACK_ADDRESSES = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))

_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?")
_NUMERIC = re.compile(r"[0-9][0-9a-fx.]*")  # what inet_aton might read as an IPv4 address


def allowlist(environ: Mapping[str, str] | None = None) -> tuple[IPNetwork, ...]:
    """The operator's allowlist (`EGRESS_ALLOW_CIDRS`); entries that do not parse are left out.

    The egress policy refuses to start with such an entry, so it never sends to one either.
    """
    env = os.environ if environ is None else environ
    return networks(env.get(ENV_ALLOW_CIDRS, "").split(","))


def networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDRs as networks, skipping blanks and what does not parse."""
    out: list[IPNetwork] = []
    for text in cidrs:
        try:
            out.append(ipaddress.ip_network(text.strip(), strict=True))
        except ValueError:
            continue
    return tuple(out)


def plain(ip: IPAddress) -> IPAddress:
    """The IPv4 address inside an IPv4-mapped IPv6 one (it reaches that IPv4 host)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_refused(ip: IPAddress, allow: Iterable[IPNetwork] = ()) -> bool:
    """Whether the egress policy refuses to connect to this address, allowlist considered."""
    ip = plain(ip)
    refused = (
        ip.is_private
        or ip.is_multicast
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_reserved)
        or any(ip in net for net in REFUSED_NETWORKS if net.version == ip.version)
    )
    return refused and not any(ip in net for net in allow if net.version == ip.version)


def literal_address(host: str) -> IPAddress | None:
    """The address a host names without DNS: an IP literal, or an IPv4 shorthand
    (`127.1`, `0x7f.0.0.1`, `2130706433`) that the resolver reads as one; else None."""
    name = host.strip("[]").rstrip(".").lower()
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        pass
    if _NUMERIC.fullmatch(name):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            return None
    return None


def host_problem(host: str, allow: Iterable[IPNetwork] = ()) -> str | None:
    """Why a target may not use this host (a name or an IP literal); None when it may."""
    name = host.strip("[]").rstrip(".").lower()
    if not name:
        return "has no host"
    if name in METADATA_HOSTNAMES:
        return f"{host} is the metadata server; targets may not reach it"
    if name == "localhost" or name.endswith(".localhost"):
        allow = tuple(allow)
        if all(is_refused(ip, allow) for ip in LOOPBACK_ADDRESSES):
            return (
                f"{host} is this machine (loopback) and is not allowlisted "
                f"({ENV_ALLOW_CIDRS}); targets may only reach public addresses"
            )
        return None
    ip = literal_address(name)
    if ip is not None:
        if is_refused(ip, allow):
            return (
                f"{host} is a private or reserved address and is not allowlisted "
                f"({ENV_ALLOW_CIDRS}); targets may only reach public addresses"
            )
        return None
    if ":" in name:
        return f"{host!r} is not a valid IPv6 address"
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return f"{host!r} is not a valid host name"
    labels = ascii_name.split(".")
    if len(ascii_name) > MAX_HOST_CHARS or not all(
        len(label) <= MAX_LABEL_CHARS and _LABEL.fullmatch(label) for label in labels
    ):
        return f"{host!r} is not a valid host name"
    return None


def url_problem(url: str, allow: Iterable[IPNetwork] = ()) -> str | None:
    """Why a target may not use this URL: scheme, host, port, address; None when it may."""
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL (check the host and the port)"
    if parts.scheme not in SCHEMES or not url[len(parts.scheme) :].startswith("://"):
        return "must start with http:// or https://"
    if "@" in parts.netloc:
        # They would sit in the document, the runs and the logs as plain text, never as a
        # secret: basic auth and OAuth2's clientSecret are the fields that keep them.
        return "must not hold credentials (user:password@); give them as the target's auth"
    if not parts.hostname:
        return "has no host (expected http(s)://host/...)"
    if port == 0:
        return "has port 0; a port is a number from 1 to 65535"
    return host_problem(parts.hostname, allow)
