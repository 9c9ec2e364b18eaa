"""RECORD_AT_ACCEPT: on unless set to false; anything else is refused at start-up."""

from __future__ import annotations

import pytest

from mapper.services import record_at_accept


def test_unset_records_at_accept() -> None:
    assert record_at_accept({}) is True


def test_true_and_false_in_any_case() -> None:
    assert record_at_accept({"RECORD_AT_ACCEPT": "false"}) is False
    assert record_at_accept({"RECORD_AT_ACCEPT": "FALSE"}) is False
    assert record_at_accept({"RECORD_AT_ACCEPT": "True"}) is True


@pytest.mark.parametrize("value", ["0", "no", "off", "yes"])
def test_other_values_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="RECORD_AT_ACCEPT must be true or false"):
        record_at_accept({"RECORD_AT_ACCEPT": value})
