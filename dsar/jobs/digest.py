"""The DPO's daily digest: what is due soon, what is overdue, what waits on professionals.

Sent once a day (schedule.PERIODIC, "dpo-digest"); a second run the same day
sends nothing, so a retried or doubled cron never mails twice. The email holds
references, dates and professionals' names, and links to the back-office: no
data subject's name or email.
"""
from __future__ import annotations

import logging
from datetime import datetime, time, timedelta

import sqlalchemy as sa

from .. import audit
from ..actors import Actor
from ..deadlines import PARIS, legal_day
from ..extensions import db
from ..models import DataRequest, Event, Professional, ProfessionalTask, utcnow
from ..models.enums import ACTIVE_STATUSES, TaskStatus
from ..services import identity_reviews, notifications
from ..urls import public_url
from . import job

log = logging.getLogger(__name__)

DUE_SOON_DAYS = 7
MAX_LINES = 100  # per section; the totals are always exact
DIGEST_ACTION = "dpo_digest_sent"


def _already_sent_today(now: datetime) -> bool:
    start = datetime.combine(legal_day(now), time(0), tzinfo=PARIS)
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Event).where(
            Event.stream == "system", Event.action == DIGEST_ACTION, Event.occurred_at >= start)
    ) > 0


def digest_context(now: datetime | None = None) -> dict:
    """What the digest says, as plain values (also used by tests)."""
    now = now or utcnow()
    today = legal_day(now)
    active = DataRequest.status.in_([s.value for s in ACTIVE_STATUSES])

    def lines(*where):
        q = (sa.select(DataRequest.reference, DataRequest.type, DataRequest.due_date, DataRequest.status)
             .where(active, *where).order_by(DataRequest.due_date, DataRequest.id))
        total = db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest).where(active, *where))
        rows = [{"reference": r.reference, "type": r.type, "due_date": r.due_date, "status": r.status,
                 "days_left": (r.due_date - today).days,
                 "url": public_url("backoffice.request_GET", reference=r.reference)}
                for r in db.session.execute(q.limit(MAX_LINES))]
        return rows, total

    overdue, overdue_total = lines(DataRequest.due_date < today)
    due_soon, due_soon_total = lines(DataRequest.due_date >= today,
                                     DataRequest.due_date <= today + timedelta(days=DUE_SOON_DAYS))
    task_q = (
        sa.select(DataRequest.reference, DataRequest.due_date, ProfessionalTask.created_at,
                  ProfessionalTask.acknowledged_at, ProfessionalTask.reminder_count,
                  Professional.first_name, Professional.last_name)
        .join(DataRequest, DataRequest.id == ProfessionalTask.request_id)
        .join(Professional, Professional.id == ProfessionalTask.professional_id)
        .where(ProfessionalTask.status.in_([TaskStatus.OPEN.value, TaskStatus.ACKNOWLEDGED.value]), active)
        .order_by(DataRequest.due_date, ProfessionalTask.id)
    )
    with_pros_total = db.session.scalar(sa.select(sa.func.count()).select_from(task_q.subquery()))
    with_pros = [{"reference": r.reference, "due_date": r.due_date,
                  "days_left": (r.due_date - today).days if r.due_date else None,
                  "professional": f"{r.first_name} {r.last_name}".strip(),
                  "sent_on": legal_day(r.created_at), "acknowledged": r.acknowledged_at is not None,
                  "reminders": r.reminder_count,
                  "url": public_url("backoffice.request_GET", reference=r.reference)}
                 for r in db.session.execute(task_q.limit(MAX_LINES))]
    reviews, reviews_total = identity_reviews.waiting(limit=MAX_LINES, now=now)
    for r in reviews:
        r["url"] = public_url("backoffice.request_GET", reference=r["reference"])
        r["days"] = r["waited"].days
    return {
        "identity_reviews": reviews, "identity_reviews_total": reviews_total,
        "today": today, "overdue": overdue, "overdue_total": overdue_total, "due_soon": due_soon,
        "due_soon_total": due_soon_total, "with_professionals": with_pros, "with_professionals_total": with_pros_total,
        "due_soon_days": DUE_SOON_DAYS, "queue_url": public_url("backoffice.queue_GET"),
    }


@job
def send_dpo_digest() -> str:
    """Periodic: write today's digest to the DPO's outbox (once a day)."""
    now = utcnow()
    if _already_sent_today(now):
        return "already sent today"
    ctx = digest_context(now)
    msg = notifications.email_dpo("dpo_digest", ctx)
    if msg is None:
        log.warning("dpo digest: no DPO address configured (DSAR_DPO_EMAIL or the policy's DPO contact)")
        db.session.rollback()
        return "no DPO address"
    db.session.flush()   # the audit event names the message
    audit.record(Actor.system("dpo-digest"), DIGEST_ACTION, stream="system", details={
        "day": ctx["today"], "overdue": ctx["overdue_total"], "due_soon": ctx["due_soon_total"],
        "with_professionals": ctx["with_professionals_total"], "identity_reviews": ctx["identity_reviews_total"],
        "outbox_id": msg.id,
    })
    db.session.commit()
    return f"sent: {ctx['overdue_total']} overdue, {ctx['due_soon_total']} due soon, {ctx['with_professionals_total']} with professionals"
