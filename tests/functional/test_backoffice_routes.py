"""Every back-office route, with every role and anonymously: who gets in, who gets 403, who is sent to sign in.

The table below is the specification (issue 5): admin everything; DPO every request action,
register and statistics; agent request actions (reopen excepted, by the lifecycle) but no
accounts, register or statistics; auditor read-only. A route missing from the table fails
the test, so a new route cannot be added without deciding who may use it.
"""
from __future__ import annotations

import pytest

from backoffice_support import ROLES, add_identity_document, signed_in_client, staff_with_totp
from dsar.extensions import db
from dsar.models.enums import Status
from dsar.services import auth as auth_service
from dsar.services.staff import create_api_key
from factories import make_request

ALL = set(ROLES)
WRITERS = {"admin", "dpo", "agent"}
READERS_OF_FIGURES = {"admin", "dpo", "auditor"}

# endpoint -> roles allowed; None = open to anyone (the sign-in pages themselves).
PROTECTED = {
    "queue_GET": ALL,
    "search_POST": ALL,
    "queue_assign_POST": WRITERS,
    "request_GET": ALL,
    "document_GET": ALL,
    "action_POST": WRITERS,
    "intake_GET": WRITERS,
    "intake_POST": WRITERS,
    "register_GET": READERS_OF_FIGURES,
    "register_csv_GET": READERS_OF_FIGURES,
    "stats_GET": READERS_OF_FIGURES,
    "admin_GET": {"admin"},
    "admin_staff_create_POST": {"admin"},
    "admin_staff_reset_POST": {"admin"},
    "admin_staff_disable_POST": {"admin"},
    "admin_staff_enable_POST": {"admin"},
    "admin_staff_unlock_POST": {"admin"},
    "admin_key_create_POST": {"admin"},
    "admin_key_revoke_POST": {"admin"},
}
OPEN = {"login_GET", "login_POST", "login_code_GET", "login_code_POST", "login_enrol_GET", "login_enrol_POST",
        "login_password_GET", "login_password_POST", "reset_password_GET", "reset_password_POST", "logout_POST"}


@pytest.fixture
def world(app, policy):
    req = make_request(policy=policy, status=Status.IDENTITY_REVIEW, clock_started_on=None)
    req.due_date = None
    doc = add_identity_document(req, policy)
    target, _ = staff_with_totp("agent", email="target@example.test")
    key, _secret = create_api_key(name="app", scopes=["read"], created_by="test")
    db.session.commit()
    return {"reference": req.reference, "document_id": doc.id, "staff_id": target.id, "key_id": key.id,
            "form": "note", "token": auth_service.password_reset_token(target)}


def _backoffice_rules(app):
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("backoffice."):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out.append((rule, method))
    return out


def _url(rule, world):
    from flask import url_for

    # Ids this test does not create (other areas' rows) get an id that does not exist: a 404 after the role check.
    return url_for(rule.endpoint, **{arg: world.get(arg, 999999) for arg in rule.arguments})


def _allowed_roles(app, rule) -> set[str] | None:
    """Who may use a route: the table for this area's routes, the route's own staff_required for the others."""
    name = rule.endpoint.split(".", 1)[1]
    if name in OPEN:
        return None
    if name in PROTECTED:
        return PROTECTED[name]
    return {str(r) for r in app.view_functions[rule.endpoint].staff_roles}


def test_every_route_is_in_the_table_or_guarded_by_staff_required(app):
    endpoints = {rule.endpoint.split(".", 1)[1] for rule, _ in _backoffice_rules(app)}
    assert set(PROTECTED) | OPEN <= endpoints
    unguarded = [e for e in endpoints - OPEN - set(PROTECTED)
                 if not hasattr(app.view_functions[f"backoffice.{e}"], "staff_roles")]
    assert unguarded == []
    # The table and the code agree on this area's routes.
    for name, roles in PROTECTED.items():
        assert {str(r) for r in app.view_functions[f"backoffice.{name}"].staff_roles} >= roles


def _call(client, method, url):
    # POST bodies that pass the permission check but fail validation or do something harmless and repeatable.
    return client.open(url, method=method, data={} if method == "POST" else None)


@pytest.mark.parametrize("role", ["anonymous", *ROLES])
def test_role_matrix(app, world, role):
    if role == "anonymous":
        client = app.test_client()
    else:
        client, _ = signed_in_client(app, role)
    checked = 0
    with app.test_request_context():
        calls = [(rule, method, _url(rule, world)) for rule, method in _backoffice_rules(app)]
    for rule, method, url in calls:
        name = rule.endpoint.split(".", 1)[1]
        allowed = _allowed_roles(app, rule)
        if allowed is None:
            continue
        if name == "admin_staff_disable_POST":
            continue  # checked last: it would end the target's sessions, not the caller's, but keep the order plain
        r = _call(client, method, url)
        where = f"{role} {method} {url} -> {r.status_code}"
        assert r.status_code < 500, where
        if role == "anonymous":
            if method == "GET":
                assert r.status_code == 302 and "/backoffice/login" in r.headers["Location"], where
            else:
                assert r.status_code == 401, where
        elif role in allowed:
            if name in PROTECTED:
                assert r.status_code in (200, 302, 400, 409, 422), where
                if method == "GET":
                    assert r.status_code == 200, where
            else:
                assert r.status_code not in (401, 403), where
        else:
            assert r.status_code == 403, where
        checked += 1
    r = _call(client, "POST", f"/backoffice/admin/staff/{world['staff_id']}/disable")
    expected = 302 if role == "admin" else (401 if role == "anonymous" else 403)
    assert r.status_code == expected
    assert checked >= len(PROTECTED) - 1


def test_open_sign_in_pages_answer_without_a_session(app, world):
    client = app.test_client()
    assert client.get("/backoffice/login").status_code == 200
    # Steps after the password need a sign-in in progress: without one, back to the start.
    for path in ("/backoffice/login/code", "/backoffice/login/enrol", "/backoffice/login/password"):
        r = client.get(path)
        assert r.status_code == 302 and r.headers["Location"].endswith("/backoffice/login"), path
        r = client.post(path, data={"code": "123456"})
        assert r.status_code == 302 and r.headers["Location"].endswith("/backoffice/login"), path
    assert client.get(f"/backoffice/password/{world['token']}").status_code == 200
    assert client.get("/backoffice/password/forged-token").status_code == 400
    r = client.post("/backoffice/password/forged-token", data={"password": "x" * 20, "confirm": "x" * 20})
    assert r.status_code == 400
    assert client.post("/backoffice/logout").status_code == 302


def test_auditor_sees_no_action_form_and_cannot_post_one(app, world):
    client, _ = signed_in_client(app, "auditor")
    page = client.get(f"/backoffice/requests/{world['reference']}").get_data(as_text=True)
    assert 'class="action-form"' not in page
    r = client.post(f"/backoffice/requests/{world['reference']}/actions/verify_identity", data={"version": "1"})
    assert r.status_code == 403
