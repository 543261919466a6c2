"""The schema comes from the migrations only, and they match the models."""
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from dsar.extensions import db

ROOT = Path(__file__).resolve().parents[2]


def test_models_and_migrations_do_not_drift(app):
    """Like `alembic check`: autogenerate against the migrated database finds nothing to do."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("migrations_env_render", ROOT / "migrations" / "render.py")
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "render_item": render.render_item,
                                                       "include_object": render.include_object})
        diff = compare_metadata(ctx, db.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_the_database_is_at_the_head_revision(app):
    from alembic.script import ScriptDirectory
    script = ScriptDirectory.from_config(_config())
    with db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    assert current == script.get_current_head()


def _config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    return cfg


def test_the_application_never_creates_tables_itself():
    offenders = [p for p in (ROOT / "dsar").rglob("*.py") if "create_all(" in p.read_text()]
    assert offenders == []


def test_every_column_has_a_comment(app):
    missing = [f"{t.name}.{c.name}" for t in db.metadata.sorted_tables for c in t.columns if not c.comment]
    assert missing == []


def test_tables_exist_in_the_migrated_database(app):
    names = set(sa.inspect(db.engine).get_table_names())
    assert {"requests", "events", "outbox", "staff", "documents"} <= names
