"""The user realm: no memory outside the V8 heap, nothing one message leaves for the next.

Issue 13, items 1 and 2. Each attack runs as a custom transform (or condition) through
`Plan.apply`, the worker's path.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from mapper.engine.plan import Message
from mapper.engine.sandbox import SES_FILE, init_v8
from mapper.errors import SandboxError

from .support import plan_for

ROOT = Path(__file__).resolve().parents[2]

init_v8()  # on the main thread, as the functions do at import

# Typed arrays live outside the V8 heap, so the isolate's memory limit does not see them.
# The child reports its peak RSS before and after a transform that fills 16 x 16 MB.
TYPED_ARRAY_FLOOD = textwrap.dedent(
    """
    import json, resource
    from mapper.engine.config import parse_integration
    from mapper.engine.plan import Message, Plan
    from mapper.engine.sandbox import SES_FILE, init_v8

    init_v8()
    code = (
        "const keep = [];"
        "for (let i = 0; i < 16; i++) { const a = new Uint8Array(16 * 1024 * 1024);"
        " a.fill(1); keep.push(a); }"
        "return keep.length"
    )
    plan = Plan(parse_integration({
        "name": "flood", "source": {"type": "webhook"},
        "mappings": [{"source": "x", "target": "y",
                      "transforms": [{"type": "custom", "code": code}]}],
        "target": {"type": "http", "url": "https://example.com/"},
        "sandbox": {"memoryMb": 16, "timeoutMs": 1000},
    }))
    plan.compile_errors()  # the isolate exists before the baseline is read
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcome = plan.apply(Message({"x": 1}))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    plan.close()  # not left to interpreter shutdown, where closing an isolate can hang
    print(json.dumps({"error": None if outcome.error is None else str(outcome.error),
                      "output": outcome.output, "grew_mb": (after - before) / 1024}))
    """
)


def test_typed_arrays_cannot_take_memory_outside_the_heap_limit() -> None:
    done = subprocess.run(
        [sys.executable, "-c", TYPED_ARRAY_FLOOD], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["output"] is None
    assert "TypeError: Uint8Array is not a constructor" in report["error"]
    # 256 MB were asked for against a 16 MB heap: none of it may have been allocated.
    assert report["grew_mb"] < 64


@pytest.mark.parametrize(
    "expression",
    [
        "new Uint8Array(8)",
        "new ArrayBuffer(8)",
        "new SharedArrayBuffer(8)",
        "new DataView(new ArrayBuffer(8))",
        "new Float64Array(8)",
        "new Float16Array(8)",
        "new BigInt64Array(8)",
        "Atomics.add",
        "new WebAssembly.Memory({ initial: 1 })",
        "structuredClone(1)",
        "new TextEncoder().encode('x')",
        "Object.getPrototypeOf(Int8Array)",
        "new Compartment().globalThis.Uint8Array",
        "(0, eval)('new Uint8Array(8)')",
        "globalThis['Uint8' + 'Array']",
        "Reflect.get(globalThis, 'ArrayBuffer')",
    ],
)
def test_no_expression_builds_memory_outside_the_heap(expression: str) -> None:
    plan = plan_for(code=f"const reached = {expression}; return reached === undefined ? 0 : 1")
    outcome = plan.apply(Message({"x": 1}))
    # Either the name is unknown or the path leads nowhere; never a buffer.
    assert outcome.output != {"y": 1}
    assert outcome.error is None or isinstance(outcome.error, SandboxError)
    plan.close()


# Walks everything user code can name: the global object and the objects that syntax and
# built-ins hand out, through every property (values, getters, setters, getters' results
# on their own holder) and prototype. Reports how many objects it saw, any buffer, typed
# array, DataView, Atomics, WebAssembly or Compartment it reaches, and any shared object
# that is not frozen (where one message could leave something for the next).
REACHABILITY_WALK = """
const forbidden = new Set(["ArrayBuffer", "SharedArrayBuffer", "DataView", "TypedArray",
  "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array",
  "Uint32Array", "Float16Array", "Float32Array", "Float64Array", "BigInt64Array",
  "BigUint64Array", "Atomics", "WebAssembly", "Compartment", "Memory"]);
