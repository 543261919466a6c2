"""Protections of the public pages: CSRF on every form, rate limits per client, security headers, session cookies."""
import io
import re

import pytest
import sqlalchemy as sa

from dsar.extensions import db
from dsar.models import DataRequest, Document, Event
from dsar.services import intake
from hostile_files import valid_jpeg
from public_support import FORM, Page, csrf_token, web_request


@pytest.fixture
def csrf_app(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        yield app


def test_every_public_form_refuses_a_post_without_its_csrf_token(csrf_app):
    client = csrf_app.test_client()
    unconfirmed, _ = web_request(confirm=False, email="other@example.test")
    req, token = web_request()
    confirm = intake.confirmation_token(unconfirmed)
    events = db.session.scalar(sa.select(sa.func.count(Event.id)))
    posts = [
        ("/request/new", FORM),
        ("/links", {"email": "jeanne@example.test"}),
        (f"/confirm/{confirm}", {}),
        (f"/status/{token}/withdraw", {"confirm": "1"}),
        (f"/status/{token}/clarification", {"answer": "x"}),
        (f"/status/{token}/document", {"document": (io.BytesIO(valid_jpeg()), "cni.jpg")}),
    ]
    for path, data in posts:
        res = client.post(path, data=data, headers={"Accept-Language": "fr"})
        assert res.status_code == 400, path
        assert "Votre formulaire a expiré ou n'a pas été envoyé depuis ce site" in res.get_data(as_text=True).replace("&#39;", "'")
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(DataRequest.id))) == 2
    assert db.session.scalar(sa.select(sa.func.count(Document.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(Event.id))) == events
    assert db.session.get(DataRequest, unconfirmed.id).status == "unconfirmed"


def test_the_forms_work_over_https_with_no_referrer_sent(csrf_app):
    # Pages say "Referrer-Policy: no-referrer", so a browser posts a form without a Referer header:
    # the CSRF token must be enough (Flask-WTF's HTTPS referrer check is off for this reason).
    client = csrf_app.test_client()
    page = client.get("/request/new", base_url="https://dsar.example").get_data(as_text=True)
    res = client.post("/request/new", data={**FORM, "csrf_token": csrf_token(page)}, base_url="https://dsar.example")
    assert res.status_code == 303
    assert db.session.scalar(sa.select(sa.func.count(DataRequest.id))) == 1


@pytest.fixture
def limited_app(make_app, redis_url):
    # Redis in the PostgreSQL pass (limits shared by every worker process), memory otherwise.
    app = make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI=redis_url or "memory://",
                   DSAR_RATE_LIMIT_SUBMIT="2 per hour", DSAR_RATE_LIMIT_UPLOAD="2 per hour",
                   DSAR_RATE_LIMIT_TOKEN_PAGE="3 per minute", DSAR_RATE_LIMIT_RESEND="1 per hour")
    with app.app_context():
        yield app


def test_submissions_are_limited_per_client(limited_app):
    client = limited_app.test_client()
    one = {"REMOTE_ADDR": "198.51.100.1"}
    assert client.post("/request/new", data=FORM, environ_overrides=one).status_code == 303
    assert client.post("/request/new", data=FORM, environ_overrides=one).status_code == 303
    res = client.post("/request/new", data=FORM, environ_overrides=one, headers={"Accept-Language": "fr"})
    assert res.status_code == 429
    assert "Trop de tentatives" in res.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(DataRequest.id))) == 2
    # Another client is not affected; reading the form is not limited.
    assert client.post("/request/new", data=FORM, environ_overrides={"REMOTE_ADDR": "198.51.100.2"}).status_code == 303
    assert client.get("/request/new", environ_overrides=one).status_code == 200


def test_uploads_token_pages_and_lost_links_are_limited_per_client(limited_app):
    client = limited_app.test_client()
    req, token = web_request()
    ip = {"REMOTE_ADDR": "198.51.100.3"}
    for _ in range(2):
        res = client.post(f"/status/{token}/document", data={"document": (io.BytesIO(b""), "x.pdf")},
                          content_type="multipart/form-data", environ_overrides=ip)
        assert res.status_code == 422
    res = client.post(f"/status/{token}/document", data={"document": (io.BytesIO(valid_jpeg()), "cni.jpg")},
                      content_type="multipart/form-data", environ_overrides=ip)
    assert res.status_code == 429 and db.session.scalar(sa.select(sa.func.count(Document.id))) == 0
    statuses = [client.get(f"/status/{token}x{i}", environ_overrides=ip).status_code for i in range(4)]
    assert statuses == [400, 400, 400, 429]             # guessing links is slowed down
    assert client.post("/links", data={"email": "a@example.test"}, environ_overrides=ip).status_code == 200
    assert client.post("/links", data={"email": "b@example.test"}, environ_overrides=ip).status_code == 429


def test_public_pages_carry_the_security_headers(client):
    req, token = web_request()
    for path in ("/", "/request/new", f"/status/{token}", f"/status/{token}x", "/links"):
        h = client.get(path).headers
        csp = h["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "frame-ancestors 'none'" in csp
        assert h["X-Frame-Options"] == "DENY" and h["X-Content-Type-Options"] == "nosniff"
        assert h["Referrer-Policy"] == "no-referrer" and h["Cache-Control"] == "no-store", path


def test_no_public_page_has_inline_script_or_style(client):
    req, token = web_request()
    client.post("/request/new", data={"type": "access"})
    pages = ["/", "/request/new", f"/status/{token}", "/links", f"/confirm/{intake.confirmation_token(req)}x"]
    for path in pages:
        html = client.get(path).get_data(as_text=True)
        page = Page(html)
        assert all("src" in s for s in page.scripts), path
        assert page.inline_styles == 0 and page.event_handlers == 0, path
        assert not re.search(r"javascript:", html, re.I), path


def test_the_session_cookie_is_secure_http_only_and_same_site(make_app):
    app = make_app(SESSION_COOKIE_SECURE=True)
    client = app.test_client()
    res = client.get("/request/new?lang=en", base_url="https://dsar.example")
    cookie = next(v for k, v in res.headers.items() if k == "Set-Cookie" and v.startswith("dsar_session="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
