"""The task link: how a professional, who has no account, opens their task (policy art. 8.2).

The link is a signed token (purpose "task") carrying the task id and a random
nonce. The database keeps the nonce's SHA-256 — forgetting it revokes the link —
and, so that reminders can carry the same link, a copy encrypted with the file
keys. The link expires ``task_link_valid_days`` after it was issued; a reminder
sent when it is about to expire carries a new one, and staff (or the
professional, from the expired page) can have a new one sent to the address on
file. Nothing here commits.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app

from ... import audit
from ...actors import Actor
from ...errors import N_
from ...extensions import db
from ...models import ProfessionalTask, TaskOpening, utcnow
from ...models.enums import ActorType
from ...security import decrypt_secret, encrypt_secret
from ...tokens import TokenError, TokenExpired, make_token, new_nonce, read_token, same_hash
from ...urls import public_url

# The signature of a task token is checked with this bound; the real expiry is the task's expires_at.
LINK_SIGNATURE_MAX_AGE = 400 * 86400


class TaskLinkInvalid(TokenError):
    """A link that is not one of ours (tampered, truncated, made for another purpose)."""

    status_code = 400
    code = "bad_token"


class TaskLinkGone(TokenExpired):
    """A genuine link that no longer opens the task; ``reason`` says why, ``task`` is the task when known."""

    status_code = 410
    code = "task_link_gone"

    def __init__(self, reason: str, task: ProfessionalTask | None = None):
        messages = {
            "expired": N_("This link has expired."),
            "revoked": N_("This link has been withdrawn."),
            "superseded": N_("This link is no longer valid: a newer link was sent."),
        }
        super().__init__(messages[reason], code=f"task_link_{reason}")
        self.reason = reason
        self.task = task


def _policy():
    return current_app.extensions["dsar_policy"]


def issue_link(task: ProfessionalTask, now: datetime) -> None:
    """A new link for the task (any earlier one stops working), valid for the policy's full period."""
    nonce, digest = new_nonce()
    task.token_hash = digest
    task.link_secret = encrypt_secret(nonce)
    task.revoked_at = None
    task.expires_at = now + timedelta(days=_policy().routing.task_link_valid_days)


def task_token(task: ProfessionalTask) -> str:
    """The secret part of the task's current link."""
    if not task.link_secret:
        raise ValueError("this task has no link (revoked)")
    return make_token("task", {"t": task.id, "n": decrypt_secret(task.link_secret)})


def task_url(task: ProfessionalTask) -> str:
    return public_url("tasks.task_GET", token=task_token(task))


def task_from_token(token: str, *, now: datetime | None = None) -> ProfessionalTask:
    """The task a link opens, or TaskLinkInvalid (400) / TaskLinkGone (410, with the reason)."""
    now = now or utcnow()
    try:
        payload = read_token("task", token, max_age=LINK_SIGNATURE_MAX_AGE)
    except TokenExpired:
        raise TaskLinkGone("expired") from None
    except TokenError:
        raise TaskLinkInvalid(N_("This link is not valid.")) from None
    task_id, nonce = payload.get("t"), payload.get("n")
    if not isinstance(task_id, int) or isinstance(task_id, bool) or not isinstance(nonce, str):
        raise TaskLinkInvalid(N_("This link is not valid."))
    task = db.session.get(ProfessionalTask, task_id)
    if task is None:
        raise TaskLinkInvalid(N_("This link is not valid."))
    if task.token_hash is None or task.revoked_at is not None:
        raise TaskLinkGone("revoked", task)
    # The nonce binds the token to this task's current link: a token naming another task, or an
    # earlier link of this one, does not match the stored hash.
    if not same_hash(nonce, task.token_hash):
        raise TaskLinkGone("superseded", task)
    if now >= task.expires_at:
        raise TaskLinkGone("expired", task)
    return task


def record_refused_link(err: TaskLinkGone, ip: str | None, user_agent: str | None) -> None:
    """A genuine but dead link was used: keep the trace (no personal data in it)."""
    if err.task is None:
        return
    actor = Actor(ActorType.PROFESSIONAL, str(err.task.professional_id), err.task.professional.full_name,
                  ip=ip, user_agent=user_agent)
    audit.record(actor, "task_link_refused", request=err.task.request, touch=False,
                 details={"task_id": err.task.id, "reason": err.reason})


def record_opening(task: ProfessionalTask, actor: Actor, *, now: datetime | None = None) -> TaskOpening:
    """Every opening of a task link: a TaskOpening row and an audit event (time, IP, user agent)."""
    opening = TaskOpening(task_id=task.id, opened_at=now or utcnow(), ip=actor.ip, user_agent=actor.user_agent)
    db.session.add(opening)
    audit.record(actor, "task_opened", request=task.request, touch=False, details={"task_id": task.id})
    return opening


def ensure_link_lasts(task: ProfessionalTask, *, until: datetime, now: datetime) -> bool:
    """Before a reminder: a link that would expire before ``until`` is replaced. True when renewed."""
    if task.link_secret and task.expires_at > until:
        return False
    issue_link(task, now)
    audit.record(Actor.system("reminders"), "task_link_sent", request=task.request, touch=False, details={
        "task_id": task.id, "professional_id": task.professional_id, "expires_at": task.expires_at,
        "reason": "renewed_with_reminder"})
    return True
