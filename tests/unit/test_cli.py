"""`python -m mapper` as users run it: exit codes, one problem per line, NDJSON in order."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

INTEGRATION = {
    "name": "t",
    "source": {"type": "webhook"},
    "condition": "data.kind !== 'ignore'",
    "mappings": [
        {
            "source": "n",
            "target": "double",
            "transforms": [{"type": "custom", "code": "return value * 2"}],
        }
    ],
    "target": {"type": "http", "url": "https://example.com"},
}


def mapper(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mapper", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def write(tmp_path: Path, name: str, value: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(value))
    return str(path)


def test_help_explains_both_commands() -> None:
    result = mapper("--help")
    assert result.returncode == 0
    assert "validate" in result.stdout and "--payload-lines" in result.stdout


def test_validate_prints_nothing_for_a_valid_config(tmp_path: Path) -> None:
    result = mapper("validate", "--config", write(tmp_path, "i.json", INTEGRATION))
    assert (result.returncode, result.stdout) == (0, "")


def test_validate_prints_every_problem_with_its_path(tmp_path: Path) -> None:
    bad = {
        **INTEGRATION,
        "condition": "data.x ===",
        "mappings": [
            {
                "source": "a..b",
                "target": "x",
                "transforms": [{"type": "substring", "start": -1}, {"type": "shout"}],
            },
            {"source": "a", "target": "y", "transforms": [{"type": "custom", "code": "return ("}]},
        ],
    }
    result = mapper("validate", "--config", write(tmp_path, "i.json", bad))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "mappings[0].transforms[0].start: must be an integer >= 0" in lines
    assert any(line.startswith("mappings[0].transforms[1]: unknown type 'shout'") for line in lines)
    # Types first; paths and JavaScript once the types are right.
    fixed = {**bad, "mappings": [{"source": "a..b", "target": "x"}, bad["mappings"][1]]}
    lines = mapper("validate", "--config", write(tmp_path, "j.json", fixed)).stdout.splitlines()
    assert lines[0].startswith("mappings[0].source: ")
    assert any(line.startswith("condition: SyntaxError") for line in lines)
    assert any(line.startswith("mappings[1].transforms[0].code: SyntaxError") for line in lines)


def test_preview_output_skip_and_error(tmp_path: Path) -> None:
    config = write(tmp_path, "i.json", INTEGRATION)
    ok = mapper("preview", "--config", config, "--payload", write(tmp_path, "a.json", {"n": 21}))
    assert (ok.returncode, json.loads(ok.stdout)) == (0, {"double": 42})
    skip = mapper("preview", "--config", config, "--payload", "-", stdin='{"kind": "ignore"}')
    assert (skip.returncode, json.loads(skip.stdout)) == (0, {"skipped": True})
    broken = {
        **INTEGRATION,
        "mappings": [
            {
                "source": "n",
                "target": "x",
                "transforms": [{"type": "custom", "code": "return value.toFixed(2)"}],
            }
        ],
    }
    err = mapper(
        "preview", "--config", write(tmp_path, "b.json", broken), "--payload", "-", stdin="{}"
    )
    assert err.returncode == 1
    assert err.stdout.startswith("mappings[0].transforms[0]: TypeError")


def test_payload_lines_streams_one_result_per_line_in_order(tmp_path: Path) -> None:
    config = write(tmp_path, "i.json", INTEGRATION)
    stdin = '{"n": 1}\nnot json\n{"kind": "ignore"}\n{"n": 4}\n'
    result = mapper("preview", "--config", config, "--payload-lines", "-", stdin=stdin)
    assert result.returncode == 1  # one line failed
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0] == {"double": 2}
    assert "not JSON" in lines[1]["error"]
    assert lines[2] == {"skipped": True}
    assert lines[3] == {"double": 8}


def test_preview_applies_no_address_rule_and_validate_treats_localhost_as_loopback(
    tmp_path: Path,
) -> None:
    # A preview sends nothing; validate judges 127.0.0.1 and localhost alike (both loopback).
    payload = write(tmp_path, "p.json", {"n": 2})
    for host in ("127.0.0.1", "localhost"):
        local = {**INTEGRATION, "target": {"type": "http", "url": f"http://{host}:9/x"}}
        config = write(tmp_path, "local.json", local)
        previewed = mapper("preview", "--config", config, "--payload", payload)
        assert (previewed.returncode, json.loads(previewed.stdout)) == (0, {"double": 4})
        validated = mapper("validate", "--config", config)
        assert validated.returncode == 1
        assert validated.stdout.startswith("target.url: ")
        assert "not allowlisted (EGRESS_ALLOW_CIDRS)" in validated.stdout


def test_preview_takes_a_document_with_only_its_mappings(tmp_path: Path) -> None:
    partial = {"mappings": INTEGRATION["mappings"]}
    config = write(tmp_path, "partial.json", partial)
    payload = write(tmp_path, "p.json", {"n": 3})
    previewed = mapper("preview", "--config", config, "--payload", payload)
    assert (previewed.returncode, json.loads(previewed.stdout)) == (0, {"double": 6})
    validated = mapper("validate", "--config", config)
    assert validated.returncode == 1
    assert {"name", "source", "target"} <= {
        line.split(":")[0] for line in validated.stdout.splitlines()
    }


# --- what each command loads: a start-up pays for every module it imports -----------------

ENGINE = {"pydantic", "orjson", "mapper.engine.config", "mapper.engine.plan"}
JAVASCRIPT = {"mapper.engine.sandbox", "mapper.engine.js_process", "subprocess"}


def loaded_by(*args: str) -> set[str]:
    """The modules `python -m mapper <args>` has loaded when it is done."""
    code = (
        "import contextlib, io, json, runpy, sys\n"
        f"sys.argv = ['mapper', *{list(args)!r}]\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        runpy.run_module('mapper', run_name='__main__', alter_sys=True)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    return set(json.loads(result.stdout))


def test_help_loads_no_engine() -> None:
    for args in (["--help"], ["preview", "--help"], ["preview"]):  # the last: a usage error
        assert loaded_by(*args) & ENGINE == set(), args


def test_a_preview_without_javascript_loads_no_sandbox(tmp_path: Path) -> None:
    plain = {"mappings": [{"source": "n", "target": "m"}]}
    lines = tmp_path / "p.ndjson"
    lines.write_text('{"n": 1}\n')
    loaded = loaded_by("preview", "--config", write(tmp_path, "plain.json", plain),
                       "--payload-lines", str(lines))
    assert ENGINE <= loaded
    assert loaded & (JAVASCRIPT | {"jsonschema", "mini_racer"}) == set()
    # With JavaScript it does load them: the check above sees what it looks for.
    with_js = write(tmp_path, "js.json", INTEGRATION)
    assert JAVASCRIPT <= loaded_by("preview", "--config", with_js, "--payload-lines", str(lines))


def test_the_command_leaves_its_objects_to_the_end_of_the_process(tmp_path: Path) -> None:
    # No last collection over the engine's objects on the way out (a tenth of a start-up).
    config = write(tmp_path, "i.json", INTEGRATION)
    code = (
        "import gc, runpy, sys\n"
        f"sys.argv = ['mapper', 'validate', '--config', {config!r}]\n"
        "try:\n"
        "    runpy.run_module('mapper', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as exc:\n"
        "    print(exc.code, gc.get_freeze_count() > 1000)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=True)
    assert result.stdout.split() == ["0", "True"]
