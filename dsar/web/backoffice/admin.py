"""Accounts and API keys (admin only): create, disable, reset; API keys created (shown once) and revoked."""
from __future__ import annotations

import secrets

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ... import audit
from ...errors import InvalidInput, N_
from ...extensions import db
from ...models import ApiKey, Staff, utcnow
from ...models.enums import StaffRole
from ...security import API_SCOPES
from ...services import auth as auth_service
from ...services import notifications
from ...services.staff import create_api_key, create_staff_account
from ...urls import public_url
from ..common import translate_error
from .blueprint import bp
from .form_action import form_action
from .auth import staff_actor, staff_required
from ...labels import ROLE_LABELS

SCOPE_LABELS = {
    "submit": N_("Submit requests made from an application account"),
    "read": N_("Read the status of requests"),
    "staff": N_("Act on requests like an agent"),
    "directory": N_("Sync professionals and their patients"),
}


def _staff_list():
    return list(db.session.scalars(sa.select(Staff).order_by(Staff.active.desc(), Staff.name)))


def _keys():
    return list(db.session.scalars(sa.select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc())))


def _render(errors=None, values=None, new_key=None, status=200):
    return render_template(
        "backoffice/admin.html", staff_members=_staff_list(), keys=_keys(), errors=errors or {}, values=values or {},
        roles=[r.value for r in StaffRole], role_labels=ROLE_LABELS, scopes=API_SCOPES, scope_labels=SCOPE_LABELS,
        new_key=new_key, is_locked=auth_service.is_locked, needs_totp=auth_service.needs_totp,
    ), status


def _send_password_link(staff: Staff, token: str, *, welcome: bool) -> None:
    notifications.queue_email(staff.email, "staff_password_reset", staff.language or "fr", {
        "name": staff.name, "link": public_url("backoffice.reset_password_GET", token=token), "welcome": welcome,
        "hours": auth_service.RESET_LINK_MAX_AGE // 3600, "needs_totp": auth_service.needs_totp(staff),
    })


def _get_staff(staff_id: int) -> Staff:
    return db.get_or_404(Staff, staff_id)


def _to_admin():
    return redirect(url_for("backoffice.admin_GET"))


@bp.get("/admin")
@staff_required("admin")
def admin_GET():
    return _render()


@bp.post("/admin/staff")
@staff_required("admin")
def admin_staff_create_POST():
    form = {k: (request.form.get(k) or "").strip() for k in ("email", "name", "role", "language")}
    if not form["name"]:
        return _render(errors={"staff": {"name": _("This field is required.")}}, values=form, status=422)
    language = form["language"] if form["language"] in ("fr", "en") else "fr"
    try:
        # A random password nobody knows: the person chooses their own through the emailed link.
        staff = create_staff_account(email=form["email"], name=form["name"], role=form["role"],
                                     password=secrets.token_urlsafe(24), language=language)
    except InvalidInput as err:
        db.session.rollback()
        return _render(errors={"staff": {err.field or "email": translate_error(err)}}, values=form, status=422)
    staff.must_change_password = True
    audit.record(staff_actor(), "account_created", stream=auth_service.staff_stream(staff),
                 details={"staff_id": staff.id, "role": staff.role})
    _send_password_link(staff, auth_service.password_reset_token(staff), welcome=True)
    db.session.commit()
    flash(_("Account created. A link to choose a password was sent to %(email)s.", email=staff.email), "info")
    return redirect(url_for("backoffice.admin_GET"))


@bp.post("/admin/staff/<int:staff_id>/reset")
@staff_required("admin")
def admin_staff_reset_POST(staff_id: int):
    staff = _get_staff(staff_id)

    def reset():
        _send_password_link(staff, auth_service.reset_account(staff, staff_actor()), welcome=False)

    return form_action(reset, on_error=lambda err, status: _staff_refused(staff, err), done=_to_admin, message=_(
        "Account reset: its sessions are ended and a link to choose a new password was sent to %(email)s.",
        email=staff.email))


def _staff_refused(staff: Staff, err):
    return _render(errors={f"staff-{staff.id}": {"form": translate_error(err)}}, status=422)


@bp.post("/admin/staff/<int:staff_id>/disable")
@staff_required("admin")
def admin_staff_disable_POST(staff_id: int):
    staff = _get_staff(staff_id)
    return form_action(lambda: auth_service.disable_account(staff, staff_actor()),
                       on_error=lambda err, status: _staff_refused(staff, err), done=_to_admin,
                       message=_("Account disabled: its sessions are ended."))


@bp.post("/admin/staff/<int:staff_id>/enable")
@staff_required("admin")
def admin_staff_enable_POST(staff_id: int):
    staff = _get_staff(staff_id)
    return form_action(lambda: auth_service.enable_account(staff, staff_actor()),
                       on_error=lambda err, status: _staff_refused(staff, err), done=_to_admin,
                       message=_("Account enabled."))


@bp.post("/admin/staff/<int:staff_id>/unlock")
@staff_required("admin")
def admin_staff_unlock_POST(staff_id: int):
    staff = _get_staff(staff_id)
    return form_action(lambda: auth_service.unlock_account(staff, staff_actor()),
                       on_error=lambda err, status: _staff_refused(staff, err), done=_to_admin,
                       message=_("Account unlocked."))


@bp.post("/admin/keys")
@staff_required("admin")
def admin_key_create_POST():
    name = (request.form.get("name") or "").strip()[:120]
    scopes = request.form.getlist("scopes")
    values = {"name": name, "scopes": scopes}
    if not name:
        return _render(errors={"key": {"name": _("This field is required.")}}, values=values, status=422)
    try:
        key, secret = create_api_key(name=name, scopes=scopes, created_by=staff_actor().label)
    except InvalidInput as err:
        db.session.rollback()
        return _render(errors={"key": {"scopes": translate_error(err)}}, values=values, status=422)
    audit.record(staff_actor(), "api_key_created", stream="api-keys", details={"key_id": key.id, "scopes": key.scopes})
    db.session.commit()
    # Shown once, in this answer only; never stored in clear nor put in a URL.
    return _render(new_key={"name": key.name, "secret": secret})


@bp.post("/admin/keys/<int:key_id>/revoke")
@staff_required("admin")
def admin_key_revoke_POST(key_id: int):
    key = db.get_or_404(ApiKey, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(staff_actor(), "api_key_revoked", stream="api-keys", details={"key_id": key.id})
        db.session.commit()
    flash(_("API key revoked."), "info")
    return redirect(url_for("backoffice.admin_GET"))
