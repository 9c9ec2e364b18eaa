"""SES is fetched at setup, not committed: a checkout that skipped setup says what to run."""

from __future__ import annotations

import pytest

from mapper.engine import sandbox


def test_a_missing_fetched_file_names_the_setup_command() -> None:
    with pytest.raises(FileNotFoundError, match=r"vendor/absent\.js is missing.*make \.venv"):
        sandbox._fetched("absent.js")


def test_ses_is_read_from_the_fetched_folder() -> None:
    assert sandbox._fetched(sandbox.SES_FILE) == sandbox._SES_JS
    assert "lockdown" in sandbox._SES_JS
