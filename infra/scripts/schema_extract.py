"""Refresh infra/schema/: the Google providers' schema for the types infra/ uses.

    python3 infra/scripts/schema_extract.py                 # npm pack the pinned packages
    python3 infra/scripts/schema_extract.py --package google=PATH --package google-beta=PATH

Terraform's own `validate` needs the providers, which a machine without the Terraform
registry cannot download. The `@cdktf/provider-google` and `@cdktf/provider-google-beta` npm
packages carry the same schema in their jsii manifest (`.jsii`): one config struct per
resource and data source, each argument with its type and whether it is optional, each
block as a nested struct. This script reads that manifest and writes, per provider, only
the resource types, data sources and provider settings infra/**/*.tf names: for each, its
arguments (required or optional) and blocks (required or not, at most one or many, with
their own arguments and blocks). tests/infra/test_schema.py holds infra/ to the result
with no network. PATH is an unpacked package directory or the .tgz `npm pack` gives.

Standard library only; `npm` is needed only when no --package is given.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
OUT = INFRA / "schema"
# The npm package that carries each provider's schema, and the version read: the last
# release of the prebuilt providers (CDKTF was deprecated; none follows google 7.x).
PACKAGES = {
    "google": ("@cdktf/provider-google", "16.12.1"),
    "google-beta": ("@cdktf/provider-google-beta", "16.12.1"),
}
LICENCE_NOTE = (
    "Argument and block names and their required flags, taken from the jsii manifest of "
    "{package} {version} (licence {licence}), which is generated from the Terraform provider "
    "{provider} {provider_version} (MPL-2.0). Descriptions are left out."
)
_BLOCK_ID = re.compile(r'^\s*(resource|data)\s+"(google_[a-z0-9_]+)"', re.MULTILINE)
_LINK = re.compile(r"registry\.terraform\.io/providers/hashicorp/[a-z-]+/[^/]+/docs(\S*)\s")
_ANCHOR = re.compile(r"registry\.terraform\.io/providers/\S+#([a-z0-9_]+)\s")


def used_types(infra: Path = INFRA) -> dict[str, set[str]]:
    """{"resource": {...}, "data": {...}}: the google types infra/**/*.tf declares."""
    found: dict[str, set[str]] = {"resource": set(), "data": set()}
    for path in sorted(infra.rglob("*.tf")):
        for kind, type_ in _BLOCK_ID.findall(path.read_text()):
            found[kind].add(type_)
    return found


def _manifest(package: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(package.json, .jsii) of an unpacked package directory or a .tgz."""
    if package.is_dir():
        return (
            json.loads((package / "package.json").read_text()),
            json.loads((package / ".jsii").read_text()),
        )
    with tarfile.open(package) as archive:

        def read(name: str) -> Any:
            member = archive.extractfile(f"package/{name}")
            assert member is not None, f"{package}: no {name}"
            return json.load(member)

        return read("package.json"), read(".jsii")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _struct(type_: dict[str, Any], types: dict[str, Any]) -> tuple[str, bool] | None:
    """(fqn, many) when the property's type is a nested struct (a block), else None."""
    if "fqn" in type_:
        fqn = type_["fqn"]
        if types.get(fqn, {}).get("datatype"):
            return fqn, False
        return None
    if "collection" in type_:
        inner = _struct(type_["collection"]["elementtype"], types)
        if inner is not None and type_["collection"]["kind"] == "array":
            return inner[0], True
        return inner
    if "union" in type_:
        for option in type_["union"]["types"]:
            inner = _struct(option, types)
            if inner is not None:
                return inner
    return None


def _properties(fqn: str, types: dict[str, Any]) -> list[dict[str, Any]]:
    """The struct's own properties and those of the structs it extends, but not cdktf's."""
    struct = types[fqn]
    found = list(struct.get("properties", []))
    for parent in struct.get("interfaces", []):
        if parent in types:
            found += _properties(parent, types)
    return found


