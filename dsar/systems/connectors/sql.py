"""Read the subject's rows from a SQL system (any database SQLAlchemy reaches), streamed with server-side cursors.

The URL comes from the environment variable the systems file names (a
read-only role for collection); it is never logged (it may hold a password).
"""
from __future__ import annotations

import os
from typing import Iterator

import sqlalchemy as sa

from ..model import System, Table
from ..tables import write_table
from ..traversal import IN_CHUNK, SubjectKeys, topological, traverse
from .base import ConnectorError, register


@register("sql")
class SqlConnector:
    def __init__(self, system: System):
        self.system = system

    def url(self, write: bool = False) -> str:
        env = self.system.write_url_env if write else self.system.read_url_env
        if not env:
            raise ConnectorError(f"system {self.system.key!r} names no {'write' if write else 'read'} URL variable")
        value = os.environ.get(env)
        if not value:
            raise ConnectorError(f"the environment variable {env} (URL of system {self.system.key!r}) is not set")
        return value

    def engine(self, write: bool = False) -> sa.Engine:
        return sa.create_engine(self.url(write), poolclass=sa.pool.NullPool)

    def traverse(self, conn: sa.Connection, identities: dict[str, list[str]]) -> SubjectKeys:
        return traverse(self.system, conn, identities)

    def stream_rows(self, conn: sa.Connection, table: Table, keys: list[tuple]) -> Iterator[dict]:
        """The personal columns of the rows with these primary keys, in key order, batch by batch."""
        md = sa.MetaData()
        st = sa.Table(table.name, md, *[sa.Column(c) for c in table.column_names])
        cols = [st.c[c.name] for c in table.exported_columns]
        pk = [st.c[c] for c in table.primary_key]
        has_file = any(c.file for c in table.exported_columns)
        for start in range(0, len(keys), IN_CHUNK):
            batch = keys[start:start + IN_CHUNK]
            where = pk[0].in_([k[0] for k in batch]) if len(pk) == 1 else sa.tuple_(*pk).in_(batch)
            query = sa.select(*cols).where(where).order_by(*pk)
            # Server-side cursor: rows arrive a thousand at a time, documents one by one.
            result = conn.execution_options(stream_results=True, yield_per=1 if has_file else 1000).execute(query)
            for row in result:
                yield dict(row._mapping)

    def collect(self, run, store, identities: dict[str, list[str]], recorder) -> None:
        """Traverse (captured once), then one encrypted file per table, each recorded when complete."""
        engine = self.engine()
        try:
            with engine.connect() as conn:
                keys = recorder.captured(lambda: self.traverse(conn, identities))
                conn.rollback()
                for table in topological(self.system):
                    if table.name in (run.progress or {}):
                        continue  # done by an earlier attempt
                    rows = self.stream_rows(conn, table, keys.keys.get(table.name, []))
                    entry = write_table(store, self.system, table, rows)
                    conn.rollback()  # end the read transaction between tables
                    recorder.done(table.name, entry)
        finally:
            engine.dispose()
