"""Suite-wide settings."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from tests.e2e.conftest import running_platform

# Timing is never what these properties assert: on a busy 2-core CI machine a single slow
# draw (a garbage collection, an emulator starting) must not fail a run.
settings.register_profile(
    "suite", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("suite")

# One platform per session for every directory that uses it (e2e, security): its functions
# run in this process and build their clients once, so a second platform would send them
# to the first one's emulators. Registered here, once, and started only when asked for.
platform = pytest.fixture(scope="session", name="platform")(running_platform)