const seen = new Set();
const found = [];
const queue = [];
const unfrozen = [];
function visit(v, path, fresh) {
  if (v === null || (typeof v !== "object" && typeof v !== "function")) return;
  if (seen.has(v)) return;
  seen.add(v);
  queue.push([v, path, fresh]);
}
function check(v, path, fresh) {
  if (!fresh && !Object.isFrozen(v)) unfrozen.push(path);
  let tag = "";
  try { tag = Object.prototype.toString.call(v).slice(8, -1); } catch (e) {}
  if (forbidden.has(tag)) found.push(path + " is [object " + tag + "]");
  if (typeof v === "function") {
    let name = "";
    try { name = String(v.name); } catch (e) {}
    if (forbidden.has(name)) found.push(path + " is function " + name);
  }
}
const gen = function* () {};  // its instances inherit from its own (fresh) .prototype
const roots = {
  globalThis, fn: function () {}, arrow: () => {}, gen, genObj: gen(),
  asyncFn: async function () {}, asyncGen: async function* () {},
  klass: class {}, array: [], object: {}, str: Object(""), num: Object(1), big: Object(1n),
  sym: Object(Symbol()), bool: Object(true), regexp: /x/g, date: new Date(0),
  error: new Error("x"), arrayIter: [][Symbol.iterator](), strIter: ""[Symbol.iterator](),
  mapIter: new Map().entries(), setIter: new Set().values(), reIter: "a".matchAll(/a/g),
  helper: [].values().map((x) => x), wrapped: Iterator.from({ next() { return { done: true }; } }),
  segments: new Intl.Segmenter().segment("a"),
  segIter: new Intl.Segmenter().segment("a")[Symbol.iterator](),
  weakRef: new WeakRef({}), proxy: new Proxy({}, {}),
  argumentsObj: (function () { return arguments; })(),
};
// Shared objects (everything reached from the global object, and every prototype) must
// be frozen; the fresh objects above, getters' results and what they hold need not be.
visit(globalThis, "globalThis", false);
for (const k of Object.keys(roots)) visit(roots[k], k, true);
while (queue.length) {
  const [v, path, fresh] = queue.shift();
  check(v, path, fresh);
  let keys = [];
  try { keys = Reflect.ownKeys(v); } catch (e) {}
  for (const key of keys) {
    const name = path + "." + String(key);
    let d;
    try { d = Reflect.getOwnPropertyDescriptor(v, key); } catch (e) { continue; }
    if (!d) continue;
    if ("value" in d) visit(d.value, name, fresh);
    if (d.get) {
      visit(d.get, name + "<get>", fresh);
      try { visit(d.get.call(v), name + "<got>", true); } catch (e) {}
    }
    if (d.set) visit(d.set, name + "<set>", fresh);
  }
  try { visit(Reflect.getPrototypeOf(v), path + ".<proto>", false); } catch (e) {}
}
return [seen.size, found.slice(0, 20), unfrozen.slice(0, 20)];
"""


@pytest.fixture(scope="module")
def walk() -> tuple[int, list[str], list[str]]:
    plan = plan_for(code=REACHABILITY_WALK, timeoutMs=1000, memoryMb=64)
    outcome = plan.apply(Message({"x": 1}))
    plan.close()
    assert outcome.error is None, outcome.error
    seen, found, unfrozen = outcome.output["y"]
    assert seen > 500  # the walk covered the realm (about 900 objects), not a corner
    return seen, found, unfrozen


def test_no_path_from_what_user_code_can_name_reaches_a_buffer(walk: tuple) -> None:
    assert walk[1] == []


def test_every_shared_object_user_code_can_reach_is_frozen(walk: tuple) -> None:
    assert walk[2] == []


# Message 1 stashes its value where message 2 can look; message 2 must find nothing.
# Each stash is attempted quietly: on a frozen object strict code gets a TypeError.
LEAKS = {
    "string iterator prototype": 'Object.getPrototypeOf(""[Symbol.iterator]())',
    "array iterator prototype": "Object.getPrototypeOf([][Symbol.iterator]())",
    "map iterator prototype": "Object.getPrototypeOf(new Map().entries())",
    "set iterator prototype": "Object.getPrototypeOf(new Set().values())",
    "regexp string iterator prototype": 'Object.getPrototypeOf("a".matchAll(/a/g))',
    "iterator helper prototype": "Object.getPrototypeOf([].values().map((x) => x))",
    "wrapped iterator prototype": (
        "Object.getPrototypeOf(Iterator.from({ next() { return { done: true }; } }))"
    ),
    "segments prototype": 'Object.getPrototypeOf(new Intl.Segmenter().segment("a"))',
    "generator prototype": "Object.getPrototypeOf(function* () {})",
    "async function prototype": "Object.getPrototypeOf(async function () {})",
    "throw-type-error function": (
        'Object.getOwnPropertyDescriptor((function () { return arguments })(), "callee").get'
    ),
    "console": "console",
    "Temporal": "(typeof Temporal === 'object' ? Temporal : {})",
}


@pytest.mark.parametrize("where", list(LEAKS.values()), ids=list(LEAKS))
def test_nothing_stashed_on_a_hidden_intrinsic_reaches_the_next_message(where: str) -> None:
    plan = plan_for(
        code=f"const o = {where};"
        ' if (value !== "read") { try { o.stash = value } catch (e) {} return "stashed" }'
        " return o.stash === undefined ? null : o.stash"
    )
    assert plan.apply(Message({"x": "secret of message 1"})).output == {"y": "stashed"}
    assert plan.apply(Message({"x": "read"})).output == {"y": None}
    plan.close()


@pytest.mark.parametrize(
    "read", ["input", "lastMatch", "$_", "$1", "leftContext", "rightContext", "lastParen"]
)
def test_regexp_statics_do_not_carry_the_last_match_to_the_next_message(read: str) -> None:
    plan = plan_for(
        code='if (value !== "read") { /(s\\w+)/.test(value); return "matched" }'
        f" const seen = RegExp[{json.dumps(read)}];"
        ' return seen === undefined || seen === "" ? null : String(seen)'
    )
    assert plan.apply(Message({"x": "a secret of message 1"})).output == {"y": "matched"}
    assert plan.apply(Message({"x": "read"})).output == {"y": None}
    plan.close()


def test_replacing_the_string_iterator_does_not_break_a_later_substring() -> None:
    # The JavaScript `substring` walks code points with the string iterator.
    plan = plan_for(
        code='if (value === "attack") { try { Object.getPrototypeOf(""[Symbol.iterator]())'
        ".next = () => ({ done: true }) } catch (e) {} } return value",
        then=[{"type": "substring", "start": 0, "length": 3}],
    )
    plan.apply(Message({"x": "attack"}))
    assert plan.apply(Message({"x": "abcdef"})).output == {"y": "abc"}
    plan.close()


@pytest.mark.parametrize(
    "setting",
    [
        "Error.stackTraceLimit = 0",
        "Error.prepareStackTrace = () => 'stolen'",
        "Error.captureStackTrace = () => {}",
        "Math.random = () => 4",
        "JSON.stringify = () => '\"stolen\"'",
    ],
)
def test_settings_of_the_shared_built_ins_do_not_reach_the_next_message(setting: str) -> None:
    plan = plan_for(
        code=f'if (value === "attack") {{ try {{ {setting} }} catch (e) {{}} return null }}'
        " const e = new Error('plain');"
        " return [typeof e.stack, String(e), typeof Math.random(), JSON.stringify([1])]"
    )
    first = plan.apply(Message({"x": "before"})).output
    plan.apply(Message({"x": "attack"}))
    assert plan.apply(Message({"x": "after"})).output == first
    plan.close()


def test_ses_is_the_pinned_build_with_its_licences() -> None:
    # Fetched from npm at setup (scripts/fetch_js.py), never committed: checked here too.
    manifest = json.loads((ROOT / "scripts" / "js-packages.json").read_text(encoding="utf-8"))
    ses = manifest["packages"]["ses"]
    vendor = resources.files("mapper.engine").joinpath("vendor")
    assert ses["version"] == "2.3.0"
    assert ROOT / ses["into"] == Path(str(vendor))
    assert SES_FILE in ses["files"]
    for name, pinned in ses["files"].items():
        shipped = vendor.joinpath(name).read_bytes()
        assert hashlib.sha256(shipped).hexdigest() == pinned["sha256"], name
    licences = [name for name in ses["files"] if "LICENSE" in name]
    assert licences, "the licence ships beside the code"
    for name in licences:
        text = vendor.joinpath(name).read_text(encoding="utf-8")
        assert "Copyright" in text or "Apache License" in text


def test_the_package_ships_the_fetched_files() -> None:
    # A deployed function carries shared/mapper/ as files (infra/scripts/package.py), the
    # fetched vendor/ folder with it; an installed package needs them named as its data.
    pyproject = ROOT / "shared" / "pyproject.toml"
    package_data = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"
    ]["mapper"]
    assert "engine/vendor/*" in package_data
