"""Column types and helpers shared by the models."""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """An instant stored with its time zone and always read back aware, in UTC.

    SQLite drops the offset, PostgreSQL keeps it; both come back as aware UTC
    datetimes. Naive datetimes are refused: they are a bug waiting to happen.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: use an aware UTC datetime")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


_NEXT_ID: dict[str, sa.Select] = {}


def take_id(session, model) -> int | None:
    """The id a new row of ``model`` will have, taken from its sequence before its INSERT (PostgreSQL), so that what
    refers to it is written with it and nothing is flushed to learn it (issue 19); None elsewhere (SQLite has no
    sequence: the INSERT gives the id)."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return None
    table = model.__tablename__
    if table not in _NEXT_ID:
        _NEXT_ID[table] = sa.select(sa.func.nextval(sa.func.pg_get_serial_sequence(table, "id")))
    return connection.scalar(_NEXT_ID[table])


def among(session, column, values: list):
    """``column IN values``: one array parameter on PostgreSQL (``= ANY(:array)``: thousands of placeholders cost more
    to send than the statement costs to run, issue 19), a plain IN elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        return column == sa.any_(sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(values)
