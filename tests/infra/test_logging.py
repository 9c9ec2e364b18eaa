"""Cloud Run's request logs of the platform's functions are excluded, and nothing else."""

from __future__ import annotations

import re

from .tfconfig import load


def test_the_exclusion_drops_only_the_request_logs_of_every_platform_function() -> None:
    config = load()
    exclusion = config.resource("google_logging_project_exclusion", "request_logs").body
    text = str(exclusion["filter"]).replace('\\"', '"')
    assert 'log_id("run.googleapis.com/requests")' in text
    assert 'resource.type="cloud_run_revision"' in text
    # Every function's service, named as main.tf names them, and no wider match.
    assert "for name in values(local.function_names)" in text
    assert re.search(r"\bseverity\b|textPayload|jsonPayload", text) is None
    assert config.default("exclude_request_logs") is True
    assert "var.exclude_request_logs ? 1 : 0" in str(exclusion["count"])
