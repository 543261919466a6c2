"""``archive: {table: archive_table}`` (issue 17, policy art. 12): the subject's rows that the retention plan
keeps in the archive are moved out of the active base — inserted into the archive table, then deleted, in one
transaction — and ``dsar systems check`` refuses a map whose archive table is not in the live schema.

Against the application database of ``tests/appdb.py`` (PostgreSQL on the PostgreSQL pass).
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa
import yaml

from dsar.actors import Actor
from dsar.config import ConfigError
from dsar.extensions import db
from dsar.models import DryRun
from dsar.models.enums import RequestType, Status, SubjectKind
from dsar.models.execution import DryRunStatus, LineAction
from dsar.systems import execution
from tests.appdb import SYSTEMS_FILE, appdb, row_checksums  # noqa: F401 - the fixture
from tests.collection_support import run_jobs_of, systems_app
from tests.factories import make_request, make_staff

ARCHIVE = "care_links_archive"


def _map(tmp_path) -> str:
    doc = yaml.safe_load(SYSTEMS_FILE.read_text())
    doc["systems"]["application"]["tables"]["care_links"]["actions"]["archive"] = {"table": ARCHIVE}
    path = tmp_path / "archive.systems.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return str(path)


def _create_archive_table(appdb):
    engine = appdb.engine()
    with engine.begin() as c:
        c.execute(sa.text(f"CREATE TABLE {ARCHIVE} AS SELECT * FROM care_links WHERE 1 = 0"))
    engine.dispose()


def _staff():
    return Actor.for_staff(make_staff("dpo"))


def test_the_check_refuses_an_archive_table_missing_from_the_live_schema(make_app, appdb, tmp_path):
    path = _map(tmp_path)
    with pytest.raises(ConfigError) as exc:
        make_app(DSAR_SYSTEMS=path)
    assert f"{path}: application.care_links: the archive table {ARCHIVE!r} does not exist" in str(exc.value)
    app = make_app(DSAR_SYSTEMS=path, DSAR_SYSTEMS_CHECK_AT_STARTUP=False)
    result = app.test_cli_runner().invoke(args=["systems", "check"])
    assert result.exit_code == 1 and f"the archive table {ARCHIVE!r} does not exist" in result.output
    # An archive table that cannot take every column of the table is refused too.
    engine = appdb.engine()
    with engine.begin() as c:
        c.execute(sa.text(f"CREATE TABLE {ARCHIVE} (id INTEGER PRIMARY KEY, patient_id INTEGER)"))
    engine.dispose()
    result = app.test_cli_runner().invoke(args=["systems", "check"])
    assert result.exit_code == 1
    assert f"application.care_links.started_at: the archive table {ARCHIVE!r} has no column" in result.output


def test_archived_rows_move_to_the_archive_table_once_and_nothing_else_changes(make_app, appdb, tmp_path):
    _create_archive_table(appdb)
    app = systems_app(make_app, path=_map(tmp_path))
    result = app.test_cli_runner().invoke(args=["systems", "check"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        req = make_request(policy=app.extensions["dsar_policy"], type=RequestType.ERASURE,
                           subject_kind=SubjectKind.PATIENT, status=Status.IN_PROGRESS, email="alice@app.test",
                           external_account_id="pat-alice")
        db.session.commit()
        dr = execution.compute_dry_run(req, _staff())
        archived = [l for l in dr.lines if l.table == "care_links"]
        assert [l.action for l in archived] == [LineAction.ARCHIVE] and archived[0].rows
        alice = appdb.ids["patients"]["pat-alice"]
        mine = sorted((tuple(r.values()) for r in appdb.rows("care_links", "patient_id = :p", p=alice)), key=repr)
        assert len(mine) == archived[0].rows
        execution.approve(dr, _staff())
        if dr.needs_professional:
            execution.approve_sealed(dr, Actor.system("professional-test"))
        db.session.commit()
        others = {pk: h for pk, h in row_checksums(appdb.write_url, ["care_links"])["care_links"].items()
                  if pk not in {(r[0],) for r in mine}}
        assert execution.execute(dr, _staff()) is dr
        db.session.commit()
        for _ in range(10):
            if not run_jobs_of(app):
                break
        db.session.expire_all()
        dr = db.session.get(DryRun, dr.id)
        assert dr.status == DryRunStatus.EXECUTED
        assert appdb.rows("care_links", "patient_id = :p", p=alice) == []
        moved = sorted((tuple(r.values()) for r in appdb.rows(ARCHIVE)), key=repr)
        assert moved == mine                                   # every column, the same values, each row once
        assert row_checksums(appdb.write_url, ["care_links"])["care_links"] == others
        assert next(l for l in dr.lines if l.table == "care_links").done_rows == len(mine)
        # Archive the same captured rows again (a retry): nothing is copied twice.
        from dsar.systems.connectors import sql_write

        system = app.extensions["dsar_systems"].system("application")
        engine = appdb.engine()
        with engine.begin() as conn:
            again = sql_write.archive_rows(conn, system.table("care_links"), [(r[0],) for r in mine], ARCHIVE)
        engine.dispose()
        assert again == len(mine)
        assert sorted((tuple(r.values()) for r in appdb.rows(ARCHIVE)), key=repr) == mine


def test_an_archive_that_fails_half_way_leaves_the_rows_where_they_were(make_app, appdb, tmp_path):
    """Insert and delete are one transaction: when the delete fails, the copy is rolled back too."""
    _create_archive_table(appdb)
    app = systems_app(make_app, path=_map(tmp_path))
    with app.app_context():
        from dsar.systems.connectors import sql_write

        system = app.extensions["dsar_systems"].system("application")
        alice = appdb.ids["patients"]["pat-alice"]
        keys = [(r["id"],) for r in appdb.rows("care_links", "patient_id = :p", p=alice)]
        before = row_checksums(appdb.write_url, ["care_links"])
        engine = appdb.engine()
        original = sql_write.count_present

        def broken(*a, **k):
            raise sa.exc.OperationalError("SELECT", {}, Exception("connection lost"))

        sql_write.count_present = broken
        try:
            with pytest.raises(sa.exc.OperationalError):
                with engine.begin() as conn:
                    sql_write.archive_rows(conn, system.table("care_links"), keys, ARCHIVE)
        finally:
            sql_write.count_present = original
            engine.dispose()
        assert row_checksums(appdb.write_url, ["care_links"]) == before and appdb.rows(ARCHIVE) == []
