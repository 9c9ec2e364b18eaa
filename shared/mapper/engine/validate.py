"""Validate an integration document: every problem at once, each with its JSON path.

One pass. The types come from `mapper.engine.config`; beside them, and on the document as
given even where its types are wrong elsewhere, come what types cannot say: paths that
parse, wildcard counts that fit, targets that do not overwrite each other, target URLs
and hosts a message could be sent to (`mapper.engine.addresses`), a service account key
for Google only, Pub/Sub names that are not the platform's own (`mapper.engine.reserved`),
and JavaScript that compiles (V8 compiles it; nothing is run), with the
line and column of a syntax error in the user's own code. A check is skipped where the
types already found a problem at the same path, so each path gets one clear reason.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from pydantic.alias_generators import to_snake

from ..errors import ConfigError, PathError, Problem
from . import addresses, templates
from . import config as cfg
from .cases import case_problems
from .paths import WILDCARD, compile_setter, parse_path, wildcard_count
from .receiver_schema import schema_problems
from .reserved import PlatformPubSub


def validate(doc: Any, allow: Iterable[str] | None = None) -> cfg.Integration:
    """Parse and check a document; raise ConfigError listing every problem.

    `allow`: the egress allowlist (CIDRs) that IP-literal targets are judged against;
    by default `EGRESS_ALLOW_CIDRS` from the environment, as the targets read it.
    """
    integration, problems = _check(doc, allow)
    if problems or integration is None:
        raise ConfigError(problems)
    return integration


# What a preview fills in for an absent (or empty) name, source or target: none of them
# changes what the mapping gives (docs/api.md, "Trying a document").
PREVIEW_STAND_INS: dict[str, Any] = {
    "name": "preview",
    "source": {"type": "webhook"},
    "target": {"type": "http", "url": "https://preview.invalid/"},
}


def validate_for_preview(doc: Any) -> cfg.Integration:
    """`validate` for a preview: a partial document will do, and no address is refused.

    A preview sends nothing, so the egress rules (which addresses a target may reach) do
    not apply; what the document gives is otherwise checked as `validate` does.
    """
    if isinstance(doc, dict):
        absent = [key for key in PREVIEW_STAND_INS if doc.get(key) in (None, "")]
        if doc.get("targets") is not None:  # a fan-out's targets stand in for `target`
            absent = [key for key in absent if key != "target"]
        doc = {**doc, **{key: copy.deepcopy(PREVIEW_STAND_INS[key]) for key in absent}}
    return validate(doc, addresses.NOTHING_SENT)


def problems_of(doc: Any, allow: Iterable[str] | None = None) -> list[Problem]:
    """Every problem of a document; empty when it is valid."""
    return _check(doc, allow)[1]


def _check(doc: Any, allow: Iterable[str] | None) -> tuple[cfg.Integration | None, list[Problem]]:
    try:
        integration: cfg.Integration | None = cfg.parse_integration(doc)
        problems: list[Problem] = []
    except ConfigError as exc:
        integration, problems = None, list(exc.problems)
    if not isinstance(doc, dict):
        return integration, problems
    allowed = addresses.allowlist() if allow is None else addresses.networks(allow)
    problems += [p for p in _way_out_problems(doc) if p not in problems]
    taken = {p.path for p in problems}
    for more in (
        path_problems(doc),
        target_problems(doc, allowed),
        email_template_problems(doc),
        credentials_problems(doc),
        PlatformPubSub.from_env().problems(_get(doc, "source")),
        receiver_schema_problems(doc),
        case_problems(doc),
        javascript_problems(doc, skip=taken),
        jsonata_problems(doc, skip=taken),
    ):
        problems.extend(p for p in more if p.path not in taken)
    return integration, problems


# The checks below read the document as given: any part may have the wrong type (the
# types report that), so each looks only at values of the type it needs. Keys are read
# as camelCase or snake_case, as the model accepts both.


def _get(node: Any, key: str) -> Any:
    if not isinstance(node, dict):
        return None
    return node[key] if key in node else node.get(to_snake(key))


def _items(value: Any) -> list[tuple[int, Any]]:
    return list(enumerate(value)) if isinstance(value, list) else []


def _way_out_problems(doc: dict[str, Any]) -> list[Problem]:
    """Neither target nor targets, or both: said even when other fields are wrong too."""
    given = [name for name in ("target", "targets") if _get(doc, name) is not None]
    if not given:
        return [Problem("target", "is required (or give targets, for a fan-out)")]
    if len(given) == 2:
        return [Problem("targets", "give exactly one of target and targets")]
    return []


def credentials_problems(doc: dict[str, Any]) -> list[Problem]:
    """A pasted service account key whose token endpoint or universe is not Google's."""
    source = _get(doc, "source")
    if _get(source, "type") != "pubsub":
        return []
    try:
        found = cfg.service_account_key_problem(_get(source, "credentials"))
    except (RecursionError, TypeError):
        return []  # not a key the types accept either; they say so at source.credentials
    return [Problem(f"source.credentials.{found[0]}", found[1])] if found else []


