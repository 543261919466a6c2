"""Helpers for the routing tests: patients' requests, professionals, care links, task links."""
from __future__ import annotations

from datetime import date, datetime, timezone

from dsar.extensions import db
from dsar.models import CareLink, OutboxMessage, ProfessionalTask
from dsar.models.enums import Status, SubjectKind
from dsar.services import routing
from factories import make_professional, make_request

RECEIVED = datetime(2026, 3, 5, 10, 0, tzinfo=timezone.utc)   # a Thursday; due date 7 April 2026 (Easter Monday rolls)

# Valid RPPS numbers (Luhn key correct), from the public Annuaire Santé extraction.
RPPS = ["10001045367", "10104335319", "10005814339", "10100224947", "10104257190"]


def patient_request(policy, *, email: str | None = None, phone: str | None = None, birth_date: date | None = None,
                    status: str = Status.OPEN, received_at: datetime = RECEIVED, **kw):
    """An open patient request about the Application (clock started on the day of receipt)."""
    req = make_request(policy=policy, subject_kind=SubjectKind.PATIENT, status=status, received_at=received_at,
                       email=email, **kw)
    req.subject.email = email
    req.subject.phone = phone
    req.subject.birth_date = birth_date
    db.session.flush()
    return req


def care_link(pro, *, email: str | None = None, phone: str | None = None, birth_date: date | None = None,
              ref: str | None = None, active: bool = True, ended_on: date | None = None) -> CareLink:
    link = CareLink(professional_id=pro.id, patient_ref=ref or f"pat-{pro.id}-{email or phone}",
                    patient_email=email, patient_phone=phone, patient_birth_date=birth_date, active=active,
                    ended_on=ended_on)
    db.session.add(link)
    db.session.flush()
    return link


def professional(**kw):
    return make_professional(**kw)


def task_of(req) -> ProfessionalTask:
    task = routing.live_task(req)
    assert task is not None, "the request has no live task"
    return task


def task_path(task, action: str | None = None) -> str:
    base = f"/task/{routing.task_token(task)}"
    return f"{base}/{action}" if action else base


def outbox(template: str | None = None, to: str | None = None) -> list[OutboxMessage]:
    query = db.session.query(OutboxMessage)
    if template:
        query = query.filter(OutboxMessage.template == template)
    if to:
        query = query.filter(OutboxMessage.recipient == to)
    return query.order_by(OutboxMessage.id).all()


def answer_task_page(client, task, data, **kw):
    """The professional's two steps (issue 18): the answer's preview, then its confirmation with what the preview
    page carries. Returns the preview's response when it is not a preview (an error), else the confirmation's."""
    import html as _html
    import re as _re

    preview = client.post(task_path(task, "answer"), data=data, **kw)
    page = preview.get_data(as_text=True)
    if preview.status_code != 200 or 'name="preview"' not in page:
        return preview
    fields = {name: _html.unescape(value) for name, value in
              _re.findall(r'<input type="hidden" name="(preview|outcome|message|reasons)" value="([^"]*)"', page)}
    headers = {k: v for k, v in kw.items() if k == "headers"}
    return client.post(task_path(task, "answer/confirm"), data=fields, **headers)
