"""From the subject's identities to their rows: follow the map's references (shared by collection and execution).

Start from each identity the request carries (email, phone, account id, …) →
rows of the identity tables; then, in topological order, a table with a
reference ``column -> other.col`` contributes the rows whose ``column`` is among
the values of ``other.col`` already found (several references: any of them).
Only declared references are followed, so a professional's request reaches the
professional's own rows, not their patients' conversations (policy art. 8.2).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import sqlalchemy as sa

from .model import System, Table

#: Values per IN (...) list: well under every driver's bound-parameter limit.
IN_CHUNK = 1000


@dataclass
class SubjectKeys:
    """Per table, the sorted primary-key tuples of the subject's rows; and the values of every referenced column."""

    keys: dict[str, list[tuple]] = field(default_factory=dict)
    values: dict[tuple[str, str], set] = field(default_factory=dict)

    def count(self, table: str) -> int:
        return len(self.keys.get(table, ()))

    def to_json(self) -> dict:
        return {"keys": {t: [list(k) for k in ks] for t, ks in self.keys.items()},
                "values": [[t, c, sorted(v, key=repr)] for (t, c), v in self.values.items()]}

    @classmethod
    def from_json(cls, data: dict) -> "SubjectKeys":
        return cls({t: [tuple(k) for k in ks] for t, ks in data["keys"].items()},
                   {(t, c): set(v) for t, c, v in data["values"]})


def topological(system: System) -> list[Table]:
    """Tables with every referenced table before the tables that reference it (parents first)."""
    by_name = {t.name: t for t in system.tables}
    done: list[str] = []

    def visit(name: str, seen: tuple = ()):
        if name in done:
            return
        for ref in by_name[name].references:
            if ref.to_table != name and ref.to_table not in seen:
                visit(ref.to_table, seen + (name,))
        if name not in done:
            done.append(name)

    for t in system.tables:
        visit(t.name)
    return [by_name[n] for n in done]


def normalise(kind: str, value: str) -> str:
    """Identities are compared lower-cased (email) or digits-and-plus (phone); others as given."""
    value = value.strip()
    if kind == "email":
        return value.lower()
    if kind == "phone":
        return "".join(ch for ch in value if ch.isdigit() or ch == "+")
    return value


def _chunks(values: Iterable, size: int = IN_CHUNK):
    batch = []
    for v in values:
        batch.append(v)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def traverse(system: System, conn: sa.Connection, identities: dict[str, list[str]]) -> SubjectKeys:
    """Find the subject's rows in one SQL system; ``identities`` = {kind: [values]} (only kinds the map names count)."""
    md = sa.MetaData()
    tables = {t.name: sa.Table(t.name, md, *[sa.Column(c) for c in t.column_names]) for t in system.tables}
    needed: dict[str, set[str]] = {}
    for t in system.tables:
        for ref in t.references:
            needed.setdefault(ref.to_table, set()).add(ref.to_column)
    found: dict[str, set[tuple]] = {t.name: set() for t in system.tables}
    out = SubjectKeys()
    for table, column in needed.items():
        for c in column:
            out.values[(table, c)] = set()

    def select_rows(table: Table, clause) -> None:
        st = tables[table.name]
        want = list(table.primary_key) + sorted(needed.get(table.name, set()) - set(table.primary_key))
        query = sa.select(*[st.c[c] for c in want]).where(clause)
        result = conn.execution_options(stream_results=True, yield_per=5000).execute(query)
        npk = len(table.primary_key)
        for row in result:
            found[table.name].add(tuple(row[:npk]))
            for i, c in enumerate(want):
                if (table.name, c) in out.values:
                    out.values[(table.name, c)].add(row[i])

    # Identity tables first: the subject's own entries.
    for kind, targets in system.identities.items():
        vals = [normalise(kind, v) for v in identities.get(kind, []) if v and v.strip()]
        if not vals or kind == "birth_date":
            continue
        for table_name, column in targets:
            col = tables[table_name].c[column]
            expr = sa.func.lower(col) if kind == "email" else col
            select_rows(system.table(table_name), expr.in_(vals))
    # Then the references, parents before children.
    for table in topological(system):
        for ref in table.references:
            parent_values = out.values.get((ref.to_table, ref.to_column), set())
            for batch in _chunks(sorted(parent_values, key=repr)):
                select_rows(table, tables[table.name].c[ref.column].in_(batch))
    for name, keys in found.items():
        out.keys[name] = sorted(keys, key=lambda k: tuple((v is None, v) for v in k))
    return out
