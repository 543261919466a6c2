"""Read and validate the systems file against the policy; errors name the file, system, table and column.

Checked at start-up when a systems file is configured (``DSAR_SYSTEMS``, or the
policy's neighbour ``idomed.systems.yaml`` named by it), and by ``dsar systems check``.
"""
from __future__ import annotations

import os
from typing import Iterator

from marshmallow import ValidationError

from ..policy.errors import PolicyError
from ..policy.loading import _dotted, _flatten, _translate, read_yaml_mapping
from ..policy.model import Policy
from .model import Column, Reference, System, SystemsMap, Table, TableActions
from .schema import IDENT_RE, SystemsFileSchema


class SystemsError(PolicyError):
    """The systems file is wrong; one line per problem: "<file>: <system>.<table>.<column>: <what>"."""


def load_systems(path: str | os.PathLike, policy: Policy) -> SystemsMap:
    source = os.fspath(path)
    raw = read_yaml_mapping(source, "systems file", SystemsError)
    try:
        doc = SystemsFileSchema().load(raw)
    except ValidationError as err:
        problems = [(_dotted(p), _translate(p, m)) for p, m in _flatten(err.messages)]
        raise SystemsError.from_problems(source, problems) from None
    problems = list(_check(doc, policy))
    if problems:
        raise SystemsError.from_problems(source, [(_dotted(p), m) for p, m in problems])
    return _build(source, doc)


def _check(doc: dict, policy: Policy) -> Iterator[tuple[tuple, str]]:
    activities = set(policy.activities)
    for skey, s in doc["systems"].items():
        base = ("systems", skey)
        if s["activity"] not in activities:
            yield base + ("activity",), f"unknown activity {s['activity']!r} (known: {', '.join(sorted(activities))})"
            continue
        cats = {c.key: c for c in policy.data_categories if c.activity == s["activity"]}
        known = ", ".join(sorted(cats))
        for i, cat in enumerate(s.get("categories") or []):
            if cat not in cats:
                yield base + ("categories", i), f"unknown data category {cat!r} for activity {s['activity']!r} (known: {known})"
        if s["kind"] != "sql":
            continue
        tables = s["tables"]
        for kind, targets in s["identities"].items():
            for i, target in enumerate(targets):
                t, c = target.split(".")
                if t not in tables or c not in tables[t]["columns"]:
                    yield base + ("identities", kind, i), f"{target!r} is not a declared table.column"
        for tname, t in tables.items():
            tbase = base + ("tables", tname)
            sensitive = False
            for cname, col in t["columns"].items():
                cbase = tbase + ("columns", cname)
                if col["personal"]:
                    if "category" not in col:
                        yield cbase, ("has no data category: give it a category of the policy (art. 7) or "
                                      "'personal: false' with 'why'")
                    elif col["category"] not in cats:
                        yield cbase + ("category",), (f"unknown data category {col['category']!r} for activity "
                                                      f"{s['activity']!r} (known: {known})")
                    elif cats[col["category"]].sensitive:
                        sensitive = True
                else:
                    if "category" in col:
                        yield cbase, "a column with 'personal: false' has no category"
                    if not col.get("why"):
                        yield cbase, "'personal: false' needs 'why' (the reason it is not personal data)"
                if col.get("filename_column") and col["filename_column"] not in t["columns"]:
                    yield cbase + ("filename_column",), f"{col['filename_column']!r} is not a column of {tname!r}"
            for k in t["primary_key"]:
                if k not in t["columns"]:
                    yield tbase + ("primary_key",), f"primary key column {k!r} is not declared in columns"
            for i, ref in enumerate(t["references"]):
                if ref["column"] not in t["columns"]:
                    yield tbase + ("references", i, "column"), f"{ref['column']!r} is not a column of {tname!r}"
                tt, tc = ref["to"].split(".")
                if tt not in tables or tc not in tables[tt]["columns"]:
                    yield tbase + ("references", i, "to"), f"{ref['to']!r} is not a declared table.column"
            if t["sealed"] and not sensitive:
                yield tbase + ("sealed",), ("only shared health content (a sensitive category of the policy, "
                                            "art. 8.2) may be sealed")
            if sensitive and not t["sealed"]:
                yield tbase, ("holds a sensitive category (shared health content, policy art. 8.2): "
                              "mark it 'sealed: true'")
            for i, col in enumerate(t["actions"].get("rectification") or []):
                if col not in t["columns"]:
                    yield tbase + ("actions", "rectification", i), f"{col!r} is not a column of {tname!r}"
            if "archive" in t["actions"]:
                yield from _archive_errors(tbase + ("actions", "archive"), tname, t, tables)
        reached = {target.split(".")[0] for targets in s["identities"].values() for target in targets}
        cycle = _cycle({n: {r["to"].split(".")[0] for r in t["references"]} for n, t in tables.items()})
        if cycle:
            yield base + ("tables",), "the references form a cycle: " + " -> ".join(cycle)
        else:
            for tname, t in tables.items():
                if tname not in reached and not t["references"]:
                    yield base + ("tables", tname), "is reached neither from an identity nor by a reference"


