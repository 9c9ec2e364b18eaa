"""infra/scripts/smoke.py and `deploy.sh --smoke-only`: against a stand-in for the deployed
platform's URLs (tests/infra/smoke_standin.py) and a fake gcloud that logs its calls."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import test_deploy_sh
from .smoke_standin import TOKEN, Standin
from .test_deploy_sh import BASH, PROJECT, REGION, Deploy, calls_to
from .tfconfig import INFRA, load, run

# deploy.sh's own fixtures: a copy of the repository and fake gcloud and terraform.
checkout, fakes, deploy = test_deploy_sh.checkout, test_deploy_sh.fakes, test_deploy_sh.deploy
SMOKE = INFRA / "scripts" / "smoke.py"
STEPS = ["setup", "webhook", "signature", "push", "pull", "dead letter", "arrivals", "cleanup"]
LINE = re.compile(r"^(PASS|FAIL)  (.{12}) +(\d+\.\d)s  (.*)$")

FAKE_GCLOUD = r"""#!/usr/bin/env bash
printf 'gcloud %s\n' "$*" >>"$FAKE_LOG"
if [[ -n "${FAKE_FAIL:-}" && "$*" =~ $FAKE_FAIL ]]; then
  echo "ERROR: (gcloud) refused by the test" >&2; exit 1
fi
case "$*" in
  "secrets versions access"*) printf '%s' "$FAKE_TOKEN" ;;
  "pubsub topics create"* | "pubsub topics delete"*) ;;
  "pubsub subscriptions create"* | "pubsub subscriptions delete"*) ;;
  "pubsub subscriptions add-iam-policy-binding"*) ;;
  "scheduler jobs run"*)
    python3 - "$FAKE_PLATFORM/_standin/tick" <<'PY'
import sys, urllib.request as u
u.build_opener(u.ProxyHandler({})).open(u.Request(sys.argv[1], data=b"{}", method="POST"))
PY
    ;;
  *) echo "fake gcloud: unexpected: $*" >&2; exit 3 ;;
esac
"""


@pytest.fixture
def standin() -> Iterator[Standin]:
    with Standin() as running:
        yield running


def outputs(base: str) -> dict:
    """`terraform output -json` of a deployment whose URLs are the stand-in's."""
    values = {
        "site_url": base,
        "function_urls": {"worker": f"{base}/_functions/worker", "api": base},
        "invoker_service_account": "mapper-invoker@p.iam.gserviceaccount.com",
        "topics": {"internal": "mapper-events", "dead_letter": "mapper-events-dead-letter"},
        "admin_token_secret": "admin-token-mapper",
        "pull_scheduler_job": "mapper-pull",
        "pubsub_service_agent": "service-1@gcp-sa-pubsub.iam.gserviceaccount.com",
    }
    return {name: {"sensitive": False, "type": "x", "value": v} for name, v in values.items()}


@pytest.fixture
def env(tmp_path: Path, standin: Standin) -> dict[str, str]:
    bin_dir = tmp_path / "smoke-bin"
    bin_dir.mkdir()
    gcloud = bin_dir / "gcloud"
    gcloud.write_text(FAKE_GCLOUD)
    gcloud.chmod(gcloud.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "outputs.json").write_text(json.dumps(outputs(standin.url)))
    (tmp_path / "calls.log").write_text("")
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "FAKE_"))},
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_LOG": str(tmp_path / "calls.log"),
        "FAKE_TOKEN": TOKEN,
        "FAKE_PLATFORM": standin.url,
    }


def smoke_args(tmp_path: Path, timeout: float = 20) -> list[str]:
    return [
        sys.executable,
        str(SMOKE),
        f"--project={PROJECT}",
        f"--region={REGION}",
        f"--outputs={tmp_path / 'outputs.json'}",
        f"--timeout={timeout}",
    ]


def lines(stdout: str) -> dict[str, tuple[str, str]]:
    """step -> (PASS or FAIL, what it saw), from the smoke's report lines."""
    found = {}
    for line in stdout.splitlines():
        match = LINE.match(line)
        if match:
            found[match.group(2).strip()] = (match.group(1), match.group(4))
    return found


