"""Settings, read from environment variables when the app is created (never at import).

Three environments: ``development`` (``make run``), ``test`` (the suite) and
``production`` (the default, so that a forgotten variable never ships a
development secret). Outside development and test a missing secret stops
start-up with a message that names the variable.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet

from .resources import data_path


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message names it."""


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _dev_secret(instance_path: Path, filename: str, factory) -> str:
    """A secret generated once for development and kept under instance/."""
    instance_path.mkdir(parents=True, exist_ok=True)
    path = instance_path / filename
    if path.exists():
        return path.read_text().strip()
    value = factory()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def _key_list(value) -> list[str]:
    """Fernet keys given as "k1,k2" (environment) or as a list (overrides); the first one encrypts."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return [k.strip() for k in items if k and k.strip()]


def database_uri(url: str) -> str:
    """``postgresql://`` and ``postgres://`` URLs use psycopg 3, the driver dsar depends on.

    SQLAlchemy before 2.1 reads a bare ``postgresql://`` as psycopg2, which is not installed; an explicit driver
    (``postgresql+psycopg://``, ``sqlite://``) is kept as given.
    """
    scheme, sep, rest = url.partition("://")
    if sep and scheme in {"postgresql", "postgres"}:
        return f"postgresql+psycopg://{rest}"
    return url


def _dev_port() -> int:
    """The port `make run` serves on (PORT, 5000 by default); a bad value falls back to 5000."""
    value = os.environ.get("PORT", "")
    return int(value) if value.isdigit() and 0 < int(value) < 65536 else 5000


def load_settings(instance_path: Path, overrides: dict | None = None) -> dict:
    """Build the Flask config mapping from the environment and ``overrides``."""
    overrides = dict(overrides or {})
    env = overrides.get("DSAR_ENV") or os.environ.get("DSAR_ENV") or "production"
    if env not in {"development", "test", "production"}:
        raise ConfigError(f"DSAR_ENV must be development, test or production, got {env!r}")
    lenient = env in {"development", "test"}

    def secret(name: str, filename: str, factory) -> str:
        value = overrides.get(name) or os.environ.get(name)
        if value:
            return value
        if env == "development":
            return _dev_secret(instance_path, filename, factory)
        if env == "test":
            return factory()
        raise ConfigError(
            f"{name} is not set. In production dsar refuses to start without it; "
            f"set the environment variable {name} (see README.md, Configuration)."
        )

    default_db = f"sqlite:///{instance_path / 'dsar.sqlite3'}"
    settings = {
        "DSAR_ENV": env,
        "DEBUG": False,
        "TESTING": env == "test",
        "SECRET_KEY": secret("SECRET_KEY", "secret_key", lambda: secrets.token_hex(32)),
        # Fernet keys, comma-separated; the first encrypts, all decrypt (rotation).
        "DSAR_FILE_KEYS": _key_list(secret("DSAR_FILE_KEYS", "file_keys", lambda: Fernet.generate_key().decode())),
        # HMAC key of the suppression list (art. 21(3)) and of the systems file's hash masks; shared with the
        # marketing tools. No default in production: the features that need it say so when it is missing.
        "DSAR_HASH_KEY": overrides.get("DSAR_HASH_KEY") or os.environ.get("DSAR_HASH_KEY")
        or (secret("DSAR_HASH_KEY", "hash_key", lambda: secrets.token_hex(32)) if lenient else None),
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL") or default_db,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        "RQ_QUEUE": os.environ.get("DSAR_QUEUE", "dsar"),
        "DSAR_POLICY": os.environ.get("DSAR_POLICY") or str(data_path("workflows", "idomed.yaml")),
        "DSAR_FILES_DIR": os.environ.get("DSAR_FILES_DIR") or str(instance_path / "files"),
        "DSAR_MAIL_DIR": os.environ.get("DSAR_MAIL_DIR") or str(instance_path / "mail"),
        # In development the links follow the port the service runs on (PORT=5001 make run), unless PUBLIC_BASE_URL is set.
        "PUBLIC_BASE_URL": (os.environ.get("PUBLIC_BASE_URL")
                            or (f"http://127.0.0.1:{_dev_port()}" if lenient else "")).rstrip("/"),
        "MAIL_BACKEND": os.environ.get("MAIL_BACKEND") or ("file" if env == "development" else "smtp"),
        "MAIL_SERVER": os.environ.get("MAIL_SERVER", "localhost"),
        "MAIL_PORT": _int("MAIL_PORT", 25),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME") or None,
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD") or None,
        "MAIL_USE_TLS": _bool(os.environ.get("MAIL_USE_TLS")),
        "MAIL_USE_SSL": _bool(os.environ.get("MAIL_USE_SSL")),
        "MAIL_TIMEOUT": _int("MAIL_TIMEOUT", 30),
        "MAIL_DEFAULT_SENDER": os.environ.get("MAIL_DEFAULT_SENDER") or "dsar@localhost",
        "DSAR_DPO_EMAIL": os.environ.get("DSAR_DPO_EMAIL") or None,
        "BABEL_DEFAULT_LOCALE": "fr",
        "BABEL_DEFAULT_TIMEZONE": "Europe/Paris",
        "LANGUAGES": ("fr", "en"),
        "RATELIMIT_ENABLED": _bool(os.environ.get("RATELIMIT_ENABLED"), True),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI")
        or (os.environ.get("REDIS_URL") or "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        # The fixed window, its headers written from the count of the request's own hit (dsar/ratelimits.py).
        "RATELIMIT_STRATEGY": "dsar-fixed-window",
        # Redis down must not take the forms and the API down with it (every limited route was a 500):
        # each process keeps counting in memory until Redis answers again (bench/RESULTS.md, faults).
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "WTF_CSRF_TIME_LIMIT": 3600 * 4,
        # Pages are served with "Referrer-Policy: no-referrer", so browsers send no Referer with a form: Flask-WTF's
        # HTTPS referrer check would refuse every POST in production. The CSRF token (bound to the session,
        # whose cookie is SameSite) is the protection.
        "WTF_CSRF_SSL_STRICT": False,
        "SESSION_COOKIE_SECURE": not lenient or _bool(os.environ.get("SESSION_COOKIE_SECURE")),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_NAME": "dsar_session",
        "REMEMBER_COOKIE_SECURE": not lenient,
        "PERMANENT_SESSION_LIFETIME": _int("DSAR_SESSION_MINUTES", 30) * 60,
        "MAX_CONTENT_LENGTH": _int("DSAR_MAX_BODY_BYTES", 25 * 1024 * 1024),
        "MAX_FORM_MEMORY_SIZE": 1024 * 1024,
        # Embedded mode only: the web server runs the periodic jobs itself (production uses `dsar scheduler`).
        "DSAR_RUN_PERIODIC_IN_PROCESS": _bool(os.environ.get("DSAR_RUN_PERIODIC_IN_PROCESS")),
        # Reverse proxies in front of the service that set X-Forwarded-For/-Proto/-Host (ProxyFix). Required behind
        # a proxy: with 0 every visitor has the proxy's address (one shared rate limit, the proxy in the audit trail);
        # more than the real number lets a client choose its own address.
        "DSAR_TRUSTED_PROXIES": _int("DSAR_TRUSTED_PROXIES", 0),
        # Log lines as text or as one JSON object per line (dsar/logs.py).
        "DSAR_LOG_FORMAT": os.environ.get("DSAR_LOG_FORMAT") or "text",
        # /health: 503 beyond these ages (seconds); the details only for "Authorization: Bearer <DSAR_HEALTH_TOKEN>".
        "DSAR_HEALTH_WORKER_MAX_AGE": _int("DSAR_HEALTH_WORKER_MAX_AGE", 120),
        "DSAR_HEALTH_SCHEDULER_MAX_AGE": _int("DSAR_HEALTH_SCHEDULER_MAX_AGE", 180),
        "DSAR_HEALTH_OUTBOX_MAX_AGE": _int("DSAR_HEALTH_OUTBOX_MAX_AGE", 1800),
        "DSAR_HEALTH_TOKEN": os.environ.get("DSAR_HEALTH_TOKEN") or None,
        "DSAR_WEBHOOK_URL": os.environ.get("DSAR_WEBHOOK_URL") or None,
        "DSAR_WEBHOOK_SECRET": os.environ.get("DSAR_WEBHOOK_SECRET") or None,
        # Webhooks and callbacks go to public addresses only; CIDRs listed here are allowed besides (services/destinations.py).
        "DSAR_WEBHOOK_ALLOWED_NETWORKS": os.environ.get("DSAR_WEBHOOK_ALLOWED_NETWORKS") or "",
        "API_TITLE": "dsar",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
    }
    # Rate limits of the public pages and task links, e.g. DSAR_RATE_LIMIT_SUBMIT="3 per hour".
    settings.update({k: v for k, v in os.environ.items() if k.startswith("DSAR_RATE_LIMIT_") and v})
    if "DSAR_FILE_KEYS" in overrides:
        overrides["DSAR_FILE_KEYS"] = _key_list(overrides["DSAR_FILE_KEYS"])
    settings.update(overrides)
    settings["SQLALCHEMY_DATABASE_URI"] = database_uri(settings["SQLALCHEMY_DATABASE_URI"])
    if env == "production":
        if not settings["PUBLIC_BASE_URL"]:
            raise ConfigError("PUBLIC_BASE_URL is not set: links in emails need the service's public address.")
        if settings["SQLALCHEMY_DATABASE_URI"].startswith("sqlite") and not _bool(os.environ.get("DSAR_ALLOW_SQLITE")):
            # SQLite is the embedded default for trying the service, not for patients' data.
            raise ConfigError("DATABASE_URL is not set: production needs PostgreSQL (or DSAR_ALLOW_SQLITE=1).")
    if settings["DSAR_LOG_FORMAT"] not in {"text", "json"}:
        raise ConfigError("DSAR_LOG_FORMAT must be text or json")
    if not isinstance(settings["DSAR_TRUSTED_PROXIES"], int) or not 0 <= settings["DSAR_TRUSTED_PROXIES"] <= 5:
        raise ConfigError("DSAR_TRUSTED_PROXIES must be the number of reverse proxies in front of dsar (0 to 5)")
    for key in settings["DSAR_FILE_KEYS"]:
        try:
            Fernet(key)
        except Exception as exc:  # noqa: BLE001 - any decoding error means a bad key
            raise ConfigError("DSAR_FILE_KEYS holds a key that is not a valid Fernet key") from exc
    return settings
