"""Sign-in (password, then TOTP), sign-out, password reset links, idle expiry and ``staff_required``.

Other blueprints import ``staff_required(*roles)``: with no role, any signed-in
staff member; auditors are read-only, so any non-GET request from them is 403.
"""
from __future__ import annotations

import time
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import refresh as refresh_locale
from flask_login import current_user, login_user, logout_user

from ...actors import Actor
from ...errors import DomainError, InvalidInput
from ...extensions import db, limiter
from ...models import Staff
from ...models.enums import StaffRole
from ...security import decrypt_secret, encrypt_secret
from ...services import auth as auth_service
from ...tokens import TokenError
from ..common import client_ip, translate_error, user_agent
from .blueprint import bp

PENDING_KEY = "bo_pending_login"
PENDING_MAX_AGE = 300  # seconds between the password and the code
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def staff_actor() -> Actor:
    return Actor.for_staff(current_user, ip=client_ip(), user_agent=user_agent())


def staff_required(*roles, read_only: bool = False):
    """Only signed-in staff with one of ``roles`` (any role when none is given); auditors only read.

    ``read_only=True`` marks a POST that changes nothing (a search), which auditors may send too.
    """
    allowed = frozenset(StaffRole(r) for r in roles) if roles else frozenset(StaffRole)

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                if request.method in SAFE_METHODS:
                    return redirect(url_for("backoffice.login_GET", next=request.path))
                abort(401)
            role = StaffRole(current_user.role)
            if role not in allowed:
                abort(403)
            if role == StaffRole.AUDITOR and request.method not in SAFE_METHODS and not read_only:
                abort(403)
            if auth_service.needs_totp(current_user) and current_user.totp_confirmed_at is None:
                # The role now needs a second factor the account never enrolled: sign in again to enrol it.
                logout_user()
                return redirect(url_for("backoffice.login_GET"))
            return view(*args, **kwargs)

        wrapped.staff_roles = allowed
        return wrapped

    return decorator


@bp.before_request
def idle_expiry():
    """Sessions end after PERMANENT_SESSION_LIFETIME idle (and on a bumped session epoch, in the user loader)."""
    # Load the user from this request's session: a user cached in ``g`` by an earlier request sharing the
    # app context (test clients inside an app context do) must never stand in for it.
    g.pop("_login_user", None)
    refresh_locale()  # likewise for the language Flask-Babel cached
    if not current_user.is_authenticated:
        return None
    lifetime = int(current_app.config["PERMANENT_SESSION_LIFETIME"])
    lifetime = lifetime if isinstance(lifetime, int) else int(lifetime.total_seconds())
    if auth_service.session_expired(session.get("bo_seen"), lifetime):
        logout_user()
        lang = session.get("lang")
        session.clear()
        if lang:
            session["lang"] = lang
        flash(_("Your session expired after a period of inactivity. Please sign in again."), "error")
        if request.method in SAFE_METHODS:
            return redirect(url_for("backoffice.login_GET", next=request.path))
        return redirect(url_for("backoffice.login_GET"))
    session.permanent = True
    session["bo_seen"] = time.time()
    return None


def _safe_next(target: str | None) -> str:
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/backoffice") and "\\" not in target:
            return parts.path
    return url_for("backoffice.queue_GET")


def _start_pending(staff: Staff, next_url: str | None) -> None:
    session[PENDING_KEY] = {"id": staff.id, "epoch": staff.session_epoch, "at": time.time(), "next": _safe_next(next_url)}


def _pending_staff() -> Staff | None:
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or time.time() - float(pending.get("at", 0)) > PENDING_MAX_AGE:
        return None
    staff = db.session.get(Staff, pending.get("id"))
    if staff is None or not staff.active or staff.session_epoch != pending.get("epoch"):
        return None
    return staff


def _continue(staff: Staff):
    """Go to the next sign-in step, or finish signing in."""
    step = auth_service.next_step(staff)
    if step == "totp" and (session.get(PENDING_KEY) or {}).get("totp_ok"):
        step = "done"
    if step == "password":
        return redirect(url_for("backoffice.login_password_GET"))
    if step == "enrol":
        return redirect(url_for("backoffice.login_enrol_GET"))
    if step == "totp":
        return redirect(url_for("backoffice.login_code_GET"))
    next_url = (session.get(PENDING_KEY) or {}).get("next")
    auth_service.complete_login(staff, ip=client_ip(), user_agent=user_agent())
    db.session.commit()
    lang = session.get("lang") or staff.language
    session.clear()  # a fresh session at sign-in: nothing carried over from before (fixation)
    session["lang"] = lang
    login_user(staff)
    session.permanent = True
    session["bo_seen"] = time.time()
    return redirect(_safe_next(next_url))


def _mark_second_factor_done() -> None:
    pending = dict(session.get(PENDING_KEY) or {})
    pending["totp_ok"] = True
    session[PENDING_KEY] = pending


def _expired_pending():
    session.pop(PENDING_KEY, None)
    flash(_("The sign-in took too long. Please start again."), "error")
    return redirect(url_for("backoffice.login_GET"))


@bp.get("/login")
def login_GET():
    if current_user.is_authenticated:
        return redirect(url_for("backoffice.queue_GET"))
    return render_template("backoffice/login.html", errors={}, email="", next=request.args.get("next", ""))


