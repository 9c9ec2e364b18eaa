"""The architecture holds: floors without cycles, one run vocabulary, a pure engine, thin
entry points, a core that tests without emulators (docs/architecture.md)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENGINE = ROOT / "shared" / "mapper" / "engine"
FORBIDDEN = {"google", "flask", "requests", "requests_hardened", "functions_framework", "grpc"}


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_nothing_under_the_engine_imports_cloud_or_http_libraries() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_roots(path) & FORBIDDEN)
        for path in ENGINE.rglob("*.py")
        if _imported_roots(path) & FORBIDDEN
    }
    assert offenders == {}


def test_importing_the_engine_loads_none_of_them_either() -> None:
    # Relative imports reach outside the engine (mapper.errors): check what actually loads.
    # Compared with what was loaded before: site's .pth files pre-load the bare `google`
    # namespace package in every interpreter of this venv.
    code = (
        "import sys; before = set(sys.modules);"
        "import mapper.engine.plan, mapper.engine.validate, mapper.engine.cli;"
        f"bad = sorted(m for m in set(sys.modules) - before if m.split('.')[0] in"
        f" {sorted(FORBIDDEN)!r});"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_function_entry_point_is_thin() -> None:
    lengths = {
        p.parent.name: len(p.read_text().splitlines())
        for p in (ROOT / "functions").glob("*/main.py")
    }
    assert len(lengths) == 7
    assert {name: n for name, n in lengths.items() if n >= 40} == {}


def test_the_pipeline_layer_runs_with_no_emulator_gcloud_or_java(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if "EMULATOR" not in k}
    env["PATH"] = str(tmp_path)  # empty: no gcloud, no java, nothing else either
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/pipeline", "tests/functions"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


# --- floors: what each part may import (docs/architecture.md) -----------------------------

MAPPER = ROOT / "shared" / "mapper"
# Lowest first. A module may import its own room and any lower floor; never a higher
# floor, nor another room of its own floor (sources/ and targets/ stay apart). A module
# belongs to the longest prefix that names it.
FLOORS: list[tuple[str, dict[str, tuple[str, ...]]]] = [
    ("ground", {"ground": (
        "mapper", "mapper.errors", "mapper.json_text", "mapper.timestamps", "mapper.redact",
        "mapper.grouping", "mapper.logs", "mapper.delivery", "mapper.standard_webhooks",
        "mapper.json_body",
        "mapper.pipeline.runs",
    )}),
    ("engine", {"engine": ("mapper.engine", "mapper.__main__")}),
    ("domain", {"domain": ("mapper.secrets", "mapper.versions", "mapper.backtest")}),
    ("leaves", {"sources": ("mapper.sources",), "targets": ("mapper.targets",)}),
    ("pipeline", {"pipeline": ("mapper.pipeline",)}),
    ("adapters", {"adapters": (
        "mapper.store", "mapper.queue", "mapper.group_commit", "mapper.firestore_writes",
        "mapper.cloud_tasks", "mapper.notify",
    )}),
    ("control", {"control": (
        "mapper.pull", "mapper.redrive", "mapper.admin", "mapper.access", "mapper.keys",
        "mapper.audit", "mapper.http_edge", "mapper.api_schema", "mapper.api_openapi",
        "mapper.delivery_control",
    )}),
    ("wiring", {"wiring": ("mapper.services",)}),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(MAPPER.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the mapper modules it imports, TYPE_CHECKING and function-level included."""
    paths = {_module_name(p): p for p in MAPPER.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.split(".")[0] == "mapper")
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                if module.split(".")[0] != "mapper":
                    continue
                for alias in node.names:  # `from .pipeline import runs` imports a module
                    sub = f"{module}.{alias.name}"
                    found.add(sub if sub in paths else module)
        graph[name] = {m for m in found if m != name}
    return graph


