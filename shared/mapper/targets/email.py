"""The email target: one SMTP message per payload, through the egress guard.

  * Connection: `useSSL` connects with implicit TLS (SMTP_SSL; it wins when both flags are
    set), else `useTLS` upgrades with STARTTLS and fails (never falls back to plain text)
    when the server does not offer it. Certificates are verified against `smtpServer` with
    the system trust store unless an `ssl_context` is passed in. With `smtpUsername` the
    sender logs in, the password coming from the SecretResolver. A login with both TLS
    options off would send the password in clear text: it is refused before connecting
    unless the operator names the server in `SMTP_PLAINTEXT_ALLOW` (comma-separated host
    names, as written in `smtpServer`; the local stack names loopback).
  * `toEmail` and `subject` may hold `{{path}}` placeholders (mapper.engine.templates, the
    `template` transform's rules): each is read from the transformed payload, then, when
    missing or null there, from the source payload; still missing renders as "". Strings go
    in as they are, other values as JavaScript writes them (numbers, compact JSON).
  * `toEmail` is a comma-separated list of `addr` or `Name <addr>` (no commas inside
    names), at most MAX_RECIPIENTS; every address must be a plain ASCII `local@domain`.
  * The body, UTF-8: with a `body` template, that template filled in as `toEmail` is, sent
    as text/plain (`bodyType: text`) or text/html (`bodyType: html`, where each filled-in
    value is HTML-escaped, so a payload cannot add markup or script). Without one,
    text/plain: a string payload as it is; an object payload with a string `body` field,
    that field (so a mapping can write the text of the mail); any other payload as pretty
    JSON.
  * A CR, LF or NUL in From, To or Subject (after templating) is refused before connecting,
    and so is a value filled in from a payload that holds an RFC 2047 encoded word
    (`=?charset?q?...?=`): the email package decodes those, and a decoded CR LF would become
    a header line of its own (a `Bcc:`, a second `Content-Type`). As a second line of
    defence the header lines are checked as serialized: exactly the ones written, once each.

Outcomes: delivered when the server accepts DATA; SMTP 4xx replies, timeouts and connection
errors are RetryableTargetError; 5xx replies, a refused login and missing STARTTLS are
TargetError. When some recipients are accepted and others refused, the message has gone to
the first ones, so the error is permanent (a retry would send it twice).
"""

from __future__ import annotations

import html
import json
import os
import re
import smtplib
import ssl
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from email.errors import MessageError
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

from ..engine.config import EmailTarget
from ..engine.templates import Template
from ..errors import (
    ConfigError,
    PartiallyDelivered,
    PathError,
    Problem,
    RetryableTargetError,
    TargetError,
    TlsNotOffered,
)
from .base import Delivery, SecretResolver, scrub
from .egress import EgressPolicy

SMTP_TIMEOUT_S = 30.0  # per socket operation; EmailTarget has no timeout field
ENV_PLAINTEXT_ALLOW = "SMTP_PLAINTEXT_ALLOW"
MAX_RECIPIENTS = 50
_FORBIDDEN_IN_HEADERS = ("\r", "\n", "\0")
# Lenient on purpose: anything the email package's parser might take for an encoded word.
_ENCODED_WORD = re.compile(r"=\?.*?\?=", re.DOTALL)
# The header lines `send` writes, each once; anything else in the serialized message was
# injected by a value.
_WRITTEN_HEADERS = (
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Content-Type",
    "Content-Transfer-Encoding",
    "MIME-Version",
)
# A deliberately plain address: dot-atom local part, dot-separated DNS labels.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")


class _Template:
    """A header template with `{{path}}` placeholders (mapper.engine.templates), parsed once."""

    def __init__(self, text: str, where: str, header: str) -> None:
        self.header = header
        try:
            self._template = Template(text)
        except PathError as exc:
            raise ConfigError([Problem(where, str(exc))]) from None

    def render(self, payload: Any, context: Any) -> str:
        """Fill each placeholder from `payload`, falling back to `context`."""
        return self._template.render(payload, context, self._refuse_encoded_words)

    def _refuse_encoded_words(self, placeholder: str, text: str) -> None:
        if _ENCODED_WORD.search(text):
            raise TargetError(
                f"the {self.header} header's value for {placeholder} holds an RFC 2047 "
                "encoded word (=?...?=), which mail software decodes; refused"
            )


