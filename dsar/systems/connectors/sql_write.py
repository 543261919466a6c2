"""The write side of the SQL connector (issue 17): delete, archive, mask, set, update the subject's rows by primary key.

Each operation works from the captured keys (never from a fresh lookup) and is idempotent: deleting rows that
are gone deletes nothing; masks and ``set`` values are computed once, at capture (a ``hash`` mask from the
captured original value, ``$now`` from the execution instant), so writing them again writes the same bytes.
The caller opens one transaction per table (``engine.begin()``).
"""
from __future__ import annotations

from typing import Iterable

import sqlalchemy as sa

from ..model import Table
from ..traversal import IN_CHUNK


def _table(table: Table) -> sa.Table:
    return sa.Table(table.name, sa.MetaData(), *[sa.Column(c) for c in table.column_names])


def _where(st: sa.Table, table: Table, batch: list[tuple]):
    pk = [st.c[c] for c in table.primary_key]
    if len(pk) == 1:
        return pk[0].in_([k[0] for k in batch])
    return sa.tuple_(*pk).in_([tuple(k) for k in batch])


def _batches(keys: list[tuple]) -> Iterable[list[tuple]]:
    for start in range(0, len(keys), IN_CHUNK):
        yield keys[start:start + IN_CHUNK]


def count_present(conn: sa.Connection, table: Table, keys: list[tuple]) -> int:
    st = _table(table)
    return sum(conn.execute(sa.select(sa.func.count()).select_from(st).where(_where(st, table, b))).scalar_one()
               for b in _batches(keys))


def delete_rows(conn: sa.Connection, table: Table, keys: list[tuple]) -> int:
    """Delete the rows; returns how many of the captured rows are gone afterwards (all of them)."""
    st = _table(table)
    for b in _batches(keys):
        conn.execute(sa.delete(st).where(_where(st, table, b)))
    return len(keys) - count_present(conn, table, keys)


def archive_rows(conn: sa.Connection, table: Table, keys: list[tuple], archive_table: str) -> int:
    """Move the rows to ``archive_table`` (policy art. 12): copy every declared column, then delete, in the
    caller's transaction, so a row is never in both tables nor in neither. A row already moved is not found
    again, so a repeat copies nothing. Returns how many of the captured rows are gone from the table."""
    st = _table(table)
    archive = sa.Table(archive_table, sa.MetaData(), *[sa.Column(c) for c in table.column_names])
    for b in _batches(keys):
        conn.execute(sa.insert(archive).from_select(list(table.column_names),
                                                    sa.select(*[st.c[c] for c in table.column_names])
                                                    .where(_where(st, table, b))))
        conn.execute(sa.delete(st).where(_where(st, table, b)))
    return len(keys) - count_present(conn, table, keys)


def set_values(conn: sa.Connection, table: Table, keys: list[tuple], values: dict) -> int:
    """Set the same values on every captured row still present; returns the rows set."""
    st = _table(table)
    if not values:
        return 0
    for b in _batches(keys):
        conn.execute(sa.update(st).where(_where(st, table, b)).values(**values))
    return count_present(conn, table, keys)


def set_per_row(conn: sa.Connection, table: Table, column: str, rows: list[tuple[tuple, object]]) -> None:
    """Set ``column`` row by row (hash masks: each row its own value), by primary key."""
    st = _table(table)
    pk = list(table.primary_key)
    stmt = sa.update(st).where(*[st.c[c] == sa.bindparam(f"_pk{i}") for i, c in enumerate(pk)]).values(
        {column: sa.bindparam("_value")})
    params = [{**{f"_pk{i}": k[i] for i in range(len(pk))}, "_value": v} for k, v in rows]
    for start in range(0, len(params), IN_CHUNK):
        conn.execute(stmt, params[start:start + IN_CHUNK])


def read_columns(conn: sa.Connection, table: Table, keys: list[tuple], columns: list[str]) -> list[tuple[tuple, dict]]:
    """(pk, {column: value}) of the captured rows: what a hash mask or a rectification starts from."""
    st = _table(table)
    pk = list(table.primary_key)
    out = []
    for b in _batches(keys):
        for row in conn.execute(sa.select(*[st.c[c] for c in pk + columns]).where(_where(st, table, b))):
            out.append((tuple(row[:len(pk)]), dict(zip(columns, row[len(pk):]))))
    return out
