"""Suite-wide settings."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# Timing is never what these properties assert: on a busy 2-core CI machine a single slow
# draw (a garbage collection, an emulator starting) must not fail a run.
settings.register_profile(
    "suite", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("suite")
