"""Routing patients' requests to the professional in charge (policy art. 8.2, GDPR art. 26(3)).

"Le Patient doit exercer ses droits auprès de l'Utilisateur Professionnel le
prenant en charge" (policy art. 8.2): the Application Idomed is under joint
responsibility (art. 5), IDOMED does not read what is shared in it, and the
professional answers their patients' requests. A patient who writes to IDOMED
instead is never turned away (GDPR art. 26(3)): the request is forwarded and
keeps the clock it started with.

Who is in charge is services/care_links.py; the link the professional acts
through, task_links.py; what they do with it, task_actions.py.

Nothing here commits: the caller does, so a routing, its audit events and its
emails land together or not at all.
"""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Iterable

import sqlalchemy as sa
from flask import current_app

from ... import audit, lifecycle
from ...actors import Actor
from ...deadlines import legal_day
from ...errors import IllegalTransition, InvalidInput, N_, PermissionDenied
from ...extensions import db
from ...models import DataRequest, Professional, ProfessionalTask, utcnow
from ...models.base import take_id
from ...models.enums import ActorType, Status, SubjectKind, TaskStatus
from ..directory import professionals_left
from ..care_links import PROFESSIONAL_ROUTE, find_professionals_for, matching_links, policy_route
from .task_emails import email_dpo, email_professional
from .task_links import issue_link


class RoutingOutcome(StrEnum):
    ROUTED = "routed_to_professional"      # one professional in charge: routed automatically
    NEEDS_CHOICE = "needs_choice"          # several: staff choose
    NO_PROFESSIONAL = "no_professional"    # no care link matches: staff handle it
    CONTRACT_ENDED = "contract_ended"      # links match, but the professional left or the care ended: staff
    STAFF_BY_POLICY = "staff_by_policy"    # not a patient's request about the Application: staff
    SKIPPED = "skipped"                    # not open, or already with a professional


def _policy():
    return current_app.extensions["dsar_policy"]


def live_tasks(req: DataRequest) -> list[ProfessionalTask]:
    """The request's tasks a professional can still act on."""
    return [t for t in req.tasks if t.is_live]


def live_task(req: DataRequest) -> ProfessionalTask | None:
    """The request's latest live task, if any."""
    tasks = live_tasks(req)
    return tasks[-1] if tasks else None


def auto_route(req: DataRequest, actor: Actor, *, now: datetime | None = None) -> str:
    """Apply the policy's routing when a request becomes open. Returns a RoutingOutcome value.

    One professional in charge: the request goes to them. Several: staff choose
    (event ``routing_needs_choice`` with the candidates). None, or their contract
    ended: staff handle it (event ``routing_to_staff`` says why). Anything else
    than a patient's request about the Application: staff.
    The routing is the service's decision, so it is recorded as the system's,
    with who triggered it.
    """
    now = now or utcnow()
    if req.status != Status.OPEN or live_tasks(req):
        return RoutingOutcome.SKIPPED
    policy = _policy()
    system = Actor.system("routing")
    base = {"policy": policy.article("routing") or "art. 8.2", "triggered_by": f"{actor.type}:{actor.id or '-'}"}
    if policy_route(req, policy) != PROFESSIONAL_ROUTE:
        audit.record(system, "routing_to_staff", request=req,
                     details=dict(base, reason=RoutingOutcome.STAFF_BY_POLICY.value,
                                  subject_kind=req.subject_kind, activities=list(req.activities or [])))
        return RoutingOutcome.STAFF_BY_POLICY
    today = legal_day(now)
    links = matching_links(req)  # one care-link query for the whole decision
    candidates = find_professionals_for(req, today=today, links=links)
    if len(candidates) == 1:
        route_to_professional(req, system, candidates[0], now=now, automatic=True, care_link_matched=True)
        return RoutingOutcome.ROUTED
    if len(candidates) > 1:
        audit.record(system, "routing_needs_choice", request=req,
                     details=dict(base, candidates=[p.id for p in candidates]))
        return RoutingOutcome.NEEDS_CHOICE
    outcome = RoutingOutcome.CONTRACT_ENDED if links else RoutingOutcome.NO_PROFESSIONAL
    audit.record(system, "routing_to_staff", request=req, details=dict(
        base, reason=outcome.value, ended_professional_ids=sorted({link.professional_id for link in links})))
    return outcome


