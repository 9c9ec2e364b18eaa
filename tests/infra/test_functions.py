"""Every function in functions/ is deployed, with its entry point and signature type."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

from mapper.cloud_tasks import DISPATCH_DEADLINE_S

from .tfconfig import MODULE, ROOT, Expr, find_tool, load, run

# The platform's functions (README.md, Layout): name -> functions_framework signature type.
EXPECTED = {
    "webhook": "http",
    "pubsub_push": "http",
    "worker": "cloudevent",
    "dead_letter": "cloudevent",
    "pull": "http",
    "api": "http",
    "deliver": "http",
}
# Public by contract (docs/integration.md, Public routes); they authenticate in code.
PUBLIC = {"webhook", "pubsub_push", "api"}
_DECORATORS = {"http": "http", "cloud_event": "cloudevent"}
CODE = sorted(p.parent.name for p in (ROOT / "functions").glob("*/main.py"))


def signature_in_code(main: Path, entry_point: str) -> str | None:
    """The signature type of `entry_point`'s functions_framework decorator in main.py."""
    tree = ast.parse(main.read_text(), filename=str(main))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Attribute)
                    and isinstance(decorator.value, ast.Name)
                    and decorator.value.id == "functions_framework"
                    and decorator.attr in _DECORATORS
                ):
                    return _DECORATORS[decorator.attr]
    return None


def deployed() -> dict[str, dict]:
    return load().default("functions")


def test_the_seven_functions_are_deployed() -> None:
    assert set(deployed()) == set(EXPECTED)


def test_a_function_directory_exists() -> None:
    # Guards the parametrised test below against finding nothing.
    assert {"webhook", "worker", "dead_letter"} <= set(CODE)


@pytest.mark.parametrize("name", CODE)
def test_function_in_code_is_deployed_as_written(name: str) -> None:
    functions = deployed()
    assert name in functions, f"functions/{name} is not in var.functions (infra/variables.tf)"
    entry = functions[name]
    assert entry["entry_point"] == name
    signature = signature_in_code(ROOT / "functions" / name / "main.py", entry["entry_point"])
    assert signature is not None, (
        f"functions/{name}/main.py has no @functions_framework.http or .cloud_event "
        f"function named {entry['entry_point']}"
    )
    assert entry["signature_type"] == signature
    assert EXPECTED[name] == signature


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_expected_signature_and_exposure(name: str) -> None:
    entry = deployed()[name]
    assert entry["signature_type"] == EXPECTED[name]
    assert entry["public"] is (name in PUBLIC)
    assert entry["runtime"].startswith("python3")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sizes_are_consistent(name: str) -> None:
    entry = deployed()[name]
    if entry["concurrency"] > 1:
        assert float(entry["cpu"]) >= 1, "Cloud Run needs a whole vCPU for concurrency > 1"
    assert entry["min_instances"] == 0, "scale to zero: nothing costs while idle"
    assert 1 <= entry["max_instances"]
    # Pushed functions must answer within Pub/Sub's 600 s ack deadline.
    limit = 600 if name in ("worker", "dead_letter", "pull") else 3600
    assert 1 <= entry["timeout_seconds"] <= limit


def test_cloud_tasks_waits_for_deliver_as_long_as_it_may_run() -> None:
    # Shorter, and Cloud Tasks would retry a task whose first dispatch still runs.
    assert deployed()["deliver"]["timeout_seconds"] == DISPATCH_DEADLINE_S
    assert 15 <= DISPATCH_DEADLINE_S <= 1800  # Cloud Tasks' bounds for HTTP tasks


def test_module_call_passes_each_setting_through() -> None:
    call = load().modules()["function"]
    assert call["source"] == "./modules/function"
    assert call["for_each"] == Expr("local.functions")
    for key in (
        "entry_point",
        "signature_type",
        "runtime",
        "memory",
        "cpu",
        "timeout_seconds",
        "concurrency",
        "min_instances",
        "max_instances",
        "public",
    ):
        assert call[key] == Expr(f"each.value.{key}"), key
    assert call["service_account_email"] == Expr("google_service_account.function[each.key].email")
    assert call["environment"] == Expr("local.function_env[each.key]")
    assert call["secret_environment"] == Expr("local.function_secret_env[each.key]")


def test_module_deploys_what_it_is_given() -> None:
    function = load(MODULE).resource("google_cloudfunctions2_function", "this").body
    [build] = function["build_config"]
    assert build["entry_point"] == Expr("var.entry_point")
    assert build["runtime"] == Expr("var.runtime")
    [source] = build["source"]
    assert source["storage_source"][0]["object"] == Expr("var.source_object")
    [service] = function["service_config"]
    assert service["available_memory"] == Expr("var.memory")
    assert service["available_cpu"] == Expr("var.cpu")
    assert service["timeout_seconds"] == Expr("var.timeout_seconds")
    assert service["max_instance_request_concurrency"] == Expr("var.concurrency")
    assert service["min_instance_count"] == Expr("var.min_instances")
    assert service["max_instance_count"] == Expr("var.max_instances")
    assert service["service_account_email"] == Expr("var.service_account_email")
    assert "var.environment" in service["environment_variables"]
    assert "ALLOW_INTERNAL_ONLY" in service["ingress_settings"]


def test_source_object_is_named_by_content_hash() -> None:
    config = load()
    obj = config.resource("google_storage_bucket_object", "source").body
    assert obj["for_each"] == Expr("local.functions")
    assert obj["name"] == "functions/${basename(var.function_sources[each.key])}"
    assert "function_sources" in config.variables()


def test_the_functions_that_wait_on_receivers_get_a_thread_per_request(tmp_path: Path) -> None:
    # functions-framework serves THREADS requests at once (4 per CPU by default); Cloud Run
    # sends up to `concurrency`. infra/main.tf's own expression, run by terraform console on
    # stand-in functions, gives the worker and deliver THREADS = their concurrency, as
    # overridden, and leaves the others to the default.
    values = load().locals()
    assert values["threaded_functions"] == ["worker", "deliver"]
    (tmp_path / "main.tf").write_text(
        "locals {\n"
        '  all_functions = ["webhook", "worker", "deliver"]\n'
        "  functions = { webhook = { concurrency = 80 }, worker = { concurrency = 32 },\n"
        "                deliver = { concurrency = 16 } }\n"
        '  settings = { LOG_FORMAT = { value = "json", functions = ["webhook", "worker"] } }\n'
        '  threaded_functions = ["worker", "deliver"]\n'
        f"  function_env = {values['function_env']}\n"
        "}\n"
    )
    terraform = find_tool("terraform", "TERRAFORM")
    done = run([terraform, "console"], cwd=tmp_path, input="jsonencode(local.function_env)\n")
    assert done.returncode == 0, done.stderr
    assert json.loads(json.loads(done.stdout.strip())) == {
        "webhook": {"LOG_FORMAT": "json"},
        "worker": {"LOG_FORMAT": "json", "THREADS": "32"},
        "deliver": {"THREADS": "16"},
    }
    # bench/cost.py serves the same functions the same way.
    sys.path.insert(0, str(ROOT / "bench"))
    import cost

    assert list(cost.THREADED) == values["threaded_functions"]
