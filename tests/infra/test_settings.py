"""Every environment variable the code reads is set on a function by Terraform (or is local)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from mapper.secrets import SECRET_ID_PREFIX
from mapper.services import DEFAULT_TOPIC

from .test_functions import EXPECTED
from .tfconfig import ROOT, Expr, load

# Read by the code but never set by Terraform, with the reason.
NOT_SET_BY_TERRAFORM = {
    # Local and test runs only: in the cloud they would point the clients at nothing.
    "FIRESTORE_EMULATOR_HOST": "emulator, local only",
    "PUBSUB_EMULATOR_HOST": "emulator, local only",
    "CLOUD_TASKS_ENDPOINT": "the local Cloud Tasks stand-in (local/tasks.py), local only",
    # Tests only: where the OIDC check fetches signing keys; the default is Google's.
    "OIDC_CERTS_URL": "tests point it at their own keys; the default is Google's",
    # Set by Cloud Run itself.
    "PORT": "set by Cloud Run",
    "K_SERVICE": "set by Cloud Run",
    "K_REVISION": "set by Cloud Run",
    "K_CONFIGURATION": "set by Cloud Run",
    "FUNCTION_TARGET": "set by Cloud Functions",
    "FUNCTION_SIGNATURE_TYPE": "set by Cloud Functions",
}
_ENV_OBJECTS = {"environ", "env", "environment"}


def _is_env_object(node: ast.expr) -> bool:
    """`os.environ`, or a parameter conventionally holding it (`environ`, `env`)."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ"
    return isinstance(node, ast.Name) and node.id in _ENV_OBJECTS


def _name_of(node: ast.expr, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def env_reads(path: Path) -> Iterator[tuple[str, int]]:
    """(variable name, line) of each environment read in one Python file.

    Reads are `setting("NAME", ...)`, `os.getenv("NAME")`, `os.environ.get("NAME")`,
    `os.environ["NAME"]`, and `.get` on a parameter named environ/env; the name may be a
    module-level string constant.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if called in ("setting", "getenv"):
                name = _name_of(node.args[0], constants)
            elif called == "get" and isinstance(func, ast.Attribute) and _is_env_object(func.value):
                name = _name_of(node.args[0], constants)
        elif isinstance(node, ast.Subscript) and _is_env_object(node.value):
            name = _name_of(node.slice, constants)
        if name and name.isupper():
            yield name, node.lineno


def read_by_code() -> dict[str, list[str]]:
    """Every variable name read under shared/ and functions/, with where it is read."""
    found: dict[str, list[str]] = {}
    for base in (ROOT / "shared", ROOT / "functions"):
        for path in sorted(base.rglob("*.py")):
            for name, line in env_reads(path):
                found.setdefault(name, []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


def settings() -> dict[str, dict]:
    return load().locals()["settings"]


def secret_settings() -> dict[str, dict]:
    return load().locals()["secret_settings"]


def functions_of(entry: dict) -> list[str]:
    functions = entry["functions"]
    if functions == Expr("local.all_functions"):
        return sorted(EXPECTED)
    assert isinstance(functions, list), f"functions must be a list or local.all_functions: {entry}"
    return functions


def test_the_scanner_finds_reads_of_every_kind() -> None:
    found = read_by_code()
    assert "GOOGLE_CLOUD_PROJECT" in found  # setting("...")
    assert "EGRESS_ALLOW_CIDRS" in found  # env.get(ENV_ALLOW_CIDRS), through a constant
    assert "LOG_FORMAT" in found  # env.get("...") in mapper/logs.py


def test_every_variable_the_code_reads_is_set_or_known_to_be_local() -> None:
    set_by_terraform = {
        name
        for table in (settings(), secret_settings())
        for name, entry in table.items()
        if functions_of(entry)
    }
    missing = {
        name: places
        for name, places in read_by_code().items()
        if name not in set_by_terraform and name not in NOT_SET_BY_TERRAFORM
    }
    assert not missing, (
        "read by the code but set on no function: add them to local.settings in "
        f"infra/main.tf (or to NOT_SET_BY_TERRAFORM with a reason): {missing}"
    )


def test_settings_name_only_real_functions() -> None:
    for name, entry in {**settings(), **secret_settings()}.items():
        assert set(functions_of(entry)) <= set(EXPECTED), name


def test_local_only_variables_are_never_set() -> None:
    for name in NOT_SET_BY_TERRAFORM:
        assert name not in settings() and name not in secret_settings(), name


def test_the_admin_token_comes_from_secret_manager_to_the_api_only() -> None:
    assert "ADMIN_TOKEN" not in settings()
    token = secret_settings()["ADMIN_TOKEN"]
    assert token["functions"] == ["api"]
    assert token["secret"] == Expr("google_secret_manager_secret.admin_token.secret_id")
    secret = load().resource("google_secret_manager_secret", "admin_token").body
    # The integration-secret IAM conditions (prefix mapper-) must not reach the admin token.
    assert not secret["secret_id"].startswith(SECRET_ID_PREFIX)
    version = load().resource("google_secret_manager_secret_version", "admin_token").body
    assert "secret_data" not in version, "the token must not be stored in the Terraform state"
    assert version["secret_data_wo"] == Expr("ephemeral.random_password.admin_token.result")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("SECRET_BACKEND", "secret-manager"),
        ("LOG_FORMAT", "json"),
        ("PUSH_VERIFY_OIDC", "true"),
        ("INTERNAL_TOPIC", Expr("google_pubsub_topic.internal.name")),
        ("PULL_TASKS_TOPIC", Expr("google_pubsub_topic.pull_tasks.name")),
        ("PUSH_SERVICE_ACCOUNT", Expr("google_service_account.push_auth.email")),
        ("PULL_INVOKER_SERVICE_ACCOUNT", Expr("google_service_account.invoker.email")),
        ("DELIVER_INVOKER_SERVICE_ACCOUNT", Expr("google_service_account.tasks_invoker.email")),
        ("DELIVER_URL", Expr('local.function_urls["deliver"]')),
        ("DELIVER_AUDIENCE", Expr('local.function_urls["deliver"]')),
        ("CLOUD_TASKS_LOCATION", Expr("var.region")),
        ("SITE_URL", Expr("local.site_url")),
        ("WEBHOOK_BASE_URL", Expr("local.webhook_base_url")),
        ("PUSH_BASE_URL", Expr("local.push_base_url")),
        ("RUN_RETENTION_DAYS", Expr("var.run_retention_days")),
        ("RECORD_AT_ACCEPT", Expr('var.record_runs_at_accept ? "true" : "false"')),
        (
            "SUCCESS_PAYLOAD_RETENTION_DAYS",
            Expr("coalesce(var.success_payload_retention_days, var.run_retention_days)"),
        ),
    ],
)
def test_setting_values(name: str, expected: str) -> None:
    assert settings()[name]["value"] == expected


def test_urls_are_the_deployed_ones_unless_a_custom_domain_is_given() -> None:
    values = load().locals()
    assert "run.app" in values["function_urls"]
    assert values["site_url"] == Expr(
        'var.public_base_url != "" ? var.public_base_url : local.function_urls["api"]'
    )
    assert values["webhook_base_url"].endswith('local.function_urls["webhook"]')
    assert values["push_base_url"].endswith('local.function_urls["pubsub_push"]')


def test_topic_defaults_match_the_code() -> None:
    config = load()
    assert config.default("internal_topic") == DEFAULT_TOPIC
    assert config.default("pull_tasks_topic") == "mapper-pull-tasks"
    assert config.locals()["integration_secret_prefix"] == SECRET_ID_PREFIX
