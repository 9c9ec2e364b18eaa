"""The UI's copy of the contract (static/document.js) agrees with the document's JSON Schema,
and the UI's transform menu (static/schema.js) is read from the API's schema."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from py_mini_racer import MiniRacer

from mapper.api_openapi import openapi
from mapper.engine.config import json_schema
from mapper.engine.transforms import REGISTRY, kinds

STATIC = Path(__file__).resolve().parents[2] / "functions" / "api" / "static"
DOCUMENT_JS = STATIC / "document.js"


def ui_contract(text: str) -> dict[str, Any]:
    """The JSON literal after `export const CONTRACT =` in a JavaScript module."""
    match = re.search(r"^export const CONTRACT = ", text, re.MULTILINE)
    if match is None:
        raise AssertionError("document.js exports no CONTRACT")
    value, _ = json.JSONDecoder().raw_decode(text, match.end())
    return value


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    return schema["$defs"][ref.removeprefix("#/$defs/")]


def _choices(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The branches of an anyOf/oneOf (nested ones flattened), or the node itself."""
    branches = node.get("anyOf") or node.get("oneOf")
    if not branches:
        return [node]
    return [leaf for branch in branches for leaf in _choices(branch)]


def _union(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A tagged union's members by their `type`: {"webhook": <WebhookSource def>, ...}."""
    members: dict[str, dict[str, Any]] = {}
    for branch in _choices(node):
        member = _resolve(schema, branch)
        tag = member.get("properties", {}).get("type", {}).get("const")
        if tag is not None:
            members[tag] = member
    return members


def _enum(schema: dict[str, Any], node: dict[str, Any]) -> list[Any]:
    return [v for branch in _choices(_resolve(schema, node)) for v in branch.get("enum", [])]


def _secret_paths(
    schema: dict[str, Any], node: dict[str, Any], at: tuple[str, ...]
) -> Iterator[tuple[str, ...]]:
    """Every object path whose value is write-only (marked so, or a SecretRef)."""
    for branch in _choices(node):
        if branch.get("writeOnly") or branch.get("$ref") == "#/$defs/SecretRef":
            yield at
            return
    for branch in _choices(node):
        member = _resolve(schema, branch)
        for name, prop in member.get("properties", {}).items():
            yield from _secret_paths(schema, prop, (*at, name))
        if "items" in member:  # a list (a fan-out's targets): `*` stands for each item
            yield from _secret_paths(schema, member["items"], (*at, "*"))


def _fresh_problems(what: str, fresh: dict[str, Any], member: dict[str, Any]) -> list[str]:
    props = member.get("properties", {})
    problems = [f"{what}: the UI starts with {k!r}, unknown to the schema" for k in fresh
                if k not in props]
    problems += [f"{what}: the UI's fresh value lacks required {k!r}"
                 for k in member.get("required", []) if k not in fresh]
    return problems


def _types_problems(
    what: str, ui: dict[str, Any], members: dict[str, dict[str, Any]], check_defaults: bool
) -> list[str]:
    problems = [f"{what} {t!r} is in the schema but not in the UI" for t in members if t not in ui]
    problems += [f"{what} {t!r} is in the UI but not in the schema" for t in ui if t not in members]
    for tag in sorted(set(ui) & set(members)):
        fresh = ui[tag]["fresh"]
        problems += _fresh_problems(f"{what} {tag!r}", fresh, members[tag])
        if fresh.get("type") != tag:
            problems.append(f"{what} {tag!r}: its fresh value has type {fresh.get('type')!r}")
        if not check_defaults:
            continue
        for key, value in fresh.items():
            default = members[tag].get("properties", {}).get(key, {}).get("default")
            if default is not None and value != default:
                problems.append(
                    f"{what} {tag!r}: the UI starts {key} at {value!r}, the schema's default is"
                    f" {default!r}"
                )
    return problems


def _same(what: str, ui: Any, schema_side: Any) -> list[str]:
    if sorted(ui) == sorted(schema_side):
        return []
    return [f"{what}: the UI has {sorted(ui)}, the schema {sorted(schema_side)}"]


def contract_problems(schema: dict[str, Any], ui: dict[str, Any]) -> list[str]:
    """Every way the UI's contract differs from the schema, as sentences (none when they agree)."""
    props = schema["properties"]
    defs = schema["$defs"]
    problems: list[str] = []

    # Top-level fields: each is either edited by the UI or owned by the server.
    problems += _same("document fields", [*ui["documentFields"], *ui["serverFields"]], props)
    marked = [name for name, prop in props.items() if prop.get("readOnly")]
    if marked:  # once the schema marks server-owned fields, the UI's list is exactly those
        problems += _same("server fields (readOnly)", ui["serverFields"], marked)
    secrets = [list(path) for path in _secret_paths(schema, schema, ())]
    problems += _same("secret paths", [".".join(p) for p in ui["secretPaths"]],
                      [".".join(p) for p in secrets])

    sources = _union(schema, props["source"])
    targets = _union(schema, props["target"])
    problems += _types_problems("source type", ui["sourceTypes"], sources, check_defaults=True)
    problems += _types_problems("target type", ui["targetTypes"], targets, check_defaults=True)
    if "http" in targets:
        http = targets["http"]["properties"]
        problems += _same("HTTP methods", ui["httpMethods"], _enum(schema, http["method"]))
        auths = _union(schema, http["auth"])
        problems += _types_problems("auth type", ui["authTypes"], auths, check_defaults=False)
    if "pubsub" in sources:
        modes = _enum(schema, sources["pubsub"]["properties"]["mode"])
        problems += _same("Pub/Sub modes", list(ui["pubsubModes"]), modes)
    schemes = _enum(schema, defs["SignatureConfig"]["properties"]["scheme"])
    problems += _same("signature schemes", list(ui["signatureSchemes"]), schemes)

    mapping = defs["Mapping"]
    problems += _same("mapping fields", ui["mappingFields"], mapping["properties"])
    # The transforms are not copied: static/schema.js reads them from the API's schema.
    return problems


@pytest.fixture(scope="module")
def contract() -> dict[str, Any]:
    return ui_contract(DOCUMENT_JS.read_text(encoding="utf-8"))


def test_the_ui_contract_matches_the_schema(contract: dict[str, Any]) -> None:
    assert contract_problems(json_schema(), contract) == []


def test_the_contract_lists_what_the_ui_offers(contract: dict[str, Any]) -> None:
    # What a user picks from in the editor, named as the schema names it.
    assert "transforms" not in contract  # read from the schema instead, see below
    assert list(contract["targetTypes"]) == ["http", "email"]
    assert list(contract["authTypes"]) == ["bearer", "basic", "apiKey", "oauth2"]


# --- the transform menu: static/schema.js run on the API's own OpenAPI document ----------

# The controls static/transforms.js draws.
CONTROLS = {"integer", "number", "text", "loose", "select", "checkbox", "json", "paths", "code"}


def ui_transforms(openapi: dict[str, Any]) -> dict[str, Any]:
    """What static/schema.js's `transformsFrom` makes of an OpenAPI document (run in V8)."""
    source = (STATIC / "schema.js").read_text(encoding="utf-8")
    source = source.replace("export function", "function")
    source = source[: source.index("async function load()")]
    ctx = MiniRacer()
    try:
        ctx.eval(source)
        return json.loads(ctx.eval(f"JSON.stringify(transformsFrom({json.dumps(openapi)}))"))
    finally:
        ctx.close()


@pytest.fixture(scope="module")
def menu() -> dict[str, Any]:
    return ui_transforms(openapi())


def test_the_menu_is_every_registered_transform_in_order(menu: dict[str, Any]) -> None:
    assert list(menu) == [kind.name for kind in kinds()]
    for name, entry in menu.items():
        model = REGISTRY[name].model
        assert entry["label"] == model.model_config["title"]
        assert entry["parameters"].keys() == {
            field.alias or key for key, field in model.model_fields.items() if key != "type"
        }
        assert {p["kind"] for p in entry["parameters"].values()} <= CONTROLS, name


def test_each_fresh_transform_holds_exactly_its_required_options(menu: dict[str, Any]) -> None:
    for name, entry in menu.items():
        required = [p for p, spec in entry["parameters"].items() if spec["required"]]
        assert sorted(entry["fresh"]) == sorted(["type", *required]), name
    assert menu["custom"]["fresh"] == {"type": "custom", "code": "return value"}
    assert menu["split"]["fresh"] == {"type": "split", "separator": ","}


def test_options_get_the_control_their_schema_calls_for(menu: dict[str, Any]) -> None:
    date = menu["date"]["parameters"]
    assert [(p, s["kind"], s["label"]) for p, s in date.items()] == [
        ("from", "text", "From"),
        ("to", "text", "To"),
        ("timezone", "text", "Time zone (optional)"),
    ]
    assert menu["number"]["parameters"]["output"]["choices"] == ["number", "string"]
    assert menu["number"]["parameters"]["multiply"]["kind"] == "number"
    assert menu["number"]["parameters"]["decimals"]["kind"] == "integer"
    assert menu["base64"]["parameters"]["urlSafe"]["kind"] == "checkbox"
    assert menu["lookup"]["parameters"]["table"]["kind"] == "json"
    assert menu["lookup"]["parameters"]["default"]["kind"] == "loose"
    assert menu["concat"]["parameters"]["fields"]["kind"] == "paths"
    assert menu["custom"]["parameters"]["code"]["label"] == "JavaScript"


def test_a_transform_added_to_the_schema_is_offered_without_a_ui_edit() -> None:
    document = copy.deepcopy(openapi())
    schemas = document["components"]["schemas"]
    schemas["Rot13"] = {
        "title": "ROT13",
        "properties": {"type": {"const": "rot13", "type": "string"},
                       "times": {"type": "integer", "title": "Times"}},
        "required": ["type", "times"],
        "type": "object",
    }
    items = schemas["Mapping"]["properties"]["transforms"]["items"]
    items["oneOf"].append({"$ref": "#/components/schemas/Rot13"})
    assert ui_transforms(document)["rot13"] == {
        "label": "ROT13",
        "fresh": {"type": "rot13", "times": 0},
        "parameters": {"times": {"kind": "integer", "label": "Times", "hint": "",
                                 "placeholder": "", "required": True}},
    }


def test_a_new_parameter_or_enum_value_in_the_schema_fails(contract: dict[str, Any]) -> None:
    schema = copy.deepcopy(json_schema())
    schema["$defs"]["Substring"]["properties"]["step"] = {"type": "integer"}
    schema["$defs"]["HttpTarget"]["properties"]["method"]["enum"].append("HEAD")
    schema["$defs"]["PubSubSource"]["properties"]["token"] = {
        "anyOf": [{"type": "string"}, {"$ref": "#/$defs/SecretRef"}]}
    problems = contract_problems(schema, contract)
    assert [p.split(":")[0] for p in problems] == ["secret paths", "HTTP methods"], problems
    assert "source.token" in problems[0]


def test_a_ui_default_that_breaks_the_schema_fails(contract: dict[str, Any]) -> None:
    ui = copy.deepcopy(contract)
    ui["targetTypes"]["email"]["fresh"]["smtpPort"] = 25
    del ui["authTypes"]["basic"]["fresh"]["username"]
    ui["authTypes"]["bearer"]["fresh"]["with"] = ""
    assert contract_problems(json_schema(), ui) == [
        "target type 'email': the UI starts smtpPort at 25, the schema's default is 587",
        "auth type 'basic': the UI's fresh value lacks required 'username'",
        "auth type 'bearer': the UI starts with 'with', unknown to the schema",
    ]


def test_server_fields_follow_readonly_marks_once_the_schema_has_them(
    contract: dict[str, Any],
) -> None:
    schema = copy.deepcopy(json_schema())
    for name in contract["serverFields"]:
        schema["properties"][name]["readOnly"] = True
    assert contract_problems(schema, contract) == []
    schema["properties"]["active"]["readOnly"] = True
    assert contract_problems(schema, contract) == [
        "server fields (readOnly): the UI has "
        f"{sorted(contract['serverFields'])}, the schema "
        f"{sorted([*contract['serverFields'], 'active'])}"
    ]
