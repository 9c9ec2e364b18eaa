"""Validate an integration document: every problem at once, each with its JSON path.

Types come from `mapper.config`; this adds what types cannot say: paths that parse,
wildcard counts that fit, targets that do not overwrite each other, and JavaScript
that compiles (checked in the sandbox, never executed).
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError, PathError, Problem
from . import config as cfg
from .paths import WILDCARD, compile_setter, parse_path, wildcard_count
from .sandbox import Sandbox


def validate(doc: Any) -> cfg.Integration:
    """Parse and check a document; raise ConfigError listing every problem."""
    integration = cfg.parse_integration(doc)
    problems = (
        path_problems(integration)
        + credentials_problems(integration)
        + javascript_problems(integration)
    )
    if problems:
        raise ConfigError(problems)
    return integration


def problems_of(doc: Any) -> list[Problem]:
    """Every problem of a document; empty when it is valid."""
    try:
        validate(doc)
    except ConfigError as exc:
        return exc.problems
    return []


def credentials_problems(integration: cfg.Integration) -> list[Problem]:
    """A pasted service account key whose token endpoint is not Google's."""
    source = integration.source
    if not isinstance(source, cfg.PubSubSource):
        return []
    reason = cfg.service_account_key_problem(source.credentials)
    return [Problem("source.credentials.token_uri", reason)] if reason else []


def javascript_problems(integration: cfg.Integration) -> list[Problem]:
    """The condition and custom transforms that do not compile (none is run)."""
    customs = [
        {"type": "custom", "code": t.code, "where": f"mappings[{i}].transforms[{k}]"}
        for i, m in enumerate(integration.mappings)
        for k, t in enumerate(m.transforms)
        if isinstance(t, cfg.Custom)
    ]
    condition = integration.condition
    if not customs and not (condition and condition.strip()):
        return []
    sandbox = Sandbox(
        {
            "condition": condition if condition and condition.strip() else None,
            "chains": [{"depth": 0, "steps": customs}],
        },
        integration.sandbox.timeout_ms,
        integration.sandbox.memory_mb,
    )
    try:
        # The sandbox names a custom transform's container; its code lives in `.code`.
        return [
            Problem(where if where == "condition" else f"{where}.code", message)
            for where, message in sandbox.compile_errors()
        ]
    finally:
        sandbox.close()


def path_problems(integration: cfg.Integration) -> list[Problem]:
    """Problems with source, target and concat paths, and between targets."""
    problems: list[Problem] = []
    targets: list[tuple[int, tuple[Any, ...]]] = []
    for i, mapping in enumerate(integration.mappings):
        here = f"mappings[{i}]"
        source_depth = 0
        if mapping.source is not None:
            try:
                source_depth = wildcard_count(parse_path(mapping.source))
            except PathError as exc:
                problems.append(Problem(f"{here}.source", str(exc)))
        try:
            steps = parse_path(mapping.target)
            compile_setter(steps)
        except PathError as exc:
            problems.append(Problem(f"{here}.target", str(exc)))
        else:
            if wildcard_count(steps) > source_depth:
                problems.append(
                    Problem(
                        f"{here}.target",
                        f"has {wildcard_count(steps)} [*] but the source has {source_depth}: "
                        "a target can only spread arrays that the source reads",
                    )
                )
            targets.append((i, steps))
        for k, transform in enumerate(mapping.transforms):
            if isinstance(transform, cfg.Concat):
                for f, field in enumerate(transform.fields):
                    try:
                        parse_path(field)
                    except PathError as exc:
                        problems.append(Problem(f"{here}.transforms[{k}].fields[{f}]", str(exc)))
    problems.extend(_overlapping_targets(targets))
    return problems


def _overlapping_targets(targets: list[tuple[int, tuple[Any, ...]]]) -> list[Problem]:
    problems = []
    for a in range(len(targets)):
        for b in range(a + 1, len(targets)):
            (i, steps_i), (j, steps_j) = targets[a], targets[b]
            shorter, longer = sorted((steps_i, steps_j), key=len)
            if longer[: len(shorter)] != shorter:
                continue
            if len(shorter) == len(longer):
                reason = f"is the same as mappings[{i}].target"
            elif WILDCARD in shorter or len(shorter) < len(longer):
                reason = f"overlaps mappings[{i}].target: one would overwrite the other"
            problems.append(Problem(f"mappings[{j}].target", reason))
    return problems