def _archive_errors(where: tuple, tname: str, t: dict, tables: dict):
    """``archive: {set: {column: value}}`` flags the rows in place; ``archive: {table: name}`` moves them to
    an archive table of the same database (policy art. 12), checked against the live schema by
    ``dsar systems check``."""
    spec = t["actions"]["archive"]
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in ("set", "table"):
        yield where, "give either 'set: {column: value}' (flag the rows) or 'table: archive_table' (move them)"
        return
    if "set" in spec:
        if not isinstance(spec["set"], dict) or not spec["set"]:
            yield where + ("set",), "give the columns to set and their values"
            return
        for col in spec["set"]:
            if col not in t["columns"]:
                yield where + ("set", col), f"{col!r} is not a column of {tname!r}"
        return
    target = spec["table"]
    if not isinstance(target, str) or not IDENT_RE.match(target):
        yield where + ("table",), f"invalid table name {target!r}"
    elif target == tname or target in tables:
        yield where + ("table",), (f"{target!r} is a table of the map: the archive table is another table, "
                                   "outside the active base (policy art. 12)")


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if m == n or state.get(m) == 1:
                return stack[stack.index(m):] + [m] if m in stack else [n, m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def _build(source: str, doc: dict) -> SystemsMap:
    systems = []
    for skey, s in doc["systems"].items():
        tables = []
        for tname, t in (s.get("tables") or {}).items():
            cols = tuple(Column(name=c, category=v.get("category"), personal=v["personal"], why=v.get("why"),
                                mask=v.get("mask"), file=v["file"], filename_column=v.get("filename_column"))
                         for c, v in t["columns"].items())
            refs = tuple(Reference(r["column"], *r["to"].split(".")) for r in t["references"])
            tables.append(Table(tname, tuple(t["primary_key"]), cols, refs, t["sealed"],
                                TableActions(t["actions"].get("erasure"), dict(t["actions"]))))
        conn = s.get("connection") or {}
        owner = s.get("owner") or {}
        systems.append(System(
            key=skey, name=dict(s["name"]), kind=s["kind"], activity=s["activity"],
            read_url_env=conn.get("read_url_env"), write_url_env=conn.get("write_url_env"),
            identities={k: tuple(tuple(v.split(".")) for v in vs) for k, vs in (s.get("identities") or {}).items()},
            tables=tuple(tables), endpoint_env=s.get("endpoint_env"), secret_env=s.get("secret_env"),
            timeout_seconds=s["timeout_seconds"], categories=tuple(s.get("categories") or ()),
            owner_name=owner.get("name"), owner_email=owner.get("email"), sealed=s["sealed"],
        ))
    return SystemsMap(source, tuple(systems))


def systems_path(app) -> str | None:
    """The configured systems file (``DSAR_SYSTEMS``), or None: no systems file = manual fulfilment as before."""
    return app.config.get("DSAR_SYSTEMS") or None


def get_systems(app) -> SystemsMap | None:
    """The app's systems map (validated at start-up), or None when no systems file is configured."""
    return app.extensions.get("dsar_systems")
