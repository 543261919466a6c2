"""Counting the SQL statements a piece of code sends (issue 19: costs bounded in tests so that a regression fails)."""
from __future__ import annotations

from contextlib import contextmanager

import sqlalchemy as sa

from dsar.extensions import db


@contextmanager
def counting():
    """The statements sent inside the block, as a list of their SQL (a ``before_cursor_execute`` listener)."""
    statements: list[str] = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", listen)
    try:
        yield statements
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listen)


def plan_without_seqscan(query) -> str:
    """PostgreSQL's plan (EXPLAIN) for ``query`` as the driver is sent it (statement and parameters), sequential scans
    off: with a handful of test rows only then does the planner take an index it can use, so a plan without the index
    means the query cannot use it (an expression or constant that differs from the index's)."""
    sent = []
    with db.engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        sa.event.listen(conn, "before_cursor_execute", lambda *args: sent.append(args[2:4]))
        conn.execute(query).all()
        [(statement, parameters)] = sent
        return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters))
