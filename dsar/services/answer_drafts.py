"""A professional's answer seen before it goes (issue 18): preview, then confirm.

The preview checks the answer (the checks ``routing.answer_task`` makes before writing anything), keeps its files
encrypted in a drafts folder of the instance (no Document row, no audit event, nothing sent) and signs
what the confirmation must match: the task, the request's version, a digest of the outcome, text and reasons,
and the staged files. The confirmation hands the same answer and files to ``routing.answer_task``; a preview
that no longer matches (the request moved on, the text was changed, too old) is refused and nothing is recorded.
Staged files older than the preview's life are deleted whenever a new preview is made.
"""
from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import current_app

from ..errors import Conflict, InvalidInput, N_
from ..files.inspection import display_name, inspect_upload
from ..files.rejection import RejectedFile
from ..files.storage import FileStore
from ..formatting import human_size
from ..models import ProfessionalTask, utcnow
from ..models.enums import Status
from ..tokens import TokenError, make_token, read_token
from .. import lifecycle
from . import documents
from .fulfilment import recording
from .fulfilment.recording import MAX_ANSWER_FILES

PURPOSE = "task-answer-preview"
MAX_AGE = 2 * 3600   # seconds a preview stays good for


@dataclass(frozen=True)
class StagedFile:
    name: str          # random storage name in the drafts folder
    display_name: str
    mime: str
    size: int


@dataclass(frozen=True)
class Preview:
    token: str
    files: list[StagedFile]


def _store() -> FileStore:
    # Outside DSAR_FILES_DIR: a draft is no stored document (key rotation and purges walk that folder only).
    return FileStore(Path(current_app.instance_path) / "answer-drafts", current_app.config["DSAR_FILE_KEYS"])


def _digest(task: ProfessionalTask, outcome: str, message: str, reasons: str | None) -> str:
    def norm(value):   # a browser sends a textarea's and a hidden field's line breaks as CRLF, a test as LF
        return (value or "").replace("\r\n", "\n").strip()

    text = "\x1f".join((str(task.id), outcome or "", norm(message), norm(reasons)))
    return hashlib.sha256(text.encode()).hexdigest()


def _sweep(store: FileStore) -> None:
    """Staged files of previews never confirmed: gone once no preview can use them."""
    limit = time.time() - MAX_AGE - 60
    for path in store.root.glob("*/*/*"):
        try:
            if path.is_file() and path.stat().st_mtime < limit:
                path.unlink()
        except OSError:
            continue


def check(task: ProfessionalTask, *, outcome: str, message: str, reasons: str | None, file_count: int) -> None:
    """What the answer needs before anything is written (``routing.answer_task`` checks it all again)."""
    req = task.actionable_request()   # answered, withdrawn, moved on: a clear 409
    if Status(req.status) not in (Status.OPEN, Status.IN_PROGRESS):
        raise Conflict(N_("IDOMED is waiting for the requester's clarification: the answer can be given once they reply."),
                       code="awaiting_requester")
    # The same checks as recording the answer (services/fulfilment/recording.py), nothing written:
    # the outcome, the text, the reasons of a refusal (GDPR art. 12(4)), the reflection period (CSP L.1111-7).
    outcome, message, reasons = lifecycle.validate_answer(req, outcome, message, reasons, utcnow())
    if file_count > MAX_ANSWER_FILES:
        raise InvalidInput(N_("At most %(count)s files can be sent with an answer."), code="too_many_files",
                           field="files", count=MAX_ANSWER_FILES)
    recording.check_answer_allowed(req, str(outcome))   # art. 21(3), after a death, the checklist


def stage(task: ProfessionalTask, *, outcome: str, message: str, reasons: str | None,
          uploads: list[tuple[BinaryIO, str | None, str | None]], max_bytes: int) -> Preview:
    """Check the answer and its files, keep the files encrypted as a draft, sign what confirming must match."""
    check(task, outcome=outcome, message=message, reasons=reasons, file_count=len(uploads))
    store = _store()
    _sweep(store)
    staged: list[StagedFile] = []
    for stream, filename, declared_type in uploads:
        try:
            inspected, data = inspect_upload(stream, filename=filename, declared_type=declared_type,
                                             max_bytes=max_bytes, accepted=documents.ANSWER_TYPES)
        except RejectedFile as exc:
            for s in staged:
                store.delete(s.name)
            err = documents.DocumentRejected(exc.code, limit=human_size(max_bytes))
            err.field = "files"
            raise err from None
        staged.append(StagedFile(store.put(data), display_name(filename), inspected.mime, inspected.size))
    token = make_token(PURPOSE, {
        "task": task.id, "version": task.request.version, "digest": _digest(task, outcome, message, reasons),
        "files": [[s.name, s.display_name, s.mime, s.size] for s in staged],
    })
    return Preview(token, staged)


def read(task: ProfessionalTask, token: str, *, outcome: str, message: str, reasons: str | None) -> list[StagedFile]:
    """The staged files of a preview that still matches the task, the request and the answer; else Conflict."""
    stale = Conflict(N_("This preview is out of date: the request changed, or the answer was changed, since it "
                        "was shown. Nothing was sent. Check your answer again and confirm it."), code="stale_preview")
    try:
        payload = read_token(PURPOSE, token, max_age=MAX_AGE)
    except TokenError:
        raise stale from None
    if (payload.get("task") != task.id or payload.get("version") != task.request.version
            or payload.get("digest") != _digest(task, outcome, message, reasons)):
        raise stale
    files = [StagedFile(*row) for row in payload.get("files") or []]
    store = _store()
    if not all(store.exists(f.name) for f in files):
        raise stale
    return files


def streams(files: list[StagedFile]) -> list[tuple[BinaryIO, str, str]]:
    store = _store()
    return [(io.BytesIO(store.get(f.name)), f.display_name, f.mime) for f in files]


def discard(files: list[StagedFile]) -> None:
    store = _store()
    for f in files:
        store.delete(f.name)
