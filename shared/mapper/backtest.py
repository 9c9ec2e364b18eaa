"""Backtest: a candidate integration's condition and mappings over stored runs; nothing sent.

Each run's stored incoming payload (with its headers and attributes) goes through the
candidate's compiled `Plan`, as the worker would apply it; the candidate's output is set
beside the output the run recorded, with a structural diff (`engine.diff`). No target is
built, no run is written. docs/mapping.md ("Backtest") says how each run is counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .engine.config import Integration
from .engine.diff import diff
from .engine.plan import Message, Outcome, Plan, routed
from .engine.receiver_schema import violations
from .errors import MapperError
from .pipeline.runs import RunStatus

MAX_RUNS = 200  # runs per backtest (the request's runs.limit)
DEFAULT_RUNS = 50

# Each run counts in exactly one of these (they add up to `runs`).
TOTALS = ("same", "changed", "nowSkipped", "nowFailing", "noPayload")


def unusable(run: Mapping[str, Any]) -> str | None:
    """Why a run's payload cannot be mapped again (None when it can)."""
    if run.get("incomingRaw") or "incomingPayload" not in run:
        return "this run holds no JSON payload (its body was not JSON); nothing to map"
    payload = run["incomingPayload"]
    if isinstance(payload, dict) and payload.get("truncated") is True:
        return "this run's payload was too large to keep whole; nothing to map"
    return None


def backtest(candidate: Integration, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per run: recorded output, the candidate's output or skip or error, and their diff."""
    usable = [run for run in runs if unusable(run) is None]
    outcomes = iter(_outcomes(candidate, usable))
    # A fan-out is compared on the integration's own output; its targets' schemas are not.
    schema = candidate.target.receiver_schema if candidate.target is not None else None
    results = []
    totals = {"runs": len(runs), **dict.fromkeys(TOTALS, 0)}
    for run in runs:
        reason = unusable(run)
        result, kind = (
            _noted(run, None, reason) if reason else _noted(run, next(outcomes), None, schema)
        )
        totals[kind] += 1
        results.append(result)
    _own_targets(candidate, usable, results)
    return {"totals": totals, "results": results}


def _own_targets(
    candidate: Integration, usable: list[dict[str, Any]], results: list[dict[str, Any]]
) -> None:
    """A fan-out's targets with their own condition or mappings: each run's result adds
    `targets`, each target's candidate output beside the output its delivery recorded."""
    own = [route for route in candidate.routes() if route.own]
    if not own:
        return
    by_id = {str(r["runId"]): r for r in results}
    for route in own:
        for run, outcome in zip(usable, _outcomes(routed(candidate, route), usable),
                                strict=True):
            recorded = _recorded_for(run, route.name)
            shown: dict[str, Any] = {"name": route.name, "recorded": recorded,
                                     "candidate": None, "skipped": outcome.skipped,
                                     "error": None, "diff": []}
            if outcome.error is not None:
                shown["error"] = str(outcome.error)
            elif not outcome.skipped:
                shown["candidate"] = outcome.output
                shown["diff"] = diff(recorded, outcome.output)
            by_id[str(run.get("id"))].setdefault("targets", []).append(shown)


def _recorded_for(run: Mapping[str, Any], target: str) -> Any:
    """The output a fan-out run's delivery to `target` recorded (None when it has none)."""
    for delivery in run.get("deliveries") or ():
        if isinstance(delivery, Mapping) and delivery.get("target") == target:
            return delivery.get("transformedPayload")
    return None


def _outcomes(candidate: Integration, runs: list[dict[str, Any]]) -> list[Outcome]:
    messages = [
        Message(
            run["incomingPayload"],
            dict(run.get("incomingAttributes") or {}),
            dict(run.get("incomingHeaders") or {}),
        )
        for run in runs
    ]
    plan = Plan(candidate)
    try:
        try:
            return list(plan.apply_many(messages))
        except MapperError:
            # One message broke the whole batch: apply one at a time to pin it down.
            return [_one(plan, message) for message in messages]
    finally:
        plan.close()


def _one(plan: Plan, message: Message) -> Outcome:
    try:
        return plan.apply(message)
    except MapperError as exc:
        return Outcome(error=exc)


def _noted(
    run: Mapping[str, Any],
    outcome: Outcome | None,
    reason: str | None,
    schema: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], str]:
    """The run's result and the total it counts in."""
    recorded = run.get("transformedPayload")
    was = "skipped" if run.get("status") == RunStatus.SKIPPED else (
        "output" if "transformedPayload" in run and recorded is not None else "none"
    )
    result: dict[str, Any] = {
        "runId": run.get("id"),
        "recordedStatus": run.get("status"),
        "recorded": recorded,
        "candidate": None,
        "skipped": False,
        "error": reason,
        "diff": [],
    }
    if outcome is None:
        return result, "noPayload"
    if outcome.error is not None:
        result["error"] = str(outcome.error)
        return result, "same" if was == "none" else "nowFailing"
    if outcome.skipped:
        result["skipped"] = True
        return result, "same" if was == "skipped" else "nowSkipped"
    result["candidate"] = outcome.output
    result["diff"] = diff(recorded, outcome.output)
    broken = violations(schema, outcome.output) if schema is not None else []
    if broken:  # the worker would not send it: a failing run, with where it breaks
        result["error"] = "the output breaks the target's schema"
        result["schemaViolations"] = broken
        return result, "same" if was == "none" else "nowFailing"
    return result, "same" if was == "output" and not result["diff"] else "changed"
