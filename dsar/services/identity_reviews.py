"""Identity reviews waiting for the privacy team (issue 18): they come first in the queue with how long they have
waited, the assignee (or the DPO) is told when a document arrives, and the daily digest lists them.

GDPR art. 12(6): the controller may ask for what confirms the identity, and must then look at it promptly — the
one-month clock starts only once the identity is verified (policy art. 8.3), so a review left waiting delays the
person's answer without counting against any deadline. The emails hold references and links, no personal data.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from ..extensions import db
from ..models import DataRequest, Document, Staff, utcnow
from ..models.enums import DocumentKind, Status
from . import notifications
from ..urls import public_url

MAX_LISTED = 100


def waiting(*, limit: int = MAX_LISTED, now: datetime | None = None) -> tuple[list[dict], int]:
    """Requests in identity review, the longest-waiting first: (rows, total). Waiting since the oldest document
    still to check (the request's last change when none is left)."""
    now = now or utcnow()
    since = (sa.select(sa.func.min(Document.uploaded_at))
             .where(Document.request_id == DataRequest.id,
                    Document.kind.in_([DocumentKind.IDENTITY.value, DocumentKind.AUTHORITY.value]),
                    Document.review_status == "pending")
             .scalar_subquery())
    where = DataRequest.status == Status.IDENTITY_REVIEW.value
    total = db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest).where(where))
    q = (sa.select(DataRequest.reference, DataRequest.type, since.label("since"), DataRequest.updated_at,
                   Staff.name.label("assignee"))
         .select_from(DataRequest).outerjoin(Staff, Staff.id == DataRequest.assignee_id)
         .where(where).order_by(sa.func.coalesce(since, DataRequest.updated_at), DataRequest.id).limit(limit))
    rows = []
    for r in db.session.execute(q):
        started = _aware(r.since or r.updated_at)
        rows.append({"reference": r.reference, "type": r.type, "since": started, "waited": now - started,
                     "assignee": r.assignee})
    return rows, total


def _aware(value: datetime) -> datetime:
    from datetime import timezone

    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def notify_document_arrived(req: DataRequest, doc: Document):
    """Tell the assignee (or the DPO mailbox) that a document waits for review; returns the outbox message."""
    context = {"reference": req.reference, "kind": doc.kind, "uploaded_at": doc.uploaded_at,
               "url": public_url("backoffice.request_GET", reference=req.reference)}
    assignee = req.assignee
    if assignee is not None and assignee.active and assignee.email:
        return notifications.queue_email(assignee.email, "document_arrived", "fr", context)
    return notifications.email_dpo("document_arrived", context)
