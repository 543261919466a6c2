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
