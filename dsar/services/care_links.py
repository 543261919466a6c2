"""Matching a request to the professionals in charge of its subject (policy art. 8.2).

The request gives the subject's email, phone and birth date; a care link holds
the same contact data for one patient of one professional (dsar.contacts reads
both by the same rule). A link matches when

* the emails are equal (lower-cased) — an email is what the requester confirmed
  or what their account vouches for — and the birth dates do not contradict each
  other (a parent and a child sharing one mailbox are told apart by them); or
* the phones are equal (normalised to +33…) *and* the birth dates are equal —
  a phone alone is too often shared within a family.

Only links still in force (``CareLink.is_live``) of professionals still active
(``Professional.is_live``: contract not ended) count. Names are not matched:
spellings differ, and a wrong match would send a patient's request to someone
else's doctor.
"""
from __future__ import annotations

import functools
from datetime import date

import sqlalchemy as sa
from flask import current_app

from ..contacts import email_key, phone_key
from ..deadlines import legal_day
from ..extensions import db
from ..models import CareLink, DataRequest, Professional, utcnow
from ..models.enums import SubjectKind
from ..policy.errors import PolicyLookupError

PROFESSIONAL_ROUTE = "professional_in_charge"


def _policy():
    return current_app.extensions["dsar_policy"]


def matching_links(req: DataRequest) -> list[CareLink]:
    """Every care link that designates the request's subject (in force or not), professionals loaded."""
    subject = req.subject
    if subject is None or req.subject_kind != SubjectKind.PATIENT:
        return []
    email, phone, born = email_key(subject.email), phone_key(subject.phone), subject.birth_date
    by_phone = bool(phone) and born is not None
    if not email and not by_phone:
        return []
    with db.session.no_autoflush:  # care links do not depend on what this transaction has not written yet
        return list(db.session.scalars(_matching_query(bool(email), born is not None, by_phone),
                                       {"email": email, "phone": phone, "born": born}).unique())


@functools.cache
def _matching_query(by_email: bool, born_known: bool, by_phone: bool) -> sa.Select:
    """The query of ``matching_links`` for one shape of what the request gives, built once per process (issue 19:
    building it cost a third of the lookup); its values are bound parameters."""
    conditions = []
    if by_email:
        same_birth = (sa.or_(CareLink.patient_birth_date.is_(None), CareLink.patient_birth_date == sa.bindparam("born"))
                      if born_known else sa.true())
        conditions.append(sa.and_(CareLink.patient_email == sa.bindparam("email"), same_birth))
    if by_phone:
        conditions.append(sa.and_(CareLink.patient_phone == sa.bindparam("phone"),
                                  CareLink.patient_birth_date == sa.bindparam("born")))
    return (sa.select(CareLink).join(CareLink.professional).where(sa.or_(*conditions))
            .options(sa.orm.contains_eager(CareLink.professional)).order_by(CareLink.id))


def find_professionals_for(req: DataRequest, *, today: date | None = None,
                           links: list[CareLink] | None = None) -> list[Professional]:
    """The professionals in charge of the request's subject now (see the matching rule above); ``links``: the
    request's ``matching_links`` when the caller has them already."""
    today = today or legal_day(utcnow())
    found: dict[int, Professional] = {}
    for link in matching_links(req) if links is None else links:
        if link.is_live(today) and link.professional.is_live(today):
            found.setdefault(link.professional.id, link.professional)
    return sorted(found.values(), key=lambda p: (p.last_name.lower(), p.first_name.lower(), p.id))


def policy_route(req: DataRequest, policy=None) -> str:
    """What the policy's routing table says for this request: "professional_in_charge" or "staff".

    Every activity the request concerns must route to the professional (a patient
    asking about IDOMED's client file as well is IDOMED's to answer, with staff
    routing the Application part by hand if needed).
    """
    policy = policy or _policy()
    routing = policy.routing
    if not req.activities:
        return routing.default_route
    routes = []
    for activity in req.activities:
        try:
            rule = policy.route_for(activity, req.subject_kind)
        except PolicyLookupError:
            rule = None
        routes.append(rule.route_to if rule else routing.default_route)
    return PROFESSIONAL_ROUTE if all(r == PROFESSIONAL_ROUTE for r in routes) else "staff"
