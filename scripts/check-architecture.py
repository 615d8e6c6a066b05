#!/usr/bin/env python3
"""Holds the crate graph (`cargo metadata`) to the parts file `architecture.toml`.

Fails naming every forbidden arrow ("avb-portal -> avb-storage: handlers never see storage");
prints a short summary otherwise. Standard library only.

    scripts/check-architecture.py [--metadata FILE]   (FILE: saved `cargo metadata` JSON)
"""

import json
import pathlib
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def metadata(argv):
    if len(argv) == 3 and argv[1] == "--metadata":
        return json.loads(pathlib.Path(argv[2]).read_text())
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--locked"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def main(argv):
    parts = tomllib.loads((ROOT / "architecture.toml").read_text())
    kinds = set(parts.get("checked_kinds", ["normal", "build"]))
    layers = parts["layers"]
    rank = {name: layers.index(layer) for name, layer in parts["crates"].items()}
    meta = metadata(argv)

    name_of = {p["id"]: p["name"] for p in meta["packages"]}
    members = {name_of[i] for i in meta["workspace_members"]}
    # Edges of the checked kinds: package name -> names of its direct dependencies.
    edges = {}
    for node in meta["resolve"]["nodes"]:
        deps = set()
        for d in node["deps"]:
            dep_kinds = {k["kind"] or "normal" for k in d["dep_kinds"]}
            if dep_kinds & kinds:
                deps.add(name_of[d["pkg"]])
        edges.setdefault(name_of[node["id"]], set()).update(deps)

    def reach(start):
        """Every crate `start` depends on, directly or through others, with one path to each."""
        seen, todo = {start: [start]}, [start]
        while todo:
            at = todo.pop()
            for d in sorted(edges.get(at, ())):
                if d not in seen:
                    seen[d] = seen[at] + [d]
                    todo.append(d)
        del seen[start]
        return seen

    problems = []
    for m in sorted(members - rank.keys()):
        problems.append(f"{m}: not listed in architecture.toml (give it a layer)")
    for m in sorted(members & rank.keys()):
        for d in sorted(edges.get(m, set()) & members):
            if d in rank and rank[d] >= rank[m]:
                problems.append(
                    f"{m} -> {d}: dependencies point down "
                    f"({parts['crates'][m]} may not depend on {parts['crates'][d]})"
                )
    arrows = 0
    for rule in parts.get("forbid", []):
        for m in rule["from"]:
            if m not in members:
                continue
            if rule.get("transitive", False):
                found = reach(m)
                for bad in rule["to"]:
                    if bad in found:
                        via = " -> ".join(found[bad])
                        problems.append(f"{m} -> {bad}: {rule['why']} (via {via})")
            else:
                for bad in rule["to"]:
                    if bad in edges.get(m, ()):
                        problems.append(f"{m} -> {bad}: {rule['why']}")
            arrows += len(rule["to"])

    if problems:
        print("architecture.toml: the crate graph breaks its rules:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    internal = sum(len(edges.get(m, set()) & members) for m in members)
    planned = sorted(rank.keys() - members)
    by_layer = []
    for layer in layers:
        names = sorted(m for m in members if parts["crates"].get(m) == layer)
        if names:
            by_layer.append(f"{layer}: {', '.join(names)}")
    print(
        f"architecture OK: {len(members)} crates, {internal} internal dependencies point down, "
        f"{arrows} forbidden arrows absent ({', '.join(sorted(kinds))} dependencies; "
        f"dev-dependencies exempt)"
    )
    for line in by_layer:
        print(f"  {line}")
    if planned:
        print(f"  listed, not in the workspace yet: {', '.join(planned)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
