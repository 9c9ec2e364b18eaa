"""Told when things fail: the metrics read the fields the run log lines carry, the alerts
watch the right series, every alert reaches the email channel, the dashboard renders."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import pytest

from mapper.logs import log_context, setup_logging

from .tfconfig import INFRA, ROOT, Expr, load

DOC = ROOT / "docs" / "deploy.md"
DASHBOARD = INFRA / "monitoring" / "dashboard.json.tftpl"
ALERTS = {"dead_lettered", "error_rate", "worker_backlog", "lost_runs", "lost_redrive_jobs"}


def documented_fields() -> dict[str, str]:
    """The log fields table of docs/deploy.md: field -> on which lines."""
    text = DOC.read_text()
    block = text.split("<!-- log-fields:begin -->")[1].split("<!-- log-fields:end -->")[0]
    return dict(re.findall(r"^\| `(\w+)` \| ([^|]+) \|", block, re.MULTILINE))


def fields_read_by_terraform() -> set[str]:
    """Every jsonPayload field the metrics' filters and extractors name."""
    text = (INFRA / "monitoring.tf").read_text()
    return set(re.findall(r"jsonPayload\.(\w+)", text))


def plain(text: str) -> str:
    """A filter as Cloud Monitoring reads it (python-hcl2 keeps some quotes escaped)."""
    return str(text).replace('\\"', '"')


def metric(name: str) -> dict:
    return load().resource("google_logging_metric", name).body


def alert(name: str) -> dict:
    """One alert's entry of local.alerts (the policy resource iterates over them)."""
    return load().locals()["alerts"][name]


def test_the_docs_name_every_field_the_metrics_read() -> None:
    fields = documented_fields()
    assert {"runId", "status", "integrationId", "apiCallTimeMs"} <= set(fields)
    assert fields_read_by_terraform() <= set(fields)
    # A field documented for the metrics that no metric reads is only `attempt`, which the
    # run log line carries for people reading it.
    assert set(fields) - fields_read_by_terraform() == {"attempt"}


def test_a_run_log_line_carries_the_fields_as_top_level_json() -> None:
    # The worker logs with extra={...} inside the run's log context: the formatter must put
    # each field at the top of the JSON object, where Cloud Logging makes it jsonPayload.X.
    stream = io.StringIO()
    handler = setup_logging({"LOG_FORMAT": "json"}, stream)
    try:
        with log_context(integration_id="int-1", run_id="run-1"):
            logging.getLogger("mapper.worker").info(
                "attempt 1 of 10: success",
                extra={"status": "success", "attempt": 1, "apiCallTimeMs": 12.5},
            )
    finally:
        logging.getLogger().removeHandler(handler)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    for field in set(documented_fields()) - {"redriveJob"}:  # that one is a job's line
        assert field in line, field
    assert line["integrationId"] == "int-1" and line["status"] == "success"
    assert isinstance(line["apiCallTimeMs"], float)


def test_the_run_filter_takes_only_run_lines_of_the_worker_and_dead_letter() -> None:
    parts = plain(load().locals()["run_log_filter"])
    assert '"resource.type="cloud_run_revision""' in parts
    assert 'function_names["worker"]' in parts and 'function_names["dead_letter"]' in parts
    assert 'function_names["pull"]' in parts  # the reconciler's "lost" lines
    assert "jsonPayload.runId:*" in parts and "jsonPayload.status:*" in parts
    assert metric("runs")["filter"] == Expr("local.run_log_filter")
    assert load().locals()["run_labels"] == {
        "status": "EXTRACT(jsonPayload.status)",
        "integration_id": "EXTRACT(jsonPayload.integrationId)",
    }


@pytest.mark.parametrize("name", ["runs", "delivery_latency"])
def test_each_metric_is_labelled_by_status_and_integration(name: str) -> None:
    body = metric(name)
    assert body["label_extractors"] == Expr("local.run_labels")
    [descriptor] = body["metric_descriptor"]
    assert {label["key"] for label in descriptor["labels"]} == {"status", "integration_id"}
    assert descriptor["metric_kind"] == "DELTA"


def test_latency_is_a_distribution_of_the_targets_answer_time() -> None:
    body = metric("delivery_latency")
    assert body["value_extractor"] == "EXTRACT(jsonPayload.apiCallTimeMs)"
    [descriptor] = body["metric_descriptor"]
    assert descriptor["value_type"] == "DISTRIBUTION" and descriptor["unit"] == "ms"


