"""Staff sign-in: passwords, slowing and locking, TOTP second factor, password resets, session expiry.

Plain values in, no Flask ``request``; nothing here commits (the view commits,
also after a failed attempt, so that the counters are kept).

- A wrong password is counted against the email *and the client address together*
  (``LoginThrottle``, under an HMAC of both), whether an account exists or not, so
  every answer reads the same. It slows, it never locks: after n consecutive
  failures the next attempt from that address for that email waits 2^(n-1)
  seconds, at most PASSWORD_DELAY_CAP. Someone guessing the DPO's password from
  anywhere therefore slows only themselves; the DPO signs in from their own
  address as usual (issue 12 item 5: five wrong passwords used to lock any
  account, from anywhere, for 15 minutes).
- A wrong TOTP code (reachable only with the right password) is counted against
  the account: 1, 2, 4, 8 seconds, then 15 minutes after the 5th.
- Admin and DPO accounts need a TOTP second factor, enrolled at first sign-in.
"""
from __future__ import annotations

import hashlib
import hmac
import io
import logging
import secrets
import time
from datetime import datetime, timedelta

import pyotp
import sqlalchemy as sa
from flask import current_app

from .. import audit
from ..actors import Actor
from ..contacts import email_key
from ..errors import DomainError, InvalidInput, N_
from ..extensions import db
from ..models import LoginThrottle, Staff, utcnow
from ..models.enums import StaffRole
from ..security import DUMMY_HASH, decrypt_secret, encrypt_secret, hash_password, needs_rehash, verify_password
from ..tokens import TokenError, make_token, read_token
from .staff import check_password_strength

log = logging.getLogger(__name__)

MAX_FAILURES = 5
LOCK_DURATION = timedelta(minutes=15)
# In the long run one try every 3 minutes per email and address: the rate the old lock allowed (5 per
# 15 minutes), without ever refusing the right password for more than 3 minutes.
PASSWORD_DELAY_CAP = timedelta(minutes=3)
TOTP_ROLES = frozenset({StaffRole.ADMIN, StaffRole.DPO})
TOTP_ISSUER = "dsar"
RESET_LINK_MAX_AGE = 24 * 3600
THROTTLE_ROWS_KEPT = timedelta(days=1)


class LoginRefused(DomainError):
    """Wrong email, password or code: one message for all, never which part was wrong."""

    status_code = 401
    code = "login_refused"


class LoginThrottled(DomainError):
    """Too many failures: wait (slowing) or locked for 15 minutes."""

    status_code = 429
    code = "login_throttled"


def password_delay(failures: int) -> timedelta:
    """The wait before the next password from the same address for the same email, after ``failures``."""
    if failures <= 0:
        return timedelta(0)
    return min(timedelta(seconds=2 ** min(failures - 1, 20)), PASSWORD_DELAY_CAP)


def slowing_delay(failures: int) -> timedelta:
    """The wait imposed before the next TOTP code after ``failures`` consecutive wrong ones."""
    if failures <= 0:
        return timedelta(0)
    if failures >= MAX_FAILURES:
        return LOCK_DURATION
    return timedelta(seconds=2 ** (failures - 1))


def normalise_email(email: str | None) -> str:
    """The form a sign-in address is compared and throttled on (dsar.contacts.email_key); "" when blank."""
    return email_key(email) or ""


def _throttle_key(email: str, ip: str | None) -> str:
    pair = f"{email}\n{ip or '-'}"
    return hmac.new(current_app.config["SECRET_KEY"].encode(), pair.encode(), hashlib.sha256).hexdigest()


def _password_counter(email: str, ip: str | None) -> LoginThrottle:
    """The row counting wrong passwords for this email from this address (known email or not)."""
    key = _throttle_key(email, ip)
    row = db.session.scalar(sa.select(LoginThrottle).where(LoginThrottle.key == key))
    if row is None:
        row = LoginThrottle(key=key, failed_logins=0)
        db.session.add(row)
    return row


def _check_not_slowed(counter: LoginThrottle, now: datetime) -> None:
    if counter.locked_until is not None and now < counter.locked_until:
        raise LoginThrottled(N_("Too many attempts. Please wait a moment and try again."), code="slowed")


