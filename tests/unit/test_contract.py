"""The contract in one place: the integration's JSON Schema carries the marks and words.

Read-only (server-owned) and write-only (secret) fields are marked in the schema, and the
lists the admin and the secret policy act on are read back from those marks.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import BaseModel, Field
from werkzeug.routing import Map, Rule

from mapper import admin, api_openapi, api_schema
from mapper.engine import config as cfg
from mapper.secrets import mask_secrets, secret_fields


def _properties(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(model title, property name, property schema) of the root and every definition."""
    models = [schema, *schema.get("$defs", {}).values()]
    return [
        (model.get("title", "?"), name, field)
        for model in models
        for name, field in model.get("properties", {}).items()
    ]


def test_every_field_of_the_integration_schema_says_what_it_is() -> None:
    undescribed = [
        f"{model}.{name}"
        for model, name, field in _properties(cfg.json_schema())
        if not field.get("description", "").strip()
    ]
    assert undescribed == []


def test_the_fields_the_contract_calls_read_only_are_marked_so() -> None:
    # docs/integration.md: id, webhookPath/webhookUrl, pushPath/pushEndpoint, createdAt,
    # updatedAt are the server's.
    properties = cfg.json_schema()["properties"]
    for name in ["id", "webhookPath", "webhookUrl", "pushPath", "pushEndpoint", "createdAt"]:
        assert properties[name].get("readOnly") is True, name
        assert "read-only" in properties[name]["description"], name
    for name in ["name", "active", "source", "condition", "mappings", "target"]:
        assert "readOnly" not in properties[name], name


def test_the_secrets_the_contract_names_are_write_only_and_say_how_they_read() -> None:
    # docs/integration.md: token, password, value of auth, smtpPassword, credentials and
    # signature secret are write-only.
    defs = cfg.json_schema()["$defs"]
    for model, name in [
        ("BearerAuth", "token"),
        ("BasicAuth", "password"),
        ("ApiKeyAuth", "value"),
        ("EmailTarget", "smtpPassword"),
        ("PubSubSource", "credentials"),
        ("SignatureConfig", "secret"),
    ]:
        field = defs[model]["properties"][name]
        branches = field["anyOf"]
        # The plain value is write-only; the reference that reads show in its place is not.
        assert {"type": "string", "writeOnly": True} in branches, (model, name)
        assert {"$ref": "#/$defs/SecretRef"} in branches, (model, name)
        assert '"set": true' in field["description"], (model, name)
    # `value` of the default transform is no secret, though it shares the name.
    assert "writeOnly" not in str(defs["Default"])


# --- the lists read back from the marks ----------------------------------------------------


def _all_marked(node: Any, keyword: str) -> set[str]:
    """Every property name anywhere in a schema that carries `keyword` on itself."""
    found: set[str] = set()
    if isinstance(node, dict):
        for name, field in (node.get("properties") or {}).items():
            if isinstance(field, dict) and field.get(keyword) is True:
                found.add(name)
        for value in node.values():
            found |= _all_marked(value, keyword)
    elif isinstance(node, list):
        for value in node:
            found |= _all_marked(value, keyword)
    return found


def test_every_field_marked_read_only_is_in_the_server_fields() -> None:
    marked = _all_marked(cfg.json_schema(), "readOnly")
    assert marked  # the walk found the marks at all
    assert marked <= set(cfg.server_fields())
    assert {"id", "version", "webhookPath", "createdAt", "updatedAt"} <= set(cfg.server_fields())


TARGET_SECRETS = {
    ("auth", "token"),
    ("auth", "password"),
    ("auth", "value"),
    ("smtpPassword",),
    # docs/targets.md: the OAuth2 client secret and the signing keys
    ("auth", "clientSecret"),
    ("signing", "secret"),
    ("signing", "previousSecret"),
}


def test_the_secret_paths_are_the_contracts() -> None:
    assert set(cfg.secret_paths()) == {
        ("source", "signature", "secret"),
        ("source", "credentials"),
        *(("target", *path) for path in TARGET_SECRETS),
        # A fan-out's targets: the same fields in each item of the list.
        *(("targets", "*", *path) for path in TARGET_SECRETS),
        # docs/delivery.md, "Notifications": the key signing notify POSTs
        ("notify", "secret"),
    }


class _Key(BaseModel):
    name: str = ""
    key: str = ""


class _KeyMarked(BaseModel):
    name: str = ""
    key: str = Field(default="", json_schema_extra=cfg.WRITE_ONLY)


class _Holder(BaseModel):
    one: _Key
    many: list[_Key] = []


class _HolderMarked(BaseModel):
    one: _KeyMarked
    many: list[_KeyMarked] = []


