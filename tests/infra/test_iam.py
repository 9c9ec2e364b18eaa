"""No service account holds a role beyond its needs; no basic role anywhere."""

from __future__ import annotations

import ast
import re

from .test_functions import EXPECTED, PUBLIC
from .tfconfig import MODULE, ROOT, Expr, Resource, load

BASIC_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
SUBSCRIPTIONS_ROLE = Expr("google_project_iam_custom_role.subscriptions.name")
CONSUME_ROLE = Expr("google_project_iam_custom_role.consume.name")
SUBSCRIPTIONS_CODE = ROOT / "shared" / "mapper" / "sources" / "subscriptions.py"
DELIVERY_QUEUES_ROLE = Expr("google_project_iam_custom_role.delivery_queues.name")
CLOUD_TASKS_CODE = ROOT / "shared" / "mapper" / "cloud_tasks.py"
# The permission each CloudTasksClient method the adapter calls needs (Cloud Tasks' IAM
# reference: "Authorization requires the following IAM permission").
CLOUD_TASKS_PERMISSIONS = {
    "create_queue": "cloudtasks.queues.create",
    "delete_queue": "cloudtasks.queues.delete",
    "get_queue": "cloudtasks.queues.get",
    "pause_queue": "cloudtasks.queues.pause",
    "resume_queue": "cloudtasks.queues.resume",
    "update_queue": "cloudtasks.queues.update",
    "create_task": "cloudtasks.tasks.create",
    "list_tasks": "cloudtasks.tasks.list",
}
# Pub/Sub permissions the subscription manager names that the api does not use itself:
# consuming is the pull function's (CONSUME_ROLE).
NOT_THE_APIS = {"pubsub.subscriptions.consume"}
# The resources that turn local.function_grants into IAM members, by the `on` they handle.
GRANT_RESOURCES = {
    "google_project_iam_member": "project",
    "google_pubsub_topic_iam_member": "topic:",
    "google_secret_manager_secret_iam_member": "secret:",
    "google_service_account_iam_member": "service_account:",
}
# local.function_grants in infra/iam.tf is the one statement of who holds what; these tests
# hold it to rules instead of to a second copy. The roles that may be granted on the whole
# project, and why nothing narrower will do:
PROJECT_WIDE = {
    "roles/datastore.user": "Firestore grants per project (or per database), not per collection",
    # Pub/Sub's conditions cannot test a name either; consume only (test below).
    CONSUME_ROLE: "pull reads subscriptions the api creates at run time",
    "roles/secretmanager.secretAccessor": "integration secrets are made at run time; conditioned",
    "roles/secretmanager.admin": "the api creates integration secrets at run time; conditioned",
    # Pub/Sub's IAM conditions cannot test a name, and users name their topics (infra/iam.tf).
    SUBSCRIPTIONS_ROLE: "the api manages users' subscriptions, made at run time on their topics",
    # Cloud Tasks' IAM conditions cannot test a name, and queues are made at run time.
    "roles/cloudtasks.enqueuer": "the worker and deliver add tasks to delivery queues made at "
    "run time",
    DELIVERY_QUEUES_ROLE: "the api manages delivery queues, made at run time (infra/iam.tf)",
}
# Roles that reach secrets must be narrowed to the integration secrets by a condition.
CONDITIONED_ON_PROJECT = {"roles/secretmanager.secretAccessor", "roles/secretmanager.admin"}
TOPIC_SETTINGS = {"internal": "INTERNAL_TOPIC", "pull_tasks": "PULL_TASKS_TOPIC"}
# A topic the code names from another's setting (mapper.queue.ordered_topic).
TWIN_TOPICS = {"internal_ordered": ("internal", "${var.internal_topic}-ordered")}


def grants() -> dict[str, dict]:
    return load().locals()["function_grants"]


def iam_resources() -> list[Resource]:
    """Every IAM member, binding and policy (not custom roles, which grant nothing)."""
    return [
        r
        for config in (load(), load(MODULE))
        for r in config.resources()
        if re.search(r"_iam_(member|binding|policy)$", r.type)
    ]


def functions_of(entry: dict) -> set[str]:
    """The functions a setting of local.settings or local.secret_settings is given to."""
    if entry["functions"] == Expr("local.all_functions"):
        return set(EXPECTED)
    return set(entry["functions"])


def holders(role: str, on: str) -> set[str]:
    return {g["function"] for g in grants().values() if g["role"] == role and g["on"] == on}


def test_every_function_holds_roles_and_only_functions_do() -> None:
    assert {g["function"] for g in grants().values()} == set(EXPECTED)


