"""Swapping write-only values for references, and hiding them on reads."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from mapper.engine.config import parse_integration
from mapper.errors import ConfigError, SecretError
from mapper.secrets import (
    LocalSecretBackend,
    SecretResolver,
    mask_secrets,
    obsolete_refs,
    secret_fields,
    secret_refs,
    store_secrets,
)

SERVICE_ACCOUNT = {
    "type": "service_account",
    "project_id": "p",
    "private_key": "-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----\n",
    "client_email": "sa@p.iam.gserviceaccount.com",
}


def webhook_to_http(auth: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "Payments to Slack",
        "source": {
            "type": "webhook",
            "signature": {"scheme": "standard-webhooks", "secret": "whsec_c2lnbmluZy1rZXk="},
        },
        "mappings": [
            {
                "source": "a",
                "target": "b",
                "transforms": [{"type": "default", "value": "not-a-secret"}],
            },
        ],
        "target": {"type": "http", "url": "https://hooks.example.com/x", "auth": auth},
    }


def pubsub_to_email() -> dict[str, Any]:
    return {
        "name": "Orders by email",
        "source": {
            "type": "pubsub",
            "projectId": "p",
            "topic": "t",
            "credentials": copy.deepcopy(SERVICE_ACCOUNT),
        },
        "target": {
            "type": "email",
            "smtpServer": "smtp.example.com",
            "smtpUsername": "u",
            "smtpPassword": "smtp-pass-1",
            "fromEmail": "a@example.com",
            "toEmail": "b@example.com",
        },
    }


class RecordingBackend(LocalSecretBackend):
    """The local backend, counting stores and failing on demand."""

    def __init__(self, path: Any, fail_after: int | None = None) -> None:
        super().__init__(path)
        self.stored: list[str] = []
        self.deleted: list[str] = []
        self.fail_after = fail_after

    def store(self, name_hint: str, value: str) -> str:
        if self.fail_after is not None and len(self.stored) >= self.fail_after:
            raise SecretError("Secret Manager failed for secret (test)")
        ref = super().store(name_hint, value)
        self.stored.append(ref)
        return ref

    def delete(self, ref: str) -> None:
        self.deleted.append(ref)
        super().delete(ref)


@pytest.fixture
def backend(tmp_path) -> RecordingBackend:
    return RecordingBackend(tmp_path / "secrets.json")


def test_secret_fields_lists_every_write_only_field_and_nothing_else() -> None:
    paths = [path for path, _ in secret_fields(webhook_to_http({"type": "bearer", "token": "t"}))]
    assert paths == ["source.signature.secret", "target.auth.token"]

    for auth, field in [
        ({"type": "basic", "username": "u", "password": "p"}, "target.auth.password"),
        ({"type": "apiKey", "header": "X-Api-Key", "value": "v"}, "target.auth.value"),
    ]:
        assert field in dict(secret_fields(webhook_to_http(auth)))
    assert [path for path, _ in secret_fields(pubsub_to_email())] == [
        "source.credentials",
        "target.smtpPassword",
    ]
    assert secret_fields({"name": "x", "target": {"type": "http", "url": "u"}}) == []


def test_plain_values_are_stored_and_replaced_by_references(backend: RecordingBackend) -> None:
    doc = webhook_to_http({"type": "bearer", "token": "bearer-token-1"})
    original = copy.deepcopy(doc)

    stored = store_secrets(doc, backend, "int-1")

    assert doc == original  # the input is not modified
    token_ref = stored["target"]["auth"]["token"]
    signing_ref = stored["source"]["signature"]["secret"]
    assert set(token_ref) == {"secret"} and set(signing_ref) == {"secret"}
    assert backend.resolve(token_ref["secret"]) == "bearer-token-1"
    assert backend.resolve(signing_ref["secret"]) == "whsec_c2lnbmluZy1rZXk="
    assert stored["mappings"][0]["transforms"][0]["value"] == "not-a-secret"
    assert "bearer-token-1" not in json.dumps(stored)
    parse_integration(stored)  # still a valid integration


def test_credentials_object_is_stored_as_json_text(backend: RecordingBackend) -> None:
    stored = store_secrets(pubsub_to_email(), backend, "int-2")

    ref = stored["source"]["credentials"]["secret"]
    assert json.loads(backend.resolve(ref)) == SERVICE_ACCOUNT
    assert backend.resolve(stored["target"]["smtpPassword"]["secret"]) == "smtp-pass-1"
    assert "PRIVATE KEY" not in json.dumps(stored)
    parse_integration(stored)


def test_each_auth_kind_is_stored(backend: RecordingBackend) -> None:
    for auth, key in [
        ({"type": "basic", "username": "u", "password": "basic-pass"}, "password"),
        ({"type": "apiKey", "queryParam": "api_key", "value": "key-value"}, "value"),
    ]:
        stored = store_secrets(webhook_to_http(auth), backend, "int-3")
        assert backend.resolve(stored["target"]["auth"][key]["secret"]) == auth[key]
        assert stored["target"]["auth"]["username" if key == "password" else "queryParam"]


def test_a_masked_document_written_back_keeps_its_secrets(backend: RecordingBackend) -> None:
    stored = store_secrets(webhook_to_http({"type": "bearer", "token": "tok-1"}), backend, "int-4")
    count = len(backend.stored)

    masked = mask_secrets(stored)
    assert masked["target"]["auth"]["token"] == {
        "secret": stored["target"]["auth"]["token"]["secret"],
        "set": True,
    }
    again = store_secrets(masked, backend, "int-4")

    assert len(backend.stored) == count  # nothing stored twice
    assert again == stored  # "set" is dropped: Firestore keeps only {"secret": name}
    assert obsolete_refs(stored, again) == []


def test_replacing_one_value_stores_only_that_one(backend: RecordingBackend) -> None:
    stored = store_secrets(webhook_to_http({"type": "bearer", "token": "old"}), backend, "int-5")
    edit = mask_secrets(stored)
    edit["target"]["auth"]["token"] = "new-token"

    updated = store_secrets(edit, backend, "int-5")

    assert updated["source"] == stored["source"]
    assert backend.resolve(updated["target"]["auth"]["token"]["secret"]) == "new-token"
    assert obsolete_refs(stored, updated) == [stored["target"]["auth"]["token"]["secret"]]
    assert sorted(secret_refs(updated)) == sorted(
        backend.stored[-1:] + [stored["source"]["signature"]["secret"]["secret"]]
    )


def test_a_reference_to_another_integrations_secret_is_refused(
    backend: RecordingBackend,
) -> None:
    theirs = store_secrets(webhook_to_http({"type": "bearer", "token": "x"}), backend, "int-6")
    mine = webhook_to_http({"type": "bearer", "token": "placeholder"})
    mine["target"]["auth"]["token"] = theirs["target"]["auth"]["token"]

    with pytest.raises(ConfigError) as caught:
        store_secrets(mine, backend, "int-7")
    assert [p.path for p in caught.value.problems] == ["target.auth.token"]

    # A prefix of another id is not enough either ("int-6" vs "int-60").
    with pytest.raises(ConfigError):
        store_secrets(theirs, backend, "int")
    mine["target"]["auth"]["token"] = {"secret": "projects/p/secrets/ADMIN_TOKEN/versions/1"}
    with pytest.raises(ConfigError):
        store_secrets(mine, backend, "int-7")


def test_a_failure_half_way_deletes_what_was_stored(tmp_path) -> None:
    backend = RecordingBackend(tmp_path / "s.json", fail_after=1)

    with pytest.raises(SecretError):
        store_secrets(webhook_to_http({"type": "bearer", "token": "t"}), backend, "int-8")
    assert backend.deleted == backend.stored and len(backend.stored) == 1


def test_empty_and_missing_values_are_left_alone(backend: RecordingBackend) -> None:
    doc = webhook_to_http({"type": "basic", "username": "u", "password": ""})
    del doc["source"]["signature"]

    stored = store_secrets(doc, backend, "int-9")

    assert stored["target"]["auth"]["password"] == ""
    assert backend.stored == []
    assert mask_secrets(stored)["target"]["auth"]["password"] == ""


def test_mask_never_shows_a_plain_value() -> None:
    doc = pubsub_to_email()  # as if a plain value had been stored by mistake

    masked = mask_secrets(doc)

    assert masked["target"]["smtpPassword"] == {"set": True}
    assert masked["source"]["credentials"] == {"set": True}
    assert "smtp-pass-1" not in json.dumps(masked) and "PRIVATE" not in json.dumps(masked)
    assert doc["target"]["smtpPassword"] == "smtp-pass-1"


def test_stored_secrets_resolve_for_delivery(backend: RecordingBackend) -> None:
    stored = store_secrets(webhook_to_http({"type": "bearer", "token": "tok-z"}), backend, "i")
    integration = parse_integration(stored)

    assert SecretResolver(backend).resolve(integration.target.auth.token) == "tok-z"


def test_store_secrets_needs_an_integration_id(backend: RecordingBackend) -> None:
    with pytest.raises(ValueError):
        store_secrets(webhook_to_http({"type": "bearer", "token": "t"}), backend, "")


def test_a_reference_is_kept_only_in_the_field_it_was_stored_for(
    backend: RecordingBackend,
) -> None:
    stored = store_secrets(webhook_to_http({"type": "bearer", "token": "t"}), backend, "int-8")
    moved = mask_secrets(stored)
    moved["target"]["auth"]["token"] = moved["source"]["signature"]["secret"]

    with pytest.raises(ConfigError) as caught:
        store_secrets(moved, backend, "int-8")
    assert [p.path for p in caught.value.problems] == ["target.auth.token"]


def test_snake_case_secret_fields_are_secrets_too(backend: RecordingBackend) -> None:
    auth = {"type": "oauth2", "token_url": "https://auth.example.com/t", "client_id": "c",
            "client_secret": "plain-client-s3cret"}
    stored = store_secrets(webhook_to_http(auth), backend, "int-9")

    assert "plain-client-s3cret" not in json.dumps(stored)
    ref = stored["target"]["auth"]["client_secret"]["secret"]
    assert backend.resolve(ref) == "plain-client-s3cret"
    assert mask_secrets(stored)["target"]["auth"]["client_secret"] == {"secret": ref, "set": True}

    other = store_secrets(webhook_to_http({"type": "bearer", "token": "t"}), backend, "int-9")
    auth["client_secret"] = other["source"]["signature"]["secret"]
    with pytest.raises(ConfigError) as caught:
        store_secrets(webhook_to_http(auth), backend, "int-9")
    assert [p.path for p in caught.value.problems] == ["target.auth.clientSecret"]
