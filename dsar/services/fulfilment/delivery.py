"""Delivery: expiring download links, opened together with the status-page secret (DESIGN.md "Answers").

An expiring link is emailed; each download is recorded; staff may issue a new link; the files are deleted
when the link has expired plus a grace period, their hashes kept. Whether a link still opens is
``DownloadLink.state`` (one rule for the download pages, the status page and the back office).
"""
from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

import sqlalchemy as sa

from ... import audit
from ...actors import Actor
from ...deadlines import legal_day
from ...errors import DomainError, IllegalTransition, InvalidInput, N_, NotFound
from ...extensions import db
from ...formatting import human_size
from ...models import DataRequest, Document, utcnow
from ...models.enums import DocumentKind
from ...models.fulfilment import Download, DownloadLink, LinkPurpose
from ...policy.text import localized
from ...tokens import TokenError, make_token, new_nonce, read_token, same_hash
from ...urls import public_url
from .. import notifications
from ..documents import file_store
from .common import current_policy, delete_content, read_checked

log = logging.getLogger(__name__)


class LinkGone(DomainError):
    """A download link that worked once and no longer does (expired, replaced, files deleted)."""

    status_code = 410
    code = "link_gone"


def _delivery_periods():
    d = current_policy().delivery
    return timedelta(days=d.download_link_valid_days), timedelta(days=d.purge_grace_days)


def _file_entry(doc: Document) -> dict:
    return {"document_id": doc.id, "name": doc.display_name, "mime": doc.mime, "size": doc.size,
            "sha256": doc.sha256, "contains": list(getattr(doc, "_pack_sources", []) or [])}


def issue_link(req: DataRequest, files: list[Document], actor: Actor, *, purpose: str,
               replaces: DownloadLink | None = None, email: bool = True) -> DownloadLink:
    """Create a download link for ``files`` and email it to the requester."""
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
        db.session.flush()   # the link names its email (queue_email does not flush)
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
    return public_url("public.download_GET", token=token)


def email_context(req: DataRequest, link: DownloadLink, token: str) -> dict:
    policy = current_policy()
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
    }


def link_from_token(token: str) -> DownloadLink:
    """The link a token opens; TokenError (tampered), LinkGone (expired, replaced, purged) otherwise."""
    valid, grace = _delivery_periods()
    payload = read_token("download", token, max_age=int((valid + grace).total_seconds()) + 86400)
    link_id, nonce = payload.get("l"), payload.get("n")
    if not isinstance(link_id, int) or not isinstance(nonce, str):
        raise TokenError(N_("This link is not valid."))
    link = db.session.get(DownloadLink, link_id)
    if link is None:
        raise TokenError(N_("This link is not valid."))
    state = link.state()
    if state == "purged":
        raise LinkGone(N_("The files of this answer were deleted after the link expired. Write to us to receive "
                          "them again."), code="link_purged")
    if state == "replaced":
        raise LinkGone(N_("This link was replaced by a newer one. Use the latest link we sent you."),
                       code="link_replaced")
    if not same_hash(nonce, link.token_hash):
        raise TokenError(N_("This link is not valid."))
    if state == "expired":
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
    data = read_checked(doc_)
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
    return [l for l in req.download_links if l.state(now) == "active"]


# --- the purge ---------------------------------------------------------------------------------------------


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
                if delete_content(doc, actor, reason="delivery_expired"):
                    deleted.append(doc_id)
        link.purged_at = now
        link.token_hash = None
        audit.record(actor, "download_link_purged", request=link.request, details={
            "link_id": link.id, "deleted": deleted,
            "sent": [{"document_id": e["document_id"], "sha256": e["sha256"]} for e in link.files],
        })
    return len(links)


