"""Possible duplicates (issue 18): a second request of the same type from the same person while one is open.

Flagged, never merged or refused on that ground alone: GDPR art. 12(5) lets the controller refuse only a
manifestly unfounded or excessive request, and the DPO must show it. The person is the data subject's email
address, or their first and last names with the birth date when no address was given.
"""
from __future__ import annotations

import sqlalchemy as sa

from ..extensions import db
from ..models import DataRequest, RequestSubject
from ..models.enums import FINAL_STATUSES, Status

#: Requests that are done with, or never started: they are not "open".
_NOT_OPEN = [s.value for s in FINAL_STATUSES] + [Status.ANSWERED.value, Status.UNCONFIRMED.value]


def possible_duplicates(req: DataRequest) -> list[str]:
    """The references of the person's other open requests of the same type, oldest first."""
    subject = req.subject
    if subject is None or req.status in _NOT_OPEN:
        return []
    if subject.email:
        same_person = RequestSubject.email == subject.email
    elif subject.birth_date:
        same_person = sa.and_(sa.func.lower(RequestSubject.first_name) == subject.first_name.lower(),
                              RequestSubject.last_name_lower == subject.last_name.lower(),
                              RequestSubject.birth_date == subject.birth_date)
    else:
        return []
    q = (sa.select(DataRequest.reference)
         .join(RequestSubject, RequestSubject.request_id == DataRequest.id)
         .where(DataRequest.id != req.id, DataRequest.type == req.type, DataRequest.status.not_in(_NOT_OPEN),
                DataRequest.reference.is_not(None), same_person)
         .order_by(DataRequest.id))
    return list(db.session.scalars(q))
