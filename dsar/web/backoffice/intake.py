"""Logging a request received by letter, phone, email or in person, with its real date of receipt."""
from __future__ import annotations

from datetime import date, datetime, time, timezone

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ...deadlines import PARIS, legal_day
from ...errors import DomainError, InvalidInput, N_, PermissionDenied
from ...extensions import db
from ...models import utcnow
from ...models.enums import Channel, DocumentKind, IdentityMethod, RequestType
from ...policy.text import localized
from ...services import intake as intake_service
from ..common import current_language, translate_error
from .blueprint import bp
from .auth import staff_actor, staff_required
from ...labels import CHANNEL_LABELS, SUBJECT_KIND_LABELS, TYPE_LABELS

STAFF_CHANNELS = (Channel.POST, Channel.PHONE, Channel.IN_PERSON, Channel.EMAIL)
SUBJECT_KEYS = ("first_name", "last_name", "email", "phone", "birth_date")
REQUESTER_KEYS = ("relationship", "first_name", "last_name", "email", "phone", "postal_address")
from ...labels import RELATIONSHIP_LABELS  # noqa: E402

INTAKE_RELATIONSHIPS = ("parent", "guardian", "heir", "executor", "mandatary")


def _received_at(form, errors: dict) -> datetime | None:
    """The instant of receipt from the day (and optional time) typed, in Paris time."""
    raw_day = (form.get("received_on") or "").strip()
    raw_time = (form.get("received_time") or "").strip()
    try:
        day = date.fromisoformat(raw_day)
    except ValueError:
        errors["received_on"] = _("Enter the date of receipt as YYYY-MM-DD.")
        return None
    if raw_time:
        try:
            at = time.fromisoformat(raw_time)
        except ValueError:
            errors["received_time"] = _("Enter the time as HH:MM.")
            return None
    elif day == legal_day(utcnow()):
        return utcnow()
    else:
        at = time(12, 0)  # the day is what counts for the deadline (rule 1); noon keeps it inside that day
    return datetime.combine(day, at, tzinfo=PARIS).astimezone(timezone.utc)


def _render(form: dict, errors: dict, status: int = 200):
    policy = current_app.extensions["dsar_policy"]
    lang = current_language()
    activities = [(a.key, localized(a.name, lang), list(a.data_subjects)) for a in policy.activities.values()]
    return render_template(
        "backoffice/intake.html", form=form, errors=errors, channels=[c.value for c in STAFF_CHANNELS],
        types=[t.value for t in RequestType], subject_kinds=list(policy.subject_kinds), activities=activities,
        relationships=list(INTAKE_RELATIONSHIPS), relationship_labels=RELATIONSHIP_LABELS, type_labels=TYPE_LABELS,
        subject_kind_labels=SUBJECT_KIND_LABELS, channel_labels=CHANNEL_LABELS, today=legal_day(utcnow()),
    ), status


@bp.get("/requests/new")
@staff_required("admin", "dpo", "agent")
def intake_GET():
    return _render({"channel": "post", "received_on": legal_day(utcnow()).isoformat(), "language": "fr",
                    "acting_for": "self"}, {})


@bp.post("/requests/new")
@staff_required("admin", "dpo", "agent")
def intake_POST():
    form = {k: v for k, v in request.form.items()}
    form["activities"] = request.form.getlist("activities")
    errors: dict[str, str] = {}
    channel = form.get("channel") or ""
    if channel not in {c.value for c in STAFF_CHANNELS}:
        errors["channel"] = _("Choose how the request was received.")
    received_at = _received_at(form, errors)
    if errors:
        return _render(form, errors, 422)
    subject = {k: form.get(f"subject.{k}") or None for k in SUBJECT_KEYS}
    subject["kind"] = form.get("subject.kind") or None
    subject["deceased"] = form.get("subject.deceased") == "1"
    requester = None
    if form.get("acting_for") == "other":
        requester = {k: form.get(f"requester.{k}") or None for k in REQUESTER_KEYS}
        requester["acting_for"] = "other"
    try:
        req = intake_service.submit_request(
            type=form.get("type") or "", subject=subject, requester=requester, channel=channel,
            language=form.get("language") or "fr", details=form.get("details") or None,
            activities=form["activities"] or None, received_at=received_at,
            identity_method=IdentityMethod.IN_PERSON if form.get("identity_in_person") == "1" else None,
            medical_record=form.get("medical_record") == "1",
            actor=staff_actor(),
        )
        upload = request.files.get("identity_document")
        if upload and upload.filename:
            if req.identity_method:
                raise InvalidInput(N_("The identity was checked in person: no document is needed."),
                                   code="not_needed", field="identity_document")
            intake_service.add_identity_document(req, DocumentKind.IDENTITY, upload.stream, upload.filename,
                                                 upload.mimetype, staff_actor())
    except PermissionDenied:
        db.session.rollback()
        raise
    except DomainError as err:
        db.session.rollback()
        for problem in getattr(err, "problems", [err]):
            field = problem.field or "form"
            field = {"received_at": "received_on", "document": "identity_document"}.get(field, field)
            errors.setdefault(field, translate_error(problem))
        return _render(form, errors, err.status_code if 400 <= err.status_code < 500 else 422)
    db.session.commit()
    flash(_("Request %(reference)s logged.", reference=req.reference), "info")
    return redirect(url_for("backoffice.request_GET", reference=req.reference))