@bp.post("/login")
@limiter.limit("30 per minute")
def login_POST():
    email = request.form.get("email", "")
    next_url = request.form.get("next", "")
    try:
        staff = auth_service.check_password(email, request.form.get("password", ""), ip=client_ip())
    except DomainError as err:
        db.session.commit()  # keep the failure count
        status = 429 if err.status_code == 429 else 401
        return render_template("backoffice/login.html", errors={"form": translate_error(err)}, email=email,
                               next=next_url), status
    db.session.commit()
    _start_pending(staff, next_url)
    return _continue(staff)


@bp.get("/login/code")
def login_code_GET():
    staff = _pending_staff()
    if staff is None or auth_service.next_step(staff) != "totp":
        return _expired_pending()
    return render_template("backoffice/login_code.html", errors={})


@bp.post("/login/code")
@limiter.limit("30 per minute")
def login_code_POST():
    staff = _pending_staff()
    if staff is None or auth_service.next_step(staff) != "totp":
        return _expired_pending()
    try:
        auth_service.check_totp(staff, request.form.get("code", ""), ip=client_ip())
    except DomainError as err:
        db.session.commit()
        status = 429 if err.status_code == 429 else 401
        return render_template("backoffice/login_code.html", errors={"code": translate_error(err)}), status
    db.session.commit()
    _mark_second_factor_done()
    return _continue(staff)


def _enrol_secret() -> str:
    encrypted = session.get("bo_totp_enrol")
    if encrypted:
        try:
            return decrypt_secret(encrypted)
        except ValueError:
            pass
    secret = auth_service.new_totp_secret()
    # Kept encrypted in the session until the first code confirms it.
    session["bo_totp_enrol"] = encrypt_secret(secret)
    return secret


def _render_enrol(staff: Staff, errors: dict, status: int = 200):
    secret = _enrol_secret()
    uri = auth_service.provisioning_uri(staff, secret)
    return render_template("backoffice/login_enrol.html", errors=errors, secret=secret,
                           qr_svg=auth_service.qr_svg(uri)), status


@bp.get("/login/enrol")
def login_enrol_GET():
    staff = _pending_staff()
    if staff is None or auth_service.next_step(staff) != "enrol":
        return _expired_pending()
    return _render_enrol(staff, {})


@bp.post("/login/enrol")
@limiter.limit("30 per minute")
def login_enrol_POST():
    staff = _pending_staff()
    if staff is None or auth_service.next_step(staff) != "enrol":
        return _expired_pending()
    try:
        auth_service.confirm_enrolment(staff, _enrol_secret(), request.form.get("code", ""), ip=client_ip())
    except DomainError as err:
        db.session.commit()
        return _render_enrol(staff, {"code": translate_error(err)}, 429 if err.status_code == 429 else 422)
    session.pop("bo_totp_enrol", None)
    db.session.commit()
    _mark_second_factor_done()
    return _continue(staff)


@bp.get("/login/password")
def login_password_GET():
    staff = _pending_staff()
    if staff is None or not staff.must_change_password:
        return _expired_pending()
    return render_template("backoffice/password.html", errors={}, action=url_for("backoffice.login_password_POST"))


@bp.post("/login/password")
def login_password_POST():
    staff = _pending_staff()
    if staff is None or not staff.must_change_password:
        return _expired_pending()
    try:
        auth_service.set_password(staff, request.form.get("password", ""), request.form.get("confirm", ""),
                                  actor=Actor.for_staff(staff, ip=client_ip()))
    except InvalidInput as err:
        db.session.rollback()
        return render_template("backoffice/password.html", errors={err.field or "password": translate_error(err)},
                               action=url_for("backoffice.login_password_POST")), 422
    db.session.commit()
    _start_pending(staff, (session.get(PENDING_KEY) or {}).get("next"))  # the epoch moved
    return _continue(staff)


@bp.get("/password/<token>")
def reset_password_GET(token: str):
    try:
        auth_service.staff_from_reset_token(token)
    except TokenError as err:
        return render_template("error.html", status=err.status_code, code=err.code,
                               message=translate_error(err)), err.status_code
    return render_template("backoffice/password.html", errors={},
                           action=url_for("backoffice.reset_password_POST", token=token))


@bp.post("/password/<token>")
@limiter.limit("20 per minute")
def reset_password_POST(token: str):
    try:
        staff = auth_service.staff_from_reset_token(token)
    except TokenError as err:
        return render_template("error.html", status=err.status_code, code=err.code,
                               message=translate_error(err)), err.status_code
    try:
        auth_service.set_password(staff, request.form.get("password", ""), request.form.get("confirm", ""),
                                  actor=Actor.for_staff(staff, ip=client_ip()))
    except InvalidInput as err:
        db.session.rollback()
        return render_template("backoffice/password.html", errors={err.field or "password": translate_error(err)},
                               action=url_for("backoffice.reset_password_POST", token=token)), 422
    db.session.commit()
    if current_user.is_authenticated:
        logout_user()
    flash(_("Your password is set. You can now sign in."), "info")
    return redirect(url_for("backoffice.login_GET"))


@bp.post("/logout")
def logout_POST():
    lang = session.get("lang")
    if current_user.is_authenticated:
        auth_service.end_sessions(current_user, ip=client_ip(), user_agent=user_agent())
        db.session.commit()
    logout_user()
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("You are signed out."), "info")
    return redirect(url_for("backoffice.login_GET"))
