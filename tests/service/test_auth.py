"""Sign-in rules: wrong passwords slow the email and address that sent them and never lock (issue 12 item 5),
the same answers for unknown emails, wrong TOTP codes slow then lock the account, TOTP codes accepted once,
reset links used once, sessions ended by idle time."""
from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest

from backoffice_support import staff_with_totp
from dsar.errors import InvalidInput
from dsar.extensions import db
from dsar.models import LoginThrottle, utcnow
from dsar.services import auth
from dsar.tokens import TokenError
from factories import PASSWORD, make_staff


def _fail(email, now, password="wrong password!", ip="198.51.100.66"):
    with pytest.raises((auth.LoginRefused, auth.LoginThrottled)) as info:
        auth.check_password(email, password, now=now, ip=ip)
    return info.value


def test_slowing_delays_grow_then_lock_for_15_minutes():
    """Wrong TOTP codes: only someone who has the password gets there."""
    assert [auth.slowing_delay(n).total_seconds() for n in range(0, 6)] == [0, 1, 2, 4, 8, 900]


def test_password_delays_grow_to_three_minutes_and_never_lock():
    assert [auth.password_delay(n).total_seconds() for n in (0, 1, 2, 3, 4, 5, 8, 9, 1000)] == [
        0, 1, 2, 4, 8, 16, 128, 180, 180]


def test_wrong_passwords_from_one_address_never_lock_the_owner_out(app):
    """Issue 12 item 5: five wrong passwords used to lock any account for 15 minutes, from anywhere."""
    dpo = make_staff("dpo", email="dpo@example.test")
    attacker, owner = "198.51.100.66", "203.0.113.7"
    now = utcnow()
    for i in range(50):
        assert isinstance(_fail(dpo.email, now, ip=attacker), auth.LoginRefused)
        now += auth.password_delay(i + 1) + timedelta(milliseconds=1)
    assert isinstance(_fail(dpo.email, now, ip=attacker), auth.LoginRefused)     # the 51st
    assert not auth.is_locked(dpo, now)
    # The owner, from their own address, at once; the attacker waits at most three minutes a try.
    assert auth.check_password(dpo.email, PASSWORD, now=now, ip=owner) is dpo
    err = _fail(dpo.email, now, password=PASSWORD, ip=attacker)
    assert isinstance(err, auth.LoginThrottled) and err.code == "slowed"
    assert auth.check_password(dpo.email, PASSWORD, now=now + timedelta(minutes=3), ip=attacker) is dpo


def test_an_attempt_during_the_slowing_is_refused_without_checking_the_password(app):
    staff = make_staff("agent")
    now = utcnow()
    _fail(staff.email, now)
    err = _fail(staff.email, now + timedelta(milliseconds=500), password=PASSWORD)
    assert isinstance(err, auth.LoginThrottled) and err.code == "slowed"
    assert db.session.query(LoginThrottle).one().failed_logins == 1  # refused attempts during the wait are not counted
    # The right password after the wait: accepted, and the count for this address starts over.
    assert auth.check_password(staff.email, PASSWORD, now=now + timedelta(seconds=2), ip="198.51.100.66") is staff
    assert db.session.query(LoginThrottle).count() == 0


def test_unknown_emails_get_the_same_answers_and_the_same_slowing(app):
    known = make_staff("agent", email="known@example.test")
    unknown = "nobody@example.test"
    now = utcnow()
    answers = {known.email: [], unknown: []}
    for email in answers:
        t = now
        for i in range(8):
            err = _fail(email, t)
            answers[email].append((type(err).__name__, err.code, err.message))
            t += auth.password_delay(i + 1) + timedelta(milliseconds=1) if i % 2 else timedelta(milliseconds=10)
    assert answers[known.email] == answers[unknown]
    assert {code for _, code, _ in answers[unknown]} == {"login_refused", "slowed"}
    rows = db.session.query(LoginThrottle).all()
    assert len(rows) == 2 and all(unknown not in r.key and "198.51.100.66" not in r.key and len(r.key) == 64
                                  for r in rows)  # an HMAC, never the address or the email


