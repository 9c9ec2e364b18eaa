"""terraform fmt and checkov over infra/; every checkov skip carries its reason."""

from __future__ import annotations

import json
import os
import re

from .tfconfig import INFRA, ROOT, find_tool, run, tf_files

_SKIP = re.compile(r"#\s*checkov:skip=([^\s:]+)(?::(.*))?")


def test_terraform_fmt() -> None:
    terraform = find_tool("terraform", "TERRAFORM")
    # An empty CLI configuration: fmt needs none, and a missing one only adds warnings.
    env = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull}
    result = run([terraform, "fmt", "-check", "-recursive", "-diff", str(INFRA)], env=env)
    assert result.returncode == 0, f"run `terraform fmt -recursive infra`:\n{result.stdout}"


def test_checkov_finds_nothing_unexplained() -> None:
    checkov = find_tool("checkov", "CHECKOV")
    result = run(
        [checkov, "--config-file", str(ROOT / ".checkov.yaml"), "--output", "json"],
        cwd=ROOT,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}"
        for r in reports
        for check in r.get("results", {}).get("failed_checks", [])
    ]
    assert not failed, "checkov failed checks (fix, or skip inline with a reason):\n" + "\n".join(
        failed
    )
    assert result.returncode == 0
    assert sum(r.get("summary", {}).get("passed", 0) for r in reports) > 0, "checkov saw nothing"


def test_every_skip_says_why() -> None:
    skips = []
    for path in tf_files():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = _SKIP.search(line)
            if match:
                where = f"{path.relative_to(ROOT)}:{number}"
                check, reason = match.groups()
                assert re.fullmatch(r"CKV2?_[A-Z]+_\d+", check), f"{where}: {check}"
                assert reason and len(reason.strip()) >= 20, f"{where}: {check} needs a reason"
                skips.append(check)
    assert skips, "the scan above found no skips at all: is the pattern still right?"
