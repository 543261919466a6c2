"""The pack built from what was collected: per category JSON and CSV, the documents, a summary, a manifest.

Built in a job (``build_pack``), streamed into the encrypted file store: never
held whole in memory nor built in a web request, so it has no size limit.
The access pack (GDPR art. 15(3)) holds every category found; the portability
pack (art. 20) only the categories the policy marks portable (what the person
provided). Shared health content (policy art. 8.2) waits for the professional
in charge: they preview it, may withhold an item with a reason (GDPR art.
15(4)), and release it; only then is the pack built.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
import zipfile

import sqlalchemy as sa
from flask import current_app

from .. import audit
from ..actors import Actor
from ..errors import IllegalTransition, InvalidInput, N_
from ..extensions import db
from ..jobs import enqueue_after_commit, job
from ..models import DataRequest, Document
from ..models.base import utcnow
from ..models.enums import DocumentKind, RequestType, ReviewStatus, SubjectKind
from ..models.systems import CollectionPack, PackStatus, RunStatus, SealedItem
from ..services import checklist
from ..services.documents import file_store
from ..services.fulfilment.packs import pack_of  # a query on the models, moved below services (issue 15)
from .runs import runs_of, safe_error, systems_map
from .tables import json_default, read_table


def _policy():
    return current_app.extensions["dsar_policy"]


def holds_sealed_content(doc: Document) -> bool:
    """Whether a stored document is a pack built from shared health content (policy art. 8.2): staff never open it."""
    pack = db.session.scalar(sa.select(CollectionPack).where(CollectionPack.document_id == doc.id))
    return pack is not None and pack.sealed_rows > 0


def needs_professional_review(req: DataRequest, sealed_rows: int) -> bool:
    """Sealed content of a patient's request waits for the professional; staff-handled requests do not (as today)."""
    return sealed_rows > 0 and req.subject_kind == SubjectKind.PATIENT


def when_collected(req: DataRequest, actor: Actor) -> CollectionPack | None:
    """Once every system is collected: the pack is built, or waits for the professional's release. Does not commit."""
    runs = runs_of(req)
    if not runs or any(r.status != RunStatus.DONE for r in runs):
        return None
    if pack_of(req) is not None:
        return pack_of(req)
    sealed = sum(e.get("rows", 0) for r in runs for e in (r.progress or {}).values() if e.get("sealed"))
    systems = systems_map()
    activity = {s.key: s.activity for s in systems} if systems is not None else {}
    found = sorted({f"{activity.get(r.system_key, '')}.{c}" for r in runs for e in (r.progress or {}).values()
                    if e.get("rows") for c in e.get("categories", [])})
    waiting = needs_professional_review(req, sealed)
    pack = CollectionPack(request_id=req.id, status=PackStatus.WAITING_REVIEW if waiting else PackStatus.BUILDING,
                          categories_found=found, sealed_rows=sealed)
    db.session.add(pack)
    db.session.flush()
    audit.record(actor, "collection_complete", request=req, touch=False, details={
        "categories_found": found, "sealed_rows": sealed, "waiting_for_professional": waiting})
    if not waiting:
        enqueue_after_commit(build_pack, req.id, job_id=f"pack-{req.id}")
    return pack


# --- the professional's review of sealed content (policy art. 8.2) -------------------------------------------


def sealed_preview(req: DataRequest, limit: int = 500) -> list[dict]:
    """For the professional in charge only: the sealed rows, per table, with their keys (to withhold an item)."""
    store, systems = file_store(), systems_map()
    withheld = {(w.system_key, w.table_name, w.item_key): w.reason for w in withheld_items(req)}
    out = []
    for run in runs_of(req):
        system = systems.system(run.system_key) if systems else None
        for table_name, entry in sorted((run.progress or {}).items()):
            if not entry.get("sealed") or not entry.get("rows"):
                continue
            pk = system.table(table_name).primary_key if system and system.kind == "sql" else ("id",)
            items = []
            for row in read_table(store, entry):
                key = _item_key(row, pk)
                items.append({"key": key, "row": {k: _preview_value(v) for k, v in row.items()},
                              "withheld": withheld.get((run.system_key, table_name, key))})
                if len(items) >= limit:
                    break
            out.append({"system": run.system_key, "table": table_name, "rows": entry["rows"], "items": items})
    return out


def _preview_value(value):
    if isinstance(value, dict) and "$file" in value:
        return f"[{value.get('filename') or 'document'} · {value.get('size', 0)} B]"
    return value


def _item_key(row: dict, pk) -> str:
    return json.dumps([row.get(c) for c in pk], default=str)


def withheld_items(req: DataRequest) -> list[SealedItem]:
    return list(db.session.scalars(sa.select(SealedItem).where(SealedItem.request_id == req.id).order_by(SealedItem.id)))