def test_no_function_holds_a_role_twice() -> None:
    seen = [(g["function"], g["role"], g["on"]) for g in grants().values()]
    assert len(seen) == len(set(seen))


def test_project_wide_roles_are_the_ones_nothing_narrower_serves() -> None:
    for key, grant in grants().items():
        if grant["on"] == "project":
            assert grant["role"] in PROJECT_WIDE, f"{key}: grant {grant['role']} on one resource"


def test_secret_roles_on_the_project_are_conditioned() -> None:
    for key, grant in grants().items():
        if grant["on"] == "project" and grant["role"] in CONDITIONED_ON_PROJECT:
            assert grant["condition"] is not None, f"{key} would reach the admin token"
        if grant["role"].startswith("roles/secretmanager."):
            assert grant["on"] == "project" or grant["on"].startswith("secret:"), key


def test_publishers_publish_to_the_topic_they_are_told_of() -> None:
    # A function may publish to a topic only if its settings name that topic, and every
    # function whose code publishes (the intake and pull; dead_letter, a run with attempts
    # left) can.
    settings = load().locals()["settings"]
    for key, grant in grants().items():
        if grant["role"] == "roles/pubsub.publisher":
            assert grant["on"].startswith("topic:"), f"{key}: publish to one topic, not all"
            topic = grant["on"].removeprefix("topic:")
            if topic in TWIN_TOPICS:
                topic, twin_name = TWIN_TOPICS[topic]
                twin = load().resource("google_pubsub_topic", grant["on"].removeprefix("topic:"))
                assert twin.body["name"] == twin_name, key
                assert load().resource("google_pubsub_topic", topic).body["name"] == Expr(
                    "var.internal_topic"
                ), key
            setting = settings[TOPIC_SETTINGS[topic]]
            assert setting["value"] == Expr(f"google_pubsub_topic.{topic}.name"), key
            assert grant["function"] in functions_of(setting), key
    intake = {"webhook", "pubsub_push", "pull", "dead_letter"}
    assert holders("roles/pubsub.publisher", "topic:internal") == intake
    # Keyed messages come from the intake only: dead_letter republishes without a key.
    assert holders("roles/pubsub.publisher", "topic:internal_ordered") == intake - {
        "dead_letter"
    }
    assert holders("roles/pubsub.publisher", "topic:pull_tasks") == functions_of(
        settings["PULL_TASKS_TOPIC"]
    )


def test_each_mounted_secret_is_readable_by_its_function() -> None:
    # Cloud Run refuses to start an instance whose secret environment it cannot read.
    secrets = load().locals()["secrets"]
    for name, entry in load().locals()["secret_settings"].items():
        [secret] = [key for key, value in secrets.items() if value == entry["secret"]]
        readers = holders("roles/secretmanager.secretAccessor", f"secret:{secret}")
        assert readers == functions_of(entry), name


def test_only_the_function_attaching_push_identities_may_act_as_it() -> None:
    # actAs on the push account is needed to attach it to a subscription, which only the
    # function told PUSH_SERVICE_ACCOUNT and managing subscriptions does.
    told = functions_of(load().locals()["settings"]["PUSH_SERVICE_ACCOUNT"])
    acting = holders("roles/iam.serviceAccountUser", "service_account:push_auth")
    assert acting and acting <= told
    managing = {g["function"] for g in grants().values() if g["role"] == SUBSCRIPTIONS_ROLE}
    assert acting == managing


def permissions_named_by_the_subscription_manager() -> set[str]:
    """Every Pub/Sub permission in mapper.sources.subscriptions' _PERMISSIONS table."""
    tree = ast.parse(SUBSCRIPTIONS_CODE.read_text())
    [table] = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "_PERMISSIONS" for t in node.targets)
    ]
    text = " ".join(ast.literal_eval(table).values())
    return set(re.findall(r"\bpubsub\.[a-z]+\.[A-Za-z]+\b", text))


def test_the_api_manages_subscriptions_with_what_the_code_calls_and_no_more() -> None:
    named = permissions_named_by_the_subscription_manager()
    assert {"pubsub.subscriptions.create", "pubsub.topics.publish"} <= named
    role = load().resource("google_project_iam_custom_role", "subscriptions").body
    assert role["permissions"] == Expr("local.subscription_permissions")
    granted = set(load().locals()["subscription_permissions"])
    assert granted == named - NOT_THE_APIS
    assert holders(SUBSCRIPTIONS_ROLE, "project") == {"api"}


