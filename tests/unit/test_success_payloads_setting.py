"""SUCCESS_PAYLOAD_RETENTION_DAYS: 0 drops a success's payloads, the run's retention keeps them."""

from __future__ import annotations

import pytest

from mapper.services import success_payloads_kept


def test_unset_keeps_them_as_long_as_the_run() -> None:
    assert success_payloads_kept(30, {}) is True


def test_zero_drops_them_and_the_run_retention_or_more_keeps_them() -> None:
    assert success_payloads_kept(30, {"SUCCESS_PAYLOAD_RETENTION_DAYS": "0"}) is False
    assert success_payloads_kept(30, {"SUCCESS_PAYLOAD_RETENTION_DAYS": "30"}) is True
    assert success_payloads_kept(30, {"SUCCESS_PAYLOAD_RETENTION_DAYS": "90"}) is True


def test_a_value_between_is_refused_with_the_reason() -> None:
    refused = "must be 0 or at least RUN_RETENTION_DAYS \\(30\\), not 7"
    with pytest.raises(ValueError, match=refused):
        success_payloads_kept(30, {"SUCCESS_PAYLOAD_RETENTION_DAYS": "7"})