def receiver_schema_problems(doc: dict[str, Any]) -> list[Problem]:
    """A target `schema` that is too large, not JSON Schema 2020-12, or refers outside itself."""
    target = _get(doc, "target")
    if not isinstance(target, dict) or target.get("schema") is None:
        return []
    return [Problem("target.schema", reason) for reason in schema_problems(target["schema"])]


def target_problems(
    doc: dict[str, Any], allow: Iterable[addresses.IPNetwork] = ()
) -> list[Problem]:
    """Target and notify URLs and hosts nothing could ever be sent to (scheme, host, port,
    address)."""
    places = [("target", _get(doc, "target"))]
    places += [(f"targets[{i}]", t) for i, t in _items(_get(doc, "targets"))]
    checks: list[tuple[str, Any, Callable[..., str | None]]] = []
    for here, target in places:
        if _get(target, "type") == "http":
            checks.append((f"{here}.url", _get(target, "url"), _templated_url_problem))
            headers = _get(target, "headers")
            for name, value in headers.items() if isinstance(headers, dict) else ():
                checks.append((f"{here}.headers.{name}", value, _template_problem))
            auth = _get(target, "auth")
            if _get(auth, "type") == "oauth2":
                token_url = _get(auth, "tokenUrl")
                checks.append((f"{here}.auth.tokenUrl", token_url, addresses.url_problem))
        elif _get(target, "type") == "email":
            host = _get(target, "smtpServer")
            checks.append((f"{here}.smtpServer", host, addresses.host_problem))
    notify_url = _get(_get(doc, "notify"), "url")
    checks.append(("notify.url", notify_url, addresses.url_problem))  # sent like a target
    allow = tuple(allow)
    problems = []
    for path, value, check in checks:
        if isinstance(value, str) and value:
            reason = check(value, allow)
            if reason:
                problems.append(Problem(path, reason))
    return problems


def email_template_problems(doc: dict[str, Any]) -> list[Problem]:
    """An email target's templates that do not parse, and an html body with no template."""
    target = _get(doc, "target")
    if _get(target, "type") != "email":
        return []
    problems = []
    for field in ("toEmail", "subject", "body"):
        value = _get(target, field)
        if isinstance(value, str) and (reason := _template_problem(value, ())):
            problems.append(Problem(f"target.{field}", reason))
    if _get(target, "bodyType") == "html" and _get(target, "body") is None:
        problems.append(
            Problem(
                "target.bodyType",
                "html needs a body template (each value filled into it is HTML-escaped); "
                "without body the message is plain text",
            )
        )
    return problems


def _templated_url_problem(url: str, allow: Iterable[addresses.IPNetwork]) -> str | None:
    # Placeholders first (where they stand, whether they parse), then the URL they leave.
    return templates.url_placeholder_problem(url) or addresses.url_problem(
        templates.url_without_placeholders(url), allow
    )


def _template_problem(value: str, allow: Iterable[addresses.IPNetwork]) -> str | None:
    try:
        templates.Template(value)
    except PathError as exc:
        return str(exc)
    return None