def _tf_name(prop: dict[str, Any]) -> str:
    # The registry link in each property's docs names it as Terraform does (cdktf renames a
    # few, e.g. an argument called `count`).
    match = _ANCHOR.search(prop.get("docs", {}).get("remarks", "") + " ")
    return match.group(1) if match else _snake(prop["name"])


def schema_of(fqn: str, types: dict[str, Any]) -> dict[str, Any]:
    """{"arguments": {name: "required"|"optional"}, "blocks": {name: {...}}} of a struct."""
    arguments: dict[str, str] = {}
    blocks: dict[str, Any] = {}
    for prop in sorted(_properties(fqn, types), key=lambda p: p["name"]):
        name = _tf_name(prop)
        required = not prop.get("optional", False)
        nested = _struct(prop["type"], types)
        if nested is None:
            arguments[name] = "required" if required else "optional"
            continue
        block = schema_of(nested[0], types)
        block["required"] = required
        block["many"] = nested[1]
        blocks[name] = block
    return {"arguments": arguments, "blocks": blocks}


def _index(types: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(kind, terraform type) -> the fqn of its config struct, kind resource/data/provider."""
    index: dict[tuple[str, str], str] = {}
    for type_ in types.values():
        if type_.get("kind") != "class" or "initializer" not in type_:
            continue
        summary = type_.get("docs", {}).get("summary", "") + " "
        link = _LINK.search(summary)
        if not link or not summary.startswith("Represents a {@link"):
            continue
        kind = (
            "resource"
            if link.group(1).startswith("/resources/")
            else "data"
            if link.group(1).startswith("/data-sources/")
            else "provider"
        )
        name = summary.split("}")[0].split()[-1]
        params = type_["initializer"].get("parameters", [])
        config = [p for p in params if p["name"] == "config"]
        if config and "fqn" in config[0]["type"]:
            index[(kind, name)] = config[0]["type"]["fqn"]
    return index


def extract(package: Path, provider: str, used: dict[str, set[str]]) -> dict[str, Any]:
    """The extract of one provider: its provenance and the schema of each used type."""
    meta, jsii = _manifest(package)
    types = jsii["types"]
    index = _index(types)
    source = meta["cdktf"]["provider"]
    out: dict[str, Any] = {
        "provider": provider,
        "provider_source": source["name"],
        "provider_version": source["version"],
        "package": meta["name"],
        "package_version": meta["version"],
        "licence": LICENCE_NOTE.format(
            package=meta["name"],
            version=meta["version"],
            licence=meta.get("license", "?"),
            provider=source["name"],
            provider_version=source["version"],
        ),
        "refresh": "python3 infra/scripts/schema_extract.py",
        "provider_config": schema_of(index[("provider", provider)], types),
        "resource": {},
        "data": {},
    }
    for kind in ("resource", "data"):
        for type_ in sorted(used[kind]):
            fqn = index.get((kind, type_))
            if fqn is not None:
                out[kind][type_] = schema_of(fqn, types)
    return out


def _npm_pack(spec: str, into: Path) -> Path:
    result = subprocess.run(
        ["npm", "pack", spec, "--silent", "--pack-destination", str(into)],
        capture_output=True,
        text=True,
        check=True,
    )
    return into / result.stdout.strip().splitlines()[-1]


def main(argv: list[str] | None = None) -> int:
    """Write infra/schema/<provider>.json for each provider."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--package",
        action="append",
        default=[],
        metavar="PROVIDER=PATH",
        help="an unpacked package directory or .tgz per provider (default: npm pack)",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    given = dict(item.split("=", 1) for item in args.package)
    used = used_types()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        for provider, (name, version) in PACKAGES.items():
            path = (
                Path(given[provider])
                if provider in given
                else _npm_pack(f"{name}@{version}", Path(scratch))
            )
            data = extract(path, provider, used)
            target = args.out / f"{provider}.json"
            target.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
            print(
                f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}: "
                f"{len(data['resource'])} resources, {len(data['data'])} data sources "
                f"from {data['package']} {data['package_version']} "
                f"({data['provider_source']} {data['provider_version']})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