def route_to_professional(req: DataRequest, actor: Actor, professional: Professional,
                          expected_version: int | None = None, *, now: datetime | None = None,
                          automatic: bool = False, care_link_matched: bool | None = None):
    """Hand the request to ``professional``: a task, its link, an email. The clock is not touched.

    Any earlier live task (another professional) is cancelled and its link revoked. ``care_link_matched``: whether
    a care link designates them, when the caller knows it already (``auto_route``); else it is looked up.
    """
    now = now or utcnow()
    today = legal_day(now)
    if req.subject_kind != SubjectKind.PATIENT:
        raise InvalidInput(N_("Only a patient's request can be sent to a professional (policy art. 8.2)."),
                           code="not_a_patient", field="professional_id")
    if not professional.is_live(today):
        raise InvalidInput(N_("This professional is no longer active or their contract has ended: the request stays with staff."),
                           code="professional_inactive", field="professional_id")
    current = live_tasks(req)
    if any(t.professional_id == professional.id for t in current):
        raise IllegalTransition(N_("This request is already with this professional. Send the link again instead."),
                                code="already_routed")
    matched = care_link_matched
    if matched is None:
        matched = any(link.professional_id == professional.id for link in matching_links(req))
    change = lifecycle.transition(req, "route_to_professional", actor, expected_version=expected_version, details={
        "professional_id": professional.id,
        "professional": professional.full_name,
        "care_link_matched": matched,
        "automatic": automatic,
        "clock_started_on": req.clock_started_on,
        "due_date": req.due_date,
    })
    for old in current:
        close_task(old, actor, TaskStatus.CANCELLED, now, reason="rerouted")
    req.handler = "professional"
    # Ids set with the objects: the task reads as complete before its INSERT (the unit of work writes it later).
    task = ProfessionalTask(id=take_id(db.session, ProfessionalTask), request=req, request_id=req.id,
                            professional=professional, professional_id=professional.id, status=TaskStatus.OPEN,
                            created_at=now, expires_at=now)
    db.session.add(task)
    if task.id is None:
        db.session.flush()  # SQLite: the INSERT gives the id the link and its event need
    issue_link(task, now)   # before the INSERT where the id was taken: the task is written once (issue 19)
    audit.record(actor, "task_link_sent", request=req, details={
        "task_id": task.id, "professional_id": professional.id, "expires_at": task.expires_at, "reason": "assigned"})
    email_professional(task, "task_assigned", now=now)
    return change


def route_to_staff(req: DataRequest, actor: Actor, *, reason: str, expected_version: int | None = None,
                   now: datetime | None = None):
    """Take the request back from professionals: live tasks are cancelled, the request is open for staff."""
    now = now or utcnow()
    reason = (reason or "").strip() or "staff decision"
    tasks = live_tasks(req)
    if Status(req.status) == Status.AWAITING_REQUESTER:
        # The clock is paused on the requester; the request stays paused, but staff now handle it.
        lifecycle.check_version(req, expected_version)
        audit.record(actor, "route_to_staff", request=req, from_status=req.status, to_status=req.status,
                     details={"reason": reason, "cancelled_task_ids": [t.id for t in tasks]})
        change = lifecycle.Change("route_to_staff", Status(req.status), Status(req.status), None)
    else:
        change = lifecycle.transition(req, "route_to_staff", actor, expected_version=expected_version,
                                      details={"reason": reason, "cancelled_task_ids": [t.id for t in tasks]})
    for task in tasks:
        close_task(task, actor, TaskStatus.CANCELLED, now, reason=reason)
    req.handler = "staff"
    return change


def resend_task_link(task: ProfessionalTask, actor: Actor, *, now: datetime | None = None) -> ProfessionalTask:
    """Staff send a new link (the old one stops working), valid for the policy's full period."""
    now = now or utcnow()
    if not actor.is_staff_like:
        raise PermissionDenied(N_("You are not allowed to do this."), code="forbidden")
    require_live(task)
    issue_link(task, now)
    audit.record(actor, "task_link_sent", request=task.request, details={
        "task_id": task.id, "professional_id": task.professional_id, "expires_at": task.expires_at, "reason": "resent"})
    email_professional(task, "task_assigned", now=now, resent=True)
    return task


