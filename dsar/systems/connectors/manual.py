"""The manual connector: a system nobody can query (the accounting tool, paper archives).

Its owner gets a task link by email, like the professionals; from it they upload
an export (JSON, CSV, ZIP, PDF or image, checked by its content) or confirm
"nothing held". The answer is stored encrypted, recorded on the run and in the
audit trail, and the run is done (issue 16).
"""
from __future__ import annotations

import hashlib
import io
import secrets

import sqlalchemy as sa

from ... import audit
from ...errors import InvalidInput, N_
from ...extensions import db
from ...files import ANSWER_TYPES, RejectedFile, display_name, inspect_upload
from ...models.systems import RunStatus, SystemRun
from . import ConnectorError, register

MAX_EXPORT_BYTES = 200 * 1024 * 1024


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
    from ...services.notifications import queue_email
    from ...urls import public_url

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


def answer_nothing_held(run: SystemRun, system, actor) -> None:
    """The owner confirms the system holds nothing about the person. Does not commit."""
    _require_waiting(run)
    run.owner_answer = "nothing_held"
    run.owner_token_hash = None
    audit.record(actor, "manual_system_answered", request=run.request, touch=False,
                 details={"system": system.key, "run": run.id, "answer": "nothing_held"})
    from ..collection import finish_run

    finish_run(run, actor)


def answer_with_export(run: SystemRun, system, actor, *, stream, filename: str | None, declared_type: str | None,
                       category: str) -> None:
    """The owner's export: JSON or CSV become rows of the pack; a PDF, image or ZIP goes in as a document."""
    from ...services.documents import file_store
    from ...services.fulfilment.portability import parse_dataset
    from ..collection import finish_run, write_table
    from .http import _AdHocTable

    _require_waiting(run)
    if category not in system.categories:
        raise InvalidInput(N_("Choose the category of the data in the file."), code="category", field="category")
    try:
        inspected, data = inspect_upload(stream, filename=filename, declared_type=declared_type,
                                         max_bytes=MAX_EXPORT_BYTES, accepted=ANSWER_TYPES)
    except RejectedFile as exc:
        raise InvalidInput(N_("This file cannot be accepted: %(reason)s"), code="file", field="file",
                           reason=exc.message) from None
    store = file_store()
    if inspected.mime in ("application/json", "text/csv"):
        columns, records = parse_dataset(data)
        rows = [dict(r) for r in records]
        for i, row in enumerate(rows, start=1):
            row.setdefault("id", i)
        columns = list(dict.fromkeys(["id", *columns]))
    else:
        name = store.put(data)
        rows = [{"id": 1, "file": {"$file": name, "sha256": inspected.sha256, "size": inspected.size,
                                   "filename": display_name(filename) or f"export{inspected.extension}"}}]
        columns = ["id", "file"]
    table = _AdHocTable("export", category, columns, system.sealed)
    entry = write_table(store, system, table, iter(rows))
    run.progress = {"export": entry}
    run.rows = {"export": entry["rows"]}
    run.owner_answer = "export"
    run.owner_token_hash = None
    audit.record(actor, "manual_system_answered", request=run.request, touch=False, details={
        "system": system.key, "run": run.id, "answer": "export", "mime": inspected.mime, "sha256": inspected.sha256,
        "rows": entry["rows"]})
    finish_run(run, actor)


def _require_waiting(run: SystemRun) -> None:
    if run.status != RunStatus.WAITING_OWNER:
        raise InvalidInput(N_("This system has already been answered for this request."), code="answered")
