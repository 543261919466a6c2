"""From 0.1.0 on, the schema changes only by migrations on top of revision 0001 (CHANGELOG.md, issue 14 item 2).

A database holding 0.1.0 data (tests/fixtures/data_0001.json, written on that schema) is upgraded to the head
revision: every row is still there, the audit trail still verifies, and the models read the requests.
"""
import json

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import upgrade

from release_data import FIXTURE, load


def test_a_database_with_0_1_0_data_upgrades_to_head(make_app, fresh_database_url):
    from dsar.audit import verify_chain
    from dsar.extensions import db
    from dsar.models import DataRequest

    data = json.loads(FIXTURE.read_text())
    app = make_app(SQLALCHEMY_DATABASE_URI=fresh_database_url, REDIS_URL=None)
    with app.app_context():
        upgrade(revision="0001")
        with db.engine.begin() as conn:
            load(conn, data)
        upgrade()

        with db.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
            counts = {t: conn.scalar(sa.select(sa.func.count()).select_from(sa.table(t))) for t, rows in data.items()
                      if rows}
        head = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config()).get_current_head()
        assert current == head
        assert counts == {t: len(rows) for t, rows in data.items() if rows}
        assert verify_chain() == []
        references = sorted(r.reference for r in db.session.scalars(sa.select(DataRequest)))
        assert references == sorted(r["reference"] for r in data["requests"])
        assert all(r.status for r in db.session.scalars(sa.select(DataRequest)))
        db.session.remove()
        db.engine.dispose()


def test_migrations_after_0_1_0_build_on_its_baseline():
    """Revision 0001 is the 0.1.0 schema: every later revision descends from it, none rewrites it."""
    import hashlib

    from dsar.resources import data_path

    script = ScriptDirectory(str(data_path("migrations")))
    assert script.get_base() == "0001"
    assert len(script.get_bases()) == 1
    baseline = data_path("migrations", "versions", "0001_initial_schema.py").read_bytes()
    assert hashlib.sha256(baseline).hexdigest() == BASELINE_SHA256


BASELINE_SHA256 = "cfbbc40e75246671de90da04b7495f8ca7028509e3cf31570603d9b731011177"   # as released in 0.1.0