def test_marking_a_field_write_only_makes_it_a_secret_path() -> None:
    assert cfg.marked_paths(_Holder, "writeOnly") == ()
    assert cfg.marked_paths(_HolderMarked, "writeOnly") == (("one", "key"), ("many", "*", "key"))


def test_a_new_secret_field_of_a_target_is_found_at_its_camel_case_name() -> None:
    class EmailWithToken(cfg.EmailTarget):
        api_token: cfg.Secret = Field(default="", description="x")

    paths = cfg.marked_paths(EmailWithToken, "writeOnly")
    assert ("apiToken",) in paths and ("smtpPassword",) in paths
    assert ("subject",) not in paths


def _document_with_every_secret(value: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "mappings": [{"target": "x", "transforms": [{"type": "default", "value": "keep"}]}]
    }
    for path in cfg.secret_paths():
        node: Any = doc
        for key, after in zip(path[:-1], path[1:], strict=True):
            if key == "*":  # a fan-out's targets: one item holds them
                continue
            node = node.setdefault(key, [{}] if after == "*" else {})
            node = node[0] if after == "*" else node
        node[path[-1]] = value
    return doc


def test_reads_hide_every_field_the_schema_marks_write_only() -> None:
    ref = "projects/p/secrets/mapper-i-target-smtpPassword-0123456789ab/versions/1"
    shown = mask_secrets(_document_with_every_secret({"secret": ref}))
    for path in cfg.secret_paths():
        node: Any = shown
        for key in path:
            node = node[0] if key == "*" else node[key]
        assert node == {"secret": ref, "set": True}, path
    # The default transform's `value` shares a secret's name, not its mark.
    assert shown["mappings"][0]["transforms"][0]["value"] == "keep"
    assert len(secret_fields(_document_with_every_secret("plain"))) == len(cfg.secret_paths())


def test_the_admin_ignores_every_field_the_schema_marks_read_only() -> None:
    doc = {
        "name": "n",
        "source": {"type": "webhook"},
        "target": {"type": "http", "url": "https://example.com/"},
    }
    sent_back = {**doc, "id": "i", "version": 3, "webhookPath": "p", "listenerActive": True}
    kept = admin._checked(sent_back)
    assert kept == doc
    assert not set(kept) & set(cfg.server_fields())


# --- the OpenAPI document ------------------------------------------------------------------


def test_every_field_in_the_openapi_document_says_what_it_is() -> None:
    schemas = api_openapi.openapi()["components"]["schemas"]
    undescribed = [
        f"{model}.{name}"
        for model, schema in schemas.items()
        for name, field in schema.get("properties", {}).items()
        if not field.get("description", "").strip()
    ]
    assert undescribed == []
    # The marks reach the served document.
    assert schemas["Integration"]["properties"]["webhookUrl"]["readOnly"] is True
    assert {"type": "string", "writeOnly": True} in schemas["BearerAuth"]["properties"]["token"][
        "anyOf"
    ]


def _routes(urls: Map) -> set[tuple[str, str]]:
    return {
        (rule.endpoint, method.lower())
        for rule in urls.iter_rules()
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }


def test_the_openapi_paths_are_the_route_table_both_ways() -> None:
    served = {
        (re.sub(r"<(\w+)>", r"{\1}", rule.rule), method)
        for rule in api_schema.URLS.iter_rules()
        for endpoint, method in _routes(api_schema.URLS)
        if endpoint == rule.endpoint
    }
    documented = {
        (path, method)
        for path, item in api_openapi.openapi()["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert served == documented
    # No operation is written for an endpoint or a method that has no route.
    written = {(endpoint, m) for endpoint, item in api_openapi._operations().items() for m in item}
    assert written == _routes(api_schema.URLS)


def test_every_route_has_its_handler() -> None:
    from functions.api import routes

    assert {rule.endpoint for rule in api_schema.URLS.iter_rules()} == set(routes._HANDLERS)


def test_a_route_without_its_operation_cannot_be_documented(monkeypatch) -> None:
    extra = Rule("/api/runs/<id>/cancel/", endpoint="run", methods=["POST"])
    rules = [
        Rule(r.rule, endpoint=r.endpoint, methods=r.methods)
        for r in api_schema.URLS.iter_rules()
    ]
    monkeypatch.setattr(api_openapi, "URLS", Map([*rules, extra]))
    with pytest.raises(KeyError, match="cancel"):
        api_openapi.openapi()


def test_notify_reaches_the_openapi_document() -> None:
    from mapper.api_openapi import openapi

    schemas = openapi()["components"]["schemas"]
    integration = schemas["Integration"]["properties"]
    assert "notify" in integration and integration["newNotifySecret"]["readOnly"] is True
    notify = schemas["NotifyConfig"]["properties"]
    assert {"url", "email", "secret"} <= set(notify)
    assert any(branch.get("writeOnly") for branch in notify["secret"]["anyOf"])
