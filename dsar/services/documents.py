"""Documents of a request: storing an upload, reading it back for staff, and how long a copy is kept.

Every upload goes through ``dsar.files.inspection.inspect_upload`` (the content decides,
never the name or the declared type) and lands encrypted in the ``FileStore`` (``dsar.files.storage.file_store``)
under a random name. Only the ``Document`` row says which request it belongs to.

A file written to the store inside a transaction that then rolls back would be
an orphan nobody can find or delete: the names written in the current
transaction are remembered and deleted again on rollback.
"""
from __future__ import annotations

import hashlib
import logging
from datetime import date
from typing import BinaryIO

from flask import has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from .. import audit
from ..actors import Actor
from ..deadlines import legal_day
from ..errors import InvalidInput, N_, NotFound
from ..extensions import db
from ..files.inspection import ACCEPTED_TYPES, ANSWER_TYPES, display_name, inspect_upload
from ..files.rejection import RejectedFile
from ..files.storage import file_store  # noqa: F401 - re-exported: callers of services.documents.file_store
from ..formatting import human_size
from ..models import DataRequest, Document, utcnow
from ..models.enums import DocumentKind, ReviewStatus

log = logging.getLogger(__name__)

#: Kinds that are copies of identity papers, deleted when the policy's retention ends (policy art. 12).
IDENTITY_KINDS = (DocumentKind.IDENTITY, DocumentKind.AUTHORITY)

_WRITTEN_KEY = "dsar_files_written"


def remember_written(storage_name: str) -> None:
    """A file written in this transaction: deleted from the store if the transaction rolls back."""
    db.session().info.setdefault(_WRITTEN_KEY, []).append(storage_name)

# The user-facing sentence for each refusal code of dsar.files, as message ids for Babel.
REJECTION_MESSAGES = {
    "empty": N_("The file is empty."),
    "too_large": N_("The file is too large. The limit is %(limit)s."),
    "type_not_accepted": N_("This type of file is not accepted. Please send a PDF, JPEG or PNG file."),
    "mismatch": N_("The file's content does not match a PDF, JPEG or PNG file."),
    "truncated": N_("The file is incomplete: it was probably cut off while being copied or sent."),
    "encrypted": N_("The PDF is protected by a password. Please send it without a password."),
    "active_content": N_("The PDF contains scripts, attachments, forms or automatic actions. "
                         "Please send a scan or print it to a new PDF."),
    "corrupt": N_("The file is damaged and cannot be read."),
    "polyglot": N_("The file has another file (such as an archive) hidden inside it."),
    "trailing_data": N_("The image has extra data after its end. Please save or export it again."),
    "too_many_pixels": N_("The image is too large in pixels. Please send a smaller image."),
    "too_complex": N_("The file is too complex to be checked. Please send a simpler file, such as a scan."),
    "page_too_large": N_("A page of the PDF is larger than A3. Please send a scan of the document at its real size."),
    "duplicate": N_("You have already sent this file. If it was refused, please send a different one."),
}
# HTTP status of each refusal: a body over the limit is 413, a type we do not take 415, the rest 422.
_REJECTION_STATUS = {"too_large": 413, "type_not_accepted": 415}


class DocumentRejected(InvalidInput):
    """An upload refused for its content; ``code`` is the dsar.files refusal code."""

    def __init__(self, code: str, **params):
        super().__init__(REJECTION_MESSAGES.get(code, REJECTION_MESSAGES["corrupt"]), code=code, field="document", **params)
        self.status_code = _REJECTION_STATUS.get(code, 422)




def _accepted_types(policy) -> dict[str, str]:
    # The policy says which types it takes; dsar.files says which it can check deeply. A type the policy
    # lists without a checker is a configuration error (inspect_upload raises ValueError), not the user's.
    return {mime: ACCEPTED_TYPES.get(mime, "") for mime in policy.identity.accepted_types}