class EmailTargetSender:
    """Sends each payload as one email over SMTP."""

    def __init__(
        self,
        config: EmailTarget,
        secrets: SecretResolver,
        egress: EgressPolicy,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = SMTP_TIMEOUT_S,
        local_hostname: str | None = None,
        plaintext_login_hosts: Iterable[str] | None = None,
    ) -> None:
        self.config = config
        if plaintext_login_hosts is None:
            plaintext_login_hosts = os.environ.get(ENV_PLAINTEXT_ALLOW, "").split(",")
        self._plaintext_ok = {_host_key(h) for h in plaintext_login_hosts if h.strip()}
        self._secrets = secrets
        self._egress = egress
        self._ssl_context = ssl_context
        self._timeout = timeout
        self._local_hostname = local_hostname
        self._to = _Template(config.to_email, "target.toEmail", "To")
        self._subject = _Template(config.subject, "target.subject", "Subject")
        self._body: Template | None = None
        if config.body is not None:
            try:
                self._body = Template(config.body)
            except PathError as exc:
                raise ConfigError([Problem("target.body", str(exc))]) from None

    def close(self) -> None:
        """Nothing to release: each message opens and closes its own SMTP connection."""

    def send(self, payload: Any, context: Any, run_id: str | None = None) -> Delivery:
        """Send one email; return the Delivery or raise a TargetError carrying it."""
        cfg = self.config
        if cfg.smtp_username and not (cfg.use_tls or cfg.use_ssl):
            if _host_key(cfg.smtp_server) not in self._plaintext_ok:
                raise TargetError(
                    f"login to {cfg.smtp_server} with useTLS and useSSL both off would send "
                    "the password in clear text; turn one on, or have the operator name the "
                    f"server in {ENV_PLAINTEXT_ALLOW}"
                )
        to_text = self._to.render(payload, context)
        subject = self._subject.render(payload, context)
        for name, value in (("From", cfg.from_email), ("To", to_text), ("Subject", subject)):
            if any(ch in value for ch in _FORBIDDEN_IN_HEADERS):
                message = f"the {name} header contains a line break or NUL; refused"
                raise TargetError(message)
        senders = _addresses(cfg.from_email, "fromEmail")
        if len(senders) != 1:
            raise TargetError("fromEmail must hold exactly one address")
        sender = senders[0]
        recipients = _addresses(to_text, "toEmail")
        if len(recipients) > MAX_RECIPIENTS:
            message = f"toEmail has {len(recipients)} addresses; at most {MAX_RECIPIENTS}"
            raise TargetError(message)
        body = self._body_text(payload, context)
        try:
            msg = EmailMessage()
            msg["From"] = cfg.from_email
            msg["To"] = to_text
            msg["Subject"] = subject
            msg["Date"] = format_datetime(datetime.now(timezone.utc))
            msg["Message-ID"] = _message_id(run_id, sender.rpartition("@")[2])
            msg.set_content(body, subtype="html" if self._html else "plain")
            data = msg.as_bytes(policy=SMTP_POLICY)
        except (MessageError, ValueError, TypeError) as exc:
            raise TargetError(f"cannot build the message: {exc}") from None
        _check_header_lines(data)

        secret_values: list[str] = []
        password = None
        if cfg.smtp_username:
            password = ""
            if cfg.smtp_password is not None:
                password = self._secrets.resolve(cfg.smtp_password)
                secret_values.append(password)
        delivery = Delivery(
            request={
                "method": "SMTP",
                "url": f"smtp://{_host_for_url(cfg.smtp_server)}:{cfg.smtp_port}",
                "headers": {"From": cfg.from_email, "To": to_text, "Subject": subject},
                "body": body,
            },
            secret_values=secret_values,
        )
        started = time.monotonic()
        try:
            address = self._egress.resolve(cfg.smtp_server, cfg.smtp_port)
            code, reply, refused = self._deliver(str(address), password, sender, recipients, data)
        except TargetError as exc:
            raise exc.with_delivery(_timed(delivery, started)) from None
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            if isinstance(exc, smtplib.SMTPRecipientsRefused):
                delivery.response = _response(*_first_refusal(exc.recipients))
            elif isinstance(exc, smtplib.SMTPResponseException):
                delivery.response = _response(exc.smtp_code, exc.smtp_error)
            error = _smtp_error(exc, secret_values)
            raise error.with_delivery(_timed(delivery, started)) from None
        delivery.response = _response(code, reply)
        if refused:
            # Some recipients have it already: a retry would send it to them twice.
            accepted = [r for r in recipients if r not in refused]
            codes = ", ".join(f"{r} {c}" for r, (c, _) in refused.items())
            delivery.response["refused"] = {r: [c, _decode(m)] for r, (c, m) in refused.items()}
            error = PartiallyDelivered(f"sent to {', '.join(accepted)} but refused for {codes}")
            raise error.with_delivery(_timed(delivery, started))
        return _timed(delivery, started)

    @property
    def _html(self) -> bool:
        return self._body is not None and self.config.body_type == "html"

    def _body_text(self, payload: Any, context: Any) -> str:
        if self._body is None:
            return _body(payload)
        return self._body.render(payload, context, encode=_escape if self._html else None)

    def check(self) -> None:
        """Connect, greet and start TLS as a send would, then quit; raise a TargetError if not.

        Nothing is sent and nobody logs in: this is the "can the target be reached" check.
        """
        cfg = self.config
        try:
            address = self._egress.resolve(cfg.smtp_server, cfg.smtp_port)
            smtp = self._connect(str(address))
        except TargetError:
            raise
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            raise _smtp_error(exc, []) from None
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _connect(self, address: str) -> smtplib.SMTP:
        """An SMTP connection to `address`, greeted, in TLS as configured."""
        cfg = self.config
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()  # system trust store, once
        context = self._ssl_context
        smtp: smtplib.SMTP
        if cfg.use_ssl:
            smtp = _PinnedSMTPSSL(
                address,
                timeout=self._timeout,
                local_hostname=self._local_hostname,
                context=context,
            )
        else:
            smtp = _PinnedSMTP(address, timeout=self._timeout, local_hostname=self._local_hostname)
        try:
            code, banner = smtp.connect(cfg.smtp_server, cfg.smtp_port)
            if code != 220:
                raise smtplib.SMTPConnectError(code, banner)
            if cfg.use_tls and not cfg.use_ssl:
                smtp.ehlo_or_helo_if_needed()
                if not smtp.has_extn("starttls"):
                    raise TlsNotOffered(_starttls_missing(cfg.smtp_server, cfg.smtp_port))
                smtp.starttls(context=context)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _deliver(
        self,
        address: str,
        password: str | None,
        sender: str,
        recipients: list[str],
        data: bytes,
    ) -> tuple[int, bytes, dict[str, tuple[int, bytes]]]:
        cfg = self.config
        smtp = self._connect(address)
        try:
            if cfg.smtp_username and password is not None:
                smtp.login(cfg.smtp_username, password)
            result = _transmit(smtp, sender, recipients, data)
        except BaseException:
            smtp.close()
            raise
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()  # the message was accepted already; a failed QUIT changes nothing
        return result