def test_the_pull_function_only_consumes() -> None:
    # roles/pubsub.subscriber also attaches subscriptions to any topic of the project: with
    # it, the pull function could read the platform's internal topic (docs/security.md).
    role = load().resource("google_project_iam_custom_role", "consume").body
    assert role["permissions"] == Expr("local.consume_permissions")
    assert load().locals()["consume_permissions"] == ["pubsub.subscriptions.consume"]
    assert holders(CONSUME_ROLE, "project") == {"pull"}
    for key, grant in grants().items():
        assert grant["role"] != "roles/pubsub.subscriber", key
def client_calls_of_the_cloud_tasks_adapter() -> set[str]:
    """Every `self._client.<method>(...)` call in mapper/cloud_tasks.py."""
    tree = ast.parse(CLOUD_TASKS_CODE.read_text())
    return {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Attribute)
        and node.func.value.attr == "_client"
    }


def test_the_api_manages_delivery_queues_with_what_the_code_calls_and_no_more() -> None:
    calls = client_calls_of_the_cloud_tasks_adapter()
    assert {"create_queue", "create_task", "list_tasks"} <= calls
    assert calls <= set(CLOUD_TASKS_PERMISSIONS), calls - set(CLOUD_TASKS_PERMISSIONS)
    role = load().resource("google_project_iam_custom_role", "delivery_queues").body
    assert role["permissions"] == Expr("local.delivery_queue_permissions")
    granted = set(load().locals()["delivery_queue_permissions"])
    assert granted == {CLOUD_TASKS_PERMISSIONS[call] for call in calls}
    assert holders(DELIVERY_QUEUES_ROLE, "project") == {"api"}


def test_only_the_functions_creating_delivery_tasks_may_act_as_their_invoker() -> None:
    # A task with an OIDC token needs actAs on its account: the functions told
    # DELIVER_INVOKER_SERVICE_ACCOUNT to put on tasks, and able to create tasks, have it.
    settings = load().locals()["settings"]
    acting = holders("roles/iam.serviceAccountUser", "service_account:tasks_invoker")
    creating = holders("roles/cloudtasks.enqueuer", "project") | holders(
        DELIVERY_QUEUES_ROLE, "project"
    )
    # pull: a resume's held runs of a paced target are queued by its batches.
    assert acting == creating == {"worker", "api", "deliver", "pull"}
    told = functions_of(settings["DELIVER_INVOKER_SERVICE_ACCOUNT"])
    assert acting <= told and "deliver" in told  # deliver checks that tokens name it
    for name in ("DELIVER_URL", "CLOUD_TASKS_LOCATION"):
        assert functions_of(settings[name]) == creating, name


def test_no_broad_cloud_tasks_role() -> None:
    # queueAdmin and admin purge queues and delete tasks; enqueuer only adds them.
    for key, grant in grants().items():
        assert grant["role"] not in ("roles/cloudtasks.admin", "roles/cloudtasks.queueAdmin"), key


def test_no_broad_pubsub_role() -> None:
    # roles/pubsub.editor and .admin delete topics and read any subscription's messages.
    for key, grant in grants().items():
        assert grant["role"] not in ("roles/pubsub.editor", "roles/pubsub.admin"), key


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
    # deliver admits the tasks invoker and no other account; no other function admits it.
    deliver, _, others = invokers.partition('each.key == "deliver" ?')[2].partition("} : {")
    assert "google_service_account.tasks_invoker.email" in deliver
    assert "google_service_account.invoker." not in deliver
    assert "tasks_invoker" not in others
    invoker = load(MODULE).resource("google_cloud_run_v2_service_iam_member", "invoker").body
    assert invoker["role"] == "roles/run.invoker"
    assert invoker["for_each"] == Expr("var.invokers")


def test_the_invoker_and_push_accounts_hold_no_project_role() -> None:
    for resource in iam_resources():
        member = str(resource.body.get("member", ""))
        for account in ("invoker", "push_auth", "tasks_invoker"):
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


def test_the_functions_that_notify_read_the_notify_keys() -> None:
    # mapper.notify signs with the integration's notify key (a mapper-* secret): every
    # function that ends runs dead_lettered reads it (docs/delivery.md, "Notifications").
    readers = holders("roles/secretmanager.secretAccessor", "project")
    assert {"worker", "deliver", "dead_letter"} <= readers
    assert all(
        g["condition"] == "integration_secrets"
        for g in grants().values()
        if g["function"] == "dead_letter" and g["role"] == "roles/secretmanager.secretAccessor"
    )
