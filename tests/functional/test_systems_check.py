"""A map that names a missing column, or leaves a live column uncategorised, is refused at start-up and by
``dsar systems check``, naming file, system, table and column (issue 16)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
import yaml

from health_support import alive
from dsar.config import ConfigError
from tests.appdb import SYSTEMS_FILE, appdb  # noqa: F401 - the fixture


def _map_with(tmp_path, mutate):
    doc = yaml.safe_load(SYSTEMS_FILE.read_text())
    mutate(doc["systems"]["application"]["tables"])
    path = tmp_path / "app.systems.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


def test_the_shipped_map_matches_the_live_schema(make_app, appdb):
    app = make_app(DSAR_SYSTEMS=str(SYSTEMS_FILE))
    result = app.test_cli_runner().invoke(args=["systems", "check"])
    assert result.exit_code == 0, result.output
    assert "application: 12 tables match the live schema" in result.output


def test_a_missing_column_stops_start_up_and_the_check(make_app, appdb, tmp_path):
    path = _map_with(tmp_path, lambda t: t["devices"]["columns"].update(imei={"category": "device_data"}))
    with pytest.raises(ConfigError) as exc:
        make_app(DSAR_SYSTEMS=str(path))
    assert f"{path}: application.devices.imei: the map names this column but the live table has none" in str(exc.value)
    app = make_app(DSAR_SYSTEMS=str(path), DSAR_SYSTEMS_CHECK_AT_STARTUP=False)
    result = app.test_cli_runner().invoke(args=["systems", "check"])
    assert result.exit_code == 1
    assert f"error: {path}: application.devices.imei: the map names this column" in result.output


def test_an_uncategorised_live_column_stops_start_up_and_the_check(make_app, appdb, tmp_path):
    engine = appdb.engine()
    with engine.begin() as c:
        c.execute(sa.text("ALTER TABLE devices ADD COLUMN os_version VARCHAR(20)"))
    engine.dispose()
    with pytest.raises(ConfigError) as exc:
        make_app(DSAR_SYSTEMS=str(SYSTEMS_FILE))
    assert (f"{SYSTEMS_FILE}: application.devices.os_version: the live table has this column but the map does "
            "not categorise it") in str(exc.value)
    app = make_app(DSAR_SYSTEMS=str(SYSTEMS_FILE), DSAR_SYSTEMS_CHECK_AT_STARTUP=False)
    result = app.test_cli_runner().invoke(args=["systems", "check"])
    assert result.exit_code == 1 and "application.devices.os_version" in result.output


def test_a_column_without_category_in_the_map_stops_start_up(make_app, appdb, tmp_path):
    path = _map_with(tmp_path, lambda t: t["devices"]["columns"].update(model={}))
    with pytest.raises(ConfigError) as exc:
        make_app(DSAR_SYSTEMS=str(path))
    assert f"{path}: systems.application.tables.devices.columns.model: has no data category" in str(exc.value)


def test_an_unreachable_system_does_not_stop_start_up_and_health_does_not_call_it(make_app, monkeypatch):
    monkeypatch.setenv("DSAR_APP_DB_READ_URL", "postgresql://nobody@127.0.0.1:1/none")
    app = make_app(DSAR_SYSTEMS=str(SYSTEMS_FILE))
    assert app.extensions["dsar_systems"] is not None
    result = app.test_cli_runner().invoke(args=["systems", "check"])
    assert result.exit_code == 1 and "unreachable:" in result.output and "cannot connect" in result.output
    assert "nobody" not in result.output  # the URL (it may hold a password) is never printed
    alive(app)  # with RQ, /health also wants a worker and the scheduler beating: they are, the system is not
    resp = app.test_client().get("/health")
    assert resp.status_code == 200
