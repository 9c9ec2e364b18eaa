"""Fixtures borrowed from other suites, once for this directory: the e2e `platform` (its
functions run in this process, so two session platforms, one per importing module, would
talk to each other's emulators) and the in-memory `fakes` of tests/functions."""

from __future__ import annotations

from tests.e2e.conftest import platform  # noqa: F401 (re-exported fixture)
from tests.functions.conftest import fakes  # noqa: F401 (re-exported fixture)