def gcloud_calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "calls.log").read_text().splitlines()


def test_every_step_passes_on_a_working_platform(
    tmp_path: Path, env: dict[str, str], standin: Standin
) -> None:
    result = run(smoke_args(tmp_path), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    report = lines(result.stdout)
    assert list(report) == STEPS
    assert all(verdict == "PASS" for verdict, _ in report.values()), report
    assert "success" in report["webhook"][1] and "401" in report["signature"][1]
    assert "dead_lettered after 5 attempts" in report["dead letter"][1]
    assert "3 arrivals" in report["arrivals"][1]
    assert result.stdout.strip().splitlines()[-1].startswith("smoke: all steps passed in ")
    # Everything made is gone: integrations through the api, the rest through gcloud.
    assert standin.integrations == {}
    calls = gcloud_calls(tmp_path)
    created = [c.split()[4] for c in calls_to(calls, "gcloud pubsub topics create")]
    deleted = [c.split()[4] for c in calls_to(calls, "gcloud pubsub topics delete")]
    assert len(created) == 2 and sorted(created) == sorted(deleted)
    [subscription] = calls_to(calls, "gcloud pubsub subscriptions create")
    assert "--max-delivery-attempts=5" in subscription
    assert "--min-retry-delay=10s" in subscription and "--max-retry-delay=10s" in subscription
    assert "--topic=mapper-events " in subscription
    assert "--dead-letter-topic=mapper-events-dead-letter" in subscription
    assert len(calls_to(calls, "gcloud pubsub subscriptions delete")) == 1
    assert calls_to(calls, "gcloud scheduler jobs run mapper-pull")


def test_a_failing_step_fails_the_smoke_and_everything_is_still_deleted(
    tmp_path: Path, env: dict[str, str], standin: Standin
) -> None:
    standin.dead_letter = False  # the failing run stays retrying: never dead-lettered
    result = run(smoke_args(tmp_path, timeout=3), env=env)
    assert result.returncode == 1
    report = lines(result.stdout)
    assert report["dead letter"][0] == "FAIL"
    assert "is retrying" in report["dead letter"][1]
    assert {step for step, (verdict, _) in report.items() if verdict == "FAIL"} == {"dead letter"}
    assert report["cleanup"][0] == "PASS"
    assert "smoke: 1 failed" in result.stdout
    assert standin.integrations == {}
    calls = gcloud_calls(tmp_path)
    assert len(calls_to(calls, "gcloud pubsub topics delete")) == 2


def test_a_failed_setup_deletes_what_it_had_made(
    tmp_path: Path, env: dict[str, str], standin: Standin
) -> None:
    env["FAKE_FAIL"] = "pubsub subscriptions create"
    result = run(smoke_args(tmp_path), env=env)
    assert result.returncode == 1
    report = lines(result.stdout)
    assert list(report) == ["setup", "cleanup"]
    assert report["setup"][0] == "FAIL" and "refused by the test" in report["setup"][1]
    assert report["cleanup"] == ("PASS", report["cleanup"][1])
    assert standin.integrations == {}
    assert len(calls_to(gcloud_calls(tmp_path), "gcloud pubsub topics delete")) == 2


def test_what_cannot_be_deleted_is_named_and_fails_the_smoke(
    tmp_path: Path, env: dict[str, str]
) -> None:
    env["FAKE_FAIL"] = "pubsub topics delete .*-pull"
    result = run(smoke_args(tmp_path), env=env)
    assert result.returncode == 1
    verdict, detail = lines(result.stdout)["cleanup"]
    assert verdict == "FAIL" and "left behind: topic smoke-" in detail and "-pull" in detail


def test_sigterm_still_cleans_up(tmp_path: Path, env: dict[str, str], standin: Standin) -> None:
    standin.dead_letter = False  # a step that waits until the signal comes
    proc = subprocess.Popen(
        smoke_args(tmp_path, timeout=120), env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        if line.startswith("PASS  arrivals") or line.startswith("PASS  pull"):
            break
    time.sleep(1)  # inside the dead-letter wait
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, "".join(seen) + rest
    assert lines(rest)["cleanup"][0] == "PASS"
    assert standin.integrations == {}


def test_the_outputs_it_reads_exist() -> None:
    declared = {name for _, kind, body in load().blocks if kind == "output" for name in body}
    needed = set(outputs("http://x"))
    assert needed <= declared, needed - declared


# --- through deploy.sh ----------------------------------------------------------------------


@pytest.fixture
def deploy_with_outputs(
    deploy: Deploy, tmp_path: Path, env: dict[str, str], standin: Standin
) -> Deploy:
    """deploy.sh whose fake terraform prints the stand-in's outputs for `output -json`."""
    fake = tmp_path / "bin" / "terraform"
    text = fake.read_text().replace(
        '  output) echo "https://out.example/${!#}" ;;',
        '  output) if [[ "$2" == -json ]]; then cat "$FAKE_OUTPUTS"; '
        'else echo "https://out.example/${!#}"; fi ;;',
    )
    assert text != fake.read_text()
    fake.write_text(text)
    (tmp_path / "bin" / "gcloud").write_text(
        FAKE_GCLOUD.replace(
            '  "secrets versions access"*)',
            '  "auth list"*) echo dev@example.com ;;\n'
            '  "projects describe"* | "services enable"*) ;;\n'
            '  "billing projects describe"*) echo True ;;\n'
            '  "auth application-default print-access-token"*) exit 1 ;;\n'
            '  "auth print-access-token"*) echo ya29.fake ;;\n'
            '  "secrets versions access"*)',
        )
    )

    def _run(*args: str, **fake_env: str) -> tuple[int, str, str, list[str]]:
        return deploy(
            *args,
            FAKE_OUTPUTS=str(tmp_path / "outputs.json"),
            FAKE_TOKEN=TOKEN,
            FAKE_PLATFORM=standin.url,
            **fake_env,
        )

    return _run


def test_deploy_smoke_only_runs_the_smoke_and_deploys_nothing(
    deploy_with_outputs: Deploy, standin: Standin
) -> None:
    status, out, err, calls = deploy_with_outputs(PROJECT, REGION, "--smoke-only")
    assert status == 0, out + err
    assert [step for step in lines(out)] == STEPS
    changing = [
        c for c in calls_to(calls, "terraform") if re.search(r" (plan|apply|import|destroy)\b", c)
    ]
    assert changing == []
    assert any(c.endswith("output -json") for c in calls_to(calls, "terraform"))
    assert "packaging" not in err
    assert standin.integrations == {}


def test_deploy_smoke_fails_when_the_smoke_fails(
    deploy_with_outputs: Deploy, standin: Standin
) -> None:
    standin.dead_letter = False
    # deploy.sh passes no --timeout: the default would wait 300 s, so break setup instead.
    status, out, _, _ = deploy_with_outputs(
        PROJECT, REGION, "--smoke-only", FAKE_FAIL="pubsub topics create"
    )
    assert status == 1
    assert lines(out)["setup"][0] == "FAIL"


def test_smoke_refuses_plan_and_destroy(deploy: Deploy) -> None:
    for other in ("--plan", "--destroy"):
        status, _, err, calls = deploy(PROJECT, REGION, other, "--smoke")
        assert status != 0 and "--smoke runs after a deploy" in err
        assert calls == []


def test_bash_still_parses() -> None:
    assert run([BASH, "-n", str(INFRA.parent / "deploy.sh")]).returncode == 0


def test_the_docs_show_the_output_as_it_is_printed() -> None:
    text = (INFRA.parent / "docs" / "deploy.md").read_text()
    block = text.split("<!-- smoke-output:begin -->")[1].split("<!-- smoke-output:end -->")[0]
    shown = block.strip().strip("`").removeprefix("text").strip().splitlines()
    assert shown[0].startswith("smoke: https://") and shown[-1].startswith("smoke: all steps")
    assert list(lines("\n".join(shown))) == STEPS
