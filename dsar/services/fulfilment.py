"""Answers and fulfilment (DESIGN.md "Answers"): what happens once a request is answered, extended or refused.

- Letters, rendered to PDF in the requester's language and stored as LETTER documents.
- Packs: access (the letter and the data gathered, one ZIP) and portability (JSON, CSV, a manifest).
  Every file that goes into a pack is checked like an upload first.
- Delivery: an expiring download link, emailed; it opens only in a browser session that also
  holds the request's status-page secret. Each download is recorded; staff may issue a new link;
  the files are deleted when the link has expired plus a grace period, their hashes kept.
- GDPR art. 19: one notification task per recipient (policy art. 11) after a rectification, an
  erasure or a restriction, closed as notified or impossible with a reason.
- The erasure plan as applied to a request (GDPR art. 17(3), policy art. 12).
- Withdrawal of consent for health data: the patient's account is deactivated (policy art. 8.2).
- Post-mortem directives and what heirs and executors may ask (loi Informatique et Libertés art. 85).

Plain values and an Actor in; nothing here commits (the caller does, once).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from .. import audit, lifecycle
from ..actors import Actor
from ..deadlines import PARIS, legal_day
from ..errors import Conflict, DomainError, IllegalTransition, InvalidInput, N_, NotFound, PermissionDenied
from ..extensions import db
from ..files import ANSWER_TYPES, RejectedFile, display_name, inspect_upload
from ..models import DataRequest, Document, utcnow
from ..models.enums import DocumentKind, Outcome, Relationship, RequestType, ReviewStatus, Status
from ..models.fulfilment import (
    AccountDeactivation, ContractState, DeactivationStatus, DirectiveStatus, Download, DownloadLink, ErasureDecision,
    LinkPurpose, NotificationStatus, PortableDataset, PostMortemDirective, PostMortemDirectiveChange,
    RecipientNotification,
)
from ..policy.erasure import erasure_plan
from ..policy.law import INVALIDATED_SAFEGUARDS, LEGAL_BASES, RETENTION_GROUNDS, RIGHT_INFO, SENSITIVE_DATA_BASES
from ..policy.rights import evaluate_rights
from ..policy.text import localized
from . import notifications

log = logging.getLogger(__name__)

#: Outcomes that give the requester something (a copy, a change): the others only explain.
GIVING = frozenset({Outcome.GRANTED, Outcome.PARTLY_GRANTED})
#: Request types after which the recipients are told (GDPR art. 19).
ART19_TYPES = frozenset({RequestType.RECTIFICATION, RequestType.ERASURE, RequestType.RESTRICTION})
#: Largest pack the service builds, in memory and in the web request (about 0.2 s per MB of scans, most of it
#: the pixel-level re-check of each file); past this, staff split the data into several answers.
MAX_PACK_BYTES = 100 * 1024 * 1024
#: A portable data set as uploaded by staff: JSON or CSV, at most this big.
MAX_DATASET_BYTES = 20 * 1024 * 1024
MAX_DATASET_RECORDS = 200_000


def _policy():
    return current_app.extensions["dsar_policy"]


def _today() -> date:
    return legal_day(utcnow())


class LinkGone(DomainError):
    """A download link that worked once and no longer does (expired, replaced, files deleted)."""

    status_code = 410
    code = "link_gone"


# =========================================================================================================
# The hooks called by services/actions.py
# =========================================================================================================


def after_answer(req: DataRequest, actor: Actor) -> DownloadLink:
    """The answer is recorded: write the letter, build the pack, open the follow-up tasks, send the link."""
    outcome = Outcome(req.outcome)
    _check_post_mortem_standing(req, outcome)
    if outcome == Outcome.REFUSED:
        # A refusal given as an answer is a refusal letter (deadline rule 7).
        return after_refusal(req, actor)
    rtype = RequestType(req.type)
    giving = outcome in GIVING
    # Checks first: a missing piece is a 4xx and nothing is written.
    collected = _collected_pack(req) if giving and rtype in (RequestType.ACCESS, RequestType.PORTABILITY) else None
    if giving and rtype == RequestType.ACCESS and collected is None:
        _require_answer_documents(req)
    if giving and rtype == RequestType.PORTABILITY and collected is None:
        _require_portable_data(req)
    if giving and rtype == RequestType.POST_MORTEM_DIRECTIVE:
        _require_directive_recorded(req)

    if giving and rtype == RequestType.ERASURE:
        fix_erasure_plan(req, actor)
    if giving and rtype in ART19_TYPES:
        open_recipient_notifications(req, actor)
    if giving and rtype == RequestType.CONSENT_WITHDRAWAL and concerns_health_data(req):
        request_account_deactivation(req, actor)
    if rtype == RequestType.OBJECTION:
        from . import suppression

        if suppression.concerns_direct_marketing(req):
            # GDPR art. 21(3): answered = never prospected again, whatever the answer's wording.
            suppression.suppress_subject(req, actor)

    # The gathered files are checked before anything is rendered: a bad file fails fast.
    data_entries = checked_access_entries(req) if giving and rtype == RequestType.ACCESS and collected is None else None
    letter, letter_bytes = produce_letter(req, f"answer_{rtype}", actor)
    files = [letter]
    if collected is not None:
        # Built by a job from what was collected (issue 16), streamed to the store: sent as it is.
        files.append(collected)
    elif data_entries is not None:
        files.append(build_access_pack(req, letter, letter_bytes, actor, data_entries))
    elif giving and rtype == RequestType.PORTABILITY:
        files.append(build_portability_pack(req, letter, letter_bytes, actor))
    return issue_link(req, files, actor, purpose=LinkPurpose.ANSWER)


def after_extension(req: DataRequest, actor: Actor) -> DownloadLink:
    """GDPR art. 12(3): the requester is told of the extension and its reasons, before the one-month deadline."""
    letter, _ = produce_letter(req, "extension", actor)
    return issue_link(req, [letter], actor, purpose=LinkPurpose.EXTENSION)


def after_refusal(req: DataRequest, actor: Actor) -> DownloadLink:
    """Rule 7 and GDPR art. 12(4): reasons, the right to complain to the CNIL and to a judicial remedy."""
    letter, _ = produce_letter(req, "refusal", actor)
    return issue_link(req, [letter], actor, purpose=LinkPurpose.REFUSAL)


# =========================================================================================================
# Letters
# =========================================================================================================


def produce_letter(req: DataRequest, kind: str, actor: Actor, **ctx) -> tuple[Document, bytes]:
    """Render a letter in the requester's language and keep it as a LETTER document.

    A contradiction in the policy (a transfer on an invalidated safeguard, "health data never leave the
    EU" beside transfers of a processing of health data) stops every letter with a 409 until the DPO fixes
    the file: a letter to a data subject never states it (``policy_warnings.letter_blockers``).
    """
    from ..pdf import render_letter
    from ..policy_warnings import letter_blockers

    blockers = letter_blockers(_policy())
    if blockers:
        raise Conflict(
            N_("No letter can go out until the DPO fixes the policy file: %(keys)s."),
            code="policy_contradiction", keys=", ".join(w.key for w in blockers),
        )
    data = render_letter(kind, req, req.language or "fr", **ctx)
    name = f"{_file_stem(kind, req.language)}-{req.reference}.pdf"
    doc = _store_generated(req, DocumentKind.LETTER, data, name, actor, check_as_upload=True)
    audit.record(actor, "letter_produced", request=req, details={
        "kind": kind, "document_id": doc.id, "sha256": doc.sha256, "language": req.language,
    })
    return doc, data


def send_letter(req: DataRequest, actor: Actor, kind: str) -> DownloadLink:
    """A letter staff choose to send (acknowledgement, identity asked, clarification, list of recipients)."""
    if kind not in STAFF_LETTERS:
        raise InvalidInput(N_("Choose a letter."), code="bad_letter", field="kind")
    if req.is_final and kind != "recipients_list":
        raise IllegalTransition(N_("This request is closed: no letter can be sent about it now."), code="final")
    if kind == "clarification" and _open_or_last_pause(req) is None:
        raise InvalidInput(N_("No clarification has been asked on this request."), code="no_question", field="kind")
    if kind == "recipients_list" and not req.recipient_notifications:
        raise InvalidInput(N_("This request has no recipients to notify."), code="no_recipients", field="kind")
    letter, _ = produce_letter(req, kind, actor)
    return issue_link(req, [letter], actor, purpose=LinkPurpose.LETTER)


#: Letters staff may send by hand, and the order the form offers them in.
STAFF_LETTERS = ("acknowledgement", "identity_requested", "clarification", "recipients_list")

_FILE_STEMS = {
    "fr": {"acknowledgement": "accuse-reception", "identity_requested": "justificatif-identite",
           "clarification": "precisions", "extension": "prolongation", "refusal": "refus",
           "recipients_list": "destinataires", "answer": "reponse", "pack": "donnees"},
    "en": {"acknowledgement": "acknowledgement", "identity_requested": "identity-document",
           "clarification": "clarification", "extension": "extension", "refusal": "refusal",
           "recipients_list": "recipients", "answer": "answer", "pack": "data"},
}


def _file_stem(kind: str, language: str | None) -> str:
    stems = _FILE_STEMS.get(language or "fr", _FILE_STEMS["fr"])
    return stems.get("answer" if kind.startswith("answer_") else kind, kind)


def _open_or_last_pause(req: DataRequest):
    return next((p for p in reversed(req.pauses) if p.question), None)


def letter_context(kind: str, req: DataRequest, language: str) -> dict:
    """Everything a letter says that comes from the policy and the request, in ``language``."""
    policy = _policy()
    lang = language
    rt = policy.request_types.get(req.type)
    ctx = {
        "policy": policy,
        "controller": policy.controller,
        "authority": policy.controller.complaint_authority,
        "policy_title": localized(policy.document.title, lang),
        "article": policy.article,
        "request_type_name": localized(rt.name, lang) if rt else req.type,
        "request_type_gdpr": rt.gdpr if rt else None,
        "request_type_reference": localized(rt.legal_reference, lang) if rt and rt.legal_reference else None,
        "received_on": legal_day(req.received_at) if req.received_at else None,
        "outcome": req.outcome,
        "handled_by_professional": req.handler == "professional",
        "post_mortem": post_mortem_standing(req),
    }
    if kind == "clarification":
        pause = _open_or_last_pause(req)
        ctx["question"] = pause.question if pause else ""
        ctx["paused_on"] = pause.started_on if pause else None
        # DESIGN.md rule 4: the letter says exactly what happens to the deadline (suspended, running, passed).
        ctx["effect"] = lifecycle.clarification_effect(req, policy, pause.kind or "scope", pause.started_on) if pause else None
        ctx["due_date"] = req.due_date
    if kind == "identity_requested":
        refused = [d for d in req.documents if d.kind in (DocumentKind.IDENTITY, DocumentKind.AUTHORITY)
                   and d.review_status == ReviewStatus.REFUSED]
        ctx["refusal_reason"] = refused[-1].review_reason if refused else None
        ctx["max_size_mb"] = policy.identity.max_size_bytes // (1024 * 1024)
        ctx["retention_text"] = policy.identity.copy_retention.describe(lang)
        rel = req.requester.relationship_to_subject if req.requester else None
        proof_key = "mandate" if rel == Relationship.MANDATARY else rel
        proof = policy.identity.representative_proofs.get(proof_key) if proof_key else None
        ctx["authority_proof"] = localized(proof, lang) if proof else None
    if kind == "answer_access":
        ctx["access"] = access_information(req, lang)
        ctx["data_files"] = [d for d in _answer_documents(req)]
    if kind == "answer_erasure":
        ctx["erasure_rows"] = erasure_rows(req, lang)
        from ..systems.execution_report import executed_rows

        ctx["executed_rows"] = executed_rows(req, lang)
    if kind == "answer_rectification":
        from ..systems.rights import rectified_rows

        ctx["rectified_rows"] = rectified_rows(req, lang)
    if kind in ("answer_rectification", "answer_erasure", "answer_restriction", "recipients_list"):
        ctx["recipients"] = recipient_rows(req, lang)
    if kind == "answer_portability":
        ctx["datasets"] = [_dataset_row(ds, lang) for ds in req.portable_datasets]
    if kind == "answer_objection":
        ctx["objection_rows"] = _applicable_rows(req, "objection", lang)
    if kind == "answer_consent_withdrawal":
        ctx["health_data"] = concerns_health_data(req)
        ctx["deactivation"] = req.account_deactivation
    if kind == "answer_post_mortem_directive":
        ctx["directive_change"] = _change_for_request(req)
    if kind in ("acknowledgement", "extension"):
        ctx["extension_months"] = policy.deadlines.extension_months
    return ctx


# --- GDPR art. 15(1)(a)-(h) and 15(2), from the policy ---------------------------------------------------


@dataclass
class ActivityInfo:
    key: str
    name: str
    purpose: str
    joint: bool
    controllers: list[str]
    sub_purposes: list[dict]
    sensitive: dict | None
    categories: list[dict]
    recipients: list[dict]
    source: str
    automated_decisions: str | None


@dataclass
class AccessInformation:
    activities: list[ActivityInfo]
    transfers: list[dict]
    health_data_outside_eu: bool
    transfer_statement: str
    rights: list[dict]
    items: dict = field(default_factory=dict)


def _concerned_activities(req: DataRequest):
    policy = _policy()
    keys = req.activities or [a.key for a in policy.activities_for_subject(req.subject_kind)]
    return [policy.activity(k) for k in keys if req.subject_kind in policy.activity(k).data_subjects]


def _party_name(policy, key: str, lang: str) -> str:
    if key == policy.controller.key:
        return policy.controller.name
    return localized(policy.joint_controllers[key].name, lang)


def access_information(req: DataRequest, lang: str) -> AccessInformation:
    """The art. 15 items for the processing activities the request concerns, from the policy."""
    policy = _policy()
    activities, transfers = [], []
    found = collected_categories(req)
    for act in _concerned_activities(req):
        cats = policy.categories_for(act.key, req.subject_kind)
        if found is not None:
            # GDPR art. 15(1)(b): the categories actually found in the systems, not every one the policy names.
            cats = [c for c in cats if f"{act.key}.{c.key}" in found]
        sensitive = None
        if act.sensitive_data is not None and any(c.sensitive for c in cats):
            art, labels = SENSITIVE_DATA_BASES[act.sensitive_data.basis]
            sensitive = {"label": localized(act.sensitive_data.label, lang), "basis": labels[lang], "article": art}
        recipients = []
        for r in policy.recipients_for(act.key):
            recipients.append({
                "name": localized(r.name, lang), "kind": r.kind,
                "service": localized(r.service, lang) if r.service else "",
            })
            for t in r.transfers:
                invalid = INVALIDATED_SAFEGUARDS.get(t.safeguard) if t.invalidated else None
                transfers.append({
                    "recipient": localized(r.name, lang),
                    "destination": localized(t.destination, lang),
                    "safeguard": t.safeguard,
                    "invalidated": t.invalidated,
                    "invalidated_on": invalid[0] if invalid else None,
                    "invalidated_by": invalid[1] if invalid else None,
                    "reference_url": t.reference_url,
                })
        automated = None
        if all(sp.rights["automated_decision"].status == "not_applicable" for sp in act.sub_purposes):
            notes = {localized(sp.rights["automated_decision"].note, lang) for sp in act.sub_purposes
                     if sp.rights["automated_decision"].note}
            automated = next(iter(notes)) if len(notes) == 1 else ""
        activities.append(ActivityInfo(
            key=act.key,
            name=localized(act.name, lang),
            purpose=localized(act.purpose, lang),
            joint=act.joint,
            controllers=[_party_name(policy, p, lang) for p in act.controllers],
            sub_purposes=[{
                "name": localized(sp.name, lang),
                "basis": LEGAL_BASES[sp.legal_basis][1][lang],
                "article": LEGAL_BASES[sp.legal_basis][0],
            } for sp in act.sub_purposes],
            sensitive=sensitive,
            categories=[{
                "name": localized(c.name, lang), "items": list(localized(c.items, lang)),
                "retention": localized(c.retention.label, lang), "sensitive": c.sensitive,
            } for c in cats],
            recipients=recipients,
            source=localized(act.collection, lang),
            automated_decisions=automated,
        ))
    rights = []
    for rtype in ("rectification", "erasure", "restriction", "objection", "portability", "consent_withdrawal"):
        right = rtype
        ev = evaluate_rights(policy, rtype, [a.key for a in activities] or None, req.subject_kind)
        if ev.any_applicable:
            art, labels = RIGHT_INFO[right]
            rights.append({"key": right, "name": labels[lang], "article": art})
    return AccessInformation(
        activities=activities,
        transfers=transfers,
        health_data_outside_eu=policy.transfers.health_data_outside_eu,
        transfer_statement=localized(policy.transfers.statement, lang) if policy.transfers.statement else "",
        rights=rights,
    )


def _applicable_rows(req: DataRequest, request_type: str, lang: str) -> list[dict]:
    ev = evaluate_rights(_policy(), request_type, [a.key for a in _concerned_activities(req)] or None, req.subject_kind)
    return [{
        "activity": localized(r.activity_name, lang), "sub_purpose": localized(r.sub_purpose_name, lang),
        "applies": r.applies, "reason": r.reason[lang] if lang in r.reason else r.reason["fr"],
    } for r in ev.rows]


# =========================================================================================================
# Documents written by the service
# =========================================================================================================


def _file_store():
    from .documents import file_store

    return file_store()


def _store_generated(req: DataRequest, kind: str, data: bytes, name: str, actor: Actor, *,
                     mime: str | None = None, check_as_upload: bool = False) -> Document:
    """Store bytes the service produced. A PDF is first checked like an upload: what we send passes our own bar."""
    if check_as_upload:
        try:
            inspected, _ = inspect_upload(io.BytesIO(data), filename=None, declared_type=None,
                                          max_bytes=max(len(data), 1))
        except RejectedFile as exc:  # a bug in a template, never the user's doing
            raise RuntimeError(f"a generated file fails the upload checks: {exc.code}") from exc
        mime = inspected.mime
    storage_name = _file_store().put(data)
    from .documents import remember_written

    remember_written(storage_name)
    doc = Document(
        kind=str(kind),
        storage_name=storage_name,
        display_name=name,
        mime=mime or "application/octet-stream",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_at=utcnow(),
        uploaded_by=actor.label,
        review_status=ReviewStatus.ACCEPTED,
    )
    req.documents.append(doc)
    db.session.flush()
    return doc


def _read(doc: Document) -> bytes:
    from .documents import read_document

    data = read_document(doc)
    if hashlib.sha256(data).hexdigest() != doc.sha256:
        log.error("document %s: stored content does not match its hash", doc.id)
        raise InvalidInput(N_("The stored file %(name)s does not match what was received; it cannot be sent."),
                           code="integrity", name=doc.display_name)
    return data


# =========================================================================================================
# The access pack: the letter and the data gathered, in one ZIP (GDPR art. 15(3))
# =========================================================================================================


def _collected_pack(req: DataRequest) -> Document | None:
    """The pack built from the systems' data (issue 16), once ready; None when the request was not collected.

    A collection still running (or sealed content still with the professional) stops the answer: the
    requester would get an incomplete copy.
    """
    from ..systems.packs import pack_of

    pack = pack_of(req)
    if pack is None:
        return None
    if pack.status != "ready" or pack.document is None:
        raise InvalidInput(N_("The data collected from the systems is not ready yet (collection or the "
                              "professional's review is not finished): answer once the pack is built."),
                           code="collection_not_ready", field="outcome")
    return pack.document


def collected_categories(req: DataRequest) -> set[str] | None:
    """The "activity.category" keys actually found by collection (the letter lists these), or None."""
    from ..systems.packs import pack_of

    pack = pack_of(req)
    return set(pack.categories_found or ()) if pack is not None and pack.status == "ready" else None


def _answer_documents(req: DataRequest) -> list[Document]:
    return [d for d in req.documents if d.kind == DocumentKind.ANSWER and d.purged_at is None
            and d.review_status != ReviewStatus.REFUSED]


def _require_answer_documents(req: DataRequest) -> None:
    if not _answer_documents(req):
        raise InvalidInput(
            N_("An access answer gives a copy of the data (GDPR art. 15(3)): add the files gathered before answering, "
               "or answer that no data is held."), code="no_answer_files", field="outcome")


def _checked_answer_file(doc: Document) -> bytes:
    """Every file of a pack is checked like an upload: by its content, deeply, and against its stored hash."""
    data = _read(doc)
    try:
        inspect_upload(io.BytesIO(data), filename=None, declared_type=None, max_bytes=max(len(data), 1),
                       accepted=ANSWER_TYPES)
    except RejectedFile:
        raise InvalidInput(N_("The file %(name)s cannot be sent: it fails the checks every file goes through. "
                              "Replace it with a clean copy (a scan or a new PDF)."),
                           code="unsafe_file", field="documents", name=doc.display_name) from None
    return data


_EXTENSIONS = dict(ANSWER_TYPES)


def _zip_name(index: int, name: str, mime: str) -> str:
    """A numbered, ASCII, path-free name whose extension says what the content is (not what the name said)."""
    safe = display_name(name, max_length=80)
    safe = unicodedata.normalize("NFKD", safe).encode("ascii", "ignore").decode("ascii")
    stem = safe.rsplit(".", 1)[0] if "." in safe else safe
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("._") or "file"
    return f"{index:02d}_{stem}{_EXTENSIONS.get(mime, '')}"


def _zip(entries: list[tuple[str, bytes]], manifest: dict) -> bytes:
    """A ZIP of ``entries`` plus ``manifest.json`` listing each with its SHA-256."""
    manifest = dict(manifest, files=[{
        "path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "media_type": _media_type(path),
    } for path, data in entries])
    total = sum(len(d) for _, d in entries)
    if total > MAX_PACK_BYTES:
        raise InvalidInput(N_("The answer is too large to be sent as one download. Split the data into smaller files."),
                           code="pack_too_large", field="documents")
    stamp = utcnow().astimezone(PARIS).timetuple()[:6]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path, data in [*entries, ("manifest.json", _json_bytes(manifest))]:
            info = zipfile.ZipInfo(path, date_time=stamp)
            # Scans and PDFs are compressed already: deflating them again costs time and saves nothing.
            stored = path.rsplit(".", 1)[-1].lower() in ("pdf", "jpg", "png")
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


def _media_type(path: str) -> str:
    ext = path.rsplit(".", 1)[-1].lower()
    return {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png", "json": "application/json",
            "csv": "text/csv", "txt": "text/plain"}.get(ext, "application/octet-stream")


def _json_bytes(value) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False, default=_json_default) + "\n").encode("utf-8")


def _json_default(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _manifest_header(req: DataRequest, pack: str) -> dict:
    policy = _policy()
    return {
        "pack": pack,
        "reference": req.reference,
        "controller": policy.controller.name,
        "created_at": utcnow().isoformat(timespec="seconds"),
        "hash_algorithm": "sha256",
    }


def checked_access_entries(req: DataRequest) -> list[tuple[int, str, bytes]]:
    """(document id, path in the ZIP, bytes) of every gathered file, each checked like an upload."""
    return [(doc.id, f"data/{_zip_name(i, doc.display_name, doc.mime)}", _checked_answer_file(doc))
            for i, doc in enumerate(_answer_documents(req), start=1)]


def build_access_pack(req: DataRequest, letter: Document, letter_bytes: bytes, actor: Actor,
                      data_entries: list[tuple[int, str, bytes]] | None = None) -> Document:
    """The letter and every file gathered, checked, in one ZIP with a manifest of their hashes."""
    if data_entries is None:
        data_entries = checked_access_entries(req)
    entries = [(f"00_{letter.display_name}", letter_bytes), *[(path, data) for _, path, data in data_entries]]
    sources = [doc_id for doc_id, _, _ in data_entries]
    data = _zip(entries, _manifest_header(req, "access"))
    name = f"{_file_stem('pack', req.language)}-{req.reference}.zip"
    doc = _store_generated(req, DocumentKind.EXPORT, data, name, actor, mime="application/zip")
    audit.record(actor, "pack_built", request=req, details={
        "pack": "access", "document_id": doc.id, "sha256": doc.sha256, "files": len(entries) + 1, "sources": sources,
    })
    doc._pack_sources = sources  # read by issue_link: these copies are deleted with the pack
    return doc


# =========================================================================================================
# Portability: the data the person provided, as JSON and CSV with a manifest (GDPR art. 20)
# =========================================================================================================


def portable_categories(req: DataRequest) -> list:
    """The data categories a portability answer may carry: provided by the person (policy art. 7, 8.1)."""
    policy = _policy()
    out = []
    for act in _concerned_activities(req):
        out.extend(c for c in policy.categories_for(act.key, req.subject_kind) if c.portable)
    return out


def _require_portable_data(req: DataRequest) -> None:
    if not req.portable_datasets:
        raise InvalidInput(
            N_("A portability answer gives the data in a machine-readable format (GDPR art. 20): add the data as JSON "
               "or CSV before answering. A PDF alone is not a portability answer."),
            code="no_portable_data", field="outcome")


_SCALARS = (str, int, float, bool, type(None))


def parse_dataset(raw: bytes) -> tuple[list[str], list[dict]]:
    """Records from an uploaded JSON or CSV export, checked like an upload: by content, strictly.

    JSON: a list of flat objects, or ``{"records": [...]}``. CSV: UTF-8, a header row, the same number of
    cells on every row. Raises InvalidInput with a message the user can act on.
    """
    if not raw:
        raise InvalidInput(N_("The file is empty."), code="empty", field="dataset")
    if len(raw) > MAX_DATASET_BYTES:
        raise InvalidInput(N_("The file is too large. The limit is %(limit)s."), code="too_large", field="dataset",
                           limit=f"{MAX_DATASET_BYTES // (1024 * 1024)} MB")
    import magic

    mime = magic.from_buffer(raw[:65536], mime=True)
    if b"\x00" in raw or not (mime.startswith("text/") or mime == "application/json"):
        raise InvalidInput(N_("This is not a JSON or CSV file. Export the data as JSON or CSV (UTF-8 text)."),
                           code="type_not_accepted", field="dataset")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(N_("The file is not UTF-8 text. Export it again in UTF-8."), code="encoding",
                           field="dataset") from None
    stripped = text.lstrip()
    if stripped[:1] in ("[", "{"):
        return _records_from_json(stripped)
    return _records_from_csv(text)


def _records_from_json(text: str) -> tuple[list[str], list[dict]]:
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise InvalidInput(N_("The JSON file cannot be read: it is not valid JSON."), code="bad_json",
                           field="dataset") from None
    if isinstance(value, dict) and set(value) == {"records"}:
        value = value["records"]
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise InvalidInput(N_("The JSON file must hold a list of records (objects), or {\"records\": [...]}."),
                           code="bad_json_shape", field="dataset")
    columns: list[str] = []
    for record in value:
        for k, v in record.items():
            if not isinstance(v, _SCALARS):
                raise InvalidInput(N_("Field %(name)s holds a nested value: each record must be flat "
                                      "(text, numbers, true/false or null)."), code="nested", field="dataset",
                                   name=str(k)[:60])
            if k not in columns:
                columns.append(k)
    return _checked(columns, value)


def _refuse_constant(name):
    raise ValueError(name)  # NaN and Infinity are not JSON


def _records_from_csv(text: str) -> tuple[list[str], list[dict]]:
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text, newline=""), dialect))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 1 or not all(h.strip() for h in rows[0]):
        raise InvalidInput(N_("The CSV file needs a header row naming every column."), code="bad_csv_header",
                           field="dataset")
    header = [h.strip() for h in rows[0]]
    if len(set(header)) != len(header):
        raise InvalidInput(N_("The CSV header names a column twice."), code="bad_csv_header", field="dataset")
    records = []
    for n, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise InvalidInput(N_("Line %(line)s of the CSV file does not have as many cells as the header."),
                               code="bad_csv_row", field="dataset", line=n)
        records.append(dict(zip(header, row)))
    return _checked(header, records)


def _checked(columns: list[str], records: list[dict]) -> tuple[list[str], list[dict]]:
    if not records:
        raise InvalidInput(N_("The file holds no records."), code="no_records", field="dataset")
    if len(records) > MAX_DATASET_RECORDS:
        raise InvalidInput(N_("The file holds too many records (more than %(limit)s)."), code="too_many_records",
                           field="dataset", limit=MAX_DATASET_RECORDS)
    for c in columns:
        if not isinstance(c, str) or not c.strip() or len(c) > 200 or any(unicodedata.category(ch) == "Cc" for ch in c):
            raise InvalidInput(N_("A field name is empty, too long or holds control characters."),
                               code="bad_field_name", field="dataset")
    return columns, records


def add_portable_dataset(req: DataRequest, actor: Actor, *, category_ref: str, raw: bytes) -> PortableDataset:
    """Add (or replace) the data of one portable category for a portability request."""
    if req.type != RequestType.PORTABILITY:
        raise IllegalTransition(N_("Portable data can only be added to a portability request."), code="wrong_type")
    if Status(req.status) not in (Status.OPEN, Status.IN_PROGRESS, Status.AWAITING_REQUESTER):
        raise IllegalTransition(N_("Data can only be added while the request is being handled."), code="wrong_state")
    activity, _, category = (category_ref or "").partition(".")
    allowed = {(c.activity, c.key): c for c in portable_categories(req)}
    if (activity, category) not in allowed:
        raise InvalidInput(N_("Choose one of the categories of data the person provided (GDPR art. 20)."),
                           code="bad_category", field="category")
    columns, records = parse_dataset(raw)
    payload = _json_bytes({"activity": activity, "category": category, "columns": columns, "records": records})
    doc = _store_generated(req, DocumentKind.EXPORT, payload, f"{activity}__{category}.json", actor,
                           mime="application/json")
    existing = next((d for d in req.portable_datasets if (d.activity, d.category) == (activity, category)), None)
    if existing is not None:
        old = existing.document
        _delete_content(old, actor, reason="replaced")
        req.portable_datasets.remove(existing)
        db.session.delete(existing)
        db.session.flush()
    ds = PortableDataset(request=req, document=doc, activity=activity, category=category, records=len(records),
                         columns=columns, added_by=actor.label)
    db.session.add(ds)
    db.session.flush()
    audit.record(actor, "portable_data_added", request=req, details={
        "activity": activity, "category": category, "records": len(records), "document_id": doc.id,
        "sha256": doc.sha256, "replaced": existing is not None,
    })
    return ds


def remove_portable_dataset(req: DataRequest, actor: Actor, dataset_id: int) -> None:
    ds = next((d for d in req.portable_datasets if d.id == dataset_id), None)
    if ds is None:
        raise NotFound(N_("No such data set on this request."))
    if req.is_final or Status(req.status) == Status.ANSWERED:
        raise IllegalTransition(N_("The answer has been sent: its data can no longer be changed."), code="wrong_state")
    _delete_content(ds.document, actor, reason="removed")
    req.portable_datasets.remove(ds)
    db.session.delete(ds)
    audit.record(actor, "portable_data_removed", request=req, details={"activity": ds.activity, "category": ds.category})


def _dataset_row(ds: PortableDataset, lang: str) -> dict:
    cat = next((c for c in _policy().categories_for(ds.activity) if c.key == ds.category), None)
    return {"id": ds.id, "activity": ds.activity, "category": ds.category,
            "name": localized(cat.name, lang) if cat else ds.category,
            "activity_name": localized(_policy().activity(ds.activity).name, lang),
            "records": ds.records, "columns": ds.columns, "added_at": ds.added_at, "added_by": ds.added_by}


# Spreadsheets run a cell that starts with one of these as a formula (CSV injection). The JSON keeps the
# exact value; the CSV neutralises it with a leading apostrophe, and the manifest says so. A signed number
# or a phone number ("+33 6 12 34 56 78", "-12.5") is data, not a formula, and is left as it is.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SIGNED_NUMBER = re.compile(r"[+-][0-9 .,()]*")


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text.startswith(_FORMULA_START) and not _SIGNED_NUMBER.fullmatch(text):
        return "'" + text
    return text


def build_portability_pack(req: DataRequest, letter: Document, letter_bytes: bytes, actor: Actor) -> Document:
    """data.json (every category), one CSV per category, the letter, and manifest.json with each file's SHA-256."""
    policy = _policy()
    categories, csv_files = [], []
    for ds in req.portable_datasets:
        stored = json.loads(_read(ds.document).decode("utf-8"))
        columns, records = stored["columns"], stored["records"]
        cat = next(c for c in policy.categories_for(ds.activity) if c.key == ds.category)
        categories.append({
            "activity": ds.activity, "category": ds.category,
            "name": localized(cat.name, req.language), "columns": columns, "records": records,
        })
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(columns)
        for r in records:
            writer.writerow([_csv_cell(r.get(c)) for c in columns])
        csv_files.append((f"csv/{ds.activity}__{ds.category}.csv", out.getvalue().encode("utf-8"), columns))
    data_json = _json_bytes({
        "reference": req.reference,
        "controller": policy.controller.name,
        "format": "dsar-portability/1",
        "categories": categories,
    })
    # What goes in is checked again: the JSON parses back to the same records, each CSV has its columns.
    if json.loads(data_json)["categories"] != json.loads(_json_bytes(categories)):
        raise RuntimeError("data.json does not read back as written")
    for path, blob, columns in csv_files:
        if next(csv.reader(io.StringIO(blob.decode("utf-8")))) != list(columns):
            raise RuntimeError(f"{path} does not read back with its columns")
    entries = [("data.json", data_json), *[(p, b) for p, b, _ in csv_files], (f"{letter.display_name}", letter_bytes)]
    manifest = _manifest_header(req, "portability")
    manifest["formats"] = {"data.json": "JSON (RFC 8259), UTF-8", "csv/": "CSV (RFC 4180), UTF-8, comma, CRLF"}
    manifest["csv_formula_guard"] = ("cells that would run as spreadsheet formulas (starting with = @ or with + - not "
                                     "followed by a number) are prefixed with ' in the CSV files; data.json keeps them as given")
    manifest["columns"] = {p: list(c) for p, _, c in csv_files}
    data = _zip(entries, manifest)
    name = f"{_file_stem('pack', req.language)}-{req.reference}.zip"
    doc = _store_generated(req, DocumentKind.EXPORT, data, name, actor, mime="application/zip")
    audit.record(actor, "pack_built", request=req, details={
        "pack": "portability", "document_id": doc.id, "sha256": doc.sha256, "files": len(entries) + 1,
        "categories": [f"{c['activity']}.{c['category']}" for c in categories],
    })
    doc._pack_sources = [ds.document_id for ds in req.portable_datasets]
    return doc


# =========================================================================================================
# Delivery: expiring links, opened together with the status-page secret
# =========================================================================================================


def _delivery_periods():
    d = _policy().delivery
    return timedelta(days=d.download_link_valid_days), timedelta(days=d.purge_grace_days)


def _file_entry(doc: Document) -> dict:
    return {"document_id": doc.id, "name": doc.display_name, "mime": doc.mime, "size": doc.size,
            "sha256": doc.sha256, "contains": list(getattr(doc, "_pack_sources", []) or [])}


def issue_link(req: DataRequest, files: list[Document], actor: Actor, *, purpose: str,
               replaces: DownloadLink | None = None, email: bool = True) -> DownloadLink:
    """Create a download link for ``files`` and email it to the requester."""
    from ..tokens import make_token, new_nonce

    valid, grace = _delivery_periods()
    now = utcnow()
    nonce, nonce_hash = new_nonce()
    link = DownloadLink(
        request=req, purpose=str(purpose), token_hash=nonce_hash, files=[_file_entry(d) for d in files],
        created_at=now, created_by=actor.label, expires_at=now + valid, purge_after=now + valid + grace,
        replaces_id=replaces.id if replaces else None,
    )
    db.session.add(link)
    db.session.flush()
    keep_until = legal_day(link.purge_after)
    for entry in link.files:
        for doc_id in [entry["document_id"], *entry["contains"]]:
            doc = db.session.get(Document, doc_id)
            if doc is not None and doc.kind != DocumentKind.LETTER:
                doc.retain_until = max(doc.retain_until or keep_until, keep_until)
    token = make_token("download", {"l": link.id, "n": nonce})
    audit.record(actor, "download_link_issued", request=req, details={
        "link_id": link.id, "purpose": str(purpose), "expires_at": link.expires_at,
        "files": [{"document_id": e["document_id"], "sha256": e["sha256"]} for e in link.files],
        "replaces": replaces.id if replaces else None,
    })
    if email:
        msg = notifications.queue_email(req.requester.email, _EMAIL_FOR_PURPOSE[str(purpose)], req.language or "fr",
                                        email_context(req, link, token), request=req)
        db.session.flush()   # the link names its email
        link.outbox_message_id = msg.id
    link._token = token  # for the caller (tests, the API); never stored
    return link


_EMAIL_FOR_PURPOSE = {
    LinkPurpose.ANSWER: "answer_ready",
    LinkPurpose.LETTER: "answer_ready",
    LinkPurpose.EXTENSION: "extension_notice",
    LinkPurpose.REFUSAL: "refusal_notice",
}


def download_url(token: str) -> str:
    from ..urls import public_url

    return public_url("public.download_GET", token=token)


def email_context(req: DataRequest, link: DownloadLink, token: str) -> dict:
    policy = _policy()
    rt = policy.request_types.get(req.type)
    lang = req.language or "fr"
    return {
        "reference": req.reference,
        "request": req,
        "purpose": link.purpose,
        "request_type_name": localized(rt.name, lang) if rt else req.type,
        "download_url": download_url(token),
        "expires_on": legal_day(link.expires_at),
        "files": [{"name": f["name"], "size": f["size"], "size_label": human_size(f["size"])} for f in link.files],
        "outcome": req.outcome,
        "reasons": req.refusal_reasons,
        "extension_reason": req.extension_reason,
        "extended_due_date": req.extended_due_date,
        "one_month_due_date": req.one_month_due_date,
        "authority": policy.controller.complaint_authority,
        "fmt_date": lambda d: _long_date(d, lang),
    }


def human_size(size: int) -> str:
    from .documents import human_size as _human_size

    return _human_size(size)


def _long_date(d, lang):
    from ..pdf import long_date

    return long_date(d, lang)


def link_from_token(token: str) -> DownloadLink:
    """The link a token opens; TokenError (tampered), LinkGone (expired, replaced, purged) otherwise."""
    from ..tokens import TokenError, read_token, same_hash

    valid, grace = _delivery_periods()
    payload = read_token("download", token, max_age=int((valid + grace).total_seconds()) + 86400)
    link_id, nonce = payload.get("l"), payload.get("n")
    if not isinstance(link_id, int) or not isinstance(nonce, str):
        raise TokenError(N_("This link is not valid."))
    link = db.session.get(DownloadLink, link_id)
    if link is None:
        raise TokenError(N_("This link is not valid."))
    if link.purged_at is not None:
        raise LinkGone(N_("The files of this answer were deleted after the link expired. Write to us to receive "
                          "them again."), code="link_purged")
    if link.token_hash is None and link.revoked_at is not None:
        raise LinkGone(N_("This link was replaced by a newer one. Use the latest link we sent you."),
                       code="link_replaced")
    if not same_hash(nonce, link.token_hash):
        raise TokenError(N_("This link is not valid."))
    if utcnow() >= link.expires_at:
        raise LinkGone(N_("This download link has expired. Ask us for a new one."), code="link_expired")
    return link


def link_file(link: DownloadLink, document_id: int) -> tuple[Document, dict]:
    entry = next((e for e in link.files if e["document_id"] == document_id), None)
    doc = db.session.get(Document, document_id) if entry else None
    if entry is None or doc is None or doc.request_id != link.request_id:
        raise NotFound(N_("This file is not part of this answer."))
    if doc.purged_at is not None or not doc.storage_name:
        raise LinkGone(N_("The files of this answer were deleted after the link expired. Write to us to receive "
                          "them again."), code="link_purged")
    return doc, entry


def record_download(link: DownloadLink, doc: Document, *, ip: str | None, user_agent: str | None) -> bytes:
    """The bytes of one delivered file, checked against the hash of what was sent; the download is recorded."""
    doc_, entry = link_file(link, doc.id)
    data = _read(doc_)
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise InvalidInput(N_("The stored file does not match what was sent; it cannot be downloaded."),
                           code="integrity")
    db.session.add(Download(link=link, document_id=doc.id, sha256=entry["sha256"], ip=ip, user_agent=user_agent))
    audit.record(Actor.for_requester(link.request, ip=ip, user_agent=user_agent), "answer_downloaded", request=link.request,
                 details={"link_id": link.id, "document_id": doc.id, "sha256": entry["sha256"]})
    return data


#: Files larger than this are streamed to the requester (a collected pack may weigh gigabytes, issue 16).
STREAM_DOWNLOAD_BYTES = 16 * 1024 * 1024


def stream_download(link: DownloadLink, doc: Document, *, ip: str | None, user_agent: str | None):
    """Like ``record_download`` for a large file: the download is recorded, the content comes chunk by chunk.

    The SHA-256 is checked as the chunks go; a mismatch (the store was altered) stops the stream short, so
    the requester's copy is visibly incomplete, and is logged for the operators.
    """
    from .documents import file_store

    doc_, entry = link_file(link, doc.id)
    name = doc_.storage_name
    db.session.add(Download(link=link, document_id=doc.id, sha256=entry["sha256"], ip=ip, user_agent=user_agent))
    audit.record(Actor.for_requester(link.request, ip=ip, user_agent=user_agent), "answer_downloaded",
                 request=link.request, details={"link_id": link.id, "document_id": doc.id, "sha256": entry["sha256"],
                                                "streamed": True})
    expected, doc_id = entry["sha256"], doc.id
    store = file_store()

    def chunks():
        digest = hashlib.sha256()
        for chunk in store.open_stream(name):
            digest.update(chunk)
            yield chunk
        if digest.hexdigest() != expected:
            log.error("document %s: streamed content does not match the hash of what was sent", doc_id)
            raise RuntimeError("integrity")

    return chunks(), doc_.size


def reissue_link(req: DataRequest, actor: Actor, link_id: int) -> DownloadLink:
    """Staff send a new link for the same files; the old one stops working at once."""
    link = next((l for l in req.download_links if l.id == link_id), None)
    if link is None:
        raise NotFound(N_("No such download link on this request."))
    if link.purged_at is not None:
        raise IllegalTransition(
            N_("The files of this link were deleted after it expired; only their hashes remain. Reopen the request "
               "and answer again to send a new copy."), code="link_purged")
    docs = []
    for entry in link.files:
        doc = db.session.get(Document, entry["document_id"])
        if doc is None or doc.purged_at is not None:
            raise IllegalTransition(N_("A file of this link has been deleted; it cannot be sent again."),
                                    code="link_purged")
        doc._pack_sources = entry.get("contains", [])
        docs.append(doc)
    now = utcnow()
    if link.token_hash is not None:
        link.token_hash = None
        link.revoked_at = now
    return issue_link(req, docs, actor, purpose=link.purpose, replaces=link)


def live_links(req: DataRequest) -> list[DownloadLink]:
    now = utcnow()
    return [l for l in req.download_links if l.token_hash and l.purged_at is None and l.expires_at > now]


# --- the purge ---------------------------------------------------------------------------------------------


def _delete_content(doc: Document | None, actor: Actor, *, reason: str) -> bool:
    if doc is None or doc.purged_at is not None:
        return False
    if doc.storage_name:
        _file_store().delete(doc.storage_name)
    doc.storage_name = None
    doc.purged_at = utcnow()
    audit.record(actor, "document_purged", request=doc.request,
                 details={"document_id": doc.id, "kind": doc.kind, "sha256": doc.sha256, "reason": reason})
    return True


def purge_expired_links(now: datetime | None = None, *, limit: int = 200) -> int:
    """Delete the files of links past expiry plus grace; the hashes stay in the link and the documents.

    Letters are kept: they are the controller's record of what it answered. A file still offered by a
    newer link is kept until that one is purged too. Returns how many links were purged.
    """
    now = now or utcnow()
    actor = Actor.system("purge")
    links = db.session.scalars(
        sa.select(DownloadLink).where(DownloadLink.purged_at.is_(None), DownloadLink.purge_after <= now)
        .order_by(DownloadLink.id).limit(limit)
    ).all()
    for link in links:
        still_offered = set()
        for other in db.session.scalars(sa.select(DownloadLink).where(
                DownloadLink.request_id == link.request_id, DownloadLink.id != link.id,
                DownloadLink.purged_at.is_(None), DownloadLink.purge_after > now)):
            for e in other.files:
                still_offered.update([e["document_id"], *e.get("contains", [])])
        deleted = []
        for entry in link.files:
            for doc_id in [entry["document_id"], *entry.get("contains", [])]:
                doc = db.session.get(Document, doc_id)
                if doc is None or doc.kind == DocumentKind.LETTER or doc_id in still_offered:
                    continue
                if _delete_content(doc, actor, reason="delivery_expired"):
                    deleted.append(doc_id)
        link.purged_at = now
        link.token_hash = None
        audit.record(actor, "download_link_purged", request=link.request, details={
            "link_id": link.id, "deleted": deleted,
            "sent": [{"document_id": e["document_id"], "sha256": e["sha256"]} for e in link.files],
        })
    return len(links)


# =========================================================================================================
# GDPR art. 19: telling the recipients (policy art. 11)
# =========================================================================================================


def _professionals_in_charge(req: DataRequest) -> list:
    """Every professional linked to the patient, each a recipient to notify (GDPR art. 19, policy art. 8.2 and 11).

    The joint controller "professional" is every professional the patient's data were shared with: each
    care link to the patient (in force or ended: the data reached them) and each professional the request
    was routed to, except one who answered "not my patient" and has no care link. Sorted by name, one each.
    """
    from ..models.enums import TaskStatus
    from .routing import matching_links

    found: dict[int, object] = {}
    for link in matching_links(req):
        found.setdefault(link.professional.id, link.professional)
    for task in getattr(req, "tasks", []) or []:
        if task.status != TaskStatus.DECLINED:
            found.setdefault(task.professional.id, task.professional)
    return sorted(found.values(), key=lambda p: (p.last_name.lower(), p.first_name.lower(), p.id))


def _recipient_contacts(req: DataRequest, recipient) -> list[tuple[str | None, str | None, int | None]]:
    """Whom to tell for one recipient of the policy: [(address, why no address, professional id)].

    A recipient with an address is one task; the joint controller "professional in charge" is one task
    per professional linked to the patient (GDPR art. 19: every recipient the data were disclosed to).
    """
    if recipient.contact_email:
        if recipient.contact_is_placeholder:
            return [(None, "placeholder", None)]
        return [(recipient.contact_email, None, None)]
    if recipient.contact_rule == "professional_in_charge":
        pros = _professionals_in_charge(req)
        return [(p.email, None, p.id) for p in pros] or [(None, "no_professional", None)]
    return [(None, recipient.contact_rule or "no_contact", None)]


def open_recipient_notifications(req: DataRequest, actor: Actor) -> list[RecipientNotification]:
    """One task per recipient of each processing concerned (policy art. 11), and per professional, once."""
    policy = _policy()
    existing = {(n.activity, n.recipient_key, n.professional_id) for n in req.recipient_notifications}
    created = []
    from ..systems.execution_report import executed_activities

    # Executed through the systems: only the recipients of the activities whose data were changed (art. 19).
    changed = executed_activities(req)
    for act in _concerned_activities(req):
        if changed is not None and act.key not in changed:
            continue
        for r in policy.recipients_for(act.key):
            for contact, problem, professional_id in _recipient_contacts(req, r):
                if (act.key, r.key, professional_id) in existing:
                    continue
                task = RecipientNotification(request=req, activity=act.key, recipient_key=r.key, contact=contact,
                                             contact_problem=problem, professional_id=professional_id,
                                             status=NotificationStatus.PENDING)
                db.session.add(task)
                created.append(task)
    db.session.flush()
    if created:
        audit.record(actor, "recipient_notifications_opened", request=req, details={
            "recipients": [f"{t.activity}.{t.recipient_key}" + (f"#{t.professional_id}" if t.professional_id else "")
                           for t in created], "gdpr": "art. 19",
        })
    return created


def _task(req: DataRequest, task_id: int) -> RecipientNotification:
    task = next((t for t in req.recipient_notifications if t.id == task_id), None)
    if task is None:
        raise NotFound(N_("No such notification task on this request."))
    if task.status != NotificationStatus.PENDING:
        raise IllegalTransition(N_("This notification task is already closed."), code="task_closed")
    return task


def _recipient(task: RecipientNotification):
    return next((r for r in _policy().recipients_for(task.activity) if r.key == task.recipient_key), None)


def notify_recipient(req: DataRequest, actor: Actor, task_id: int, *, message: str | None = None,
                     how: str | None = None) -> RecipientNotification:
    """Close a task as notified: by email to the recipient's contact (outbox), or, without one, stating how."""
    task = _task(req, task_id)
    how = (how or "").strip()
    if task.contact:
        recipient = _recipient(task)
        lang = _policy().default_language
        msg = notifications.queue_email(task.contact, "recipient_notification", lang, {
            "reference": req.reference,
            "request_type": req.type,
            "recipient_name": localized(recipient.name, lang) if recipient else task.recipient_key,
            "activity_name": localized(_policy().activity(task.activity).name, lang),
            "subject": req.subject,
            "message": (message or "").strip(),
        }, request=req)
        db.session.flush()   # the task names its email
        task.method, task.outbox_message_id = "email", msg.id
        task.reason = how or None
    else:
        if not how:
            raise InvalidInput(N_("This recipient has no address to write to: say how it was notified."),
                               code="required", field="how")
        task.method, task.reason = "other", how
    task.status = NotificationStatus.NOTIFIED
    task.closed_at, task.closed_by = utcnow(), actor.label
    audit.record(actor, "recipient_notified", request=req, details={
        "recipient": f"{task.activity}.{task.recipient_key}", "method": task.method, "gdpr": "art. 19",
    })
    return task


def close_recipient_impossible(req: DataRequest, actor: Actor, task_id: int, *, reason: str) -> RecipientNotification:
    """GDPR art. 19: notifying proves impossible or involves disproportionate effort; the reason is kept."""
    task = _task(req, task_id)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(N_("Give the reason why notifying this recipient is impossible or disproportionate."),
                           code="required", field="reason")
    task.status, task.method, task.reason = NotificationStatus.IMPOSSIBLE, None, reason
    task.closed_at, task.closed_by = utcnow(), actor.label
    audit.record(actor, "recipient_notification_impossible", request=req, details={
        "recipient": f"{task.activity}.{task.recipient_key}", "reason": reason, "gdpr": "art. 19",
    })
    return task


def recipient_rows(req: DataRequest, lang: str) -> list[dict]:
    policy = _policy()
    rows = []
    for t in req.recipient_notifications:
        r = _recipient(t)
        rows.append({
            "id": t.id, "task": t, "activity": localized(policy.activity(t.activity).name, lang),
            "name": localized(r.name, lang) if r else t.recipient_key, "kind": r.kind if r else None,
            "professional": t.professional.full_name if t.professional is not None else None,
            "service": localized(r.service, lang) if r and r.service else "",
            "status": t.status, "contact": t.contact, "contact_problem": t.contact_problem,
            "reason": t.reason, "method": t.method, "closed_at": t.closed_at, "closed_by": t.closed_by,
        })
    return rows


def pending_obligations(req: DataRequest) -> list[str]:
    """What still has to be done after the answer (the policy's ``required_before: closed`` steps)."""
    out = [f"art19:{t.activity}.{t.recipient_key}" for t in req.recipient_notifications
           if t.status == NotificationStatus.PENDING]
    dz = req.account_deactivation
    if dz is not None and dz.status != DeactivationStatus.CONFIRMED:
        out.append("deactivation")
    return out


# =========================================================================================================
# The erasure plan as applied to a request (GDPR art. 17(3), policy art. 12)
# =========================================================================================================


def _identity_proof_day(req: DataRequest) -> date | None:
    docs = [d for d in req.documents if d.kind == DocumentKind.IDENTITY]
    return legal_day(docs[0].uploaded_at) if docs else None


def erasure_plan_for(req: DataRequest, *, today: date | None = None):
    """The plan for this request from its recorded facts: by default the erasure closes the account today."""
    today = today or _today()
    decision = req.erasure_decision
    state = ContractState(decision.contract_state) if decision else ContractState.CLOSES_NOW
    ended = {ContractState.CLOSES_NOW: today, ContractState.RUNNING: None}.get(
        state, decision.contract_ended_on if decision else today)
    return erasure_plan(
        _policy(), [a.key for a in _concerned_activities(req)] or None, req.subject_kind,
        contract_ended_on=ended, today=today,
        last_invoice_on=decision.last_invoice_on if decision else None,
        identity_proof_received_on=_identity_proof_day(req),
        professional_contract_ends_on=_professional_contract_end(req),
    )


def _professional_contract_end(req: DataRequest) -> date | None:
    """When the contract of the professional(s) in charge ends, if every one has an end date (policy art. 12)."""
    pros = _professionals_in_charge(req) if req.subject_kind == "patient" else []
    ends = [p.contract_ended_on for p in pros]
    return max(ends) if ends and all(ends) else None


def set_erasure_facts(req: DataRequest, actor: Actor, *, contract_state: str, contract_ended_on: date | None = None,
                      last_invoice_on: date | None = None) -> ErasureDecision:
    """Staff say whether the contract ends with the erasure, ended before, or goes on."""
    if req.type != RequestType.ERASURE:
        raise IllegalTransition(N_("An erasure plan belongs to an erasure request."), code="wrong_type")
    if req.is_final or Status(req.status) == Status.ANSWERED:
        raise IllegalTransition(N_("The answer has been sent: the erasure plan it states can no longer change."),
                                code="wrong_state")
    try:
        state = ContractState(contract_state)
    except ValueError:
        raise InvalidInput(N_("Choose what happens to the contract."), code="bad_state", field="contract_state") from None
    today = _today()
    if state == ContractState.ENDED:
        if contract_ended_on is None:
            raise InvalidInput(N_("Give the date the contract ended."), code="required", field="contract_ended_on")
        if contract_ended_on > today:
            raise InvalidInput(N_("A contract that ends in the future is still running."), code="future",
                               field="contract_ended_on")
    else:
        contract_ended_on = None
    if last_invoice_on is not None and last_invoice_on > today:
        raise InvalidInput(N_("The last invoice cannot be in the future."), code="future", field="last_invoice_on")
    decision = req.erasure_decision or ErasureDecision(request=req, decided_by=actor.label)
    decision.contract_state, decision.contract_ended_on, decision.last_invoice_on = state, contract_ended_on, last_invoice_on
    decision.decided_at, decision.decided_by = utcnow(), actor.label
    db.session.add(decision)
    audit.record(actor, "erasure_facts_set", request=req, details={
        "contract_state": str(state), "contract_ended_on": contract_ended_on, "last_invoice_on": last_invoice_on,
    })
    return decision


def fix_erasure_plan(req: DataRequest, actor: Actor) -> ErasureDecision:
    """At the answer: the plan is computed once and kept, so the letter and the record say the same thing."""
    today = _today()
    plan = erasure_plan_for(req, today=today)
    decision = req.erasure_decision or ErasureDecision(request=req, decided_by=actor.label)
    decision.planned_on = today
    decision.items = [{
        "activity": i.activity, "category": i.category, "action": i.action,
        "until": i.until.isoformat() if i.until else None, "grounds": list(i.grounds),
        "articles": list(i.gdpr_articles), "reason": dict(i.reason), "responsible": list(i.responsible),
        "sensitive": i.sensitive,
    } for i in plan]
    db.session.add(decision)
    db.session.flush()
    audit.record(actor, "erasure_planned", request=req, details={
        "planned_on": today, "items": [{k: v for k, v in it.items() if k != "reason"} for it in decision.items],
    })
    return decision


def erasure_rows(req: DataRequest, lang: str, *, today: date | None = None) -> list[dict]:
    """The plan as shown to staff and stated in the letter: the fixed one after the answer, else a preview."""
    policy = _policy()
    decision = req.erasure_decision
    if decision is not None and decision.items is not None:
        items = decision.items
    else:
        items = [{
            "activity": i.activity, "category": i.category, "action": i.action,
            "until": i.until.isoformat() if i.until else None, "grounds": list(i.grounds),
            "articles": list(i.gdpr_articles), "reason": dict(i.reason), "responsible": list(i.responsible),
            "sensitive": i.sensitive,
        } for i in erasure_plan_for(req, today=today)]
    rows = []
    for it in items:
        cat = next((c for c in policy.categories_for(it["activity"]) if c.key == it["category"]), None)
        rows.append({
            "activity": localized(policy.activity(it["activity"]).name, lang),
            "category": localized(cat.name, lang) if cat else it["category"],
            "action": it["action"],
            "until": date.fromisoformat(it["until"]) if it["until"] else None,
            "grounds": [{"label": RETENTION_GROUNDS[g][1][lang], "article": RETENTION_GROUNDS[g][0]} for g in it["grounds"]],
            "reason": it["reason"].get(lang) or it["reason"].get("fr", ""),
            "responsible": [_party_name(policy, p, lang) for p in it.get("responsible", [])],
        })
    return rows


# =========================================================================================================
# Withdrawal of consent for health data (policy art. 8.2)
# =========================================================================================================


def concerns_health_data(req: DataRequest) -> bool:
    """A withdrawal of consent that reaches sensitive (health) data processed for this kind of person."""
    policy = _policy()
    return any(
        act.sensitive_data is not None and any(c.sensitive for c in policy.categories_for(act.key, req.subject_kind))
        for act in _concerned_activities(req)
    )


def request_account_deactivation(req: DataRequest, actor: Actor) -> AccountDeactivation:
    """Policy art. 8.2: the patient's account is deactivated; the archive is kept as evidence.

    The application is asked by webhook (references only, no health data); staff confirm once it is done.
    Without an account identifier the webhook cannot say which account: staff find it and confirm.
    """
    if req.account_deactivation is not None:
        return req.account_deactivation
    dz = AccountDeactivation(request=req, external_account_id=req.external_account_id,
                             status=DeactivationStatus.REQUESTED)
    db.session.add(dz)
    from ..systems.rights import deactivate_through_systems

    if deactivate_through_systems(req, actor) is not None:
        # The application's system deactivates it (issue 17); the execution confirms it when done.
        db.session.flush()
        audit.record(actor, "account_deactivation_requested", request=req, details={
            "through": "systems", "policy": "art. 8.2"})
        return dz
    if req.external_account_id:
        from .webhooks import queue_webhook

        queue_webhook("account.deactivation_requested",
                      {"reference": req.reference, "external_account_id": req.external_account_id}, request=req)
        dz.webhook_queued = True
    db.session.flush()
    from ..urls import public_url

    notifications.email_dpo("deactivation_requested", {
        "reference": req.reference,
        "has_account_id": bool(req.external_account_id),
        "webhook_queued": dz.webhook_queued,
        "url": public_url("backoffice.fulfilment_GET", reference=req.reference),
    })
    audit.record(actor, "account_deactivation_requested", request=req, details={
        "webhook": dz.webhook_queued, "policy": "art. 8.2",
    })
    return dz


def confirm_account_deactivation(req: DataRequest, actor: Actor, *, note: str | None = None) -> AccountDeactivation:
    dz = req.account_deactivation
    if dz is None:
        raise NotFound(N_("No account deactivation was asked for on this request."))
    if dz.status == DeactivationStatus.CONFIRMED:
        raise IllegalTransition(N_("The deactivation has already been confirmed."), code="already_confirmed")
    dz.status, dz.confirmed_at, dz.confirmed_by = DeactivationStatus.CONFIRMED, utcnow(), actor.label
    dz.note = (note or "").strip() or None
    audit.record(actor, "account_deactivation_confirmed", request=req, details={"policy": "art. 8.2"})
    return dz


# =========================================================================================================
# Post-mortem directives (loi Informatique et Libertés art. 85)
# =========================================================================================================

DIRECTIVE_ACTIONS = ("register", "change", "revoke")
#: Art. 85 II: what heirs may ask, "dans la mesure nécessaire" to settle the estate (1°) and to have
#: the death taken into account: close the accounts, object to further processing, update the data (2°).
HEIR_SCOPES = {
    RequestType.ACCESS: N_("limited to the information useful to settle the estate (art. 85 II 1°)"),
    RequestType.ERASURE: N_("closing the deceased person's accounts (art. 85 II 2°)"),
    RequestType.OBJECTION: N_("objecting to further processing of the deceased person's data (art. 85 II 2°)"),
    RequestType.RECTIFICATION: N_("updating the data to take the death into account (art. 85 II 2°)"),
}


def _norm(value: str | None) -> str:
    return unicodedata.normalize("NFKC", (value or "").strip()).casefold()


def find_directive(*, first_name: str, last_name: str, birth_date: date | None = None, email: str | None = None,
                   external_account_id: str | None = None) -> PostMortemDirective | None:
    """The person's active directive: same account, or same email, or same name and birth date."""
    keys = []
    if external_account_id:
        keys.append(PostMortemDirective.external_account_id == external_account_id)
    if email:
        keys.append(PostMortemDirective.email == email.strip().lower())
    if birth_date:
        keys.append(PostMortemDirective.birth_date == birth_date)
    if not keys:
        return None
    candidates = db.session.scalars(sa.select(PostMortemDirective).where(
        PostMortemDirective.status == DirectiveStatus.ACTIVE, sa.or_(*keys)).order_by(PostMortemDirective.id)).all()
    for d in candidates:
        if external_account_id and d.external_account_id and d.external_account_id == external_account_id:
            return d
    for d in candidates:
        if email and d.email and _norm(d.email) == _norm(email):
            return d
    for d in candidates:
        if (birth_date and d.birth_date == birth_date and _norm(d.first_name) == _norm(first_name)
                and _norm(d.last_name) == _norm(last_name)):
            return d
    return None


def directive_for_subject(req: DataRequest) -> PostMortemDirective | None:
    s = req.subject
    if s is None:
        return None
    return find_directive(first_name=s.first_name, last_name=s.last_name, birth_date=s.birth_date, email=s.email,
                          external_account_id=req.external_account_id)


def record_directive(req: DataRequest, actor: Actor, *, action: str, instructions: str | None = None,
                     executor_name: str | None = None, executor_email: str | None = None,
                     heirs_may_act: bool = True) -> PostMortemDirective:
    """Register, change or revoke the directives the person asked for in this request."""
    if req.type != RequestType.POST_MORTEM_DIRECTIVE:
        raise IllegalTransition(N_("Directives are recorded from a post-mortem directive request."), code="wrong_type")
    if Status(req.status) not in (Status.OPEN, Status.IN_PROGRESS, Status.AWAITING_REQUESTER):
        raise IllegalTransition(N_("Directives can only be recorded while the request is being handled."),
                                code="wrong_state")
    if req.subject is not None and req.subject.deceased:
        raise IllegalTransition(N_("Directives are set by the person during their lifetime (art. 85 I)."),
                                code="deceased")
    if req.requester is not None and req.requester.acting_for != "self":
        raise PermissionDenied(N_("Only the person themself can set, change or revoke their directives (art. 85 I)."),
                               code="not_self")
    if action not in DIRECTIVE_ACTIONS:
        raise InvalidInput(N_("Choose what to do with the directives."), code="bad_action", field="action")
    instructions = (instructions or "").strip()
    executor_name = (executor_name or "").strip() or None
    executor_email = (executor_email or "").strip().lower() or None
    if executor_email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", executor_email):
        raise InvalidInput(N_("Enter a valid email address."), code="bad_email", field="executor_email")
    current = directive_for_subject(req)
    now = utcnow()
    if action == "register":
        if current is not None:
            raise IllegalTransition(N_("Directives are already registered for this person: change them instead."),
                                    code="already_registered")
        if not instructions:
            raise InvalidInput(N_("This field is required."), code="required", field="instructions")
        s = req.subject
        current = PostMortemDirective(
            status=DirectiveStatus.ACTIVE, first_name=s.first_name, last_name=s.last_name, birth_date=s.birth_date,
            email=(s.email or req.requester.email or "").lower() or None, external_account_id=req.external_account_id,
            executor_name=executor_name, executor_email=executor_email, instructions=instructions,
            heirs_may_act=heirs_may_act, registered_at=now, updated_at=now,
        )
        db.session.add(current)
        change_action = "registered"
    elif current is None:
        raise IllegalTransition(N_("No directives are registered for this person."), code="no_directive")
    elif action == "change":
        if not instructions:
            raise InvalidInput(N_("This field is required."), code="required", field="instructions")
        current.instructions, current.executor_name, current.executor_email = instructions, executor_name, executor_email
        current.heirs_may_act, current.updated_at = heirs_may_act, now
        change_action = "changed"
    else:
        current.status, current.revoked_at, current.updated_at = DirectiveStatus.REVOKED, now, now
        change_action = "revoked"
    current.changes.append(PostMortemDirectiveChange(
        request_id=req.id, action=change_action, at=now, by=actor.label, executor_name=current.executor_name,
        executor_email=current.executor_email, instructions=current.instructions, heirs_may_act=current.heirs_may_act,
    ))
    db.session.flush()
    # The content is personal: the trail keeps the fact and the directive's id.
    audit.record(actor, f"post_mortem_directive_{change_action}", request=req,
                 details={"directive_id": current.id, "law": "Informatique et Libertés art. 85"})
    return current


def _change_for_request(req: DataRequest) -> PostMortemDirectiveChange | None:
    return db.session.scalars(sa.select(PostMortemDirectiveChange).where(
        PostMortemDirectiveChange.request_id == req.id).order_by(PostMortemDirectiveChange.id.desc())).first()


def _require_directive_recorded(req: DataRequest) -> None:
    if _change_for_request(req) is None:
        raise InvalidInput(N_("Record the directives (register, change or revoke) before answering."),
                           code="no_directive", field="outcome")


@dataclass(frozen=True)
class PostMortemStanding:
    """What a requester may ask about a deceased person (art. 85)."""

    role: str                      # "executor" or "heir"
    allowed: bool
    reason: str                    # message id (N_), explains the decision
    scope: str | None              # message id: the limit of what is given, when allowed
    directive_id: int | None


def post_mortem_standing(req: DataRequest) -> PostMortemStanding | None:
    """None unless the subject has died and the requester acts as heir or executor."""
    subject, requester = req.subject, req.requester
    if subject is None or requester is None or not subject.deceased:
        return None
    rel = requester.relationship_to_subject
    if rel not in (Relationship.HEIR, Relationship.EXECUTOR, *CSP_RELATIVES):
        return None
    directive = directive_for_subject(req)
    did = directive.id if directive else None
    rtype = RequestType(req.type)
    if rel in CSP_RELATIVES or (rel == Relationship.HEIR and concerns_patient_health_data(req)):
        csp = _csp_standing(req, rel, rtype, directive)
        if csp is not None:
            return csp
    if rel == Relationship.EXECUTOR:
        if directive is None:
            return PostMortemStanding("executor", False, N_(
                "No directives are registered for this person: an executor's role exists only to carry out "
                "directives (art. 85 I)."), None, None)
        if not directive.executor_email or _norm(directive.executor_email) != _norm(requester.email):
            return PostMortemStanding("executor", False, N_(
                "The registered directives designate another person to carry them out (art. 85 I)."), None, did)
        return PostMortemStanding("executor", True, N_(
            "The requester is the person the directives designate; they may have the directives carried out "
            "(art. 85 I)."), N_("carrying out the registered directives"), did)
    # Heirs.
    if directive is not None and not directive.heirs_may_act:
        return PostMortemStanding("heir", False, N_(
            "The person's directives exclude the heirs' rights (art. 85 II, \"mention contraire\")."), None, did)
    if rtype == RequestType.POST_MORTEM_DIRECTIVE:
        return PostMortemStanding("heir", False, N_(
            "Directives are set by the person during their lifetime; heirs cannot set them (art. 85 I)."), None, did)
    if rtype not in HEIR_SCOPES:
        return PostMortemStanding("heir", False, N_(
            "After a death, heirs may only ask what is needed to settle the estate or to have the death taken into "
            "account: access for the estate, closing accounts, objecting to further processing, updating the data "
            "(art. 85 II)."), None, did)
    return PostMortemStanding("heir", True, N_(
        "Heirs may exercise this right to the extent needed to settle the estate or to have the death taken into "
        "account (art. 85 II)."), HEIR_SCOPES[rtype], did)


#: CSP L.1110-4 V: who may have a deceased patient's health information, and what for.
CSP_RELATIVES = (Relationship.COHABITANT, Relationship.PACS_PARTNER)
CSP_SCOPE = N_("the health information needed to know the causes of death, to defend the memory of the deceased "
               "or to assert your rights, unless the deceased objected during their lifetime (Code de la santé "
               "publique, art. L.1110-4 V)")
#: An heir also keeps art. 85 II 1° for the data that are not health information (the estate).
CSP_HEIR_SCOPE = N_("the health information needed to know the causes of death, to defend the memory of the deceased "
                    "or to assert your rights, unless the deceased objected during their lifetime (Code de la santé "
                    "publique, art. L.1110-4 V); for the other data, the information useful to settle the estate "
                    "(art. 85 II 1°)")


def concerns_patient_health_data(req: DataRequest) -> bool:
    """A patient's request that reaches a processing of health data (policy art. 6, sensitive data)."""
    if req.subject_kind != "patient":
        return False
    return any(act.sensitive_data is not None for act in _concerned_activities(req))


def _csp_standing(req: DataRequest, rel: str, rtype: RequestType, directive) -> PostMortemStanding | None:
    """CSP L.1110-4 V: heirs, cohabiting partner, PACS partner of a deceased patient may have the health
    information needed to know the causes of death, defend the deceased's memory or assert their rights,
    unless the deceased objected during their lifetime (checked as a step of the checklist:
    ``check_deceased_objection``). It is a right of access only; the partners have no other right after death
    (loi Informatique et Libertés art. 85 II names the heirs alone)."""
    role = "heir" if rel == Relationship.HEIR else str(rel)
    directive_id = directive.id if directive is not None else None
    if rtype == RequestType.ACCESS and concerns_patient_health_data(req):
        if directive is not None and not directive.heirs_may_act:
            # Registered directives that exclude the heirs are the deceased's "volonté contraire".
            return PostMortemStanding(role, False, N_(
                "The deceased's registered directives object to their data being given after their death: that "
                "objection stands against heirs and partners (Code de la santé publique, art. L.1110-4 V)."),
                None, directive_id)
        return PostMortemStanding(role, True, N_(
            "Heirs, the cohabiting partner and the PACS partner of a deceased patient may have the health information "
            "needed to know the causes of death, to defend the memory of the deceased or to assert their rights, "
            "unless the deceased objected during their lifetime (Code de la santé publique, art. L.1110-4 V)."),
            CSP_HEIR_SCOPE if rel == Relationship.HEIR else CSP_SCOPE, directive_id)
    if rel == Relationship.HEIR:
        # Not the health information: the heir's rights of art. 85 II apply as for any other processing.
        return None
    return PostMortemStanding(role, False, N_(
        "After a patient's death, a cohabiting partner or a PACS partner may only ask for the health information "
        "needed to know the causes of death, to defend the memory of the deceased or to assert their rights "
        "(Code de la santé publique, art. L.1110-4 V)."), None, directive_id)


def _check_post_mortem_standing(req: DataRequest, outcome: Outcome) -> None:
    standing = post_mortem_standing(req)
    if standing is not None and not standing.allowed and outcome in GIVING:
        raise InvalidInput(N_("This requester cannot be given this after the person's death (loi Informatique et "
                              "Libertés art. 85): answer with a refusal that states the reason."),
                           code="post_mortem_limit", field="outcome")


def directive_history(req: DataRequest) -> list[PostMortemDirectiveChange]:
    d = directive_for_subject(req)
    if d is None:
        change = _change_for_request(req)
        d = change.directive if change else None
    return list(d.changes) if d else []
