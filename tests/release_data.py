"""Data of a 0.1.0 database (schema revision 0001), to prove that the migrations after it keep what it holds.

``tests/fixtures/data_0001.json`` was written once by ``python tests/release_data.py`` on the 0.1.0 schema: the
demo data (staff, professionals, requests at every stage, their audit trails and outbox), read through the models
and dumped table by table. Never regenerate it on a later schema: it stands for the databases already deployed.
Loading it goes through the reflected tables of the database being tested, so it does not depend on the models.
"""
from __future__ import annotations

import base64
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "data_0001.json"


def _encode(value):
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if hasattr(value, "value"):          # enum members
        return value.value
    return value


def _decode(value):
    if isinstance(value, dict) and len(value) == 1:
        (tag, raw), = value.items()
        if tag == "$datetime":
            return datetime.fromisoformat(raw)
        if tag == "$date":
            return date.fromisoformat(raw)
        if tag == "$bytes":
            return base64.b64decode(raw)
        if tag == "$decimal":
            return Decimal(raw)
    return value


def dump(metadata: sa.MetaData, connection) -> dict[str, list[dict]]:
    data = {}
    for table in metadata.sorted_tables:
        columns = [c for c in table.columns if c.computed is None]
        rows = connection.execute(sa.select(*columns).order_by(*table.primary_key.columns)).mappings()
        data[table.name] = [{k: _encode(v) for k, v in row.items()} for row in rows]
    return data


def load(connection, data: dict[str, list[dict]]) -> None:
    """Insert ``data`` into the tables as they are in the database (reflected), parents first."""
    metadata = sa.MetaData()
    metadata.reflect(connection)
    for table in metadata.sorted_tables:
        rows = data.get(table.name)
        if not rows:
            continue
        writable = {c.name for c in table.columns if c.computed is None}
        connection.execute(table.insert(), [{k: _decode(v) for k, v in row.items() if k in writable} for row in rows])
    if connection.dialect.name == "postgresql":       # identities continue after the loaded ids
        for table in metadata.sorted_tables:
            pk = list(table.primary_key.columns)
            if len(pk) == 1 and isinstance(pk[0].type, sa.Integer) and data.get(table.name):
                connection.execute(sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{pk[0].name}'), "
                    f"(SELECT max({pk[0].name}) FROM {table.name}))"))


if __name__ == "__main__":   # run on the 0.1.0 schema only (see the module docstring)
    import tempfile

    from flask_migrate import upgrade

    from dsar import create_app
    from dsar.demo import load_demo
    from dsar.extensions import db

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"DSAR_ENV": "test", "INSTANCE_PATH": tmp, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/d.db",
                          "REDIS_URL": None, "MAIL_BACKEND": "file", "PUBLIC_BASE_URL": "http://localhost"})
        with app.app_context():
            upgrade(revision="0001")
            print(load_demo())
            with db.engine.connect() as conn:
                data = dump(db.metadata, conn)
    FIXTURE.write_text(json.dumps(data, indent=0, sort_keys=True, ensure_ascii=False) + "\n")
    print(f"{FIXTURE}: {sum(len(v) for v in data.values())} rows")
