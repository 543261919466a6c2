"""``dsar systems check``: the map against the live schema of each system, in plain words.

A missing table or column, a live column the map does not categorise (every
column must be declared: an uncategorised column is an error, not a silent
skip), a file column that is not binary, a declared type that changed. Each line
names the file, system, table and column.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from .connectors import ConnectorError, connector_for
from .model import SystemsMap


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)      # the map is wrong for a reachable system
    unreachable: list[str] = field(default_factory=list)   # could not connect (not the map's fault)
    ok: list[str] = field(default_factory=list)


def _is_binary(col_type) -> bool:
    return isinstance(col_type, (sa.LargeBinary, sa.types._Binary)) or type(col_type).__name__ in ("BYTEA", "BLOB")


def _archive_problems(where: str, table, live_tables: set, inspector) -> list[str]:
    """``archive: {table: name}`` (issue 17): the archive table exists and can take every column of the table."""
    spec = table.actions.get("archive")
    if not isinstance(spec, dict) or "table" not in spec:
        return []
    target = spec["table"]
    if target not in live_tables:
        return [f"{where}: the archive table {target!r} does not exist in the live database"]
    live = {col["name"] for col in inspector.get_columns(target)}
    return [f"{where}.{name}: the archive table {target!r} has no column by that name"
            for name in table.column_names if name not in live]


def check_live(systems: SystemsMap, *, connect_timeout: int = 5) -> CheckReport:
    report = CheckReport()
    src = systems.source
    for system in systems:
        if system.kind != "sql":
            report.ok.append(f"{src}: {system.key}: a {system.kind} system, nothing to compare")
            continue
        conn = connector_for(system)
        try:
            url = sa.engine.make_url(conn.url())
        except ConnectorError as exc:
            report.unreachable.append(f"{src}: {system.key}: {exc}")
            continue
        if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
            # Connecting would create an empty database file: say it is missing instead.
            report.unreachable.append(f"{src}: {system.key}: the SQLite database file does not exist (yet)")
            continue
        args = {"connect_timeout": connect_timeout} if url.get_backend_name() == "postgresql" else {}
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args=args)
        try:
            with engine.connect() as c:
                inspector = sa.inspect(c)
                live_tables = set(inspector.get_table_names())
                before = len(report.problems)
                for table in system.tables:
                    where = f"{src}: {system.key}.{table.name}"
                    if table.name not in live_tables:
                        report.problems.append(f"{where}: the table does not exist in the live database")
                        continue
                    live = {col["name"]: col for col in inspector.get_columns(table.name)}
                    for col in table.columns:
                        if col.name not in live:
                            report.problems.append(f"{where}.{col.name}: the map names this column but the live "
                                                   f"table has none by that name")
                        elif col.file and not _is_binary(live[col.name]["type"]):
                            report.problems.append(f"{where}.{col.name}: declared as a file but the live column is "
                                                   f"{live[col.name]['type']}, not binary")
                    for name in sorted(set(live) - set(table.column_names)):
                        report.problems.append(f"{where}.{name}: the live table has this column but the map does "
                                               f"not categorise it (give it a category or 'personal: false' with 'why')")
                    report.problems.extend(_archive_problems(where, table, live_tables, inspector))
                if len(report.problems) == before:
                    report.ok.append(f"{src}: {system.key}: {len(system.tables)} tables match the live schema")
        except sa.exc.OperationalError as exc:
            first = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200]
            report.unreachable.append(f"{src}: {system.key}: cannot connect: {first}")
        finally:
            engine.dispose()
    return report


@click.group("systems")
def systems_cli():
    """The systems that hold personal data (DSAR_SYSTEMS)."""


@systems_cli.command("check")
@with_appcontext
def check_command():
    """Compare the systems file with the live systems; exit 1 on any difference or unreachable system."""
    systems = current_app.extensions.get("dsar_systems")
    if systems is None:
        click.echo("No systems file is configured (DSAR_SYSTEMS): requests are fulfilled by hand.")
        return
    report = check_live(systems)
    for line in report.ok:
        click.echo(f"ok: {line}")
    for line in report.unreachable:
        click.echo(f"unreachable: {line}", err=True)
    for line in report.problems:
        click.echo(f"error: {line}", err=True)
    if report.problems or report.unreachable:
        raise SystemExit(1)
