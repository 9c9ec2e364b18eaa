"""Fixtures borrowed from another suite, once for this directory: the in-memory `fakes` of
tests/functions. The session's `platform` comes from tests/conftest.py."""

from __future__ import annotations

from tests.functions.conftest import fakes  # noqa: F401 (re-exported fixture)
