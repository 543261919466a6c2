"""The manual connector: a system nobody can query (the accounting tool, paper archives).

Its owner gets a task link by email, like the professionals. For collection, from it they upload an export
(JSON, CSV, ZIP, PDF or image, checked by its content) or confirm "nothing held" (issue 16); for execution,
they carry out the verb and confirm how many records they handled (issue 17). This module opens the tasks and
finds the run a link stands for; the owner's answers are in ``dsar.systems.owner_answers``.
"""
from __future__ import annotations

import hashlib
import secrets

import sqlalchemy as sa
from flask_babel import force_locale, gettext

from ... import audit
from ...actors import Actor
from ...extensions import db
from ...models.systems import RunPurpose, RunStatus, SystemRun
from ...services.notifications import queue_email
from ...urls import public_url
from .base import ConnectorError, register


@register("manual")
class ManualConnector:
    def __init__(self, system):
        self.system = system

    def collect(self, run, store, identities, recorder) -> None:
        raise ConnectorError(f"system {self.system.key!r} is collected by its owner through the task link")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_owner_task(run: SystemRun, system, req, actor) -> str:
    """Send the owner their task link; the run waits for them. Returns the link's secret. Does not commit."""
    token = secrets.token_urlsafe(32)
    run.owner_token_hash = _hash(token)
    run.status = RunStatus.WAITING_OWNER
    lang = "fr"
    queue_email(system.owner_email, "system_owner_task", lang, {
        "owner_name": system.owner_name, "system_name": system.label(lang), "reference": req.reference,
        "link": public_url("systems.owner_GET", token=token), "due_date": req.due_date}, request=req)
    audit.record(actor, "manual_system_task_opened", request=req, touch=False,
                 details={"system": system.key, "run": run.id})
    return token


def run_from_owner_token(token: str) -> SystemRun | None:
    if not token or len(token) > 100:
        return None
    return db.session.scalar(sa.select(SystemRun).where(SystemRun.owner_token_hash == _hash(token)))


def open_execution_task(run: SystemRun, system, capture: dict, actor: Actor) -> None:
    """Email the owner their link to carry out the verb; the run waits for them (``waiting_owner``). The caller
    commits."""
    token = secrets.token_urlsafe(32)
    run.owner_token_hash = _hash(token)
    run.status = RunStatus.WAITING_OWNER
    lang = "fr"    # owners are IDOMED's own services (like collection's owner emails)
    with force_locale(lang):
        title = gettext("%(system)s: request %(reference)s", system=system.label(lang), reference=run.request.reference)
        text = gettext("A request must be carried out in %(system)s. Open the link to see what to do, then confirm "
                       "how many records you handled.", system=system.label(lang))
    queue_email(system.owner_email, "notice", lang, {
        "title": title, "paragraphs": [text],
        "link": public_url("execution_owner.owner_execute_GET", token=token)}, request=run.request)
    audit.record(actor, "manual_execution_task_opened", request=run.request, touch=False,
                 details={"system": system.key, "run": run.id, "verb": capture["verb"]})


def execution_run_from_token(token: str) -> SystemRun | None:
    if not token or len(token) > 100:
        return None
    return db.session.scalar(sa.select(SystemRun).where(SystemRun.owner_token_hash == _hash(token),
                                                       SystemRun.purpose == RunPurpose.EXECUTE))