def withhold(req: DataRequest, actor: Actor, *, system_key: str, table: str, item_key: str, reason: str) -> SealedItem:
    """Withhold one sealed item from the patient's pack, with the reason (GDPR art. 15(4)). Does not commit."""
    pack = pack_of(req)
    if pack is None or pack.status != PackStatus.WAITING_REVIEW:
        raise IllegalTransition(N_("The collected data is not waiting for your review."), code="not_in_review")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(N_("Give the reason the item is withheld."), code="reason_required", field="reason")
    item = SealedItem(request_id=req.id, system_key=system_key, table_name=table, item_key=item_key[:200],
                      reason=reason[:2000])
    db.session.add(item)
    db.session.flush()
    audit.record(actor, "sealed_item_withheld", request=req, details={"system": system_key, "table": table,
                                                                      "item": item.id})
    return item


def release(req: DataRequest, actor: Actor) -> CollectionPack:
    """The professional releases the reviewed content: the pack is built for the patient. Does not commit."""
    pack = pack_of(req)
    if pack is None or pack.status != PackStatus.WAITING_REVIEW:
        raise IllegalTransition(N_("The collected data is not waiting for your review."), code="not_in_review")
    pack.status = PackStatus.BUILDING
    pack.released_at = utcnow()
    pack.released_by = actor.label
    audit.record(actor, "sealed_content_released", request=req, details={"withheld": len(withheld_items(req))})
    enqueue_after_commit(build_pack, req.id, job_id=f"pack-{req.id}")
    return pack


# --- building ------------------------------------------------------------------------------------------------


class _HashingOut:
    """A write-only, unseekable stream for zipfile: counts and forwards to the encrypted writer."""

    def __init__(self, writer):
        self.writer, self.pos = writer, 0

    def write(self, data) -> int:
        data = bytes(data)
        self.writer.write(data)
        self.pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self.pos

    def flush(self) -> None:
        pass


class _Entry:
    """Write one ZIP entry while hashing it, for the manifest."""

    def __init__(self, zf: zipfile.ZipFile, path: str, manifest: list):
        self.zf, self.path, self.manifest = zf, path, manifest

    def __enter__(self):
        info = zipfile.ZipInfo(self.path, date_time=utcnow().timetuple()[:6])
        stored = self.path.rsplit(".", 1)[-1].lower() in ("pdf", "jpg", "png", "zip")
        info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        self.fh = self.zf.open(info, "w", force_zip64=True)
        self.hash, self.size = hashlib.sha256(), 0
        return self

    def write(self, data: bytes) -> None:
        self.hash.update(data)
        self.size += len(data)
        self.fh.write(data)

    def __exit__(self, *exc):
        self.fh.close()
        self.manifest.append({"path": self.path, "size": self.size, "sha256": self.hash.hexdigest()})


def _slug(text: str) -> str:
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "file"


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, dict) and "$file" in value:
        return value.get("path", "")
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    # A cell starting with =, +, - or @ would be run as a formula by a spreadsheet.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


@job
def build_pack(request_id: int) -> None:
    """Build the request's pack from the collected files, streamed into the encrypted store. Raises on failure."""
    req = db.session.get(DataRequest, request_id)
    pack = pack_of(req) if req is not None else None
    if pack is None or pack.status not in (PackStatus.BUILDING, PackStatus.FAILED):
        return  # built already, or waiting for the professional
    actor = Actor.system("collection")
    try:
        doc = _build(req, pack, actor)
    except Exception as exc:
        db.session.rollback()
        pack = pack_of(db.session.get(DataRequest, request_id))
        pack.status, pack.error = PackStatus.FAILED, safe_error(exc)
        audit.record(actor, "pack_failed", request=db.session.get(DataRequest, request_id), touch=False,
                     details={"error": pack.error})
        db.session.commit()
        raise
    pack.status, pack.document_id, pack.built_at, pack.error = PackStatus.READY, doc.id, utcnow(), None
    db.session.commit()


