"""When a professional answers a patient's request, staff are told: the request's assignee, or the DPO mailbox
when nobody is assigned (issue 18). The email says which request, the outcome and the day, and links to the
request page; it never carries what the professional wrote nor the names of the files they sent: "IDOMED
s'interdit de prendre connaissance des messages, informations, documents et Données partagées dans le cadre
du Service" (policy art. 8.2).

Connected to ``lifecycle.request_changed`` (the answer is a lifecycle transition) when imported; ``create_app``
imports it with the other receivers, so every entry point listens.
"""
from __future__ import annotations

from werkzeug.routing import BuildError

from .. import lifecycle
from ..actors import Actor
from ..deadlines import legal_day
from ..extensions import db
from ..labels import OUTCOME_LABELS
from ..models import DataRequest, Event, utcnow
from ..models.enums import ActorType
from ..urls import public_url
from . import notifications
from .routing import right_name

TEMPLATE = "task_answered"


def request_page_url(req: DataRequest) -> str | None:
    try:
        return public_url("backoffice.request_GET", reference=req.reference)
    except BuildError:   # an app without the back-office
        return None


def context(req: DataRequest, actor: Actor, outcome: str, language: str) -> dict:
    """What the email may say: reference, right, outcome, day, who answered, the page's link. No content."""
    return {
        "reference": req.reference,
        "right": right_name(req, language),
        "outcome_label": OUTCOME_LABELS.get(outcome, ""),
        "answered_on": legal_day(utcnow()),
        "professional_name": actor.label,
        "backoffice_url": request_page_url(req),
    }


def tell_staff(req: DataRequest, actor: Actor, outcome: str):
    """The email to the assignee (in their language), or to the DPO mailbox when nobody is assigned."""
    staff = req.assignee
    if staff is not None and staff.active and staff.email:
        language = staff.language if staff.language in ("fr", "en") else "fr"
        return notifications.queue_email(staff.email, TEMPLATE, language, context(req, actor, outcome, language),
                                         request=req)
    return notifications.email_dpo(TEMPLATE, context(req, actor, outcome, "fr"))


def _outcome_of(req: DataRequest, change) -> str:
    """The answer's outcome, from its audit event: lifecycle.answer sets ``req.outcome`` after the signal."""
    event = db.session.get(Event, change.event_id) if change.event_id else next(
        (e for e in db.session.new if isinstance(e, Event) and e.request_id == req.id and e.action == "answer"), None)
    return str(((event.details if event else None) or {}).get("outcome", ""))


def _on_request_changed(req: DataRequest, change, actor: Actor, **_):
    if change.action == "answer" and actor.type == ActorType.PROFESSIONAL:
        tell_staff(req, actor, _outcome_of(req, change))


lifecycle.request_changed.connect(_on_request_changed, weak=False)