def _room(module: str) -> tuple[int, str]:
    best: tuple[int, int, str] | None = None
    for level, (_, rooms) in enumerate(FLOORS):
        for room, prefixes in rooms.items():
            for prefix in prefixes:
                if module == prefix or module.startswith(prefix + "."):
                    if best is None or len(prefix) > best[0]:
                        best = (len(prefix), level, room)
    assert best is not None, f"{module} is on no floor: add it to FLOORS"
    return best[1], best[2]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a higher floor, or of another room of the same floor."""
    found = []
    for module, imported in sorted(graph.items()):
        level, room = _room(module)
        for other in sorted(imported):
            other_level, other_room = _room(other)
            if other_level > level or (other_level == level and other_room != room):
                found.append(f"{module} ({FLOORS[level][0]}) imports {other} "
                             f"({FLOORS[other_level][0]}/{other_room})")
    return found


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_module_imports_upward_or_across_its_floor() -> None:
    assert upward_imports(import_graph()) == []


def test_there_is_no_import_cycle_not_even_for_type_checking() -> None:
    assert import_cycles(import_graph()) == []


def test_the_floor_checks_find_what_they_look_for() -> None:
    graph = {
        "mapper.sources.pull": {"mapper.pipeline.intake", "mapper.store"},
        "mapper.targets.signing": {"mapper.sources.webhook"},
        "mapper.errors": {"mapper.targets.base"},
        "mapper.targets.base": {"mapper.engine.config"},
        "mapper.engine.config": {"mapper.errors"},
        "mapper.pipeline.intake": {"mapper.pipeline.runs"},
    }
    assert len(upward_imports(graph)) == 4
    assert import_cycles(graph) == [
        ["mapper.engine.config", "mapper.errors", "mapper.targets.base"]
    ]


def test_importing_the_run_vocabulary_or_the_ports_loads_nothing_else_of_the_pipeline() -> None:
    # Why runs.py may sit on the ground floor inside pipeline/: the package loads its
    # modules only when one of its names is first used.
    code = (
        "import sys; import mapper.pipeline.runs, mapper.pipeline.ports;"
        "extra = sorted(m for m in sys.modules if m.startswith('mapper.pipeline.')"
        " and m not in ('mapper.pipeline.runs', 'mapper.pipeline.ports'));"
        "print(extra); sys.exit(1 if extra else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --- the run's vocabulary has one home ---------------------------------------------------

RUNS = ROOT / "shared" / "mapper" / "pipeline" / "runs.py"
# What calls a status or a source kind by another name: keyword arguments, run fields,
# the run log's methods that take a status (positional), and the names of status groups.
STATUS_WORDS = ("status", "statuses", "outcome")
KIND_WORDS = ("source_kind", "sourceKind", "source_kinds")
STATUS_METHODS = {"mark", "finish", "end_unless_leased", "_finish", "count", "stale",
                  "count_stale"}
KIND_METHODS = {"reject"}
GROUP_NAMES = ("STATUS", "IN_FLIGHT", "ENDED", "TERMINAL", "REDRIVABLE", "KINDS")


def _vocabulary() -> tuple[set[str], set[str]]:
    from mapper.pipeline.runs import RunStatus, SourceKind

    return {s.value for s in RunStatus}, {k.value for k in SourceKind}


def _names(node: ast.AST) -> str:
    """The identifiers and string keys an expression mentions, joined (to look for words)."""
    found = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            found.append(sub.id)
        elif isinstance(sub, ast.Attribute):
            found.append(sub.attr)
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            found.append(sub.value)
    return " ".join(found)


def vocabulary_literals(source: str) -> list[tuple[int, str]]:
    """(line, value) of every bare string used as a run status or a source kind."""
    statuses, kinds = _vocabulary()
    tree = ast.parse(source)
    found: set[tuple[int, str]] = set()

    def take(node: ast.AST, words: set[str]) -> None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and sub.value in words:
                found.add((sub.lineno, sub.value))

    def says(node: ast.AST, words: tuple[str, ...]) -> bool:
        text = _names(node)
        return any(word in text.split() for word in words)

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            for side in sides:
                others = [o for o in sides if o is not side]
                if any(says(o, STATUS_WORDS) for o in others):
                    take(side, statuses)
                if any(says(o, KIND_WORDS) for o in others):
                    take(side, kinds)
        elif isinstance(node, ast.keyword) and node.arg:
            if node.arg in STATUS_WORDS:
                take(node.value, statuses)
            if node.arg in KIND_WORDS:
                take(node.value, kinds)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value in STATUS_WORDS:
                    take(value, statuses)
                if isinstance(key, ast.Constant) and key.value in KIND_WORDS:
                    take(value, kinds)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in STATUS_METHODS:
                for arg in node.args:
                    take(arg, statuses)
            if node.func.attr in KIND_METHODS:
                for arg in node.args:
                    take(arg, kinds)
        elif isinstance(node, ast.Subscript) and _names(node.value).endswith("Literal"):
            take(node.slice, statuses)  # a config's `type: Literal["webhook"]` is no kind
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            named = " ".join(_names(t) for t in targets)
            if node.value is not None and any(g in named for g in GROUP_NAMES):
                take(node.value, statuses | kinds)
            if node.value is not None and named in STATUS_WORDS:
                take(node.value, statuses)
    return sorted(found)


def _python_sources() -> list[Path]:
    shared = (ROOT / "shared" / "mapper").rglob("*.py")
    functions = (p for p in (ROOT / "functions").rglob("*.py") if "static" not in p.parts)
    fakes = ROOT / "tests" / "fakes.py"
    return [p for p in (*shared, *functions, fakes) if p != RUNS]


def test_run_statuses_and_source_kinds_are_named_only_in_runs_py() -> None:
    # Where a status or kind is only a word of something else (an error body's "error",
    # a report's "skipped" count, the /webhook/ route) it is left alone.
    offenders = {
        str(path.relative_to(ROOT)): found
        for path in _python_sources()
        if (found := vocabulary_literals(path.read_text()))
    }
    assert offenders == {}


def test_the_fakes_load_no_store_or_cloud_library() -> None:
    code = (
        "import sys; before = set(sys.modules); import tests.fakes;"
        "bad = sorted(m for m in set(sys.modules) - before"
        " if m.startswith(('google.cloud', 'mapper.store', 'mapper.queue', 'flask')));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "code",
    [
        'if run.get("status") == "queued": pass',
        'self._runs.mark(run_id, "error", errorMessage=reason)',
        'run = {"id": i, "status": "dead_lettered"}',
        'intake.accept(i, data, run_id=r, source_kind="pubsub-pull")',
        'self.reject(integration_id, "webhook", reason)',
        'IN_FLIGHT = ("queued", "retrying", "delivering")',
        'statuses: list[Literal["error", "dead_lettered", "retrying"]] = []',
        'if receipt.status == "queued": pass',
        'status = "partial" if isinstance(exc, PartiallyDelivered) else "error"',
    ],
)
def test_the_vocabulary_check_finds_a_bare_status_or_kind(code: str) -> None:
    assert vocabulary_literals(code) != []


def test_the_vocabulary_check_leaves_other_uses_of_the_same_words() -> None:
    code = (
        'body = {"error": message, "code": code}\n'
        'result["skipped"] = True\n'
        'path = edge.route_token(request, "webhook", NOT_FOUND)\n'
        'if source.get("type") == "webhook": pass\n'
        '__slots__ = ("item", "result", "error")\n'
        'type: Literal["webhook"] = Field(description="A webhook source.")\n'
    )
    assert vocabulary_literals(code) == []
