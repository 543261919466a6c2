"""Behind a reverse proxy (issue 14, item 4): DSAR_TRUSTED_PROXIES makes each forwarded client its own visitor.

Every call below reaches the app from the proxy's address (REMOTE_ADDR 10.0.0.1), as gunicorn sees it behind nginx.
"""
import sqlalchemy as sa

from api_support import account_request_body, bearer, make_key
from dsar.extensions import db
from dsar.models import Event

PROXY = "10.0.0.1"
ALICE, BOB = "203.0.113.5", "198.51.100.7"


def _call(client, method, url, forwarded_for=None, **kw):
    headers = kw.pop("headers", {})
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    return client.open(url, method=method, headers=headers, environ_base={"REMOTE_ADDR": PROXY}, **kw)


def _failures(client, forwarded_for, n):
    return [_call(client, "GET", "/api/v1/requests", forwarded_for,
                  headers=bearer(f"dsar_abcdefabcdef_guess{i}")).status_code for i in range(n)]


def test_two_forwarded_clients_have_their_own_limits_and_addresses_in_the_audit_trail(make_app):
    app = make_app(RATELIMIT_ENABLED=True, DSAR_TRUSTED_PROXIES=1, DSAR_API_AUTH_FAILURE_LIMIT="3 per minute")
    with app.app_context():
        client = app.test_client()
        _, secret = make_key("submit")
        for who, account in ((ALICE, "acct-a"), (BOB, "acct-b")):
            body = account_request_body(external_account_id=account)
            body["subject"]["email"] = f"{account}@example.test"
            assert _call(client, "POST", "/api/v1/requests", who, headers=bearer(secret), json=body).status_code == 201
        ips = set(db.session.scalars(sa.select(Event.ip).where(Event.ip.is_not(None))))
        assert ips == {ALICE, BOB}

        assert _failures(client, ALICE, 4) == [401, 401, 401, 429]
        assert _failures(client, BOB, 1) == [401]                 # Alice's budget is not Bob's


def test_a_client_cannot_choose_its_address_by_forging_x_forwarded_for(make_app):
    """With one trusted proxy only the address that proxy appended counts, not what the client prepended."""
    app = make_app(RATELIMIT_ENABLED=True, DSAR_TRUSTED_PROXIES=1, DSAR_API_AUTH_FAILURE_LIMIT="3 per minute")
    with app.app_context():
        client = app.test_client()
        codes = [_call(client, "GET", "/api/v1/requests", f"192.0.2.{i}, {ALICE}",
                       headers=bearer(f"dsar_abcdefabcdef_forged{i}")).status_code for i in range(4)]
        assert codes == [401, 401, 401, 429]


def test_without_the_setting_forwarded_headers_are_ignored(make_app):
    """The default (0) is right without a proxy; behind one, every visitor would share the proxy's limit."""
    app = make_app(RATELIMIT_ENABLED=True, DSAR_API_AUTH_FAILURE_LIMIT="3 per minute")
    with app.app_context():
        client = app.test_client()
        assert _failures(client, ALICE, 3) == [401, 401, 401]
        assert _failures(client, BOB, 1) == [429]
