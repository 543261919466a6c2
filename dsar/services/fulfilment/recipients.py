"""GDPR art. 19: telling the recipients (policy art. 11).

One notification task per recipient after a rectification, an erasure or a restriction, closed as notified
or impossible with a reason.
"""
from __future__ import annotations

from ... import audit
from ...actors import Actor
from ...errors import IllegalTransition, InvalidInput, N_, NotFound
from ...extensions import db
from ...models import DataRequest, utcnow
from ...models.enums import TaskStatus
from ...models.fulfilment import DeactivationStatus, NotificationStatus, RecipientNotification
from ...policy.text import localized
from .. import notifications
from ..care_links import matching_links
from .common import concerned_activities, current_policy
from .systems_hooks import systems_hooks


def professionals_in_charge(req: DataRequest) -> list:
    """Every professional linked to the patient, each a recipient to notify (GDPR art. 19, policy art. 8.2 and 11).

    The joint controller "professional" is every professional the patient's data were shared with: each
    care link to the patient (in force or ended: the data reached them) and each professional the request
    was routed to, except one who answered "not my patient" and has no care link. Sorted by name, one each.
    """
    found: dict[int, object] = {}
    for link in matching_links(req):
        found.setdefault(link.professional.id, link.professional)
    for task in getattr(req, "tasks", []) or []:
        if task.status != TaskStatus.DECLINED:
            found.setdefault(task.professional.id, task.professional)
    return sorted(found.values(), key=lambda p: (p.last_name.lower(), p.first_name.lower(), p.id))


def _recipient_contacts(req: DataRequest, recipient) -> list[tuple[str | None, str | None, int | None]]:
    """Whom to tell for one recipient of the policy: [(address, why no address, professional id)].

    A recipient with an address is one task; the joint controller "professional in charge" is one task
    per professional linked to the patient (GDPR art. 19: every recipient the data were disclosed to).
    """
    if recipient.contact_email:
        if recipient.contact_is_placeholder:
            return [(None, "placeholder", None)]
        return [(recipient.contact_email, None, None)]
    if recipient.contact_rule == "professional_in_charge":
        pros = professionals_in_charge(req)
        return [(p.email, None, p.id) for p in pros] or [(None, "no_professional", None)]
    return [(None, recipient.contact_rule or "no_contact", None)]


def open_recipient_notifications(req: DataRequest, actor: Actor) -> list[RecipientNotification]:
    """One task per recipient of each processing concerned (policy art. 11), and per professional, once."""
    policy = current_policy()
    existing = {(n.activity, n.recipient_key, n.professional_id) for n in req.recipient_notifications}
    created = []
    # Executed through the systems: only the recipients of the activities whose data were changed (art. 19).
    changed = systems_hooks.executed_activities(req)
    for act in concerned_activities(req):
        if changed is not None and act.key not in changed:
            continue
        for r in policy.recipients_for(act.key):
            for contact, problem, professional_id in _recipient_contacts(req, r):
                if (act.key, r.key, professional_id) in existing:
                    continue
                task = RecipientNotification(request=req, activity=act.key, recipient_key=r.key, contact=contact,
                                             contact_problem=problem, professional_id=professional_id,
                                             status=NotificationStatus.PENDING)
                db.session.add(task)
                created.append(task)
    db.session.flush()
    if created:
        audit.record(actor, "recipient_notifications_opened", request=req, details={
            "recipients": [f"{t.activity}.{t.recipient_key}" + (f"#{t.professional_id}" if t.professional_id else "")
                           for t in created], "gdpr": "art. 19",
        })
    return created


def _task(req: DataRequest, task_id: int) -> RecipientNotification:
    task = next((t for t in req.recipient_notifications if t.id == task_id), None)
    if task is None:
        raise NotFound(N_("No such notification task on this request."))
    if task.status != NotificationStatus.PENDING:
        raise IllegalTransition(N_("This notification task is already closed."), code="task_closed")
    return task


def _recipient(task: RecipientNotification):
    return next((r for r in current_policy().recipients_for(task.activity) if r.key == task.recipient_key), None)


def notify_recipient(req: DataRequest, actor: Actor, task_id: int, *, message: str | None = None,
                     how: str | None = None) -> RecipientNotification:
    """Close a task as notified: by email to the recipient's contact (outbox), or, without one, stating how."""
    task = _task(req, task_id)
    how = (how or "").strip()
    if task.contact:
        recipient = _recipient(task)
        lang = current_policy().default_language
        msg = notifications.queue_email(task.contact, "recipient_notification", lang, {
            "reference": req.reference,
            "request_type": req.type,
            "recipient_name": localized(recipient.name, lang) if recipient else task.recipient_key,
            "activity_name": localized(current_policy().activity(task.activity).name, lang),
            "subject": req.subject,
            "message": (message or "").strip(),
        }, request=req)
        db.session.flush()   # the task names its email (queue_email does not flush)
        task.method, task.outbox_message_id = "email", msg.id
        task.reason = how or None
    else:
        if not how:
            raise InvalidInput(N_("This recipient has no address to write to: say how it was notified."),
                               code="required", field="how")
        task.method, task.reason = "other", how
    task.status = NotificationStatus.NOTIFIED
    task.closed_at, task.closed_by = utcnow(), actor.label
    audit.record(actor, "recipient_notified", request=req, details={
        "recipient": f"{task.activity}.{task.recipient_key}", "method": task.method, "gdpr": "art. 19",
    })
    return task


def close_recipient_impossible(req: DataRequest, actor: Actor, task_id: int, *, reason: str) -> RecipientNotification:
    """GDPR art. 19: notifying proves impossible or involves disproportionate effort; the reason is kept."""
    task = _task(req, task_id)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(N_("Give the reason why notifying this recipient is impossible or disproportionate."),
                           code="required", field="reason")
    task.status, task.method, task.reason = NotificationStatus.IMPOSSIBLE, None, reason
    task.closed_at, task.closed_by = utcnow(), actor.label
    audit.record(actor, "recipient_notification_impossible", request=req, details={
        "recipient": f"{task.activity}.{task.recipient_key}", "reason": reason, "gdpr": "art. 19",
    })
    return task


def recipient_rows(req: DataRequest, lang: str) -> list[dict]:
    policy = current_policy()
    rows = []
    for t in req.recipient_notifications:
        r = _recipient(t)
        rows.append({
            "id": t.id, "task": t, "activity": localized(policy.activity(t.activity).name, lang),
            "name": localized(r.name, lang) if r else t.recipient_key, "kind": r.kind if r else None,
            "professional": t.professional.full_name if t.professional is not None else None,
            "service": localized(r.service, lang) if r and r.service else "",
            "status": t.status, "contact": t.contact, "contact_problem": t.contact_problem,
            "reason": t.reason, "method": t.method, "closed_at": t.closed_at, "closed_by": t.closed_by,
        })
    return rows


def pending_obligations(req: DataRequest) -> list[str]:
    """What still has to be done after the answer (the policy's ``required_before: closed`` steps)."""
    out = [f"art19:{t.activity}.{t.recipient_key}" for t in req.recipient_notifications
           if t.status == NotificationStatus.PENDING]
    dz = req.account_deactivation
    if dz is not None and dz.status != DeactivationStatus.CONFIRMED:
        out.append("deactivation")
    return out


