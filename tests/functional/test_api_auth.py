"""API keys: every scope enforced; a missing, wrong or revoked key refused; last use recorded; limits per key."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from api_support import account_request_body, bearer, make_key
from dsar.api import auth
from dsar.extensions import db
from dsar.models import ApiKey, DataRequest, utcnow
from dsar.security import generate_api_key
from factories import make_request
from statement_support import counting

# One call per operation; the scopes that may make it.
OPERATIONS = [
    ("POST", "/api/v1/requests", lambda ref: account_request_body(), {"submit", "staff"}),
    ("GET", "/api/v1/requests", None, {"read", "staff"}),
    ("GET", "/api/v1/requests/{ref}", None, {"read", "staff"}),
    ("POST", "/api/v1/requests/{ref}/actions", lambda ref: {"action": "clarify", "question": "Which account?"}, {"staff"}),
    ("POST", "/api/v1/directory/professionals",
     lambda ref: {"professionals": [{"external_id": "p-1", "first_name": "Ana", "last_name": "Roy", "email": "ana@example.test"}]},
     {"directory"}),
    ("POST", "/api/v1/directory/care-links",
     lambda ref: {"links": [{"professional_external_id": "p-1", "patient_ref": "pat-1", "patient_email": "pat@example.test"}]},
     {"directory"}),
]


def call(client, method, path, body, headers, ref):
    return client.open(path.format(ref=ref), method=method, json=body(ref) if body else None, headers=headers)


@pytest.mark.parametrize("scope", ["submit", "read", "staff", "directory"])
def test_each_scope_opens_its_operations_and_only_them(client, app, policy, mailbox, scope):
    _, secret = make_key(scope)
    req = make_request(policy=policy, status="open")
    db.session.commit()
    for method, path, body, allowed in OPERATIONS:
        res = call(client, method, path, body, bearer(secret), req.reference)
        if scope in allowed:
            assert res.status_code in (200, 201), (scope, method, path, res.get_json())
        else:
            assert res.status_code == 403, (scope, method, path, res.status_code)
            err = res.get_json()
            assert err["error"] == "insufficient_scope" and err["fields"] == {}
            assert 'error="insufficient_scope"' in res.headers["WWW-Authenticate"]


def test_a_refused_call_changes_nothing(client, app, policy):
    _, secret = make_key("read")
    res = client.post("/api/v1/requests", json=account_request_body(), headers=bearer(secret))
    assert res.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == 0


def test_scope_is_checked_before_the_body_is_read(client, app):
    _, secret = make_key("read")
    res = client.post("/api/v1/requests", json={"nonsense": True}, headers=bearer(secret))
    assert res.status_code == 403   # not 422: a key without the scope learns nothing about the body


@pytest.mark.parametrize("headers, code", [
    ({}, "missing_key"),
    ({"Authorization": "Bearer"}, "missing_key"),
    ({"Authorization": "Basic dXNlcjpwYXNz"}, "missing_key"),
    ({"Authorization": "Bearer not-a-key"}, "invalid_key"),
    ({"Authorization": "Bearer dsar_abcdefabcdef_forged-secret"}, "invalid_key"),
])
def test_a_missing_or_malformed_key_is_a_401(client, app, headers, code):
    for method, path, body, _ in OPERATIONS:
        res = call(client, method, path, body, headers, "DSAR-2026-000001")
        assert res.status_code == 401, (path, res.status_code)
        assert res.get_json()["error"] == code
        assert res.headers["WWW-Authenticate"].startswith('Bearer realm="dsar"')


def test_a_wrong_secret_behind_a_real_prefix_is_a_401(client, app):
    key, secret = make_key("read")
    forged = f"dsar_{key.prefix}_{generate_api_key().secret.rsplit('_', 1)[1]}"
    assert forged != secret
    res = client.get("/api/v1/requests", headers=bearer(forged))
    assert res.status_code == 401 and res.get_json()["error"] == "invalid_key"
    assert db.session.get(ApiKey, key.id).last_used_at is None


def test_a_revoked_key_is_refused(client, app):
    key, secret = make_key("read", "submit")
    assert client.get("/api/v1/requests", headers=bearer(secret)).status_code == 200
    key.revoked_at = utcnow()
    db.session.commit()
    for method, path, body, _ in OPERATIONS:
        res = call(client, method, path, body, bearer(secret), "DSAR-2026-000001")
        assert res.status_code == 401
        assert res.get_json()["error"] == "revoked_key"


def test_messages_follow_accept_language(client, app):
    fr = client.get("/api/v1/requests")
    en = client.get("/api/v1/requests", headers={"Accept-Language": "en"})
    assert fr.get_json()["message"].startswith("Une clé d’API est nécessaire")
    assert en.get_json()["message"].startswith("An API key is needed")


def test_last_use_is_recorded_at_most_once_a_minute(client, app):
    key, secret = make_key("read")
    assert key.last_used_at is None
    client.get("/api/v1/requests", headers=bearer(secret))
    db.session.expire_all()
    first = db.session.get(ApiKey, key.id).last_used_at
    assert first is not None and utcnow() - first < timedelta(seconds=30)
    client.get("/api/v1/requests", headers=bearer(secret))
    db.session.expire_all()
    assert db.session.get(ApiKey, key.id).last_used_at == first     # within the minute: not written again
    stale = utcnow() - timedelta(minutes=2)
    db.session.execute(sa.update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=stale))
    db.session.commit()
    auth.forget_keys()   # what the process knows of a key lasts KEY_CACHE_SECONDS: as if that much time had passed
    client.get("/api/v1/requests", headers=bearer(secret))
    db.session.expire_all()
    assert db.session.get(ApiKey, key.id).last_used_at > stale


def test_the_api_sets_no_cookie(client, app, mailbox):
    _, secret = make_key("submit", "read")
    responses = [
        client.get("/api/v1/requests?lang=en", headers=bearer(secret)),
        client.post("/api/v1/requests", json=account_request_body(), headers=bearer(secret)),
        client.get("/api/v1/requests"),
        client.get("/api/v1/openapi.json"),
    ]
    for res in responses:
        assert "Set-Cookie" not in res.headers
    assert responses[1].status_code == 201   # no CSRF token needed: the API is not cookie-authenticated


def test_the_key_created_on_the_command_line_works(app, runner, client):
    result = runner.invoke(args=["create-api-key", "--name", "IDOMED application", "--scope", "submit", "--scope", "read"])
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert secret.startswith("dsar_")
    key = db.session.scalar(sa.select(ApiKey).where(ApiKey.name == "IDOMED application"))
    assert secret not in (key.key_hash, key.prefix)      # stored hashed
    assert client.get("/api/v1/requests", headers=bearer(secret)).status_code == 200


def test_calls_are_limited_per_key(make_app):
    app = make_app(RATELIMIT_ENABLED=True, DSAR_API_RATE_LIMIT="3 per minute", DSAR_API_AUTH_FAILURE_LIMIT="100 per minute")
    with app.app_context():
        client = app.test_client()
        _, busy = make_key("read", name="busy")
        _, calm = make_key("read", name="calm")
        codes = [client.get("/api/v1/requests", headers=bearer(busy)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = client.get("/api/v1/requests", headers=bearer(busy, **{"Accept-Language": "en"}))
        assert limited.status_code == 429 and limited.get_json()["error"] == "too_many_requests"
        assert limited.get_json()["message"].startswith("Too many requests for this API key")
        assert client.get("/api/v1/requests", headers=bearer(calm)).status_code == 200   # another key: its own budget


def test_failed_authentications_are_limited_per_address(make_app):
    app = make_app(RATELIMIT_ENABLED=True, DSAR_API_RATE_LIMIT="100 per minute", DSAR_API_AUTH_FAILURE_LIMIT="3 per minute")
    with app.app_context():
        client = app.test_client()
        codes = [client.get("/api/v1/requests", headers=bearer(f"dsar_abcdefabcdef_guess{i}")).status_code
                 for i in range(5)]
        assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429]


def test_the_failure_limit_never_locks_out_a_valid_key_from_the_same_address(make_app):
    """Issue 12 item 3: 30 wrong keys from one address made every call from it a 429, the real key's included."""
    app = make_app(RATELIMIT_ENABLED=True, DSAR_API_RATE_LIMIT="100 per minute", DSAR_API_AUTH_FAILURE_LIMIT="3 per minute")
    with app.app_context():
        client = app.test_client()
        _, good = make_key("read", name="the application")
        codes = [client.get("/api/v1/requests", headers=bearer(f"dsar_abcdefabcdef_guess{i}")).status_code
                 for i in range(5)]
        assert codes == [401, 401, 401, 429, 429]
        for _ in range(3):
            assert client.get("/api/v1/requests", headers=bearer(good)).status_code == 200
        # The failures stay slowed, and the answer says why, not "for this API key".
        slowed = client.get("/api/v1/requests", headers=bearer("dsar_abcdefabcdef_guess9", **{"Accept-Language": "en"}))
        assert slowed.status_code == 429 and "Retry-After" in slowed.headers
        assert slowed.get_json()["error"] == "too_many_failed_authentications"
        assert "failed authentications from this address" in slowed.get_json()["message"]
        french = client.get("/api/v1/requests", headers=bearer("dsar_abcdefabcdef_guess9"))
        assert french.status_code == 429 and french.get_json()["message"].startswith("Trop de tentatives")