def _build(req: DataRequest, pack: CollectionPack, actor: Actor) -> Document:
    policy, systems, store = _policy(), systems_map(), file_store()
    portability = req.type == RequestType.PORTABILITY
    lang = req.language or policy.default_language
    withheld = {(w.system_key, w.table_name, w.item_key): w.reason for w in withheld_items(req)}
    manifest: list[dict] = []
    summary: list[str] = []
    found: dict[str, int] = {}
    found_full: set[str] = set()
    with store.writer() as writer:
        with zipfile.ZipFile(_HashingOut(writer), "w", allowZip64=True) as zf:
            for run in runs_of(req):
                system = systems.system(run.system_key)
                cats = {c.key: c for c in policy.data_categories if c.activity == system.activity}
                activity = policy.activities[system.activity]
                summary.append(f"== {system.label(lang)} ({system.key}) — {activity.name.get(lang) or system.activity}")
                for table_name, entry in sorted((run.progress or {}).items()):
                    pk = system.table(table_name).primary_key if system.kind == "sql" else ("id",)
                    by_cat = _columns_by_category(system, table_name, entry)
                    for cat_key, cat_cols in sorted(by_cat.items()):
                        category = cats.get(cat_key)
                        if portability and (category is None or not category.portable):
                            continue
                        n = _write_category_table(zf, manifest, store, entry, run.system_key, table_name, cat_key,
                                                  list(pk), cat_cols, withheld)
                        if n:
                            found[cat_key] = found.get(cat_key, 0) + n
                            found_full.add(f"{system.activity}.{cat_key}")
                            name = category.name.get(lang) if category else cat_key
                            retention = category.retention.label.get(lang) if category and category.retention.label else ""
                            summary.append(f"- {name}: {n} ({table_name}) — {retention}")
            withheld_lines = [f"- {t} {k}: {r}" for (s, t, k), r in withheld.items()]
            text = "\n".join([f"{policy.controller.name} — {req.reference}", "", *summary, "",
                              *(["Withheld (GDPR art. 15(4)):", *withheld_lines] if withheld_lines else [])]) + "\n"
            with _Entry(zf, "summary.txt", manifest) as e:
                e.write(text.encode("utf-8"))
            head = {"pack": "portability" if portability else "access", "reference": req.reference,
                    "controller": policy.controller.name, "created_at": utcnow().isoformat(timespec="seconds"),
                    "hash_algorithm": "sha256", "categories_found": sorted(found), "files": manifest}
            info = zipfile.ZipInfo("manifest.json", date_time=utcnow().timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, json.dumps(head, ensure_ascii=False, indent=2, default=json_default))
    pack.categories_found = sorted(found_full)
    stem = "portabilite" if portability else "donnees"
    doc = Document(request_id=req.id, kind=DocumentKind.EXPORT, storage_name=writer.name,
                   display_name=f"{stem}-{req.reference}.zip", mime="application/zip", size=writer.size,
                   sha256=writer.sha256, uploaded_by=actor.label, review_status=ReviewStatus.ACCEPTED)
    db.session.add(doc)
    db.session.flush()
    audit.record(actor, "pack_built", request=req, touch=False, details={
        "pack": head["pack"], "document_id": doc.id, "sha256": doc.sha256, "files": len(manifest) + 1,
        "categories_found": sorted(found), "withheld": len(withheld), "source": "collection"})
    # The checklist's gathering step is the collection's own work (policy request_types, GDPR art. 15 and 20).
    checklist.tick_by_the_service(req, actor, "export_provided_data" if portability else "gather_data",
                                  note=f"{head['pack']}: {len(manifest)} files, sha256 {doc.sha256[:12]}…")
    return doc


def _columns_by_category(system, table_name: str, entry: dict) -> dict[str, list[str]]:
    if system.kind != "sql":
        return {c: entry.get("columns") or [] for c in entry.get("categories", [])}
    table = system.table(table_name)
    out: dict[str, list[str]] = {}
    for col in table.exported_columns:
        out.setdefault(col.category, []).append(col.name)
    return out


def _doc_path(system_key, table_name, row, pk, value, column) -> str:
    return (f"documents/{_slug(system_key)}-{_slug(table_name)}/"
            f"{_slug('-'.join(str(row.get(c)) for c in pk))}_{_slug(value.get('filename') or column)}")


def _write_category_table(zf, manifest, store, entry, system_key, table_name, cat_key, pk, cat_cols, withheld) -> int:
    """data/<category>/<system>-<table>.json and .csv: the primary key and that category's columns; documents beside."""
    if not entry.get("rows"):
        return 0
    base = f"data/{_slug(cat_key)}/{_slug(system_key)}-{_slug(table_name)}"
    columns = list(dict.fromkeys([c for c in pk if c not in cat_cols] + cat_cols))

    def rows():
        for row in read_table(store, entry):
            if (system_key, table_name, _item_key(row, pk)) in withheld:
                continue
            out = {}
            for c in columns:
                v = row.get(c)
                if isinstance(v, dict) and "$file" in v:
                    v = {"path": _doc_path(system_key, table_name, row, pk, v, c), "sha256": v["sha256"],
                         "size": v["size"], "$file": v["$file"]}
                out[c] = v
            yield out

    n = 0
    with _Entry(zf, base + ".json", manifest) as js:
        js.write(b"[\n")
        for row in rows():
            public = {k: ({kk: vv for kk, vv in v.items() if kk != "$file"} if isinstance(v, dict) else v)
                      for k, v in row.items()}
            js.write((b",\n" if n else b"") + json.dumps(public, ensure_ascii=False, default=json_default).encode())
            n += 1
        js.write(b"\n]\n")
    with _Entry(zf, base + ".csv", manifest) as cs:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(columns)
        for row in rows():
            w.writerow([_csv_cell(row.get(c)) for c in columns])
            if buf.tell() > 1 << 16:
                cs.write(buf.getvalue().encode("utf-8"))
                buf.seek(0)
                buf.truncate()
        cs.write(buf.getvalue().encode("utf-8"))
    for row in rows():
        for c in cat_cols:
            v = row.get(c)
            if isinstance(v, dict) and "$file" in v:
                with _Entry(zf, v["path"], manifest) as doc:
                    for chunk in store.open_stream(v["$file"]):
                        doc.write(chunk)
    return n