def test_every_alert_notifies_the_email_channel() -> None:
    [policy] = load().resources("google_monitoring_alert_policy")
    assert policy.body["for_each"] == Expr("local.alerts")
    assert set(load().locals()["alerts"]) == ALERTS
    assert policy.body["notification_channels"] == Expr("local.alert_channels")
    channel = load().resource("google_monitoring_notification_channel", "email").body
    assert channel["type"] == "email"
    assert channel["labels"] == {"email_address": Expr("var.alert_email")}
    assert channel["count"] == Expr('var.alert_email == "" ? 0 : 1')


def test_the_policy_gives_each_alert_its_own_threshold_and_the_same_rest() -> None:
    [policy] = load().resources("google_monitoring_alert_policy")
    body = policy.body
    assert body["display_name"] == Expr("each.value.display_name")
    assert body["severity"] == Expr("each.value.severity")
    [cond] = body["conditions"]
    [threshold] = cond["condition_threshold"]
    assert threshold["filter"] == Expr("each.value.filter")
    assert threshold["threshold_value"] == Expr("each.value.threshold")
    assert threshold["comparison"] == "COMPARISON_GT"
    [dynamic] = threshold["dynamic"]
    assert "denominator_filter" in dynamic["denominator_aggregations"]["for_each"]
    for name in ALERTS:
        entry = alert(name)
        assert entry["display_name"].startswith("JSON mapper: ")
        assert entry["severity"] in {"ERROR", "WARNING"}
        assert entry["documentation"] and entry["condition_name"]


def test_each_policy_made_before_the_map_moves_to_its_key() -> None:
    # Deployments that hold the five policies at their old addresses keep them.
    moves = {
        str(body["from"]): str(body["to"])
        for _, kind, body in load().blocks
        if kind == "moved"
    }
    assert moves == {
        f"google_monitoring_alert_policy.{name}":
            f'google_monitoring_alert_policy.alert["{name}"]'
        for name in ALERTS
    }


def condition(name: str) -> dict:
    """The threshold of one alert, with the fields the policy reads from its entry."""
    entry = alert(name)
    threshold = {
        "filter": entry["filter"],
        "denominator_filter": entry.get("denominator_filter"),
        "comparison": "COMPARISON_GT",
        "threshold_value": entry["threshold"],
        "duration": entry["duration"],
        "aggregations": [{"group_by_fields": entry.get("group_by")}],
    }
    if entry.get("denominator_filter") is not None:
        threshold["denominator_aggregations"] = [{"group_by_fields": entry.get("group_by")}]
    return threshold


def test_any_dead_lettered_run_alerts() -> None:
    threshold = condition("dead_lettered")
    assert 'metric.label.status="dead_lettered"' in plain(threshold["filter"])
    assert "local.runs_metric" in threshold["filter"]
    assert threshold["comparison"] == "COMPARISON_GT" and threshold["threshold_value"] == 0


def test_a_run_lost_by_the_queue_alerts() -> None:
    threshold = condition("lost_runs")
    assert 'metric.label.status="lost"' in plain(threshold["filter"])
    assert threshold["comparison"] == "COMPARISON_GT" and threshold["threshold_value"] == 0


