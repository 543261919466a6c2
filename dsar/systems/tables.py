"""Collected table files: one encrypted JSON-lines file per table in the file store, documents as files of their own.

Written by the connectors while collecting (``write_table``), read back by the pack (``read_table``).
"""
from __future__ import annotations

import base64
import json
from datetime import date, datetime, time
from decimal import Decimal

from .model import Column, System


def json_default(value):
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (bytes, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, set):
        return sorted(value, key=repr)
    raise TypeError(type(value).__name__)


def write_table(store, system: System, table, rows) -> dict:
    """Stream ``rows`` to one encrypted JSON-lines file; file columns go to files of their own. Returns the entry."""
    n = files = 0
    with store.writer() as out:
        for row in rows:
            for col in table.exported_columns:
                if col.file and row.get(col.name) is not None:
                    content = row[col.name]
                    # Written in 1 MB encrypted chunks: a large document is never copied whole again.
                    with store.writer() as doc:
                        view = memoryview(content)
                        for start in range(0, len(view), 1 << 20):
                            doc.write(bytes(view[start:start + (1 << 20)]))
                    del view, content
                    files += 1
                    row[col.name] = {"$file": doc.name, "sha256": doc.sha256, "size": doc.size,
                                     "filename": str(row.get(col.filename_column) or "") if col.filename_column else ""}
            out.write(json.dumps(row, default=json_default, ensure_ascii=False).encode() + b"\n")
            n += 1
    return {"file": out.name, "sha256": out.sha256, "rows": n, "files": files,
            "categories": list(table.categories), "sealed": table.sealed,
            "columns": [c.name for c in table.exported_columns]}


def read_table(store, entry: dict):
    """The rows of a collected table file, one dict at a time."""
    buf = b""
    for chunk in store.open_stream(entry["file"]):
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if line:
                yield json.loads(line)
    if buf.strip():
        yield json.loads(buf)


class AdHocTable:
    """A table described by the answer of an http or manual system: one category, columns as they come."""

    def __init__(self, name, category, columns, sealed):
        self.name, self.sealed = name, sealed
        self.primary_key = ("id",)
        self.exported_columns = tuple(Column(c, category) for c in columns)
        self.categories = (category,)
