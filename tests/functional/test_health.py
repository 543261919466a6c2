"""GET /health, security headers, error pages, the dev-only mail page."""
import socket

import pytest


from health_support import alive as _alive

TOKEN = "health-token-for-tests"
DETAILS = {"Authorization": f"Bearer {TOKEN}"}


def test_health_reports_every_check_to_monitoring(make_app):
    app = make_app(DSAR_HEALTH_TOKEN=TOKEN)
    _alive(app)
    res = app.test_client().get("/health", headers=DETAILS)
    assert res.status_code == 200, res.get_json()
    body = res.get_json()
    assert body["status"] == "ok"
    checks = body["checks"]
    assert checks["database"]["ok"] is True
    assert checks["queue"]["backend"] == app.extensions["dsar_jobs"].name
    assert checks["outbox"] == {"ok": True, "unsent": 0, "oldest_unsent_age_s": 0.0, "max_age_s": 1800}
    if app.extensions["dsar_jobs"].name == "rq":
        assert checks["workers"]["ok"] is True and checks["workers"]["count"] == 1
        assert checks["scheduler"]["ok"] is True and checks["scheduler"]["last_run_age_s"] < 60


def test_the_public_sees_only_the_status(make_app):
    app = make_app(DSAR_HEALTH_TOKEN=TOKEN)
    _alive(app)
    client = app.test_client()
    assert client.get("/health").get_json() == {"status": "ok"}
    assert client.get("/health", headers={"Authorization": "Bearer wrong"}).get_json() == {"status": "ok"}
    assert "checks" not in make_app().test_client().get("/health").get_json()      # no token set: never details


def test_an_old_outbox_backlog_is_503(make_app, db):
    """A message unsent for longer than DSAR_HEALTH_OUTBOX_MAX_AGE means delivery is stuck (issue 14, item 6)."""
    from datetime import timedelta

    from dsar.models import OutboxMessage, utcnow

    app = make_app(DSAR_HEALTH_TOKEN=TOKEN, DSAR_HEALTH_OUTBOX_MAX_AGE=600)
    _alive(app)
    with app.app_context():
        db.session.add(OutboxMessage(kind="email", template="notice", recipient="x@example.test", subject="s",
                                     body_text="b", message_id="<stuck@example.test>",
                                     created_at=utcnow() - timedelta(minutes=11)))
        db.session.commit()
    res = app.test_client().get("/health", headers=DETAILS)
    assert res.status_code == 503
    outbox = res.get_json()["checks"]["outbox"]
    assert outbox["ok"] is False and outbox["unsent"] == 1 and 655 < outbox["oldest_unsent_age_s"] < 700
    assert app.test_client().get("/health").get_json() == {"status": "unavailable"}


@pytest.mark.redis
def test_health_is_503_without_a_worker_heartbeat(make_app):
    app = make_app(DSAR_HEALTH_TOKEN=TOKEN)
    client = app.test_client()
    _alive(app, worker_age=0, scheduler=True)
    assert client.get("/health").status_code == 200
    from rq import Worker

    for w in Worker.all(queue=app.extensions["dsar_jobs"].queue()):
        w.register_death()
    res = client.get("/health", headers=DETAILS)
    assert res.status_code == 503
    assert res.get_json()["checks"]["workers"] == {"ok": False, "count": 0, "heartbeat_age_s": None, "max_age_s": 120}
    _alive(app, worker_age=300, scheduler=False)                # registered, but silent for 5 minutes
    res = client.get("/health", headers=DETAILS)
    assert res.status_code == 503 and res.get_json()["checks"]["workers"]["heartbeat_age_s"] >= 300


@pytest.mark.redis
def test_health_is_503_without_a_scheduler(make_app):
    app = make_app(DSAR_HEALTH_TOKEN=TOKEN)
    _alive(app, scheduler=False)
    res = app.test_client().get("/health", headers=DETAILS)
    assert res.status_code == 503
    assert res.get_json()["checks"]["scheduler"]["ok"] is False


def test_health_is_503_when_the_queue_is_down(make_app):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = make_app(REDIS_URL=f"redis://127.0.0.1:{port}/0", DSAR_HEALTH_TOKEN=TOKEN)
    res = app.test_client().get("/health", headers=DETAILS)
    assert res.status_code == 503
    assert res.get_json()["checks"]["queue"]["ok"] is False


def test_health_is_503_when_the_database_is_down(make_app, tmp_path):
    app = make_app(SQLALCHEMY_DATABASE_URI="postgresql://nobody@127.0.0.1:1/none", DSAR_HEALTH_TOKEN=TOKEN)
    _alive(app)
    res = app.test_client().get("/health", headers=DETAILS)
    assert res.status_code == 503
    assert res.get_json()["checks"]["database"]["ok"] is False


def test_pages_carry_security_headers(client):
    res = client.get("/")
    assert res.status_code == 200
    h = res.headers
    assert "script-src 'self'" in h["Content-Security-Policy"] and "unsafe-inline" not in h["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    assert h["X-Frame-Options"] == "DENY"
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "no-referrer"
    assert h["Cache-Control"] == "no-store"


def test_home_page_is_french_by_default_and_english_on_request(client):
    fr = client.get("/").get_data(as_text=True)
    assert 'lang="fr"' in fr
    en = client.get("/?lang=en").get_data(as_text=True)
    assert 'lang="en"' in en
    assert "Exercise your rights" in en


def test_an_unknown_page_is_a_clear_404_without_a_stack_trace(client):
    res = client.get("/no/such/page")
    assert res.status_code == 404
    text = res.get_data(as_text=True)
    assert "Traceback" not in text


def test_the_dev_mail_page_exists_only_with_file_mail_outside_production(make_app, tmp_path):
    dev = make_app(MAIL_BACKEND="file", DSAR_MAIL_DIR=str(tmp_path / "mail"))
    assert dev.test_client().get("/dev/mail").status_code == 200
    smtp = make_app()
    assert smtp.test_client().get("/dev/mail").status_code == 404


def test_a_database_outage_is_a_503_that_says_nothing_was_saved(make_app):
    app = make_app(SQLALCHEMY_DATABASE_URI="postgresql://nobody@127.0.0.1:1/none")
    res = app.test_client().get("/api/v1/requests", headers={"Authorization": "Bearer dsar_0123456789ab_" + "x" * 43})
    assert res.status_code == 503
    assert res.headers["Retry-After"] == "5"
    body = res.get_json()
    assert body["error"] == "unavailable" and "Rien n'a été enregistré" in body["message"]


def test_a_connection_lost_after_the_commit_does_not_turn_the_answer_into_a_500(make_app, monkeypatch):
    """Issue 14, item 8: the database restarted between the commit and the end of the request. The work was saved;
    closing the dead session must not make the answer a 500 (it did: the error came after the 503 handler)."""
    import sqlalchemy as sa
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    from api_support import account_request_body, bearer, make_key
    from dsar.extensions import db
    from dsar.models import DataRequest

    app = make_app()
    with app.app_context():
        _, secret = make_key("submit")
    real_close = Session.close

    def close_on_a_dead_connection(self):
        real_close(self)
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(Session, "close", close_on_a_dead_connection)
    res = app.test_client().post("/api/v1/requests", json=account_request_body(), headers=bearer(secret))
    monkeypatch.setattr(Session, "close", real_close)
    assert res.status_code == 201, res.get_data(as_text=True)[:300]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == 1