def test_a_key_revoked_elsewhere_is_refused_within_a_minute(client, app, monkeypatch):
    """The process remembers a key for KEY_CACHE_SECONDS (issue 19): one SELECT less per call; a revocation
    written by another process (another worker, the CLI) takes effect within that time, and in this process
    (the ORM attribute set) at once."""
    assert auth.KEY_CACHE_SECONDS <= 60
    key, secret = make_key("read")
    now = [1000.0]
    monkeypatch.setattr(auth, "_clock", lambda: now[0])
    assert client.get("/api/v1/requests", headers=bearer(secret)).status_code == 200
    # Revoked by another process: a plain UPDATE, nothing this process's session sees.
    db.session.execute(sa.update(ApiKey).where(ApiKey.id == key.id).values(revoked_at=utcnow()))
    db.session.commit()
    now[0] += auth.KEY_CACHE_SECONDS + 0.1
    res = client.get("/api/v1/requests", headers=bearer(secret))
    assert res.status_code == 401 and res.get_json()["error"] == "revoked_key"


def test_a_known_key_is_not_read_again_within_the_cache_time(client, app):
    _, secret = make_key("read")
    client.get("/api/v1/requests", headers=bearer(secret))
    with counting() as statements:
        assert client.get("/api/v1/requests", headers=bearer(secret)).status_code == 200
    assert not [s for s in statements if "FROM api_keys" in s], statements
