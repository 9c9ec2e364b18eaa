"""infra/**/*.tf held to the Google providers' schema (infra/schema/*.json), offline.

What `terraform validate` would say about the google and google-beta resources if it could
download the providers: every argument and block (nested and dynamic ones too) exists in
the provider's schema, a block that takes one is not given twice, and every required
argument and block is set. infra/scripts/schema_extract.py refreshes the schema.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
SCHEMA = INFRA / "schema"
PROVIDERS = ("google", "google-beta")
# Terraform's own meta-arguments and blocks: not in any provider's schema.
META = {
    "resource": {"count", "for_each", "depends_on", "provider", "lifecycle", "provisioner"},
    "data": {"count", "for_each", "depends_on", "provider", "lifecycle"},
    "provider": {"alias", "version"},
}


@dataclass(frozen=True)
class Problem:
    """One finding: where (file and address, with the path into nested blocks) and what."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def load_schemas(directory: Path = SCHEMA) -> dict[str, dict[str, Any]]:
    """The extract of each provider, by its local name (google, google-beta)."""
    return {name: json.loads((directory / f"{name}.json").read_text()) for name in PROVIDERS}


def _label(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def _is_block(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and item.get("__is_block__") for item in value)
    )


def _provider_of(body: dict[str, Any]) -> str:
    """The provider's local name a resource names (`provider = google-beta`), else google."""
    value = str(body.get("provider", "google"))
    if value.startswith("${") and value.endswith("}"):
        value = value[2:-1]
    return value.split(".")[0]


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def check_body(
    body: dict[str, Any], schema: dict[str, Any], where: str, meta: set[str] = frozenset()
) -> list[Problem]:
    """Problems of one block's body against its schema, nested blocks included."""
    problems: list[Problem] = []
    arguments: dict[str, str] = schema["arguments"]
    blocks: dict[str, Any] = schema["blocks"]
    known = sorted(arguments) + sorted(blocks)
    present: set[str] = set()
    for key, value in body.items():
        if key.startswith("__") or key in meta:
            continue
        if key == "dynamic":
            for item in value:
                for label, dynamic in item.items():
                    name = _label(label)
                    present.add(name)
                    if name not in blocks:
                        problems.append(
                            Problem(
                                where, f"dynamic block {name}: no such block{_suggest(name, known)}"
                            )
                        )
                        continue
                    for content in dynamic.get("content", []):
                        problems += check_body(content, blocks[name], f"{where}.{name}")
            continue
        present.add(key)
        if _is_block(value):
            if key in blocks:
                if not blocks[key]["many"] and len(value) > 1:
                    problems.append(
                        Problem(where, f"block {key} is allowed once, given {len(value)}")
                    )
                for item in value:
                    problems += check_body(item, blocks[key], f"{where}.{key}")
            elif key in arguments:
                problems.append(Problem(where, f"{key} is an argument: write `{key} = ...`"))
            else:
                problems.append(Problem(where, f"block {key}: no such block{_suggest(key, known)}"))
        elif key in blocks:
            problems.append(Problem(where, f"{key} is a block: write `{key} {{ ... }}`"))
        elif key not in arguments:
            problems.append(
                Problem(where, f"argument {key}: no such argument{_suggest(key, known)}")
            )
    for name, flag in sorted(arguments.items()):
        if flag == "required" and name not in present:
            problems.append(Problem(where, f"required argument {name} is not set"))
    for name, block in sorted(blocks.items()):
        if block["required"] and name not in present:
            problems.append(Problem(where, f"required block {name} is not set"))
    return problems


def check_file(path: Path, schemas: dict[str, dict[str, Any]], root: Path = ROOT) -> list[Problem]:
    """Problems of every google and google-beta block of one .tf file."""
    with path.open() as handle:
        parsed = hcl2.load(handle)
    where_file = path.relative_to(root) if path.is_relative_to(root) else path
    problems: list[Problem] = []
    for kind in ("resource", "data"):
        for typed in parsed.get(kind, []):
            for raw_type, named in typed.items():
                type_ = _label(raw_type)
                if not type_.startswith("google_"):
                    continue
                for raw_name, body in named.items():
                    prefix = "data." if kind == "data" else ""
                    where = f"{where_file}: {prefix}{type_}.{_label(raw_name)}"
                    provider = _provider_of(body)
                    if provider not in schemas:
                        problems.append(Problem(where, f"provider {provider} has no schema here"))
                        continue
                    schema = schemas[provider][kind].get(type_)
                    if schema is None:
                        hint = ""
                        other = [p for p in schemas if type_ in schemas[p][kind] and p != provider]
                        if other:
                            hint = f" (it is in {other[0]}: set `provider = {other[0]}`)"
                        problems.append(
                            Problem(where, f"{provider} has no {kind} type {type_}{hint}")
                        )
                        continue
                    problems += check_body(body, schema, where, META[kind])
    for item in parsed.get("provider", []):
        for raw_name, body in item.items():
            name = _label(raw_name)
            if name in schemas:
                where = f"{where_file}: provider {name}"
                problems += check_body(
                    body, schemas[name]["provider_config"], where, META["provider"]
                )
    return problems


def check_tree(
    infra: Path = INFRA, schemas: dict[str, dict[str, Any]] | None = None
) -> list[Problem]:
    """Problems of every .tf file under `infra`, modules included."""
    schemas = schemas if schemas is not None else load_schemas()
    root = infra.parent
    return [p for path in sorted(infra.rglob("*.tf")) for p in check_file(path, schemas, root)]


def google_blocks(infra: Path = INFRA) -> list[tuple[str, str, str]]:
    """(kind, type, provider) of every google block under `infra`: what the check covered."""
    found = []
    for path in sorted(infra.rglob("*.tf")):
        with path.open() as handle:
            parsed = hcl2.load(handle)
        for kind in ("resource", "data"):
            for typed in parsed.get(kind, []):
                for raw_type, named in typed.items():
                    if _label(raw_type).startswith("google_"):
                        for body in named.values():
                            found.append((kind, _label(raw_type), _provider_of(body)))
    return found