def _starttls_missing(server: str, port: int) -> str:
    return (
        f"{server}:{port} does not offer STARTTLS, which useTLS asks for: turn useTLS off "
        "for a server that speaks plain SMTP (such as the local mail catcher), or use the "
        "server's TLS port with useSSL"
    )


class _Pinned:
    """Connects to the address the egress policy resolved, never to a fresh lookup."""

    _address: str
    _host: str

    def __init__(self, address: str, **kwargs: Any) -> None:
        self._address = address
        super().__init__(**kwargs)

    def connect(self, host: str = "localhost", port: int = 0, source_address: Any = None) -> Any:
        # smtplib sets `_host` (the name TLS verifies) only in __init__; set it here too.
        self._host = host
        return super().connect(host, port, source_address)  # type: ignore[misc]

    def _get_socket(self, host: str, port: int, timeout: float) -> Any:
        return super()._get_socket(self._address, port, timeout)  # type: ignore[misc]


class _PinnedSMTP(_Pinned, smtplib.SMTP):
    pass


class _PinnedSMTPSSL(_Pinned, smtplib.SMTP_SSL):
    pass


def _transmit(
    smtp: smtplib.SMTP, sender: str, recipients: list[str], data: bytes
) -> tuple[int, bytes, dict[str, tuple[int, bytes]]]:
    # smtplib.sendmail without discarding the server's final reply, which the run records.
    smtp.ehlo_or_helo_if_needed()
    code, reply = smtp.mail(sender)
    if code != 250:
        smtp.rset()
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    refused: dict[str, tuple[int, bytes]] = {}
    for rcpt in recipients:
        code, reply = smtp.rcpt(rcpt)
        if code not in (250, 251):
            refused[rcpt] = (code, reply)
    if len(refused) == len(recipients):
        smtp.rset()
        raise smtplib.SMTPRecipientsRefused(refused)
    code, reply = smtp.data(data)
    if code != 250:
        smtp.rset()
        raise smtplib.SMTPDataError(code, reply)
    return code, reply, refused


