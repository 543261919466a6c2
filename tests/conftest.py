"""Test harness: real databases, a real Redis with RQ workers, a real SMTP server on loopback.

Two passes (see the Makefile):
- ``DSAR_TEST_DB=sqlite``: the embedded default, jobs in-process;
- ``DSAR_TEST_DB=postgresql``: PostgreSQL and RQ on Redis, like production.

A private database is created and migrated once per run; every table is emptied
after each test. Redis uses a private database number, emptied before and after
each test. With ``DSAR_REQUIRE_SERVICES=1`` (CI) a missing service fails the run.
"""
from __future__ import annotations

import email
import os
import secrets
import socket
import threading
import time
import uuid
from email import policy as email_policy
from pathlib import Path

from net_support import free_port

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
DB_KIND = os.environ.get("DSAR_TEST_DB", "sqlite")
REQUIRE = os.environ.get("DSAR_REQUIRE_SERVICES") == "1"
PG_ADMIN_URL = os.environ.get("DSAR_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_BASE = os.environ.get("DSAR_TEST_REDIS_URL", "redis://127.0.0.1:6379")
# Each pytest-xdist worker takes its own Redis database number (15, 14, …), emptied before and after each test.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
REDIS_DB = int(os.environ.get("DSAR_TEST_REDIS_DB", "15")) - _WORKER
ARTIFACTS = ROOT / "test-artifacts"


def pytest_configure(config):
    """Compile the French catalogues if a .po is newer than its .mo (make does this too)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in (ROOT / "dsar").rglob("translations/*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            with po.open("rb") as fh:
                catalog = read_po(fh)
            with mo.open("wb") as fh:
                write_mo(fh, catalog)


def pytest_report_header(config):
    jobs = "RQ on Redis db %d" % REDIS_DB if DB_KIND == "postgresql" else "in-process"
    return f"dsar: database={DB_KIND}, jobs={jobs}, require_services={REQUIRE}"


def pytest_collection_modifyitems(config, items):
    # The SQLite pass is the embedded default: tests that need PostgreSQL or Redis belong to the other pass.
    if DB_KIND == "sqlite":
        keep = [i for i in items if not ({"postgres", "redis"} & {m.name for m in i.iter_markers()})]
        dropped = [i for i in items if i not in keep]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep


# --- databases ------------------------------------------------------------------------------------------


def _pg_available() -> bool:
    try:
        eng = sa.create_engine(PG_ADMIN_URL)
        with eng.connect() as c:
            c.execute(sa.text("SELECT 1"))
        eng.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    if DB_KIND == "sqlite":
        path = tmp_path_factory.mktemp("db") / "dsar-test.sqlite3"
        yield f"sqlite:///{path}"
        return
    if not _pg_available():
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}", pytrace=False)
    yield from _private_pg_database()


def _private_pg_database():
    name = f"dsar_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def fresh_database_url(tmp_path):
    """Another empty database of this pass's kind, without any migration (upgrade and restore tests)."""
    if DB_KIND == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    yield from _private_pg_database()


@pytest.fixture(scope="session")
def redis_url():
    if DB_KIND != "postgresql":
        return None
    from redis import Redis

    url = f"{REDIS_BASE}/{REDIS_DB}"
    try:
        Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception:  # noqa: BLE001
        pytest.fail(f"Redis is not reachable at {url}", pytrace=False)
    return url


@pytest.fixture(scope="session")
def queue_name():
    return f"dsar-test-{uuid.uuid4().hex[:8]}"


# --- SMTP ---------------------------------------------------------------------------------------------


class Mailbox:
    """What the loopback SMTP server received, parsed."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email_policy.default)
        with self.lock:
            self.messages.append(msg)
        return "250 OK"

    def clear(self):
        with self.lock:
            self.messages.clear()

    def to(self, address: str):
        return [m for m in self.messages if m["To"] == address]

    def text(self, msg) -> str:
        return msg.get_body(preferencelist=("plain",)).get_content()

    def html(self, msg) -> str:
        return msg.get_body(preferencelist=("html",)).get_content()

    def wait_for(self, count: int, timeout: float = 10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.messages
            time.sleep(0.05)
        raise AssertionError(f"expected {count} emails, got {len(self.messages)}")


@pytest.fixture(scope="session")
def smtp_server():
    from aiosmtpd.controller import Controller

    box = Mailbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def mailbox(smtp_server):
    box, _ = smtp_server
    box.clear()
    yield box
    box.clear()


# --- the application -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _migrated(database_url, tmp_path_factory):
    """Apply the migrations once to the private database."""
    from flask_migrate import upgrade

    from dsar import create_app

    app = create_app({"DSAR_ENV": "test", "SQLALCHEMY_DATABASE_URI": database_url, "REDIS_URL": None,
                      "INSTANCE_PATH": str(tmp_path_factory.mktemp("migrate-instance"))})
    with app.app_context():
        upgrade()
        from dsar.extensions import db

        db.engine.dispose()
    return database_url


def _empty_tables(url):
    from dsar.extensions import db

    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(sa.text(f'DELETE FROM "{t}"'))
    engine.dispose()


@pytest.fixture(scope="session")
def letter_ready_policy(tmp_path_factory):
    """Path of workflows/idomed.yaml with its contradictions resolved (dsar/demo_policy.py), as in the demo;
    tests of the blocking itself load the file as written."""
    from dsar.demo_policy import write_resolved_policy

    return str(write_resolved_policy(ROOT / "workflows" / "idomed.yaml",
                                     tmp_path_factory.mktemp("policy") / "idomed-resolved.yaml"))


@pytest.fixture(scope="session")
def policy_without_handover(letter_ready_policy, tmp_path_factory):
    """A controller's policy that destroys shared health content on the patient's request.

    IDOMED's keeps it in the professional's record until handed over at the end of their contract (policy
    art. 12, ``disposal: handover_to_professional``), so its erasures never touch sealed tables. This policy,
    the same file without that rule, is the case where the professional in charge must approve the part of an
    erasure that changes shared health content (policy art. 8.2).
    """
    text = Path(letter_ready_policy).read_text(encoding="utf-8")
    assert "disposal: handover_to_professional" in text
    path = tmp_path_factory.mktemp("policy") / "without-handover.yaml"
    path.write_text(text.replace("disposal: handover_to_professional", "disposal: destroy"), encoding="utf-8")
    return str(path)


@pytest.fixture
def make_app(_migrated, redis_url, queue_name, smtp_server, tmp_path, letter_ready_policy):
    """Build an app on the test database; overrides win. Emptied after the test."""
    from dsar import create_app

    from cryptography.fernet import Fernet

    _, smtp_port = smtp_server
    apps = []
    # The apps of one test share their secrets, as the web processes and workers of a deployment do: an email
    # sealed by one app (the live server) is sent by another (run_jobs), a link signed by one opens in another.
    shared_secrets = {"SECRET_KEY": secrets.token_urlsafe(32), "DSAR_FILE_KEYS": Fernet.generate_key().decode(),
                      "DSAR_HASH_KEY": secrets.token_urlsafe(32)}

    def factory(**overrides):
        config = {
            # A test that sets a secret in the environment (key rotation) keeps it.
            **{k: v for k, v in shared_secrets.items() if not os.environ.get(k)},
            "DSAR_ENV": "test",
            "INSTANCE_PATH": str(tmp_path / f"instance{len(apps)}"),
            "SQLALCHEMY_DATABASE_URI": _migrated,
            "REDIS_URL": redis_url,
            "RQ_QUEUE": queue_name,
            "MAIL_BACKEND": "smtp",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": smtp_port,
            "MAIL_DEFAULT_SENDER": "dsar@example.test",
            "DSAR_DPO_EMAIL": "dpo@example.test",
            "PUBLIC_BASE_URL": "http://localhost",
            "DSAR_FILES_DIR": str(tmp_path / "files"),
            "RATELIMIT_ENABLED": False,
            "WTF_CSRF_ENABLED": False,
            "SESSION_COOKIE_SECURE": False,
            "SERVER_NAME": None,
            # The receivers of the webhook and callback tests listen on loopback, refused by default.
            "DSAR_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
            "DSAR_POLICY": letter_ready_policy,
        }
        config.update(overrides)
        app = create_app(config)
        apps.append(app)
        return app

    if redis_url:
        _flush_redis(redis_url)
    yield factory
    for app in apps:
        from dsar.extensions import db

        with app.app_context():
            db.session.remove()
    for app in apps:
        with app.app_context():
            from dsar.extensions import db

            db.engine.dispose()
    _empty_tables(_migrated)
    if redis_url:
        _flush_redis(redis_url)


def _flush_redis(url):
    from redis import Redis

    Redis.from_url(url).flushdb()


@pytest.fixture
def app(make_app):
    app = make_app()
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def db(app):
    from dsar.extensions import db as _db

    return _db


@pytest.fixture
def policy(app):
    return app.extensions["dsar_policy"]


@pytest.fixture
def run_jobs(app):
    """Run what is queued: an RQ worker in burst mode on the real Redis, or nothing in-process (already run)."""

    def run(max_jobs: int | None = None) -> int:
        backend = app.extensions["dsar_jobs"]
        if backend.name != "rq":
            return 0
        from rq import SimpleWorker

        w = SimpleWorker([backend.queue()], connection=backend.redis)
        w.work(burst=True, max_jobs=max_jobs, with_scheduler=False)
        return w.successful_job_count + w.failed_job_count

    return run


@pytest.fixture
def private_redis():
    """A redis-server of our own (no persistence, like a restarted container), that a test stops and starts."""
    import shutil
    import subprocess

    exe = shutil.which("redis-server")
    assert exe, "redis-server is needed: apt-get install redis-server"
    port = free_port()

    def start():
        proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from redis import Redis

        for _ in range(200):
            try:
                Redis(port=port, socket_connect_timeout=0.2).ping()
                return proc
            except Exception:  # noqa: BLE001 - not listening yet
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    state = {"proc": start()}

    class Handle:
        url = f"redis://127.0.0.1:{port}/0"

        def stop(self):
            state["proc"].kill()   # abrupt, as a crash: what was queued is lost with it
            state["proc"].wait(5)

        def start(self):
            state["proc"] = start()

    yield Handle()
    if state["proc"].poll() is None:
        state["proc"].kill()
        state["proc"].wait(5)


@pytest.fixture
def artifacts():
    path = ARTIFACTS / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