def javascript_problems(
    doc: dict[str, Any], skip: set[str] | frozenset[str] = frozenset()
) -> list[Problem]:
    """The condition and custom transforms that do not compile (none is run)."""
    items: list[tuple[str, str, str]] = []  # (path, kind, code)
    # The integration's own, then each fan-out target's (targets[i].condition, ...).
    places = [("", doc)] + [(f"targets[{i}].", t) for i, t in _items(_get(doc, "targets"))]
    for at, part in places:
        condition = _get(part, "condition")
        if isinstance(condition, str) and condition.strip():
            items.append((f"{at}condition", "condition", condition))
        for i, mapping in _items(_get(part, "mappings")):
            for k, transform in _items(_get(mapping, "transforms")):
                code = _get(transform, "code")
                if _get(transform, "type") == "custom" and isinstance(code, str) and code:
                    items.append((f"{at}mappings[{i}].transforms[{k}].code", "custom", code))
    items = [item for item in items if item[0] not in skip]
    if not items:
        return []
    from .sandbox import syntax_errors  # loaded only for a document with JavaScript

    errors = syntax_errors([(kind, code) for _, kind, code in items])
    return [
        Problem(path, str(error))
        for (path, _, _), error in zip(items, errors, strict=True)
        if error is not None
    ]


def jsonata_problems(
    doc: dict[str, Any], skip: set[str] | frozenset[str] = frozenset()
) -> list[Problem]:
    """JSONata expressions (the integration's, transforms') that do not compile."""
    items: list[tuple[str, str]] = []  # (path, expression)
    expression = _get(doc, "jsonata")
    if isinstance(expression, str) and expression:
        items.append(("jsonata", expression))
    for i, mapping in _items(_get(doc, "mappings")):
        for k, transform in _items(_get(mapping, "transforms")):
            expression = _get(transform, "expression")
            if _get(transform, "type") == "jsonata" and isinstance(expression, str) and expression:
                items.append((f"mappings[{i}].transforms[{k}].expression", expression))
    items = [item for item in items if item[0] not in skip]
    if not items:
        return []
    from .sandbox import jsonata_syntax_errors  # loaded only for a document with JSONata

    errors = jsonata_syntax_errors([expression for _, expression in items])
    return [
        Problem(path, error.detail)
        for (path, _), error in zip(items, errors, strict=True)
        if error is not None
    ]


def path_problems(doc: dict[str, Any]) -> list[Problem]:
    """Problems with source, target and concat paths, and between targets."""
    problems = _mapping_path_problems(_get(doc, "mappings"), "mappings")
    for i, target in _items(_get(doc, "targets")):  # a fan-out target's own mappings
        problems += _mapping_path_problems(_get(target, "mappings"), f"targets[{i}].mappings")
    return problems


def _mapping_path_problems(mappings: Any, at: str) -> list[Problem]:
    problems: list[Problem] = []
    targets: list[tuple[int, tuple[Any, ...]]] = []
    for i, mapping in _items(mappings):
        here = f"{at}[{i}]"
        source, target = _get(mapping, "source"), _get(mapping, "target")
        source_depth = 0
        if isinstance(source, str):
            try:
                source_depth = wildcard_count(parse_path(source))
            except PathError as exc:
                problems.append(Problem(f"{here}.source", str(exc)))
        if isinstance(target, str) and target:
            try:
                steps = parse_path(target)
                compile_setter(steps)
            except PathError as exc:
                problems.append(Problem(f"{here}.target", str(exc)))
            else:
                if wildcard_count(steps) > source_depth:
                    problems.append(
                        Problem(
                            f"{here}.target",
                            f"has {wildcard_count(steps)} [*] but the source has "
                            f"{source_depth}: a target can only spread arrays that the "
                            "source reads",
                        )
                    )
                targets.append((i, steps))
        for k, transform in _items(_get(mapping, "transforms")):
            if _get(transform, "type") != "concat":
                continue
            for f, field in _items(_get(transform, "fields")):
                if not isinstance(field, str):
                    continue
                try:
                    parse_path(field)
                except PathError as exc:
                    problems.append(Problem(f"{here}.transforms[{k}].fields[{f}]", str(exc)))
    problems.extend(_overlapping_targets(targets, at))
    return problems


def _overlapping_targets(targets: list[tuple[int, tuple[Any, ...]]], at: str) -> list[Problem]:
    problems = []
    for a in range(len(targets)):
        for b in range(a + 1, len(targets)):
            (i, steps_i), (j, steps_j) = targets[a], targets[b]
            shorter, longer = sorted((steps_i, steps_j), key=len)
            if longer[: len(shorter)] != shorter:
                continue
            if len(shorter) == len(longer):
                reason = f"is the same as {at}[{i}].target"
            elif WILDCARD in shorter or len(shorter) < len(longer):
                reason = f"overlaps {at}[{i}].target: one would overwrite the other"
            problems.append(Problem(f"{at}[{j}].target", reason))
    return problems