def _record_wrong_password(counter: LoginThrottle, now: datetime, staff: Staff | None, ip: str | None,
                           reason: str) -> None:
    counter.failed_logins = (counter.failed_logins or 0) + 1
    counter.locked_until = now + password_delay(counter.failed_logins)
    counter.last_failed_at = now
    db.session.execute(sa.delete(LoginThrottle).where(LoginThrottle.last_failed_at < now - THROTTLE_ROWS_KEPT))
    _log_failure(staff, reason, counter.failed_logins)
    if staff is not None:
        audit.record(_staff_actor(staff, ip), "login_failed", stream=staff_stream(staff),
                     details={"staff_id": staff.id, "reason": reason, "failures": counter.failed_logins})


def _log_failure(staff: Staff | None, reason: str, failures: int, *, locked: bool = False) -> None:
    """For intrusion monitoring: the account id (or "unknown"), never the email typed, the password or the address."""
    log.warning("back-office sign-in failed: reason=%s account=%s failures=%d%s", reason,
                staff.id if staff is not None else "unknown", failures, " (locked)" if locked else "")


def _check_not_throttled(counter, now: datetime) -> None:
    if counter.locked_until is not None and now < counter.locked_until:
        if (counter.failed_logins or 0) >= MAX_FAILURES:
            raise LoginThrottled(
                N_("Too many failed attempts: signing in with this email is locked for 15 minutes. "
                   "An administrator can unlock it sooner."), code="locked")
        raise LoginThrottled(N_("Too many attempts. Please wait a few seconds and try again."), code="slowed")


def _record_failure(counter, now: datetime, staff: Staff | None, ip: str | None, reason: str) -> None:
    if counter.locked_until is not None and now >= counter.locked_until and (counter.failed_logins or 0) >= MAX_FAILURES:
        counter.failed_logins = 0  # a lock that has run out starts a new series
    counter.failed_logins = (counter.failed_logins or 0) + 1
    counter.locked_until = now + slowing_delay(counter.failed_logins)
    _log_failure(staff, reason, counter.failed_logins, locked=counter.failed_logins >= MAX_FAILURES)
    if staff is not None:
        locked = counter.failed_logins >= MAX_FAILURES
        audit.record(_staff_actor(staff, ip), "login_locked" if locked else "login_failed", stream=staff_stream(staff),
                     details={"staff_id": staff.id, "reason": reason, "failures": counter.failed_logins})


def staff_stream(staff: Staff) -> str:
    return f"staff:{staff.id}"


def _staff_actor(staff: Staff, ip: str | None = None, user_agent: str | None = None) -> Actor:
    return Actor.for_staff(staff, ip=ip, user_agent=user_agent)


def check_password(email: str, password: str, *, ip: str | None = None, now: datetime | None = None) -> Staff:
    """First step: the password. Returns the account, or raises LoginRefused / LoginThrottled."""
    now = now or utcnow()
    email = normalise_email(email)
    staff = db.session.scalar(sa.select(Staff).where(Staff.email == email)) if email else None
    counter = _password_counter(email, ip)
    _check_not_slowed(counter, now)
    ok = verify_password(staff.password_hash if staff else DUMMY_HASH, password or "")
    if not ok or staff is None or not staff.active:
        _record_wrong_password(counter, now, staff, ip, "password" if staff is None or not ok else "disabled")
        raise LoginRefused(N_("Wrong email, password or code."))
    if counter.id is None:      # a right password first time: the new row was never needed
        db.session.expunge(counter)
    else:
        db.session.delete(counter)
    if needs_rehash(staff.password_hash):
        staff.password_hash = hash_password(password)
    return staff


def next_step(staff: Staff) -> str:
    """What the sign-in still needs: 'password' (must change it), 'enrol' (TOTP), 'totp' (the code) or 'done'."""
    if staff.must_change_password:
        return "password"
    if staff.totp_confirmed_at is None:
        return "enrol" if StaffRole(staff.role) in TOTP_ROLES else "done"
    return "totp"


def needs_totp(staff: Staff) -> bool:
    return StaffRole(staff.role) in TOTP_ROLES


