"""The scheduled tick's `source.drift` sender (docs/mapping.md, "Source shape and drift").

The intake files drift on a path a mapping reads in the integration's shape document, in
the merge that found it (`shape.with_notices`); it makes no network call for it. Here, on
each tick, the integrations whose shape holds such notices are listed, and each one's
notices are taken and cleared in one transaction before they are sent: two ticks that
overlap cannot send the same drift twice. At most one `source.drift` per integration a
minute: notices filed after a minute's notification wait for a later tick.

A drift is notified at most once. A POST or mail that fails is logged, not retried: the
drift stays listed by `GET /api/integrations/{id}/source_schema/` and flagged in the UI.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import MapperError
from .integrations import Integrations
from .ports import Notifier, NotifyEvent, SourceShapes

log = logging.getLogger("mapper.drift")

DRIFT_SWEEP_LIMIT = 100  # integrations notified per tick; the rest wait for the next one
NOTIFY_WINDOW_S = 60  # the notifier's own window: one notification per type a minute


@dataclass
class DriftReport:
    """What one pass did: notifications sent, drift taken but not sent, failures."""

    notified: int = 0
    dropped: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"notified": self.notified, "dropped": self.dropped, "failed": self.failed}


class DriftNotices:
    """Sends each integration's filed drift as one `source.drift` notification."""

    def __init__(
        self,
        shapes: SourceShapes,
        integrations: Integrations,
        notifier: Notifier,
        *,
        limit: int = DRIFT_SWEEP_LIMIT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._shapes = shapes
        self._integrations = integrations
        self._notifier = notifier
        self._limit = limit
        self._clock = clock

    def sweep(self) -> DriftReport:
        """Notify the drift filed since the last pass, one notification per integration."""
        report = DriftReport()
        try:
            pending = self._shapes.pending_drift(self._limit)
        except MapperError as exc:
            log.warning("source drift to notify not listed: %s", exc)
            report.failed += 1
            return report
        window = int(self._clock() // NOTIFY_WINDOW_S)
        for integration_id in pending:
            try:
                self._notify(integration_id, window, report)
            except MapperError as exc:
                log.warning("integration %s: source.drift not notified: %s", integration_id, exc)
                report.failed += 1
        return report

    def _notify(self, integration_id: str, window: int, report: DriftReport) -> None:
        taken = self._shapes.take_drift(integration_id, window)
        if taken is None:
            return
        integration = self._integrations.by_id(integration_id)
        if integration is None or integration.notify is None:
            # Deleted, or its `notify` removed since the drift was filed: nobody to tell.
            report.dropped += 1
            return
        data: dict[str, Any] = {"drift": taken["drift"]}
        if taken.get("more"):
            data["more"] = taken["more"]  # filed past MAX_DRIFT_NOTICES, not listed
        if self._notifier.notify(integration, NotifyEvent.SOURCE_DRIFT, data):
            report.notified += 1
            return
        log.warning(
            "integration %s: source.drift on %s was not sent (see the notifier's line)",
            integration_id, ", ".join(f"{d['path']} {d['kind']}" for d in taken["drift"]),
        )
        report.failed += 1
