"""What a manual system's owner answers from their task link (the links: ``connectors.manual``).

- Collection (issue 16): an export (JSON, CSV, ZIP, PDF or image, checked by its content) or "nothing held";
  the answer is stored encrypted, recorded on the run and in the audit trail, and the run is done.
- Execution (issue 17): the owner carried out the verb and confirms how many records they handled; stored on the
  run and audited (never only in a cache).
"""
from __future__ import annotations

from .. import audit
from ..actors import Actor
from ..errors import InvalidInput, N_
from ..extensions import db
from ..files import ANSWER_TYPES, RejectedFile, display_name, inspect_upload
from ..models.base import utcnow
from ..models.execution import DryRun
from ..models.systems import RunStatus, SystemRun
from ..services.documents import file_store
from ..services.fulfilment.portability import parse_dataset
from .collection import finish_run
from .execution import _done, _execution_runs, _finish
from .tables import AdHocTable, write_table

MAX_EXPORT_BYTES = 200 * 1024 * 1024


# --- collection ----------------------------------------------------------------------------------------------


def answer_nothing_held(run: SystemRun, system, actor) -> None:
    """The owner confirms the system holds nothing about the person. Does not commit."""
    _require_waiting(run)
    run.owner_answer = "nothing_held"
    run.owner_token_hash = None
    audit.record(actor, "manual_system_answered", request=run.request, touch=False,
                 details={"system": system.key, "run": run.id, "answer": "nothing_held"})
    finish_run(run, actor)


def answer_with_export(run: SystemRun, system, actor, *, stream, filename: str | None, declared_type: str | None,
                       category: str) -> None:
    """The owner's export: JSON or CSV become rows of the pack; a PDF, image or ZIP goes in as a document."""
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
    table = AdHocTable("export", category, columns, system.sealed)
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


# --- execution -----------------------------------------------------------------------------------------------


def confirm(run: SystemRun, actor: Actor, *, records: int, note: str | None = None) -> None:
    """The owner says it is done and how many records they handled; the run is done (the caller commits)."""
    if run.status != RunStatus.WAITING_OWNER:
        raise InvalidInput(N_("This task is already confirmed."), code="done", field="records")
    _done(run, "_records", {"rows": records, "ops": ["owner"], "at": utcnow().isoformat(),
                            "note": (note or "").strip()[:2000] or None})
    run.owner_answer, run.owner_token_hash = "done", None
    run.status, run.finished_at = RunStatus.DONE, utcnow()
    audit.record(actor, "manual_execution_confirmed", request=run.request, touch=False,
                 details={"system": run.system_key, "run": run.id, "records": records})
    dr = next(d for d in run.request.dry_runs if run.id in (d.run_ids or []))
    if all(r.status == RunStatus.DONE for r in _execution_runs(run.request) if r.id in dr.run_ids):
        _finish(db.session.get(DryRun, dr.id), actor)
