"""deploy.sh: syntax, shellcheck, its checks, and what it asks of gcloud and terraform.

The flows run deploy.sh in a copy of the repository against small stand-ins for gcloud
and terraform that log their arguments: nothing reaches Google Cloud.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from .tfconfig import ROOT, find_tool, run

BASH = shutil.which("bash") or "/bin/bash"
PROJECT, REGION = "my-project-1", "europe-west1"

FAKE_GCLOUD = r"""#!/usr/bin/env bash
printf 'gcloud %s\n' "$*" >>"$FAKE_LOG"
case "$*" in
  "auth list"*) printf '%s\n' "${FAKE_ACCOUNT-dev@example.com}" ;;
  "projects describe"*) [[ -z "${FAKE_NO_PROJECT:-}" ]] || exit 1 ;;
  "billing projects describe"*) printf '%s\n' "${FAKE_BILLING:-True}" ;;
  "auth application-default print-access-token"*) exit 1 ;;
  "auth print-access-token"*) echo "ya29.fake" ;;
  "services enable"*) ;;
  "firestore databases describe"*)
    [[ -n "${FAKE_FIRESTORE:-}" ]] || exit 1
    printf '%b\n' "$FAKE_FIRESTORE" ;;
  "storage buckets describe"*) exit 1 ;;
  "storage buckets create"* | "storage buckets update"*) ;;
  *) echo "fake gcloud: unexpected: $*" >&2; exit 3 ;;
esac
"""

FAKE_TERRAFORM = r"""#!/usr/bin/env bash
printf 'terraform %s\n' "$*" >>"$FAKE_LOG"
[[ "$1" == -chdir=* ]] && shift
case "$1" in
  version) echo "Terraform v${FAKE_TF_VERSION:-1.11.4}" ;;
  init | workspace | import | apply | destroy) ;;
  state) [[ "$2" != list ]] || printf '%b' "${FAKE_STATE:-}" ;;
  plan)  # -detailed-exitcode: 2 is "changes"; without it, only a failure is not 0
    if [[ "$*" == *-detailed-exitcode* ]]; then exit "${FAKE_PLAN_EXIT:-2}"; fi
    [[ "${FAKE_PLAN_EXIT:-2}" != 1 ]] || exit 1 ;;
  output) echo "https://out.example/${!#}" ;;
  *) echo "fake terraform: unexpected: $*" >&2; exit 3 ;;
esac
"""


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """What deploy.sh needs of the repository, copied: it writes build/ and infra/ files."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy2(ROOT / "deploy.sh", root / "deploy.sh")
    shutil.copy2(ROOT / "requirements.txt", root / "requirements.txt")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".terraform", "*.tfstate*")
    # With the fetched npm files (git-ignored) that `make` put there: no network here.
    for part in ("infra", "functions", "shared/mapper", "scripts"):
        shutil.copytree(ROOT / part, root / part, ignore=ignore)
    return root


