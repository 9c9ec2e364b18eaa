"""infra/ against the Google providers' schema, and the check itself against broken Terraform."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .schema_check import INFRA, PROVIDERS, check_tree, google_blocks, load_schemas
from .tfconfig import MODULE, load


def test_infra_matches_the_provider_schema() -> None:
    problems = check_tree()
    assert not problems, "\n".join(str(p) for p in problems)


def test_the_check_covers_every_google_block() -> None:
    # Every resource and data source is one the extract holds, in the file's provider.
    schemas = load_schemas()
    blocks = google_blocks()
    assert len(blocks) >= 30
    for kind, type_, provider in blocks:
        assert type_ in schemas[provider][kind], f"{provider} {kind} {type_}: refresh infra/schema"
    assert ("resource", "google_project_service_identity", "google-beta") in blocks


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_extract_is_of_the_pinned_provider_version(provider: str) -> None:
    [terraform] = [body for _, kind, body in load().blocks if kind == "terraform"]
    [required] = terraform["required_providers"]
    pinned = required[provider]
    extract = load_schemas()[provider]
    assert extract["provider_source"] == f"registry.terraform.io/{pinned['source']}"
    assert extract["provider_version"] == pinned["version"], (
        f"versions.tf pins {provider} {pinned['version']} but infra/schema/{provider}.json is of "
        f"{extract['provider_version']}: refresh it (infra/scripts/schema_extract.py) or pin that"
    )
    assert extract["package"].startswith("@cdktf/provider-google")
    assert "MPL-2.0" in extract["licence"]


def test_the_module_accepts_the_pinned_version() -> None:
    [terraform] = [body for _, kind, body in load(MODULE).blocks if kind == "terraform"]
    [required] = terraform["required_providers"]
    lower = required["google"]["version"].removeprefix(">=").strip()
    pinned = load_schemas()["google"]["provider_version"]
    as_tuple = [tuple(int(part) for part in v.split(".")) for v in (lower, pinned)]
    assert as_tuple[0] <= as_tuple[1], f"the module wants google {lower}, the root pins {pinned}"


# --- the check finds what it is for -----------------------------------------------------


@pytest.fixture
def infra_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy, ignore=shutil.ignore_patterns("scripts", "schema", "*.md"))
    return copy


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not once in {path.name}"
    path.write_text(text.replace(old, new))


def problems_in(infra: Path) -> list[str]:
    return [str(p) for p in check_tree(infra, load_schemas())]


def test_the_copy_is_clean(infra_copy: Path) -> None:
    assert problems_in(infra_copy) == []


def test_a_misspelt_argument_fails(infra_copy: Path) -> None:
    edit(infra_copy / "pubsub.tf", "ack_deadline_seconds       =", "ack_deadline_secs =")
    assert problems_in(infra_copy) == [
        "infra/pubsub.tf: google_pubsub_subscription.platform: argument ack_deadline_secs: "
        "no such argument (did you mean ack_deadline_seconds?)"
    ]


def test_a_missing_required_argument_fails(infra_copy: Path) -> None:
    edit(infra_copy / "pubsub.tf", "  topic                      = each.value.topic\n", "")
    assert problems_in(infra_copy) == [
        "infra/pubsub.tf: google_pubsub_subscription.platform: required argument topic is not set"
    ]


def test_a_typo_inside_a_nested_block_fails(infra_copy: Path) -> None:
    edit(
        infra_copy / "pubsub.tf",
        "service_account_email = google_service_account.invoker",
        "service_account = google_service_account.invoker",
    )
    found = problems_in(infra_copy)
    assert (
        "google_pubsub_subscription.platform.push_config.oidc_token: argument service_account"
        in found[0]
    )
    assert any("required argument service_account_email is not set" in p for p in found)


def test_a_typo_inside_a_dynamic_block_fails(infra_copy: Path) -> None:
    edit(infra_copy / "pubsub.tf", "max_delivery_attempts = var", "max_delivery_attempt = var")
    assert problems_in(infra_copy) == [
        "infra/pubsub.tf: google_pubsub_subscription.platform.dead_letter_policy: argument "
        "max_delivery_attempt: no such argument (did you mean max_delivery_attempts?)"
    ]


def test_an_unknown_dynamic_block_fails(infra_copy: Path) -> None:
    edit(infra_copy / "pubsub.tf", 'dynamic "dead_letter_policy"', 'dynamic "dead_letters_policy"')
    [problem] = problems_in(infra_copy)
    assert "dynamic block dead_letters_policy: no such block" in problem


def test_a_block_in_a_module_is_checked(infra_copy: Path) -> None:
    module = infra_copy / "modules" / "function" / "main.tf"
    edit(module, "    max_instance_count               =", "    max_instances =")
    [problem] = problems_in(infra_copy)
    assert problem.startswith(
        "infra/modules/function/main.tf: google_cloudfunctions2_function.this.service_config: "
        "argument max_instances"
    )


def test_a_block_given_twice_where_one_is_allowed_fails(infra_copy: Path) -> None:
    edit(
        infra_copy / "pubsub.tf",
        "  expiration_policy {\n",
        '  expiration_policy {\n    ttl = ""\n  }\n  expiration_policy {\n',
    )
    [problem] = problems_in(infra_copy)
    assert "block expiration_policy is allowed once, given 2" in problem


def test_a_beta_only_resource_needs_the_beta_provider(infra_copy: Path) -> None:
    edit(infra_copy / "iam.tf", "  provider = google-beta\n", "")
    [problem] = problems_in(infra_copy)
    assert problem.endswith(
        "google has no resource type google_project_service_identity "
        "(it is in google-beta: set `provider = google-beta`)"
    )


def test_a_provider_setting_is_checked(infra_copy: Path) -> None:
    main = infra_copy / "main.tf"
    # The first of the two providers (google, then google-beta) gets the typo.
    main.write_text(main.read_text().replace("user_project_override", "user_project_overide", 1))
    [problem] = problems_in(infra_copy)
    assert problem.startswith("infra/main.tf: provider google: argument user_project_overide")
