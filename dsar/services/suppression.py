"""The art. 21(3) suppression list: people who objected to direct marketing are never prospected again.

GDPR art. 21(2)-(3): an objection to processing for direct marketing is absolute; once it is answered the
data "shall no longer be processed for such purposes". Deleting the contact is not enough (it would come
back with the next purchased file), so dsar keeps a list of the HMAC of the normalised email and phone
(``dsar.protected``) and exposes it to the marketing tools: the JSON API (``suppression`` scope, paginated,
hashes only) and a CSV export in the back-office. Policy art. 8.1: no reason is needed to object to prospecting.

The contract puts this module at ``dsar/systems/suppression.py``; it lives with the services because it does
not touch the systems (it only needs the policy and dsar's own database) and it is used without a systems file.
"""
from __future__ import annotations

import csv
import io
from typing import Iterator

import sqlalchemy as sa

from .. import audit
from ..actors import Actor
from ..extensions import db
from ..models import DataRequest
from ..models.enums import RequestType
from ..models.execution import SuppressionEntry
from ..protected import keyed_hash, normalise_email, normalise_phone
from .fulfilment.common import concerned_activities

KINDS = ("email", "phone")
#: Largest page the API serves (a marketing tool syncs the whole list in pages).
MAX_PAGE = 1000


def concerns_direct_marketing(req: DataRequest) -> bool:
    """An objection about an activity that prospects (a sub-purpose marked ``direct_marketing`` in the policy)."""
    if req.type != RequestType.OBJECTION:
        return False
    return any(sp.direct_marketing for act in concerned_activities(req) for sp in act.sub_purposes)


def hashed_identifiers(*, email: str | None = None, phone: str | None = None) -> list[tuple[str, str]]:
    """[(kind, hash)] for the identifiers given, normalised first."""
    out = []
    if email and normalise_email(email):
        out.append(("email", keyed_hash(normalise_email(email))))
    if phone and normalise_phone(phone):
        out.append(("phone", keyed_hash(normalise_phone(phone))))
    return out


def suppress_subject(req: DataRequest, actor: Actor) -> list[SuppressionEntry]:
    """Add the request's subject (email and phone) to the list, once; audited without the values (art. 21(3))."""
    subject = req.subject
    pairs = hashed_identifiers(email=getattr(subject, "email", None), phone=getattr(subject, "phone", None))
    added = []
    for kind, value_hash in pairs:
        exists = db.session.scalar(sa.select(SuppressionEntry.id).filter_by(kind=kind, value_hash=value_hash))
        if exists is not None:
            continue
        entry = SuppressionEntry(kind=kind, value_hash=value_hash, request_id=req.id, added_by=actor.label)
        db.session.add(entry)
        added.append(entry)
    db.session.flush()
    audit.record(actor, "suppression_listed", request=req, details={
        "kinds": [k for k, _ in pairs], "added": len(added), "gdpr": "art. 21(3)",
    })
    return added


def is_suppressed(*, email: str | None = None, phone: str | None = None) -> bool:
    pairs = hashed_identifiers(email=email, phone=phone)
    if not pairs:
        return False
    cond = sa.or_(*[sa.and_(SuppressionEntry.kind == k, SuppressionEntry.value_hash == h) for k, h in pairs])
    return db.session.scalar(sa.select(sa.func.count()).select_from(SuppressionEntry).where(cond)) > 0


def page(*, after: int = 0, limit: int = 500, kind: str | None = None) -> list[SuppressionEntry]:
    """Entries with an id above ``after``, oldest first: the cursor never skips an entry added meanwhile."""
    limit = max(1, min(int(limit), MAX_PAGE))
    q = sa.select(SuppressionEntry).where(SuppressionEntry.id > after).order_by(SuppressionEntry.id).limit(limit)
    if kind:
        q = q.where(SuppressionEntry.kind == kind)
    return list(db.session.scalars(q))


CSV_COLUMNS = ("kind", "hmac_sha256", "added_at")


def stream_csv() -> Iterator[str]:
    """The whole list as CSV (comma, UTF-8), a few hundred rows a chunk: kind, hash, instant added (UTC)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    after = 0
    while True:
        entries = page(after=after, limit=MAX_PAGE)
        if not entries:
            break
        for e in entries:
            writer.writerow((e.kind, e.value_hash, e.added_at.isoformat()))
        after = entries[-1].id
        yield buf.getvalue()
        buf.seek(0)
        buf.truncate()
    yield buf.getvalue()
