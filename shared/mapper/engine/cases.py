"""An integration's saved test cases (`tests`), run as preview runs them: nothing is sent.

`run_cases(integration)` applies the integration's compiled `Plan` to each case's payload
(with its headers and attributes) and compares: a case passes when the output equals its
`expect` (the structural diff of `engine.diff` is empty) and breaks no rule of the target's
`schema`, or, with `expectSkipped: true`, when the condition skips it. The answer is the one
`POST /api/integrations/{id}/run_tests/` and `python -m mapper test` give:
`{"passed", "failed", "results": [{"name", "ok", "diff", "reason", ...}]}`.
`case_problems(doc)` holds what types cannot say about the list (one of expect or
expectSkipped, unique names, the size of a case). docs/mapping.md ("Test cases").
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import Problem
from . import config as cfg
from .diff import diff
from .plan import Message, Outcome, Plan
from .receiver_schema import violations


def run_cases(integration: cfg.Integration) -> dict[str, Any]:
    """Every saved case's result, and how many passed and failed."""
    cases = integration.tests or []
    results = []
    if cases:
        plan = Plan(integration)
        try:
            for case in cases:
                message = Message(case.payload, case.attributes, case.headers)
                results.append(_result(case, plan.apply(message), integration.target))
        finally:
            plan.close()
    passed = sum(1 for r in results if r["ok"])
    return {"passed": passed, "failed": len(results) - passed, "results": results}


def _result(case: cfg.TestCase, outcome: Outcome, target: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "name": case.name,
        "ok": False,
        "diff": [],
        "reason": None,
        "skipped": outcome.skipped,
        "output": None if outcome.skipped else outcome.output,
        "error": None if outcome.error is None else str(outcome.error),
        "schemaViolations": [],
    }
    expects_skip = case.expect_skipped is True
    if outcome.error is not None:
        result["reason"] = f"the mapping failed: {outcome.error}"
    elif outcome.skipped:
        if not expects_skip:
            result["diff"] = diff(case.expect, None)
            result["reason"] = "the condition skipped it; an output was expected"
    elif expects_skip:
        result["reason"] = "the condition let it through; it was expected to be skipped"
    else:
        result["diff"] = diff(case.expect, outcome.output)
        schema = getattr(target, "receiver_schema", None)
        if schema is not None:
            result["schemaViolations"] = violations(schema, outcome.output)
        if result["diff"]:
            result["reason"] = "the output differs from expect"
        elif result["schemaViolations"]:
            result["reason"] = "the output breaks the target's schema"
    result["ok"] = result["reason"] is None
    return result


def case_problems(doc: dict[str, Any]) -> list[Problem]:
    """Problems of the `tests` list as given that its types do not catch."""
    cases = doc.get("tests")
    if not isinstance(cases, list):
        return []
    problems = []
    seen: dict[str, int] = {}
    for i, case in enumerate(cases):
        if not isinstance(case, dict):
            continue
        here = f"tests[{i}]"
        skip = case.get("expectSkipped", case.get("expect_skipped"))
        if "expect" in case and skip is True:
            problems.append(Problem(here, "give expect or expectSkipped: true, not both"))
        elif "expect" not in case and skip is not True:
            problems.append(Problem(here, "give expect (the output) or expectSkipped: true"))
        name = case.get("name")
        if isinstance(name, str):
            if name in seen:
                problems.append(Problem(f"{here}.name", f"is the name of tests[{seen[name]}] too"))
            seen.setdefault(name, i)
        try:
            size = len(json.dumps(case, separators=(",", ":"), ensure_ascii=False).encode())
        except (TypeError, ValueError, RecursionError):
            continue  # not JSON the API could have read; the types say what is wrong
        if size > cfg.MAX_TEST_BYTES:
            problems.append(
                Problem(here, f"is {size} bytes as JSON; a test case may have at most "
                        f"{cfg.MAX_TEST_BYTES}")
            )
    return problems