def store_document(
    req: DataRequest,
    kind: str,
    stream: BinaryIO,
    *,
    filename: str | None,
    declared_type: str | None,
    actor: Actor,
    policy,
    max_bytes: int | None = None,
    refuse_hashes: frozenset[str] = frozenset(),
) -> Document:
    """Inspect an upload, store it encrypted, and add its Document row to the request. Does not commit.

    Raises DocumentRejected (a 4xx) for a file the service refuses, including one whose SHA-256 is in
    ``refuse_hashes`` (sent already); nothing is stored then.
    """
    limit = max_bytes or policy.identity.max_size_bytes
    try:
        inspected, data = inspect_upload(stream, filename=filename, declared_type=declared_type, max_bytes=limit,
                                         accepted=ANSWER_TYPES if kind == DocumentKind.ANSWER else _accepted_types(policy))
    except RejectedFile as exc:
        raise DocumentRejected(exc.code, limit=human_size(limit)) from None
    if inspected.sha256 in refuse_hashes:
        raise DocumentRejected("duplicate")
    now = utcnow()
    doc = store_bytes(req, kind, data, name=display_name(filename), mime=inspected.mime, actor=actor,
                      review_status=ReviewStatus.PENDING, at=now,
                      # Provisional: counted again from the review date once staff have checked it (see retention_end).
                      retain_until=retention_end_from(legal_day(now), policy) if kind in IDENTITY_KINDS else None)
    audit.record(actor, "document_uploaded", request=req, details={
        # No file name: it often carries the person's name. The hash identifies the file.
        "document_id": doc.id, "kind": str(kind), "mime": doc.mime, "size": doc.size, "sha256": doc.sha256,
    })
    return doc


def store_bytes(req: DataRequest, kind: str, data: bytes, *, name: str, mime: str, actor: Actor,
                review_status: str, at=None, retain_until: date | None = None) -> Document:
    """Write ``data`` encrypted to the store and add its Document row to the request (flushed, not committed).

    The one way a document's bytes are stored, whether a person sent them (``store_document``) or the
    service produced them (letters, packs, portable data: ``services.fulfilment.common.store_generated``).
    """
    storage_name = file_store().put(data)
    remember_written(storage_name)
    doc = Document(
        kind=str(kind),
        storage_name=storage_name,
        display_name=name,
        mime=mime,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_at=at or utcnow(),
        uploaded_by=actor.label,
        review_status=review_status,
        retain_until=retain_until,
    )
    req.documents.append(doc)
    db.session.flush()
    return doc


def read_document(doc: Document) -> bytes:
    """The plaintext of a stored document, for staff. NotFound once the copy has been purged."""
    if not doc.storage_name or doc.purged_at is not None:
        raise NotFound(N_("This document has been deleted at the end of its retention period."), code="purged")
    try:
        return file_store().get(doc.storage_name)
    except FileNotFoundError:
        log.error("document %s: its stored file is missing", doc.id)
        raise NotFound(N_("This document's file is missing from the store."), code="missing_file") from None


def retention_end_from(day: date, policy) -> date:
    """Last day a copy checked (or received) on ``day`` is kept (policy art. 12: identity documents 1 year)."""
    return policy.identity.copy_retention.after(day)


def retention_end(doc: Document, policy) -> date:
    """Last day the copy is kept: counted from the review (the check is what the copy proves), else from receipt."""
    base = doc.reviewed_at or doc.uploaded_at
    return retention_end_from(legal_day(base), policy)


def purge_copy(doc: Document, actor: Actor, policy, *, reason: str) -> bool:
    """Delete a document's stored file but keep its row: "document checked: date, method, by whom" stays.

    The file is deleted first: if the transaction then fails the row still names a file that is gone,
    which the next run tidies up (deleting a missing file is not an error). The reverse order could
    leave a copy nobody would ever delete. Does not commit.
    """
    if doc.purged_at is not None:
        return False
    if doc.storage_name:
        file_store().delete(doc.storage_name)
    doc.storage_name = None
    doc.purged_at = utcnow()
    doc.retain_until = retention_end(doc, policy)
    audit.record(actor, "document_purged", request=doc.request, details={
        "document_id": doc.id, "kind": doc.kind, "sha256": doc.sha256, "reason": reason,
        "reviewed_at": doc.reviewed_at, "reviewed_by": doc.reviewed_by, "review_status": doc.review_status,
    })
    return True


# --- no orphan files ---------------------------------------------------------------------------------------


@event.listens_for(Session, "after_commit")
def _forget_written_files(session):
    session.info.pop(_WRITTEN_KEY, None)


@event.listens_for(Session, "after_rollback")
def _delete_files_of_rolled_back_transaction(session):
    names = session.info.pop(_WRITTEN_KEY, None)
    if not names or not has_app_context():
        return
    store = file_store()
    for name in names:
        try:
            store.delete(name)
        except OSError:  # pragma: no cover - the disk refused; say so, the row never existed
            log.error("could not delete the stored file of a rolled-back upload")
