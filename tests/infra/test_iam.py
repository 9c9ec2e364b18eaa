"""No service account holds a role beyond its needs; no basic role anywhere."""

from __future__ import annotations

import re

import pytest

from .test_functions import EXPECTED, PUBLIC
from .tfconfig import MODULE, Expr, Resource, load

DATASTORE = "roles/datastore.user"
PUBLISHER = "roles/pubsub.publisher"
ACCESSOR = "roles/secretmanager.secretAccessor"

# What each function needs (issue 7), and nothing more: (role, on, condition). A grant in
# infra/iam.tf that is not here fails; so does one here that is missing there.
NEEDS: dict[str, set[tuple[str, str, str | None]]] = {
    "webhook": {
        (DATASTORE, "project", None),
        (PUBLISHER, "topic:internal", None),
        (ACCESSOR, "project", "integration_secrets"),  # signature secrets
    },
    "pubsub_push": {
        (DATASTORE, "project", None),
        (PUBLISHER, "topic:internal", None),
    },
    "worker": {
        (DATASTORE, "project", None),
        (ACCESSOR, "project", "integration_secrets"),  # target credentials
    },
    "dead_letter": {
        (DATASTORE, "project", None),
    },
    "pull": {
        (DATASTORE, "project", None),
        (PUBLISHER, "topic:internal", None),
        (PUBLISHER, "topic:pull_tasks", None),
        ("roles/pubsub.subscriber", "project", None),
        (ACCESSOR, "project", "integration_secrets"),  # source credentials
    },
    "api": {
        (DATASTORE, "project", None),
        ("roles/secretmanager.admin", "project", "integration_secrets_admin"),
        ("roles/pubsub.editor", "project", None),
        ("roles/iam.serviceAccountUser", "service_account:push_auth", None),
        (ACCESSOR, "secret:admin_token", None),
    },
}
BASIC_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
# The resources that turn local.function_grants into IAM members, by the `on` they handle.
GRANT_RESOURCES = {
    "google_project_iam_member": "project",
    "google_pubsub_topic_iam_member": "topic:",
    "google_secret_manager_secret_iam_member": "secret:",
    "google_service_account_iam_member": "service_account:",
}


def grants() -> dict[str, dict]:
    return load().locals()["function_grants"]


def iam_resources() -> list[Resource]:
    return [r for config in (load(), load(MODULE)) for r in config.resources() if "_iam_" in r.type]


def test_needs_cover_every_function() -> None:
    assert set(NEEDS) == set(EXPECTED)


@pytest.mark.parametrize("function", sorted(EXPECTED))
def test_each_function_holds_exactly_what_it_needs(function: str) -> None:
    held = {
        (g["role"], g["on"], g["condition"]) for g in grants().values() if g["function"] == function
    }
    assert held == NEEDS[function], (
        f"{function}: extra {held - NEEDS[function]}, missing {NEEDS[function] - held}"
    )


def test_grant_keys_name_their_function() -> None:
    for key, grant in grants().items():
        assert key.split("/")[0] == grant["function"], key


def test_every_grant_target_exists() -> None:
    values = load().locals()
    kinds = {"topic": values["topics"], "secret": values["secrets"]}
    kinds["service_account"] = values["service_accounts"]
    for key, grant in grants().items():
        if grant["on"] == "project":
            continue
        kind, _, name = grant["on"].partition(":")
        assert name in kinds[kind], f"{key}: no {kind} {name!r}"
        if grant["condition"] is not None:
            assert grant["condition"] in values["iam_conditions"], key


def test_only_the_grant_table_gives_function_accounts_roles() -> None:
    # Anything else naming a function's account would be a role the table does not show.
    for resource in iam_resources():
        member = str(resource.body.get("member", "")) + str(resource.body.get("members", ""))
        if "google_service_account.function" not in member:
            continue
        assert resource.name == "function", f"{resource.address} grants a function's account a role"
        assert resource.type in GRANT_RESOURCES, resource.address
        for_each = resource.body["for_each"]
        assert "local.function_grants" in for_each, resource.address
        assert GRANT_RESOURCES[resource.type] in for_each, resource.address
        assert resource.body["role"] == Expr("each.value.role")
        assert "google_service_account.function[each.value.function]" in member


def test_every_kind_of_grant_is_applied_by_one_resource() -> None:
    config = load()
    for type_, on in GRANT_RESOURCES.items():
        config.resource(type_, "function")  # exactly one
        assert any(g["on"].startswith(on) for g in grants().values()), on


def test_no_authoritative_iam_and_no_basic_role() -> None:
    for resource in iam_resources():
        assert resource.type.endswith("_iam_member"), (
            f"{resource.address}: _iam_binding/_iam_policy would remove grants made elsewhere"
        )
    roles = [str(r.body.get("role", "")) for r in iam_resources()]
    roles += [g["role"] for g in grants().values()]
    for config in (load(), load(MODULE)):
        for resource in config.resources("google_project_iam_member"):
            roles.append(str(resource.body.get("for_each", "")))
    text = " ".join(roles)
    for role in BASIC_ROLES:
        assert role not in text


def test_secret_conditions_limit_access_to_integration_secrets() -> None:
    conditions = load().locals()["iam_conditions"]
    prefix = 'resource.name.startsWith("projects/${local.project_number}/secrets/'
    assert conditions["integration_secrets"]["expression"] == (
        prefix + '${local.integration_secret_prefix}")'
    )
    admin = conditions["integration_secrets_admin"]["expression"]
    # Only the project itself (where create and list are checked) besides those secrets.
    assert admin == (
        'resource.type == "cloudresourcemanager.googleapis.com/Project" || '
        + prefix
        + '${local.integration_secret_prefix}")'
    )


def test_only_the_public_functions_admit_everyone() -> None:
    module = load(MODULE)
    public = module.resource("google_cloud_run_v2_service_iam_member", "public").body
    assert public["member"] == "allUsers"
    assert public["count"] == Expr("var.public ? 1 : 0")
    everyone = [
        r.address
        for r in iam_resources()
        if re.search(r"all(Authenticated)?Users", str(r.body.get("member", "")))
    ]
    assert everyone == ["google_cloud_run_v2_service_iam_member.public"]
    functions = load().default("functions")
    assert {name for name, f in functions.items() if f["public"]} == PUBLIC


def test_internal_functions_admit_only_the_invoker() -> None:
    invokers = load().modules()["function"]["invokers"]
    assert invokers.startswith("each.value.public ? {} :")
    assert "serviceAccount:${google_service_account.invoker.email}" in invokers
    invoker = load(MODULE).resource("google_cloud_run_v2_service_iam_member", "invoker").body
    assert invoker["role"] == "roles/run.invoker"
    assert invoker["for_each"] == Expr("var.invokers")


def test_the_invoker_and_push_accounts_hold_no_project_role() -> None:
    for resource in iam_resources():
        member = str(resource.body.get("member", ""))
        for account in ("invoker", "push_auth"):
            assert f"google_service_account.{account}." not in member, (
                f"{resource.address}: the {account} account only signs tokens"
            )


def test_builds_hold_what_cloud_functions_documents() -> None:
    build = load().resource("google_project_iam_member", "build").body
    roles = 'toset(["roles/logging.logWriter", "roles/storage.objectViewer"])'
    assert build["for_each"] == Expr(roles)
    writer = load().resource("google_artifact_registry_repository_iam_member", "build").body
    assert writer["role"] == "roles/artifactregistry.writer"
    assert writer["repository"] == Expr("google_artifact_registry_repository.functions.name")
