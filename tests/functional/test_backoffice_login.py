"""Signing in over HTTP: TOTP enrolment and codes, slowing, idle expiry, sessions ended by logout, a reset or a disable."""
from __future__ import annotations

import re
import time

import pyotp
import sqlalchemy as sa
import time_machine

from backoffice_support import sign_in, staff_with_totp, totp_code
from dsar.extensions import db
from dsar.models import Event, LoginThrottle, Staff
from factories import PASSWORD, make_staff


def test_a_dpo_enrols_totp_at_first_sign_in_then_needs_the_code(app):
    staff = make_staff("dpo", email="dpo@example.test")
    db.session.commit()
    client = app.test_client()
    r = client.post("/backoffice/login", data={"email": "DPO@example.test ", "password": PASSWORD})
    assert r.headers["Location"].endswith("/backoffice/login/enrol")
    page = client.get("/backoffice/login/enrol").get_data(as_text=True)
    assert "<svg" in page and "<img" not in page  # the QR code is inline SVG
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)
    r = client.post("/backoffice/login/enrol", data={"code": "000000"})
    assert r.status_code == 422 and 'aria-describedby="code-error"' in r.get_data(as_text=True)
    # The failure above slows the next attempt by a second: the clock moves on (and stays on) instead of sleeping.
    with time_machine.travel(time.time() + 1.1, tick=True):
        r = client.post("/backoffice/login/enrol", data={"code": pyotp.TOTP(secret).now()})
        assert r.status_code == 302 and r.headers["Location"].endswith("/backoffice/")
        assert client.get("/backoffice/").status_code == 200
        db.session.expire_all()
        assert db.session.get(Staff, staff.id).totp_confirmed_at is not None
        # Next time: password, then the code (the enrolment code cannot be replayed).
        other = app.test_client()
        r = other.post("/backoffice/login", data={"email": staff.email, "password": PASSWORD})
        assert r.headers["Location"].endswith("/backoffice/login/code")
        assert other.get("/backoffice/").status_code == 302  # not signed in before the code
        r = other.post("/backoffice/login/code", data={"code": totp_code(secret, offset_steps=1)})
        assert r.headers["Location"].endswith("/backoffice/")


def test_wrong_password_and_unknown_email_read_the_same_and_are_in_french(app):
    make_staff("agent", email="agent@example.test")
    db.session.commit()
    client = app.test_client()
    a = client.post("/backoffice/login", data={"email": "agent@example.test", "password": "nope"})
    b = client.post("/backoffice/login", data={"email": "ghost@example.test", "password": "nope"})
    assert a.status_code == b.status_code == 401
    msg = "Adresse e-mail, mot de passe ou code incorrect."
    assert msg in a.get_data(as_text=True) and msg in b.get_data(as_text=True)


def test_wrong_passwords_slow_their_sender_and_the_owner_signs_in_from_elsewhere(app):
    """Issue 12 item 5: five wrong passwords from anywhere used to lock the DPO out for 15 minutes."""
    staff = make_staff("agent")
    db.session.commit()
    attacker = app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "198.51.100.66"
    for _ in range(6):
        attacker.post("/backoffice/login", data={"email": staff.email, "password": "wrong"})
        db.session.execute(sa.update(LoginThrottle).values(locked_until=None))   # skip the seconds of slowing
        db.session.commit()
    r = attacker.post("/backoffice/login", data={"email": staff.email, "password": "wrong"})
    assert r.status_code == 401
    r = attacker.post("/backoffice/login", data={"email": staff.email, "password": PASSWORD})
    assert r.status_code == 429 and "Patientez un instant" in r.get_data(as_text=True)    # slowed, here only
    owner = app.test_client()
    owner.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    r = owner.post("/backoffice/login", data={"email": staff.email, "password": PASSWORD})
    assert r.status_code == 302 and r.headers["Location"].endswith("/backoffice/")
    actions = [e.action for e in db.session.query(Event).filter_by(stream=f"staff:{staff.id}").order_by(Event.seq)]
    assert actions == ["login_failed"] * 7 + ["login"]


