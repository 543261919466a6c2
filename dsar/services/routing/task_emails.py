"""The emails about a task: to the professional (the task, reminders) and to the DPO (alerts).

What an email about a task may say: reference, right, dates, link. Nothing of the
patient or their health (policy art. 8.2: IDOMED does not read what is shared in
the Application).
"""
from __future__ import annotations

from datetime import datetime

from flask import current_app
from werkzeug.routing import BuildError

from ... import deadlines
from ...deadlines import legal_day
from ...models import DataRequest, ProfessionalTask
from ...policy.errors import PolicyLookupError
from ...policy.text import localized
from ...urls import public_url
from .. import notifications
from .task_links import task_url


def _policy():
    return current_app.extensions["dsar_policy"]


def right_name(req: DataRequest, language: str) -> str:
    """The right exercised, as the policy names it ("Droit d'accès")."""
    try:
        return localized(_policy().request_type(req.type).name, language)
    except PolicyLookupError:
        return req.type


def email_context(task: ProfessionalTask, language: str, *, now: datetime) -> dict:
    """What an email about a task may say: reference, right, dates, link. Nothing of the patient or their health."""
    req = task.request
    today = legal_day(now)
    return {
        "reference": req.reference,
        "right": right_name(req, language),
        "due_date": req.due_date,
        "days_left": deadlines.days_left(today, req.due_date) if req.due_date else None,
        "professional_name": task.professional.full_name,
        "greeting_name": task.professional.greeting_name,  # "Docteur Garnier", else "Hélène Garnier" (issue 18)
        "expires_at": task.expires_at,
        "task_created_on": legal_day(task.created_at),
    }


def email_professional(task: ProfessionalTask, template: str, *, now: datetime, resent: bool = False):
    """An email to the professional, in their language, carrying the task's current link."""
    language = task.professional.language if task.professional.language in ("fr", "en") else "fr"
    ctx = email_context(task, language, now=now)
    ctx.update(link=task_url(task), resent=resent, reminder_count=task.reminder_count)
    return notifications.queue_email(task.professional.email, template, language, ctx, request=task.request)


def _backoffice_url(req: DataRequest) -> str:
    """The request's page in the back-office (a reference in a URL opens nothing without signing in)."""
    try:
        return public_url("backoffice.request_GET", reference=req.reference)
    except BuildError:
        return current_app.config["PUBLIC_BASE_URL"] + "/backoffice/"


def email_dpo(task: ProfessionalTask, template: str, *, now: datetime, reason: str | None = None):
    """An alert about the task to the DPO mailbox, pointing to the request's back-office page."""
    ctx = email_context(task, "fr", now=now)
    ctx.update(reason=reason, backoffice_url=_backoffice_url(task.request),
               reminder_count=task.reminder_count, acknowledged=task.acknowledged_at is not None)
    return notifications.email_dpo(template, ctx)


def email_reminder(task: ProfessionalTask, *, now: datetime):
    return email_professional(task, "task_reminder", now=now)


def email_escalation(task: ProfessionalTask, reason: str, *, now: datetime):
    return email_dpo(task, "task_escalation", reason=reason, now=now)