@pytest.fixture
def fakes(tmp_path: Path) -> Path:
    """A bin directory with gcloud and terraform stand-ins."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _executable(bin_dir / "gcloud", FAKE_GCLOUD)
    _executable(bin_dir / "terraform", FAKE_TERRAFORM)
    return bin_dir


Deploy = Callable[..., tuple[int, str, str, list[str]]]


@pytest.fixture
def deploy(checkout: Path, fakes: Path, tmp_path: Path) -> Deploy:
    """Run deploy.sh with the stand-ins first on PATH; (status, stdout, stderr, calls)."""

    def _run(*args: str, **fake_env: str) -> tuple[int, str, str, list[str]]:
        log = tmp_path / "calls.log"
        log.write_text("")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "TF_"))}
        env.update(PATH=f"{fakes}:/usr/bin:/bin", HOME=str(tmp_path), FAKE_LOG=str(log))
        env.update(fake_env)
        result = run([BASH, str(checkout / "deploy.sh"), *args], env=env, cwd=tmp_path)
        return result.returncode, result.stdout, result.stderr, log.read_text().splitlines()

    return _run


def calls_to(calls: list[str], prefix: str) -> list[str]:
    return [c for c in calls if c.startswith(prefix)]


def build_dir(checkout: Path) -> Path:
    return checkout / "build" / "deploy" / PROJECT


# --- static checks ------------------------------------------------------------------------


def test_bash_syntax() -> None:
    result = run([BASH, "-n", str(ROOT / "deploy.sh")])
    assert result.returncode == 0, result.stderr


def test_shellcheck_clean() -> None:
    shellcheck = find_tool("shellcheck", "SHELLCHECK")
    result = run([shellcheck, "--severity=style", str(ROOT / "deploy.sh")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_executable() -> None:
    assert os.access(ROOT / "deploy.sh", os.X_OK)


# --- arguments and prerequisites ----------------------------------------------------------


def test_no_project_prints_usage(deploy: Deploy) -> None:
    status, _, err, calls = deploy()
    assert status != 0
    assert "usage: ./deploy.sh PROJECT_ID REGION" in err
    assert "no project given" in err
    assert calls == []


def test_no_region(deploy: Deploy) -> None:
    status, _, err, _ = deploy(PROJECT)
    assert status != 0 and "no region given" in err


@pytest.mark.parametrize("project", ["My_Project", "abc", "1project", "a" * 31])
def test_bad_project_id(deploy: Deploy, project: str) -> None:
    status, _, err, _ = deploy(project, REGION)
    assert status != 0 and "is not a project ID" in err


def test_unknown_option(deploy: Deploy) -> None:
    status, _, err, _ = deploy(PROJECT, REGION, "--yes")
    assert status != 0 and "unknown option --yes" in err


def test_help(deploy: Deploy) -> None:
    status, out, _, _ = deploy("--help")
    assert status == 0 and "--state-bucket BUCKET" in out


def _run_with_path(checkout: Path, path: str, tmp_path: Path) -> tuple[int, str]:
    env = {"PATH": path, "HOME": str(tmp_path), "FAKE_LOG": str(tmp_path / "log")}
    result = run([BASH, str(checkout / "deploy.sh"), PROJECT, REGION], env=env)
    return result.returncode, result.stderr


def test_missing_gcloud(checkout: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    status, err = _run_with_path(checkout, str(empty), tmp_path)
    assert status != 0
    assert "gcloud is not installed" in err and "cloud.google.com/sdk" in err


def test_missing_terraform(checkout: Path, fakes: Path, tmp_path: Path) -> None:
    only_gcloud = tmp_path / "only-gcloud"
    only_gcloud.mkdir()
    (only_gcloud / "gcloud").symlink_to(fakes / "gcloud")
    status, err = _run_with_path(checkout, str(only_gcloud), tmp_path)
    assert status != 0
    assert "terraform is not installed" in err and ">= 1.11.0" in err


def test_old_terraform(deploy: Deploy) -> None:
    status, _, err, _ = deploy(PROJECT, REGION, FAKE_TF_VERSION="1.9.8")
    assert status != 0 and "terraform 1.9.8 is too old" in err


def test_not_logged_in(deploy: Deploy) -> None:
    status, _, err, _ = deploy(PROJECT, REGION, FAKE_ACCOUNT="")
    assert status != 0 and "gcloud auth login" in err


def test_unknown_project(deploy: Deploy) -> None:
    status, _, err, _ = deploy(PROJECT, REGION, FAKE_NO_PROJECT="1")
    assert status != 0 and f"project {PROJECT} cannot be read" in err


def test_billing_disabled(deploy: Deploy) -> None:
    status, _, err, _ = deploy(PROJECT, REGION, FAKE_BILLING="False")
    assert status != 0 and "billing is not enabled" in err


# --- flows --------------------------------------------------------------------------------


def test_deploy_packages_plans_applies_and_prints_the_urls(deploy: Deploy, checkout: Path) -> None:
    status, out, err, calls = deploy(PROJECT, REGION)
    assert status == 0, err
    build = build_dir(checkout)
    sources = json.loads((build / "sources.tfvars.json").read_text())["function_sources"]
    assert set(sources) == {p.parent.name for p in (checkout / "functions").glob("*/main.py")}
    assert all(Path(p).parent == build / "functions" for p in sources.values())

    assert calls_to(calls, "gcloud services enable") == [
        f"gcloud services enable serviceusage.googleapis.com cloudresourcemanager.googleapis.com "
        f"--project={PROJECT} --quiet"
    ]
    infra = checkout / "infra"
    tf = f"terraform -chdir={infra}"
    assert f"{tf} init -input=false" in calls
    assert f"{tf} workspace select -or-create {PROJECT}" in calls
    variables = f"-var project_id={PROJECT} -var region={REGION}"
    variables += f" -var-file={build}/sources.tfvars.json"
    plan = build / "terraform.tfplan"
    assert f"{tf} plan -input=false -detailed-exitcode {variables} -out={plan}" in calls
    # The worker and the dead letter get the new code before the webhook does, then the
    # rest from a fresh plan (docs/deploy.md, "Upgrading").
    readers = "-target=module.function[\"worker\"] -target=module.function[\"dead_letter\"]"
    applies = calls_to(calls, f"{tf} apply")
    assert applies == [f"{tf} apply -input=false {plan}.readers", f"{tf} apply -input=false {plan}"]
    order = [calls.index(c) for c in (
        f"{tf} plan -input=false {variables} {readers} -out={plan}.readers", applies[0],
        f"{tf} plan -input=false {variables} -out={plan}", applies[1])]
    assert order == sorted(order)
    assert not calls_to(calls, f"{tf} import")
    assert "Web UI and API   https://out.example/site_url/" in out
    assert "https://out.example/webhook_base_url/webhook/<path>/" in out
    assert "https://out.example/admin_token_command" in out
    # The pinned npm files are checked (fetched when missing) before anything is packaged.
    assert err.index("fetching the pinned npm files") < err.index("packaging functions/")


def test_second_run_rebuilds_nothing_and_applies_nothing(deploy: Deploy, checkout: Path) -> None:
    assert deploy(PROJECT, REGION)[0] == 0
    zips = sorted((build_dir(checkout) / "functions").iterdir())
    times = [p.stat().st_mtime_ns for p in zips]
    status, _, err, calls = deploy(PROJECT, REGION, FAKE_PLAN_EXIT="0")
    assert status == 0, err
    assert sorted((build_dir(checkout) / "functions").iterdir()) == zips
    assert [p.stat().st_mtime_ns for p in zips] == times
    assert "no changes" in err
    assert not [c for c in calls if " apply " in c]


def test_plan_only(deploy: Deploy) -> None:
    status, _, _, calls = deploy(PROJECT, REGION, "--plan")
    assert status == 0
    assert [c for c in calls if " plan " in c]
    assert not [c for c in calls if " apply " in c]


def test_failed_plan_stops(deploy: Deploy) -> None:
    status, _, err, calls = deploy(PROJECT, REGION, FAKE_PLAN_EXIT="1")
    assert status != 0 and "terraform plan failed" in err
    assert not [c for c in calls if " apply " in c]


def test_an_existing_firestore_database_is_adopted_where_it_is(
    deploy: Deploy, checkout: Path
) -> None:
    status, _, err, calls = deploy(PROJECT, REGION, FAKE_FIRESTORE="FIRESTORE_NATIVE\\teur3")
    assert status == 0, err
    [imported] = [c for c in calls if " import " in c]
    assert "-var firestore_location=eur3" in imported
    assert imported.endswith(
        f"google_firestore_database.default projects/{PROJECT}/databases/(default)"
    )
    plans = [c for c in calls if " plan " in c]
    assert plans and all("-var firestore_location=eur3" in plan for plan in plans)
    assert not any("firestore_point_in_time_recovery" in plan for plan in plans)


def test_point_in_time_recovery_of_an_adopted_database_stays_on(deploy: Deploy) -> None:
    status, _, err, calls = deploy(
        PROJECT, REGION, FAKE_FIRESTORE="FIRESTORE_NATIVE\\tnam5\\tPOINT_IN_TIME_RECOVERY_ENABLED"
    )
    assert status == 0, err
    plans = [c for c in calls if " plan " in c]
    assert plans and all(
        "-var firestore_location=nam5 -var firestore_point_in_time_recovery=true" in plan
        for plan in plans
    )


def test_a_database_in_the_state_is_not_imported_again(deploy: Deploy) -> None:
    status, _, err, calls = deploy(
        PROJECT,
        REGION,
        FAKE_FIRESTORE="FIRESTORE_NATIVE\\teur3",
        FAKE_STATE="google_firestore_database.default\\ngoogle_pubsub_topic.internal\\n",
    )
    assert status == 0, err
    assert not [c for c in calls if " import " in c]


def test_a_datastore_mode_database_is_refused(deploy: Deploy) -> None:
    status, _, err, calls = deploy(PROJECT, REGION, FAKE_FIRESTORE="DATASTORE_MODE\\tus-east1")
    assert status != 0 and "needs Native mode" in err
    assert not [c for c in calls if " plan " in c]


def test_destroy_keeps_the_database(deploy: Deploy) -> None:
    status, _, err, calls = deploy(
        PROJECT, REGION, "--destroy", FAKE_STATE="google_firestore_database.default\\n"
    )
    assert status == 0, err
    terraform = [c.split(" ", 2)[2] for c in calls if c.startswith("terraform -chdir=")]
    rm = terraform.index("state rm google_firestore_database.default")
    [destroy] = [i for i, c in enumerate(terraform) if c.startswith("destroy ")]
    assert rm < destroy
    # Terraform itself asks for confirmation: no -input=false, no -auto-approve.
    assert "-input=false" not in terraform[destroy] and "auto-approve" not in terraform[destroy]
    assert not [c for c in terraform if c.startswith(("plan", "apply"))]


def test_state_bucket_is_created_remembered_and_migrated_to_once(
    deploy: Deploy, checkout: Path
) -> None:
    status, _, err, calls = deploy(PROJECT, REGION, "--state-bucket", "gs://my-state")
    assert status == 0, err
    assert calls_to(calls, "gcloud storage buckets create gs://my-state")
    override = (checkout / "infra" / "backend_override.tf").read_text()
    assert 'backend "gcs"' in override and 'bucket = "my-state"' in override
    assert [c for c in calls if " init " in c][0].endswith("-migrate-state -force-copy")

    status, _, err, calls = deploy(PROJECT, REGION)
    assert status == 0, err
    assert [c for c in calls if " init " in c][0].endswith("init -input=false")
    assert 'bucket = "my-state"' in err