def test_the_reconciler_logs_lost_runs_with_the_fields_the_metric_reads(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from tests.pipeline.support import build

    p = build()
    # Keyed, so recorded at accept whatever RECORD_AT_ACCEPT says: a run the reconciler sees.
    headers = {"Idempotency-Key": "lost-1"}
    receipt = p.intake.receive_webhook("p-secret", headers, lambda limit: b"{}")
    p.reconciler.max_republishes = 0  # end it on the first sweep
    p.clock.advance(901)
    with caplog.at_level("ERROR", "mapper.reconcile"):
        p.reconciler.sweep()
    [record] = caplog.records
    assert (record.runId, record.status) == (receipt.run_id, "lost")  # type: ignore[attr-defined]
    assert record.integrationId == "i1"  # type: ignore[attr-defined]


def test_a_lost_redrive_job_alerts_on_the_line_the_sweep_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from mapper.redrive import Redriver
    from tests.fakes import Clock, FakeQueue, FakeRedriveJobs

    body = metric("lost_redrive_jobs")
    wanted = plain(body["filter"])
    assert "jsonPayload.redriveJob:*" in wanted and 'jsonPayload.status="lost"' in wanted
    assert 'function_names["pull"]' in wanted
    threshold = condition("lost_redrive_jobs")
    assert "google_logging_metric.lost_redrive_jobs.name" in plain(threshold["filter"])
    assert threshold["comparison"] == "COMPARISON_GT" and threshold["threshold_value"] == 0

    clock = Clock()
    jobs = FakeRedriveJobs(now=clock.iso)
    jobs.create({"id": "job7", "state": "running", "batches": 0, "updatedAt": clock.iso(),
                 "republishes": 3})
    clock.advance(10**6)
    sweep = Redriver(None, jobs, None, None, FakeQueue(), now=clock.iso)  # type: ignore[arg-type]
    with caplog.at_level("ERROR", "mapper.redrive"):
        assert sweep.resume_stalled(900, 3) == {"resumed": 0, "ended": 1}
    [record] = caplog.records
    assert (record.redriveJob, record.status) == ("job7", "lost")  # type: ignore[attr-defined]
    assert not hasattr(record, "runId")  # not a run line: the runs metric leaves it out


def test_the_error_rate_is_per_integration_over_ten_minutes() -> None:
    threshold = condition("error_rate")
    assert threshold["duration"] == "600s"
    assert threshold["threshold_value"] == Expr("var.alert_error_rate")
    assert "one_of(" in threshold["filter"] and "local.failed_statuses" in threshold["filter"]
    assert "local.runs_metric" in threshold["denominator_filter"]
    for key in ("aggregations", "denominator_aggregations"):
        [aggregation] = threshold[key]
        assert aggregation["group_by_fields"] == ["metric.label.integration_id"]
    assert load().locals()["failed_statuses"] == ["error", "retrying", "dead_lettered"]
    # Success and skipped are not failures.
    assert not {"success", "skipped"} & set(load().locals()["failed_statuses"])


def test_the_backlog_alert_watches_the_worker_subscription() -> None:
    threshold = condition("worker_backlog")
    assert "subscription/oldest_unacked_message_age" in threshold["filter"]
    assert 'google_pubsub_subscription.platform["worker"].name' in plain(threshold["filter"])
    assert threshold["threshold_value"] == Expr("var.alert_oldest_unacked_seconds")
    # Longer than the whole retry schedule, so that retries alone never trip it.
    config = load()
    schedule = 0
    wait = config.default("retry_min_backoff_seconds")
    for _ in range(config.default("max_delivery_attempts") - 1):
        schedule += min(wait, config.default("retry_max_backoff_seconds"))
        wait *= 2
    assert config.default("alert_oldest_unacked_seconds") > schedule


def render(template: Path, values: dict[str, str]) -> str:
    """Terraform's templatefile for templates with plain ${name} interpolations only."""
    text = template.read_text()
    assert "%{" not in text
    names = set(re.findall(r"\$\{(\w+)\}", text))
    assert names == set(values), names ^ set(values)
    return re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], text)


def test_the_dashboard_renders_and_shows_the_metrics() -> None:
    body = load().resource("google_monitoring_dashboard", "platform").body
    passed = set(re.findall(r"(\w+)\s*=", body["dashboard_json"].split("{", 1)[1]))
    values = {
        "title": "JSON mapper (mapper)",
        "runs_metric": "logging.googleapis.com/user/mapper-runs",
        "latency_metric": "logging.googleapis.com/user/mapper-delivery-latency",
        "worker_subscription": "mapper-events-worker",
        "worker_service": "mapper-worker",
    }
    assert set(values) <= passed
    dashboard = json.loads(render(DASHBOARD, values))
    tiles = dashboard["mosaicLayout"]["tiles"]
    filters = " ".join(
        data["timeSeriesQuery"]["timeSeriesFilter"]["filter"]
        for tile in tiles
        for data in tile["widget"]["xyChart"]["dataSets"]
    )
    for value in values.values():
        if value != values["title"]:
            assert value in filters, value
    for tile in tiles:
        assert tile["xPos"] + tile["width"] <= dashboard["mosaicLayout"]["columns"]