def _smtp_error(exc: BaseException, secret_values: list[str]) -> TargetError:
    error = _classify(exc)
    return type(error)(scrub(str(error), secret_values))


def _classify(exc: BaseException) -> TargetError:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        retry = all(400 <= code < 500 for code in codes)
        return _by_retry(retry, f"every recipient was refused ({', '.join(map(str, codes))})")
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        what = "login refused" if isinstance(exc, smtplib.SMTPAuthenticationError) else "refused"
        text = _decode(exc.smtp_error)
        # 4xx is the server saying "later"; anything else that is not 5xx is a broken dialog.
        return _by_retry(not 500 <= code < 600, f"SMTP {what}: {code} {text}")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return RetryableTargetError(f"SMTP server disconnected: {exc}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return TargetError(f"SMTP server does not support what is configured: {exc}")
    if isinstance(exc, smtplib.SMTPException):
        return TargetError(f"SMTP failed: {exc}")
    if isinstance(exc, TimeoutError):
        return RetryableTargetError(f"SMTP timed out: {exc or 'no answer'}")
    if isinstance(exc, OSError):  # before ValueError: certificate errors are both
        return RetryableTargetError(f"SMTP connection failed: {exc}")
    # smtplib encodes login data as ASCII; nothing else raises ValueError here.
    return TargetError(f"SMTP cannot send these credentials: {exc}")


def _by_retry(retry: bool, message: str) -> TargetError:
    return RetryableTargetError(message) if retry else TargetError(message)


def _first_refusal(refused: dict[str, tuple[int, bytes]]) -> tuple[int, bytes]:
    return next(iter(refused.values()))


def _response(code: int, reply: bytes | str) -> dict[str, Any]:
    return {"status": code, "headers": {}, "body": _decode(reply), "truncated": False}


def _timed(delivery: Delivery, started: float) -> Delivery:
    delivery.duration_ms = (time.monotonic() - started) * 1000
    return delivery


def _addresses(text: str, field: str) -> list[str]:
    # Split on commas ourselves and demand that each piece is exactly `addr` or
    # `Name <addr>`: email.utils' lenient parsing must not turn one string into others.
    found: list[str] = []
    for piece in (p.strip() for p in text.split(",")):
        if not piece:
            continue
        _name, addr = parseaddr(piece)
        if not (_ADDRESS.fullmatch(addr) and (piece == addr or piece.endswith(f"<{addr}>"))):
            raise TargetError(f"{field}: {piece!r} is not a valid email address")
        found.append(addr)
    if not found:
        raise TargetError(f"{field} holds no address")
    return found


def _check_header_lines(data: bytes) -> None:
    """Refuse a serialized message whose header lines are not exactly the ones written."""
    head = data.partition(b"\r\n\r\n")[0]
    names: list[str] = []
    for line in head.split(b"\r\n"):
        if b"\r" in line or b"\n" in line:
            raise TargetError("a header line holds a bare line break as serialized; refused")
        if line[:1] in (b" ", b"\t"):
            continue  # a folded continuation of the line before
        names.append(line.partition(b":")[0][:40].decode("ascii", errors="replace"))
    if sorted(names) != sorted(_WRITTEN_HEADERS):
        found = ", ".join(names[:12])
        raise TargetError(
            f"the message's header lines as serialized are not the ones written ({found}): "
            "a header value holds a line of its own; refused"
        )


def _body(payload: Any) -> str:
    if isinstance(payload, str):
        return payload
    if isinstance(payload, dict) and isinstance(payload.get("body"), str):
        return payload["body"]
    return json.dumps(payload, ensure_ascii=False, indent=2, default=str)


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def _decode(reply: bytes | str) -> str:
    return reply.decode("utf-8", errors="replace") if isinstance(reply, bytes) else str(reply)


def _host_key(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _message_id(run_id: str | None, domain: str) -> str:
    """The same Message-ID on every attempt of one run, so that mail systems can deduplicate."""
    if not run_id:
        return make_msgid(domain=domain)
    local = re.sub(r"[^A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]", "-", run_id)
    return f"<{local}@{domain or 'mapper.invalid'}>"
