"""Helpers for target tests: a dict secret store, a self-signed certificate, free ports, a
local keep-alive server that counts its TCP connections."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mapper.engine.config import SecretRef
from mapper.errors import SecretError
from mapper.targets.egress import EgressPolicy

LOOPBACK = EgressPolicy(["127.0.0.0/8"])  # tests reach their local servers through this


class DictSecrets:
    """A SecretResolver backed by a dict of resource name -> value."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values = dict(values or {})

    def resolve(self, value: str | SecretRef) -> str:
        """Plain strings as they are; references looked up in the dict."""
        if isinstance(value, str):
            return value
        try:
            return self.values[value.secret]
        except KeyError:
            raise SecretError(f"no secret {value.secret}") from None


@dataclass(frozen=True)
class Cert:
    """A self-signed certificate for 127.0.0.1 and localhost."""

    cert_path: str
    key_path: str
    pem: str

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_path, self.key_path)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.pem)


def make_cert(folder: Path) -> Cert:
    """Write a fresh self-signed certificate and key into `folder`."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
    (folder / "cert.pem").write_text(pem)
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Cert(str(folder / "cert.pem"), str(folder / "key.pem"), pem)


def free_port() -> int:
    """A loopback port nothing listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class KeepAlive(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; one handler per TCP connection, so each one is counted."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: CountingServer

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        with self.server.lock:
            self.server.auth.append(self.headers.get("Authorization"))
        time.sleep(self.server.delay_s)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        pass


class CountingServer(ThreadingHTTPServer):
    """Answers every POST `{}` after `delay_s`; counts connections, keeps Authorization."""

    daemon_threads = True
    request_queue_size = 128  # many connections opened at once are all accepted

    def __init__(self, host: str = "127.0.0.1", delay_s: float = 0.0) -> None:
        super().__init__((host, 0), KeepAlive)
        self.lock = threading.Lock()
        self.connections = 0
        self.auth: list[str | None] = []
        self.delay_s = delay_s

    def url(self, path: str = "/hook") -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{path}"


Server = TypeVar("Server", bound=ThreadingHTTPServer)


@contextmanager
def serving(server: Server) -> Iterator[Server]:
    """Serve `server` on a thread of its own until the block ends, then close it."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
