"""The test "IDOMED application" database: a realistic schema and several patients and professionals.

Shared by the collection (issue 16) and execution (issue 17) tests. On the
PostgreSQL pass it is a private PostgreSQL database with a read-only role for
collection (``read_url``) and the owner for execution (``write_url``); on the
SQLite pass it is a SQLite file (both URLs the same). The schema is
``dsar.demo_appdb``'s, mapped by ``workflows/idomed.systems.yaml``.

Use the ``appdb`` fixture (import it in a test module: ``from tests.appdb import appdb``)
or ``AppDb.create(kind)`` directly.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsar import demo_appdb

ROOT = Path(__file__).resolve().parent.parent
SYSTEMS_FILE = ROOT / "workflows" / "idomed.systems.yaml"
PG_ADMIN_URL = os.environ.get("DSAR_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")

#: Patients: Alice and Bruno both see Dr Martin; Alice also sees Dr Durand; Chloé sees Dr Durand only.
PEOPLE = {
    "professionals": [
        {"external_id": "pro-martin", "email": "dr.martin@app.test", "mobile": "+33700000001",
         "first_name": "Jeanne", "last_name": "Martin", "rpps": "10000000108"},
        {"external_id": "pro-durand", "email": "dr.durand@app.test", "mobile": "+33700000002",
         "first_name": "Louis", "last_name": "Durand", "rpps": "10000000116"},
    ],
    "patients": [
        {"external_id": "pat-alice", "email": "alice@app.test", "mobile": "+33611000001",
         "first_name": "Alice", "last_name": "Aubert", "birth_date": date(1980, 1, 2)},
        {"external_id": "pat-bruno", "email": "bruno@app.test", "mobile": "+33611000002",
         "first_name": "Bruno", "last_name": "Blanc", "birth_date": date(1975, 5, 6)},
        {"external_id": "pat-chloe", "email": "chloe@app.test", "mobile": "+33611000003",
         "first_name": "Chloé", "last_name": "Colin", "birth_date": date(1990, 9, 9)},
    ],
    "care": [
        ("pat-alice", "pro-martin", ["alice→martin 1", "martin→alice 1", "alice→martin 2"], ["alice-bilan.pdf"]),
        ("pat-alice", "pro-durand", ["alice→durand 1", "durand→alice 1"], ["alice-ordonnance.pdf"]),
        ("pat-bruno", "pro-martin", ["bruno→martin 1", "martin→bruno 1"], ["bruno-radio.pdf"]),
        ("pat-chloe", "pro-durand", ["chloe→durand 1"], []),
    ],
    "prospects": [
        {"email": "prospect@app.test", "first_name": "Paul", "last_name": "Prospect", "company": "Cabinet P"},
        {"email": "dr.martin@app.test", "first_name": "Jeanne", "last_name": "Martin", "company": "Cabinet Martin"},
    ],
}


@dataclass
class AppDb:
    """A created application database: URLs, the ids given to each person, and cleanup."""

    kind: str
    read_url: str
    write_url: str
    ids: dict = field(default_factory=dict)
    _drop: list = field(default_factory=list)

    @classmethod
    def create(cls, kind: str, tmp_path: Path | None = None, people: dict | None = None) -> "AppDb":
        if kind == "postgresql":
            name = f"dsar_app_{os.getpid()}_{secrets.token_hex(3)}"
            reader = f"{name}_reader"
            admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(sa.text(f'CREATE DATABASE "{name}"'))
                c.execute(sa.text(f'CREATE ROLE "{reader}" LOGIN'))
            admin.dispose()
            base = sa.engine.make_url(PG_ADMIN_URL).set(database=name)
            write_url = base.render_as_string(hide_password=False)
            read_url = base.set(username=reader, password=None).render_as_string(hide_password=False)
            db = cls(kind, read_url, write_url)

            def drop():
                eng = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
                with eng.connect() as c:
                    c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                    c.execute(sa.text(f'DROP ROLE IF EXISTS "{reader}"'))
                eng.dispose()
            db._drop.append(drop)
        else:
            assert tmp_path is not None, "the SQLite application database needs a directory"
            path = Path(tmp_path) / f"app-{secrets.token_hex(3)}.sqlite3"
            url = f"sqlite:///{path}"
            db = cls(kind, url, url)
            db._drop.append(lambda: path.unlink(missing_ok=True))
        engine = sa.create_engine(db.write_url)
        try:
            demo_appdb.create_schema(engine)
            db.ids = demo_appdb.seed(engine, people or PEOPLE)
            if kind == "postgresql":
                reader = sa.engine.make_url(db.read_url).username
                with engine.begin() as conn:
                    # Collection reads through a role that can only read (issue 16).
                    conn.execute(sa.text(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{reader}"'))
        finally:
            engine.dispose()
        return db

    def env(self, prefix: str = "DSAR_APP_DB") -> dict[str, str]:
        """The environment variables the systems file names."""
        return {f"{prefix}_READ_URL": self.read_url, f"{prefix}_WRITE_URL": self.write_url}

    def engine(self) -> sa.Engine:
        return sa.create_engine(self.write_url)

    def rows(self, table: str, where: str = "1=1", **params) -> list[dict]:
        eng = self.engine()
        try:
            with eng.connect() as c:
                return [dict(r._mapping) for r in c.execute(sa.text(f"SELECT * FROM {table} WHERE {where} ORDER BY id"),
                                                            params)]
        finally:
            eng.dispose()

    def drop(self) -> None:
        for fn in self._drop:
            fn()


def _canonical(value):
    if isinstance(value, (bytes, memoryview)):
        return hashlib.sha256(bytes(value)).hexdigest()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def row_checksums(url: str, tables: list[str] | None = None) -> dict[str, dict[tuple, str]]:
    """SHA-256 of every row, per table, keyed by primary key: compare before and after to prove others unchanged."""
    engine = sa.create_engine(url)
    out: dict[str, dict[tuple, str]] = {}
    try:
        with engine.connect() as conn:
            for table in demo_appdb.APP_METADATA.sorted_tables:
                if tables is not None and table.name not in tables:
                    continue
                pk = [c.name for c in table.primary_key.columns]
                sums = {}
                for row in conn.execute(sa.select(table)):
                    m = row._mapping
                    canonical = json.dumps({k: _canonical(v) for k, v in m.items()}, sort_keys=True, default=str)
                    sums[tuple(m[c] for c in pk)] = hashlib.sha256(canonical.encode()).hexdigest()
                out[table.name] = sums
    finally:
        engine.dispose()
    return out


@pytest.fixture
def appdb(tmp_path, monkeypatch):
    """A fresh application database for one test, its URLs in the environment the systems file names."""
    kind = os.environ.get("DSAR_TEST_DB", "sqlite")
    db = AppDb.create(kind, tmp_path)
    for name, value in db.env().items():
        monkeypatch.setenv(name, value)
    yield db
    db.drop()