# --- TOTP ------------------------------------------------------------------------------------------------


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(staff: Staff, secret: str) -> str:
    issuer = getattr(current_app.extensions.get("dsar_policy"), "controller", None)
    issuer_name = f"{TOTP_ISSUER} {issuer.name}" if issuer is not None else TOTP_ISSUER
    return pyotp.TOTP(secret).provisioning_uri(name=staff.email, issuer_name=issuer_name)


def qr_svg(data: str) -> str:
    """The QR code of ``data`` as inline SVG markup (no image request, no JavaScript, CSP-friendly)."""
    import qrcode
    import qrcode.image.svg

    img = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    buf = io.BytesIO()
    img.save(buf)
    svg = buf.getvalue().decode("utf-8")
    if svg.startswith("<?xml"):
        svg = svg[svg.index("?>") + 2:].lstrip()
    return svg


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step a code belongs to (now, or one step either side for clock drift), or None."""
    code = "".join((code or "").split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    step_now = int(now.timestamp()) // totp.interval
    for step in (step_now, step_now - 1, step_now + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def check_totp(staff: Staff, code: str, *, ip: str | None = None, now: datetime | None = None) -> None:
    """Second step: the TOTP code. A code is accepted once (no replay); a wrong one counts as a failure."""
    now = now or utcnow()
    _check_not_throttled(staff, now)
    if not staff.active or not staff.totp_secret:
        raise LoginRefused(N_("Wrong email, password or code."))
    step = _matching_step(decrypt_secret(staff.totp_secret), code, now)
    if step is None or (staff.totp_last_step is not None and step <= staff.totp_last_step):
        _record_failure(staff, now, staff, ip, "totp")
        raise LoginRefused(N_("Wrong email, password or code."), field="code")
    staff.totp_last_step = step


def confirm_enrolment(staff: Staff, secret: str, code: str, *, ip: str | None = None, now: datetime | None = None) -> None:
    """Keep the new TOTP secret once the person proved their authenticator app shows the right code."""
    now = now or utcnow()
    _check_not_throttled(staff, now)
    step = _matching_step(secret, code, now)
    if step is None:
        _record_failure(staff, now, staff, ip, "totp_enrolment")
        raise InvalidInput(N_("This code does not match. Check the time on your phone and type the current code."),
                           code="bad_code", field="code")
    staff.totp_secret = encrypt_secret(secret)
    staff.totp_confirmed_at = now
    staff.totp_last_step = step
    audit.record(_staff_actor(staff, ip), "totp_enrolled", stream=staff_stream(staff), details={"staff_id": staff.id})


# --- completing a sign-in, sessions ----------------------------------------------------------------------


def complete_login(staff: Staff, *, ip: str | None = None, user_agent: str | None = None, now: datetime | None = None) -> None:
    now = now or utcnow()
    staff.failed_logins = 0
    staff.locked_until = None
    staff.last_login_at = now
    audit.record(_staff_actor(staff, ip, user_agent), "login", stream=staff_stream(staff), details={"staff_id": staff.id})


def end_sessions(staff: Staff, *, ip: str | None = None, user_agent: str | None = None) -> None:
    """Sign-out: every session cookie issued to this account stops working, server-side.

    The session is a signed cookie: clearing it in the browser does nothing to a copy taken earlier
    (a shared computer, a proxy, malware). The user loader accepts a cookie only while its epoch is the
    account's current one (web.common._load_staff), so moving the epoch ends every copy, on every device.
    """
    staff.session_epoch = (staff.session_epoch or 0) + 1
    audit.record(_staff_actor(staff, ip, user_agent), "logout", stream=staff_stream(staff), details={"staff_id": staff.id})


def session_expired(last_seen: float | None, lifetime_seconds: int, now: float | None = None) -> bool:
    """True when the session was idle longer than its lifetime (PERMANENT_SESSION_LIFETIME)."""
    if last_seen is None:
        return True
    now = time.time() if now is None else now
    return now - float(last_seen) > lifetime_seconds


# --- passwords -------------------------------------------------------------------------------------------


def set_password(staff: Staff, password: str, confirm: str, *, actor: Actor | None = None) -> None:
    """Choose a new password (after a reset or when told to); ends every other session."""
    if (password or "") != (confirm or ""):
        raise InvalidInput(N_("The two passwords are not the same."), code="mismatch", field="confirm")
    check_password_strength(password)
    if verify_password(staff.password_hash, password):
        raise InvalidInput(N_("Choose a password different from the previous one."), code="same_password", field="password")
    staff.password_hash = hash_password(password)
    staff.must_change_password = False
    staff.failed_logins = 0
    staff.locked_until = None
    staff.session_epoch = (staff.session_epoch or 0) + 1
    audit.record(actor or _staff_actor(staff), "password_set", stream=staff_stream(staff), details={"staff_id": staff.id})


def _password_fingerprint(staff: Staff) -> str:
    # Bound into the reset link: once the password changes, the link stops working (single use).
    return hashlib.sha256(staff.password_hash.encode()).hexdigest()[:16]


def password_reset_token(staff: Staff) -> str:
    return make_token("password-reset", {"s": staff.id, "e": staff.session_epoch, "p": _password_fingerprint(staff)})


def staff_from_reset_token(token: str) -> Staff:
    """The account a reset link was made for, if the link is still good (signed, < 24 h, not used)."""
    payload = read_token("password-reset", token, max_age=RESET_LINK_MAX_AGE)
    staff = db.session.get(Staff, payload.get("s")) if isinstance(payload.get("s"), int) else None
    if (staff is None or not staff.active or staff.session_epoch != payload.get("e")
            or payload.get("p") != _password_fingerprint(staff)):
        raise TokenError(N_("This link is not valid."))
    return staff


def reset_account(staff: Staff, actor: Actor) -> str:
    """An admin resets an account: old password and TOTP gone, sessions ended, lock lifted; returns the link token.

    The person chooses a new password through the emailed link and, for admin and
    DPO accounts, enrols a new TOTP authenticator at their next sign-in.
    """
    staff.password_hash = hash_password(secrets.token_urlsafe(32))
    staff.must_change_password = True
    _forget_second_factor_and_sessions(staff)
    audit.record(actor, "account_reset", stream=staff_stream(staff), details={"staff_id": staff.id})
    return password_reset_token(staff)


def _forget_second_factor_and_sessions(staff: Staff) -> None:
    """The TOTP authenticator forgotten (enrolled again at the next sign-in), the lock lifted, every session ended."""
    staff.totp_secret = None
    staff.totp_confirmed_at = None
    staff.totp_last_step = None
    staff.failed_logins = 0
    staff.locked_until = None
    staff.session_epoch = (staff.session_epoch or 0) + 1


def reset_second_factor(staff: Staff, actor: Actor) -> None:
    """Break-glass (``dsar reset-second-factor``): the TOTP authenticator is forgotten, sessions end, the lock lifts.

    The password stays; at the next sign-in the person enrols a new authenticator. For when the only admin lost
    theirs, so that no admin is left to use the back-office reset.
    """
    _forget_second_factor_and_sessions(staff)
    audit.record(actor, "second_factor_reset", stream=staff_stream(staff), details={"staff_id": staff.id})


def unlock_account(staff: Staff, actor: Actor) -> None:
    staff.failed_logins = 0
    staff.locked_until = None
    audit.record(actor, "account_unlocked", stream=staff_stream(staff), details={"staff_id": staff.id})


def disable_account(staff: Staff, actor: Actor) -> None:
    if actor.id == str(staff.id):
        raise InvalidInput(N_("You cannot disable your own account."), code="self_disable", field="staff")
    staff.active = False
    staff.session_epoch = (staff.session_epoch or 0) + 1
    audit.record(actor, "account_disabled", stream=staff_stream(staff), details={"staff_id": staff.id})


def enable_account(staff: Staff, actor: Actor) -> None:
    staff.active = True
    audit.record(actor, "account_enabled", stream=staff_stream(staff), details={"staff_id": staff.id})


def is_locked(staff: Staff, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return bool(staff.locked_until and now < staff.locked_until and (staff.failed_logins or 0) >= MAX_FAILURES)
