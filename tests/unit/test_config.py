"""Settings: secrets have no default outside development and tests."""
import pytest
from cryptography.fernet import Fernet

from dsar import ConfigError, create_app
from dsar.config import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("SECRET_KEY", "DSAR_FILE_KEYS", "DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL", "DSAR_ENV"):
        monkeypatch.delenv(name, raising=False)


def test_production_without_secret_key_stops_with_a_message_naming_it(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app({"INSTANCE_PATH": str(tmp_path)})


def test_production_without_file_keys_stops(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    with pytest.raises(ConfigError, match="DSAR_FILE_KEYS is not set"):
        load_settings(tmp_path)


def test_production_is_the_default_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("DSAR_FILE_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://dsar.example.org")
    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        load_settings(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@localhost/x")
    settings = load_settings(tmp_path)
    assert settings["DSAR_ENV"] == "production"
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["SECRET_KEY"] == "x" * 40


def test_production_needs_public_base_url(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("DSAR_FILE_KEYS", Fernet.generate_key().decode())
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        load_settings(tmp_path)


def test_development_generates_a_secret_once_and_keeps_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DSAR_ENV", "development")
    first = load_settings(tmp_path)
    second = load_settings(tmp_path)
    assert len(first["SECRET_KEY"]) == 64
    assert first["SECRET_KEY"] == second["SECRET_KEY"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert first["DSAR_FILE_KEYS"] == second["DSAR_FILE_KEYS"]


def test_a_bad_file_key_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("DSAR_ENV", "development")
    monkeypatch.setenv("DSAR_FILE_KEYS", "not-a-key")
    with pytest.raises(ConfigError, match="not a valid Fernet key"):
        load_settings(tmp_path)


def test_unknown_environment_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("DSAR_ENV", "staging")
    with pytest.raises(ConfigError, match="DSAR_ENV"):
        load_settings(tmp_path)


def test_a_broken_policy_file_stops_start_up(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("controller: {}\n")
    with pytest.raises(ConfigError, match="policy file is not valid"):
        create_app({"DSAR_ENV": "test", "INSTANCE_PATH": str(tmp_path), "DSAR_POLICY": str(bad)})


def test_file_keys_may_be_given_as_a_string_or_a_list(tmp_path):
    a, b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    as_text = load_settings(tmp_path, {"DSAR_ENV": "test", "DSAR_FILE_KEYS": f"{a}, {b}"})
    as_list = load_settings(tmp_path, {"DSAR_ENV": "test", "DSAR_FILE_KEYS": [a, b]})
    assert as_text["DSAR_FILE_KEYS"] == as_list["DSAR_FILE_KEYS"] == [a, b]


@pytest.mark.parametrize("given, used", [
    ("postgresql://dsar@db.internal/dsar", "postgresql+psycopg://dsar@db.internal/dsar"),
    ("postgres://dsar:pw@db.internal:5433/dsar", "postgresql+psycopg://dsar:pw@db.internal:5433/dsar"),
    ("postgresql+psycopg://dsar@db/dsar", "postgresql+psycopg://dsar@db/dsar"),
    ("sqlite:////var/lib/dsar/dsar.sqlite3", "sqlite:////var/lib/dsar/dsar.sqlite3"),
])
def test_postgresql_urls_use_the_psycopg3_driver(tmp_path, monkeypatch, given, used):
    """A bare postgresql:// URL is psycopg2 for SQLAlchemy 2.0, which dsar does not install (issue 14, item 3)."""
    monkeypatch.setenv("DSAR_ENV", "test")
    monkeypatch.setenv("DATABASE_URL", given)
    settings = load_settings(tmp_path)
    assert settings["SQLALCHEMY_DATABASE_URI"] == used
    import sqlalchemy as sa

    if used.startswith("postgresql"):
        engine = sa.create_engine(settings["SQLALCHEMY_DATABASE_URI"])
        assert engine.dialect.driver == "psycopg"
        engine.dispose()
