"""JSONata loaded into the user realm after lockdown leaves it as hardened as before: every
shared object still frozen, nothing of a buffer reachable, and the pinned build shipped."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

from mapper.engine.config import parse_integration
from mapper.engine.plan import Message, Plan
from mapper.engine.sandbox import JSONATA_FILE, init_v8

from .support import document
from .test_sandbox_realm import REACHABILITY_WALK

ROOT = Path(__file__).resolve().parents[2]

init_v8()


def test_the_realm_with_jsonata_loaded_is_still_frozen() -> None:
    # The walk runs in the same isolate and message, after a JSONata step evaluated.
    doc = document(code=REACHABILITY_WALK, memoryMb=64)
    expression = '$merge([{"a": $}, {"b": $string($now())}]).a'
    doc["mappings"][0]["transforms"].insert(0, {"type": "jsonata", "expression": expression})
    plan = Plan(parse_integration(doc))
    try:
        outcome = plan.apply(Message({"x": 1}))
    finally:
        plan.close()
    assert outcome.error is None, outcome.error
    seen, found, unfrozen = outcome.output["y"]
    assert seen > 500
    assert found == []
    assert unfrozen == []


def test_jsonata_is_the_pinned_build_with_its_licence() -> None:
    manifest = json.loads((ROOT / "scripts" / "js-packages.json").read_text(encoding="utf-8"))
    package = manifest["packages"]["jsonata"]
    vendor = resources.files("mapper.engine").joinpath("vendor")
    assert package["version"].startswith("2.")
    assert ROOT / package["into"] == Path(str(vendor))
    assert JSONATA_FILE in package["files"]
    for name, pinned in package["files"].items():
        shipped = vendor.joinpath(name).read_bytes()
        assert hashlib.sha256(shipped).hexdigest() == pinned["sha256"], name
    assert "Permission is hereby granted" in vendor.joinpath("jsonata-LICENSE").read_text()
