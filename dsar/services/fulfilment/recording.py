"""Recording the answer to a request: one use case for staff (back-office), the API and the professional's task.

``record_answer`` checks everything before anything is written — the answer itself
(lifecycle.validate_answer: outcome, message, the reasons of a refusal, GDPR art.
12(4); the reflection period, CSP L.1111-7), how many files come with it, and what
must hold before any answer (``check_answer_allowed``: GDPR art. 21(3), who may be
given what after a death, the checklist) — then stores the files (inspected by
content, one size limit for every answer file), records the answer and starts what
follows it (fulfilment.answers.after_answer). A file refused half-way rolls the
whole answer back, and the files written with it (services/documents). Nothing here
commits.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Sequence

from flask import current_app

from ... import lifecycle
from ...actors import Actor
from ...errors import DomainError, InvalidInput, N_
from ...models import DataRequest, utcnow
from ...models.enums import DocumentKind, Outcome, Status
from .. import checklist, documents, objection
from .answers import after_answer
from .post_mortem import check_post_mortem_standing

#: At most this many files with one answer.
MAX_ANSWER_FILES = 10

#: A file given with an answer: its stream, its name as sent, its declared type (both may be None).
AnswerFile = tuple[BinaryIO, "str | None", "str | None"]


@dataclass(frozen=True)
class RecordedAnswer:
    change: lifecycle.Change
    document_ids: list[int]


def answer_file_limit() -> int:
    """The size limit of one answer file: the request body's (DSAR_MAX_BODY_BYTES), for staff and professionals alike.

    An answer file is data gathered for the requester, not a copy of an identity paper: the policy's
    identity.max_size_bytes does not bound it.
    """
    return current_app.config.get("MAX_CONTENT_LENGTH") or current_app.extensions["dsar_policy"].identity.max_size_bytes


def check_answer_allowed(req: DataRequest, outcome: str | None) -> None:
    """What must hold before any answer is recorded, whoever gives it (back-office, API, task page).

    GDPR art. 21(3): an objection to direct marketing is never refused; the checklist: every required
    step done before a giving answer (services/checklist.py), the error naming the step and its article.
    """
    objection.require_objection_honoured(req, outcome)
    if outcome in set(Outcome):
        # Who may be given what after a death (LIL art. 85, CSP L.1110-4 V) comes before what remains to do.
        check_post_mortem_standing(req, Outcome(outcome))
    checklist.require_done(req, Status.ANSWERED, outcome)


def record_answer(req: DataRequest, actor: Actor, *, outcome: str, message: str, reasons: str | None = None,
                  files: Sequence[AnswerFile] = (), expected_version: int | None = None,
                  now: datetime | None = None) -> RecordedAnswer:
    """Record the answer and store the files given with it (see the module docstring). Does not commit."""
    lifecycle.check_version(req, expected_version)
    now = now or utcnow()
    outcome, message, reasons = lifecycle.validate_answer(req, outcome, message, reasons, now)
    if len(files) > MAX_ANSWER_FILES:
        raise InvalidInput(N_("At most %(count)s files can be sent with an answer."), code="too_many_files",
                           field="files", count=MAX_ANSWER_FILES)
    check_answer_allowed(req, str(outcome))  # before any file is stored
    # The files first: the answer needs them (an access answer gives the data gathered).
    policy, limit, stored = current_app.extensions["dsar_policy"], answer_file_limit(), []
    for stream, filename, declared_type in files:
        try:
            doc = documents.store_document(req, DocumentKind.ANSWER, stream, filename=filename,
                                           declared_type=declared_type, actor=actor, policy=policy, max_bytes=limit)
        except DomainError as err:
            err.field = "files"
            raise
        stored.append(doc.id)
    change = lifecycle.answer(req, actor, str(outcome), message, reasons=reasons, now=now)
    after_answer(req, actor)
    return RecordedAnswer(change, stored)
