"""The access pack: the letter and the data gathered, in one ZIP with a manifest of hashes (GDPR art. 15(3)).

Also the ZIP and manifest helpers the portability pack shares, and the pack built from the systems' data
(issue 16): a pure query on the models, so that this layer never imports ``dsar.systems``.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
import unicodedata
import zipfile
from datetime import date, datetime

import sqlalchemy as sa

from ... import audit
from ...actors import Actor
from ...deadlines import PARIS
from ...errors import InvalidInput, N_
from ...extensions import db
from ...files import ANSWER_TYPES, RejectedFile, display_name, inspect_upload
from ...models import DataRequest, Document, utcnow
from ...models.enums import DocumentKind, ReviewStatus
from ...models.systems import CollectionPack
from .common import current_policy, file_stem, read_checked, store_generated

#: Largest pack the service builds, in memory and in the web request (about 0.2 s per MB of scans, most of it
#: the pixel-level re-check of each file); past this, staff split the data into several answers.
MAX_PACK_BYTES = 100 * 1024 * 1024


def pack_of(req: DataRequest) -> CollectionPack | None:
    """The pack collection built (or is building) for ``req`` (issue 16), if any."""
    return db.session.scalar(sa.select(CollectionPack).where(CollectionPack.request_id == req.id))


def collected_pack(req: DataRequest) -> Document | None:
    """The pack built from the systems' data (issue 16), once ready; None when the request was not collected.

    A collection still running (or sealed content still with the professional) stops the answer: the
    requester would get an incomplete copy.
    """
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
    pack = pack_of(req)
    return set(pack.categories_found or ()) if pack is not None and pack.status == "ready" else None


def answer_documents(req: DataRequest) -> list[Document]:
    return [d for d in req.documents if d.kind == DocumentKind.ANSWER and d.purged_at is None
            and d.review_status != ReviewStatus.REFUSED]


def require_answer_documents(req: DataRequest) -> None:
    if not answer_documents(req):
        raise InvalidInput(
            N_("An access answer gives a copy of the data (GDPR art. 15(3)): add the files gathered before answering, "
               "or answer that no data is held."), code="no_answer_files", field="outcome")


def _checked_answer_file(doc: Document) -> bytes:
    """Every file of a pack is checked like an upload: by its content, deeply, and against its stored hash."""
    data = read_checked(doc)
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


def zip_pack(entries: list[tuple[str, bytes]], manifest: dict) -> bytes:
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
        for path, data in [*entries, ("manifest.json", json_bytes(manifest))]:
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


def json_bytes(value) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False, default=json_default) + "\n").encode("utf-8")


def json_default(value):
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def manifest_header(req: DataRequest, pack: str) -> dict:
    policy = current_policy()
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
            for i, doc in enumerate(answer_documents(req), start=1)]


def build_access_pack(req: DataRequest, letter: Document, letter_bytes: bytes, actor: Actor,
                      data_entries: list[tuple[int, str, bytes]] | None = None) -> Document:
    """The letter and every file gathered, checked, in one ZIP with a manifest of their hashes."""
    if data_entries is None:
        data_entries = checked_access_entries(req)
    entries = [(f"00_{letter.display_name}", letter_bytes), *[(path, data) for _, path, data in data_entries]]
    sources = [doc_id for doc_id, _, _ in data_entries]
    data = zip_pack(entries, manifest_header(req, "access"))
    name = f"{file_stem('pack', req.language)}-{req.reference}.zip"
    doc = store_generated(req, DocumentKind.EXPORT, data, name, actor, mime="application/zip")
    audit.record(actor, "pack_built", request=req, details={
        "pack": "access", "document_id": doc.id, "sha256": doc.sha256, "files": len(entries) + 1, "sources": sources,
    })
    doc._pack_sources = sources  # read by issue_link: these copies are deleted with the pack
    return doc