def revoke_task(task: ProfessionalTask, actor: Actor, *, now: datetime | None = None):
    """Staff withdraw the task: its link stops working and the request comes back to staff."""
    now = now or utcnow()
    if not actor.is_staff_like:
        raise PermissionDenied(N_("You are not allowed to do this."), code="forbidden")
    require_live(task)
    return route_to_staff(task.request, actor, reason="task_revoked", now=now)


def withdraw_tasks_of_professionals(professional_ids: Iterable[int], *, now: datetime | None = None) -> int:
    """Professionals who left (inactive, contract ended) keep no task: back to staff, DPO alerted. Returns how many."""
    ids = list(professional_ids)
    if not ids:
        return 0
    now = now or utcnow()
    tasks = db.session.scalars(
        sa.select(ProfessionalTask).where(ProfessionalTask.professional_id.in_(ids), ProfessionalTask.is_live)
        .order_by(ProfessionalTask.id)
    ).all()
    system = Actor.system("directory")
    for task in tasks:
        withdraw_task(task, reason="professional_inactive", now=now, actor=system)
    return len(tasks)


def renew_expired_link(task: ProfessionalTask, *, ip: str | None, user_agent: str | None,
                       now: datetime | None = None) -> None:
    """From an expired link's page: a new link goes to the professional's address on file (never elsewhere)."""
    now = now or utcnow()
    require_live(task)
    if not task.professional.is_live(legal_day(now)):
        raise IllegalTransition(N_("This request can no longer be handled through this link. Please contact the DPO."),
                                code="professional_inactive")
    issue_link(task, now)
    actor = Actor(ActorType.SYSTEM, None, "task link renewal", ip=ip, user_agent=user_agent)
    audit.record(actor, "task_link_sent", request=task.request, details={
        "task_id": task.id, "professional_id": task.professional_id, "expires_at": task.expires_at,
        "reason": "renewed_from_expired_link"})
    email_professional(task, "task_assigned", now=now, resent=True)


def require_live(task: ProfessionalTask) -> None:
    """Staff (or the expired page) act on a task only while it is live and its request not final."""
    if not task.is_live or task.request.is_final:
        raise IllegalTransition(N_("This task is closed. To involve the professional again, route the request again."),
                                code="task_closed")


def close_task(task: ProfessionalTask, actor: Actor, status: TaskStatus, now: datetime, *, reason: str) -> None:
    """The task ends (cancelled, declined): its link stops working."""
    task.status = status
    task.token_hash = None
    task.link_secret = None
    task.revoked_at = now
    if status == TaskStatus.DECLINED:
        task.declined_at = now
    audit.record(actor, "task_closed", request=task.request, details={
        "task_id": task.id, "professional_id": task.professional_id, "status": str(status), "reason": reason})


def withdraw_task(task: ProfessionalTask, *, reason: str, now: datetime, actor: Actor | None = None) -> None:
    """A professional who left (inactive, contract ended) keeps no task: back to staff, DPO alerted."""
    system = actor or Actor.system("reminders")
    if Status(task.request.status) not in (Status.OPEN, Status.IN_PROGRESS, Status.AWAITING_REQUESTER):
        close_task(task, system, TaskStatus.CANCELLED, now, reason="request_closed")
        return
    route_to_staff(task.request, system, reason=reason, now=now)
    email_dpo(task, "task_declined", reason=reason, now=now)


def _on_professionals_left(_sender, *, professional_ids, **_) -> int:
    """services.directory: professionals made inactive (or whose contract ended) keep no task."""
    return withdraw_tasks_of_professionals(professional_ids)


professionals_left.connect(_on_professionals_left, weak=False)


# --- keeping tasks in step with the request ----------------------------------------------------------------------


def _on_request_changed(req: DataRequest, change, actor: Actor, **_):
    """A request that staff took over, answered or closed keeps no live task: the link stops working."""
    if change.action in ("route_to_professional", "route_to_staff", "acknowledge", "note"):
        return
    handing_over = change.action == "assign"        # lifecycle.assign gives the request to staff
    finished = change.to_status.is_final or (change.to_status == Status.ANSWERED and actor.type != ActorType.PROFESSIONAL)
    if not (handing_over or finished):
        return
    now = utcnow()
    for task in live_tasks(req):
        close_task(task, actor, TaskStatus.CANCELLED, now, reason=f"request_{change.action}")


lifecycle.request_changed.connect(_on_request_changed)