def test_a_disabled_account_is_refused_like_a_wrong_password(app):
    staff = make_staff("agent", active=False)
    err = _fail(staff.email, utcnow(), password=PASSWORD)
    assert isinstance(err, auth.LoginRefused) and err.message == "Wrong email, password or code."


def test_next_step_asks_admin_and_dpo_to_enrol_a_second_factor(app):
    assert auth.next_step(make_staff("dpo")) == "enrol"
    assert auth.next_step(make_staff("admin")) == "enrol"
    assert auth.next_step(make_staff("agent")) == "done"
    assert auth.next_step(make_staff("auditor")) == "done"
    enrolled, _ = staff_with_totp("dpo")
    assert auth.next_step(enrolled) == "totp"
    assert auth.next_step(make_staff("agent", must_change_password=True)) == "password"


def test_a_totp_code_is_accepted_once_and_a_wrong_one_counts_as_a_failure(app):
    staff, secret = staff_with_totp("dpo")
    now = utcnow()
    code = pyotp.TOTP(secret).at(now)
    auth.check_totp(staff, code, now=now)
    with pytest.raises(auth.LoginRefused):
        auth.check_totp(staff, code, now=now + timedelta(seconds=1))  # replayed
    assert staff.failed_logins == 1
    with pytest.raises(auth.LoginThrottled):
        auth.check_totp(staff, "000000", now=now + timedelta(milliseconds=1500))  # still slowed
    later = now + timedelta(seconds=31)
    auth.check_totp(staff, pyotp.TOTP(secret).at(later), now=later)


def test_enrolment_keeps_the_secret_encrypted_only_after_a_right_code(app):
    staff = make_staff("admin")
    secret = auth.new_totp_secret()
    with pytest.raises(InvalidInput) as info:
        auth.confirm_enrolment(staff, secret, "12345x")
    assert info.value.field == "code" and staff.totp_secret is None
    later = utcnow() + timedelta(seconds=2)
    auth.confirm_enrolment(staff, secret, pyotp.TOTP(secret).at(later), now=later)
    assert staff.totp_confirmed_at is not None and secret not in staff.totp_secret


def test_the_qr_code_is_inline_svg_of_the_provisioning_uri(app):
    staff = make_staff("admin", email="qr@example.test")
    uri = auth.provisioning_uri(staff, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    assert uri.startswith("otpauth://totp/") and "secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" in uri
    svg = auth.qr_svg(uri)
    assert svg.startswith("<svg") and "<path" in svg and "<?xml" not in svg


def test_reset_ends_sessions_clears_the_second_factor_and_its_link_works_once(app):
    from dsar.actors import Actor

    staff, _ = staff_with_totp("dpo")
    admin = make_staff("admin")
    epoch = staff.session_epoch
    token = auth.reset_account(staff, Actor.for_staff(admin))
    assert staff.session_epoch == epoch + 1 and staff.totp_secret is None and staff.must_change_password
    with pytest.raises(auth.LoginRefused):
        auth.check_password(staff.email, PASSWORD)  # the old password no longer works
    assert auth.staff_from_reset_token(token) is staff
    auth.set_password(staff, "a brand new passphrase", "a brand new passphrase")
    assert not staff.must_change_password
    with pytest.raises(TokenError):
        auth.staff_from_reset_token(token)  # used: the password it was bound to has changed


def test_set_password_checks_length_and_confirmation(app):
    staff = make_staff("agent")
    with pytest.raises(InvalidInput) as info:
        auth.set_password(staff, "short", "short")
    assert info.value.field == "password"
    with pytest.raises(InvalidInput) as info:
        auth.set_password(staff, "long enough passphrase", "another passphrase!")
    assert info.value.field == "confirm"


def test_session_expiry_after_the_idle_lifetime():
    assert auth.session_expired(None, 1800, now=1000.0)
    assert not auth.session_expired(1000.0, 1800, now=2799.0)
    assert auth.session_expired(1000.0, 1800, now=2801.0)
