"""GET /health, security headers, error pages, the dev-only mail page."""
import socket


def test_health_reports_database_and_queue(client, app):
    res = client.get("/health")
    assert res.status_code == 200
    body = res.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["queue"]["backend"] == app.extensions["dsar_jobs"].name


def test_health_is_503_when_the_queue_is_down(make_app):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = make_app(REDIS_URL=f"redis://127.0.0.1:{port}/0")
    res = app.test_client().get("/health")
    assert res.status_code == 503
    assert res.get_json()["checks"]["queue"]["ok"] is False


def test_health_is_503_when_the_database_is_down(make_app, tmp_path):
    app = make_app(SQLALCHEMY_DATABASE_URI="postgresql://nobody@127.0.0.1:1/none")
    res = app.test_client().get("/health")
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