def test_idle_sessions_expire(app):
    staff, _ = staff_with_totp("agent")
    db.session.commit()
    client = app.test_client()
    sign_in(client, staff)
    with client.session_transaction() as s:
        s["bo_seen"] = time.time() - app.config["PERMANENT_SESSION_LIFETIME"] - 5
    r = client.get("/backoffice/")
    assert r.status_code == 302 and "/backoffice/login" in r.headers["Location"]
    assert client.get("/backoffice/").status_code == 302  # signed out for good


def test_a_reset_by_an_admin_ends_the_session_and_mails_a_single_use_link(app, mailbox, run_jobs):
    admin, admin_secret = staff_with_totp("admin")
    dpo, _ = staff_with_totp("dpo", email="reset-me@example.test")
    db.session.commit()
    victim = app.test_client()
    sign_in(victim, dpo, _)
    admin_client = app.test_client()
    sign_in(admin_client, admin, admin_secret)
    assert admin_client.post(f"/backoffice/admin/staff/{dpo.id}/reset").status_code == 302
    run_jobs()
    assert victim.get("/backoffice/").status_code == 302  # the session epoch moved
    msg = mailbox.wait_for(1)[0]
    assert msg["To"] == "reset-me@example.test"
    link = re.search(r"http://localhost(/backoffice/password/\S+)", mailbox.text(msg)).group(1)
    r = victim.post(link, data={"password": "a new long passphrase", "confirm": "a new long passphrase"})
    assert r.status_code == 302
    assert victim.post(link, data={"password": "another passphrase!!", "confirm": "another passphrase!!"}).status_code == 400
    # The new password, then a new TOTP enrolment (the old secret was cleared).
    r = victim.post("/backoffice/login", data={"email": dpo.email, "password": "a new long passphrase"})
    assert r.headers["Location"].endswith("/backoffice/login/enrol")


def test_a_session_cookie_copied_before_logout_no_longer_works_after_it(app):
    """Issue 12 item 4: sign-out ends the session on the server, not only in the browser that signed out."""
    staff, _ = staff_with_totp("agent")
    db.session.commit()
    client = app.test_client()
    sign_in(client, staff)
    name = app.config["SESSION_COOKIE_NAME"]
    copied = client.get_cookie(name, domain="localhost").value
    thief = app.test_client()
    thief.set_cookie(name, copied, domain="localhost")
    assert thief.get("/backoffice/").status_code == 200          # the copy works while the session lives
    assert client.post("/backoffice/logout").status_code == 302
    r = thief.get("/backoffice/")
    assert r.status_code == 302 and "/backoffice/login" in r.headers["Location"]
    assert thief.post("/backoffice/logout").status_code == 302     # nothing to end any more
    actions = [e.action for e in db.session.query(Event).filter_by(stream=f"staff:{staff.id}").order_by(Event.seq)]
    assert actions[-1] == "logout" and actions.count("logout") == 1
    sign_in(client, staff)                                          # the owner signs in again as usual
    assert client.get("/backoffice/").status_code == 200


def test_a_disabled_account_loses_its_session(app):
    admin, secret = staff_with_totp("admin")
    agent, _ = staff_with_totp("agent")
    db.session.commit()
    agent_client, admin_client = app.test_client(), app.test_client()
    sign_in(agent_client, agent)
    sign_in(admin_client, admin, secret)
    assert admin_client.post(f"/backoffice/admin/staff/{agent.id}/disable").status_code == 302
    assert agent_client.get("/backoffice/").status_code == 302
    r = agent_client.post("/backoffice/login", data={"email": agent.email, "password": PASSWORD})
    assert r.status_code == 401


def test_english_is_available(app):
    client = app.test_client()
    page = client.get("/backoffice/login?lang=en").get_data(as_text=True)
    assert "Sign in to the back-office" in page
    page = client.get("/backoffice/login?lang=fr").get_data(as_text=True)
    assert "Connexion" in page
