"""Factories: build requests, staff and professionals through the same services the app uses."""
from __future__ import annotations

from datetime import date, datetime, timezone

from dsar import lifecycle
from dsar.actors import Actor
from dsar.extensions import db
from dsar.models import DataRequest, Professional, Requester, RequestSubject, Staff
from dsar.models.enums import Channel, IdentityMethod, RequestType, Status, SubjectKind
from dsar.security import hash_password

_counter = {"n": 0}
PASSWORD = "correct horse battery staple"


def _n() -> int:
    _counter["n"] += 1
    return _counter["n"]


def make_staff(role: str = "dpo", *, email: str | None = None, name: str | None = None, **kw) -> Staff:
    n = _n()
    staff = Staff(
        email=email or f"staff{n}@example.test",
        name=name or f"Staff {n}",
        role=role,
        password_hash=kw.pop("password_hash", None) or hash_password(kw.pop("password", PASSWORD)),
        **kw,
    )
    db.session.add(staff)
    db.session.flush()
    return staff


def make_professional(**kw) -> Professional:
    n = _n()
    values = dict(external_id=f"pro-{n}", first_name="Alice", last_name=f"Martin{n}", email=f"pro{n}@example.test",
                  rpps=f"{10000000000 + n}")
    values.update(kw)
    pro = Professional(**values)
    db.session.add(pro)
    db.session.flush()
    return pro


def make_request(
    *,
    policy=None,
    type: str = RequestType.ACCESS,
    subject_kind: str = SubjectKind.PATIENT,
    status: str = Status.OPEN,
    channel: str = Channel.WEB,
    received_at: datetime | None = None,
    clock_started_on: date | None = None,
    email: str | None = None,
    first_name: str = "Jeanne",
    last_name: str = "Dupont",
    language: str = "fr",
    activities: list | None = None,
    **kw,
) -> DataRequest:
    """A request in ``status``, with its subject and requester, and a 'received' audit event."""
    n = _n()
    received_at = received_at or datetime(2026, 3, 5, 10, 0, tzinfo=timezone.utc)
    email = email or f"person{n}@example.test"
    req = DataRequest(
        type=type,
        subject_kind=subject_kind,
        channel=channel,
        status=status,
        received_at=received_at,
        language=language,
        activities=activities if activities is not None else (["application"] if subject_kind == SubjectKind.PATIENT else ["client_file", "application"]),
        **kw,
    )
    req.subject = RequestSubject(kind=subject_kind, first_name=first_name, last_name=last_name, email=email)
    req.requester = Requester(acting_for="self", first_name=first_name, last_name=last_name, email=email)
    db.session.add(req)
    db.session.flush()
    lifecycle.next_reference(req)
    if status in (Status.OPEN, Status.IN_PROGRESS, Status.AWAITING_REQUESTER, Status.ANSWERED, Status.CLOSED):
        req.identity_method = req.identity_method or IdentityMethod.ACCOUNT
        if policy is not None:
            from dsar.deadlines import legal_day

            lifecycle.start_clock(req, policy, clock_started_on or legal_day(received_at))
    from dsar import audit

    audit.record(Actor.system(), "received", request=req, to_status=status, details={"channel": channel})
    db.session.flush()
    return req
