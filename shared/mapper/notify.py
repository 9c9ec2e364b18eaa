"""Operational notifications: an integration's events POSTed to `notify.url` and mailed to
`notify.email` (docs/delivery.md, "Notifications").

    POST   the event as JSON, signed with Standard Webhooks headers (targets/signing.py):
           the target's signing keys when the target signs, else the integration's own
           notify key (`notify.secret`, generated on save). `webhook-id` is the same for
           one integration, type and minute, so a receiver can deduplicate.
    email  through the platform's SMTP server (NOTIFY_SMTP_*; none set: no mail).

Both go through the targets' own senders, so the egress policy, pinned addresses, no
redirects and bounded timeouts hold for them as for deliveries. At most one notification
per integration and type a minute (`NotifyWindows`, counted across instances); the next
one sent carries how many were held back (`data.count`, `data.since`).

Notifying never fails what called it: every failure is logged and swallowed, and each
network operation is bounded by NOTIFY_TIMEOUT_S. It runs inline, after the run is
recorded and before the function answers (no thread outlives the request).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .engine.config import EmailTarget, HttpTarget, Integration, SigningConfig
from .errors import MapperError
from .pipeline.ports import Notification, NotifyEvent, NotifyWindows
from .targets import EgressPolicy, SecretResolver
from .targets.email import EmailTargetSender
from .targets.http import HttpTargetSender
from .timestamps import epoch_iso

log = logging.getLogger("mapper.notify")

NOTIFY_TIMEOUT_S = 5.0  # each connect, read or SMTP step of one notification
SMTP_TLS_MODES = ("starttls", "ssl", "none")

__all__ = ["Notification", "NotifyEvent", "PlatformNotifier", "SmtpSettings"]


@dataclass(frozen=True)
class SmtpSettings:
    """The platform's SMTP server for notification mail (NOTIFY_SMTP_*).

    With `username`, the mail logs in; its password is read from Secret Manager at send time
    (`password_secret`: a secret version's name), as an email target's password is.
    """

    host: str
    port: int = 587
    sender: str = "mapper@localhost"
    tls: str = "starttls"  # one of SMTP_TLS_MODES
    username: str | None = None
    password_secret: str | None = None  # projects/…/secrets/…/versions/…; None: empty

    def __post_init__(self) -> None:
        if self.tls not in SMTP_TLS_MODES:
            raise ValueError(f"NOTIFY_SMTP_TLS must be one of {SMTP_TLS_MODES}, not {self.tls!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SmtpSettings | None:
        """The settings, or None when NOTIFY_SMTP_HOST is not set (no notification mail)."""
        host = env.get("NOTIFY_SMTP_HOST", "")
        if not host:
            return None
        return cls(
            host=host,
            port=int(env.get("NOTIFY_SMTP_PORT") or 587),
            sender=env.get("NOTIFY_SMTP_FROM") or "mapper@localhost",
            tls=(env.get("NOTIFY_SMTP_TLS") or "starttls").lower(),
            username=env.get("NOTIFY_SMTP_USER") or None,
            password_secret=env.get("NOTIFY_SMTP_PASSWORD_SECRET") or None,
        )


class PlatformNotifier:
    """The `Notifier` port: rate limited per integration and type, POST and/or email."""

    def __init__(
        self,
        windows: NotifyWindows,
        secrets: SecretResolver,
        egress: EgressPolicy,
        smtp: SmtpSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
        timeout_s: float = NOTIFY_TIMEOUT_S,
        plaintext_login_hosts: tuple[str, ...] | None = None,
    ) -> None:
        self._windows = windows
        self._secrets = secrets
        self._egress = egress
        self._smtp = smtp
        self._clock = clock
        self._timeout_s = timeout_s
        self._plaintext = plaintext_login_hosts

    def notify(
        self, integration: Integration, event: NotifyEvent, data: Mapping[str, Any]
    ) -> bool:
        """Send or count the event; True when a notification went out. Never raises."""
        if integration.notify is None or not integration.id:
            return False
        try:
            return self._notify(integration, NotifyEvent(event), data)
        except Exception:  # noqa: BLE001 - a notification must never fail the delivery
            log.exception("integration %s: notifying %s failed", integration.id, event)
            return False

    def _notify(
        self, integration: Integration, event: NotifyEvent, data: Mapping[str, Any]
    ) -> bool:
        assert integration.notify is not None and integration.id
        now = self._clock()
        admission = self._windows.admit(integration.id, event, now)
        if not admission.send:
            log.info("integration %s: %s held back (one a minute)", integration.id, event)
            return False
        fields = dict(data)
        if admission.held:
            fields.update(count=admission.held + 1, since=admission.since)
        at = epoch_iso(now)
        record = Notification(event, integration.id, at, fields)
        msg_id = f"ntf_{integration.id}_{event}_{admission.window}"
        sent = False
        if integration.notify.url:
            sent |= self._post(integration, record, msg_id)
        if integration.notify.email:
            sent |= self._mail(integration, record, msg_id)
        return sent

    def _post(self, integration: Integration, record: Notification, msg_id: str) -> bool:
        notify = integration.notify
        assert notify is not None and notify.url
        config = HttpTarget(
            type="http",
            url=notify.url,
            method="POST",
            timeout_seconds=self._timeout_s,
            idempotency_header=None,
            signing=self._signing(integration),
        )
        sender = HttpTargetSender(config, self._secrets, self._egress)
        try:
            sender.send(record.to_dict(), None, run_id=msg_id)
        except MapperError as exc:
            log.warning("integration %s: the %s POST failed: %s", integration.id,
                        record.type, exc)
            return False
        finally:
            sender.close()
        return True

    def _signing(self, integration: Integration) -> SigningConfig | None:
        target = integration.target
        if isinstance(target, HttpTarget) and target.signing is not None:
            return target.signing  # the receiver already trusts these keys
        notify = integration.notify
        if notify is not None and notify.secret is not None:
            return SigningConfig(secret=notify.secret)
        log.warning("integration %s: no notify key; the POST goes unsigned", integration.id)
        return None

    def _mail(self, integration: Integration, record: Notification, msg_id: str) -> bool:
        notify = integration.notify
        assert notify is not None and notify.email
        smtp = self._smtp
        if smtp is None:
            log.warning("integration %s: notify.email is set but NOTIFY_SMTP_HOST is not; "
                        "no mail sent", integration.id)
            return False
        login: dict[str, Any] = {}
        if smtp.username:
            login["smtp_username"] = smtp.username
            if smtp.password_secret:
                login["smtp_password"] = {"secret": smtp.password_secret}
        config = EmailTarget.model_validate({
            "type": "email",
            "smtp_server": smtp.host,
            "smtp_port": smtp.port,
            "from_email": smtp.sender,
            "to_email": notify.email,
            "subject": f"mapper: {record.type} ({integration.id})",
            "useTLS": smtp.tls == "starttls",
            "useSSL": smtp.tls == "ssl",
            **login,
        })
        sender = EmailTargetSender(
            config,
            self._secrets,
            self._egress,
            timeout=self._timeout_s,
            plaintext_login_hosts=self._plaintext,
        )
        body = {"body": _mail_body(integration, record)}
        try:
            sender.send(body, None, run_id=msg_id)
        except MapperError as exc:
            log.warning("integration %s: the %s mail failed: %s", integration.id,
                        record.type, exc)
            return False
        finally:
            sender.close()
        return True


def _mail_body(integration: Integration, record: Notification) -> str:
    lines = [
        f"{record.type} for integration {integration.name!r} ({record.integration_id})",
        f"at {record.at}",
        "",
        json.dumps(record.to_dict(), indent=2, ensure_ascii=False),
    ]
    return "\n".join(lines) + "\n"
