"""What every part of fulfilment shares: the policy in force, the legal day, the activities a request concerns,
and the documents the service writes (stored, read back against their hash, deleted with their hash kept).
"""
from __future__ import annotations

import hashlib
import io
import logging
from datetime import date

from flask import current_app
from flask_babel import force_locale, gettext

from ... import audit
from ...actors import Actor
from ...deadlines import legal_day
from ...errors import InvalidInput, N_
from ...files import RejectedFile, inspect_upload
from ...models import DataRequest, Document, utcnow
from ...models.enums import Outcome, RequestType, ReviewStatus
from ...policy.text import localized
from ..documents import file_store, read_document, store_bytes

log = logging.getLogger(__name__)

#: Outcomes that give the requester something (a copy, a change): the others only explain.
GIVING = frozenset({Outcome.GRANTED, Outcome.PARTLY_GRANTED})
#: Request types after which the recipients are told (GDPR art. 19).
ART19_TYPES = frozenset({RequestType.RECTIFICATION, RequestType.ERASURE, RequestType.RESTRICTION})


def current_policy():
    """The policy the app runs on (loaded at start-up: ``app.extensions["dsar_policy"]``)."""
    return current_app.extensions["dsar_policy"]


def legal_today() -> date:
    return legal_day(utcnow())


def concerned_activities(req: DataRequest):
    policy = current_policy()
    keys = req.activities or [a.key for a in policy.activities_for_subject(req.subject_kind)]
    return [policy.activity(k) for k in keys if req.subject_kind in policy.activity(k).data_subjects]


def party_name(policy, key: str, lang: str) -> str:
    if key == policy.controller.key:
        return policy.controller.name
    return localized(policy.joint_controllers[key].name, lang)


# --- file names ----------------------------------------------------------------------------------------------

#: The stem of each file the service names, an English msgid (French in dsar/services/translations).
FILE_STEMS = {
    "acknowledgement": N_("acknowledgement"), "identity_requested": N_("identity-document"),
    "clarification": N_("clarification"), "extension": N_("extension"), "refusal": N_("refusal"),
    "recipients_list": N_("recipients"), "answer": N_("answer"), "pack": N_("data"),
}


def file_stem(kind: str, language: str | None) -> str:
    """The stem of a letter's or a pack's file name in the requester's language (French when not supported)."""
    key = "answer" if kind.startswith("answer_") else kind
    if key not in FILE_STEMS:
        return kind
    languages = current_app.config["LANGUAGES"]
    with force_locale(language if language in languages else current_app.config["BABEL_DEFAULT_LOCALE"]):
        return gettext(FILE_STEMS[key])


# --- documents written by the service --------------------------------------------------------------------------


def store_generated(req: DataRequest, kind: str, data: bytes, name: str, actor: Actor, *,
                    mime: str | None = None, check_as_upload: bool = False) -> Document:
    """Store bytes the service produced. A PDF is first checked like an upload: what we send passes our own bar."""
    if check_as_upload:
        try:
            inspected, _ = inspect_upload(io.BytesIO(data), filename=None, declared_type=None,
                                          max_bytes=max(len(data), 1))
        except RejectedFile as exc:  # a bug in a template, never the user's doing
            raise RuntimeError(f"a generated file fails the upload checks: {exc.code}") from exc
        mime = inspected.mime
    return store_bytes(req, kind, data, name=name, mime=mime or "application/octet-stream", actor=actor,
                       review_status=ReviewStatus.ACCEPTED)


def read_checked(doc: Document) -> bytes:
    """The stored bytes of ``doc``, refused (4xx) when they no longer match the hash kept at storage."""
    data = read_document(doc)
    if hashlib.sha256(data).hexdigest() != doc.sha256:
        log.error("document %s: stored content does not match its hash", doc.id)
        raise InvalidInput(N_("The stored file %(name)s does not match what was received; it cannot be sent."),
                           code="integrity", name=doc.display_name)
    return data


def delete_content(doc: Document | None, actor: Actor, *, reason: str) -> bool:
    """Delete a document's bytes from the store; its row and hash stay (the record of what was sent)."""
    if doc is None or doc.purged_at is not None:
        return False
    if doc.storage_name:
        file_store().delete(doc.storage_name)
    doc.storage_name = None
    doc.purged_at = utcnow()
    audit.record(actor, "document_purged", request=doc.request,
                 details={"document_id": doc.id, "kind": doc.kind, "sha256": doc.sha256, "reason": reason})
    return True
