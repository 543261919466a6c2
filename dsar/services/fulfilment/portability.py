"""Portability: the data the person provided, as JSON and CSV with a manifest (GDPR art. 20).

Staff upload each portable category's data (JSON or CSV, checked strictly); the answer's pack carries
data.json, one CSV per category, the letter and a manifest of hashes.
"""
from __future__ import annotations

import csv
import io
import json
import re
import unicodedata

import magic

from ... import audit
from ...actors import Actor
from ...errors import IllegalTransition, InvalidInput, N_, NotFound
from ...extensions import db
from ...models import DataRequest, Document
from ...models.enums import DocumentKind, RequestType, Status
from ...models.fulfilment import PortableDataset
from ...policy.text import localized
from .common import concerned_activities, current_policy, delete_content, file_stem, read_checked, store_generated
from .packs import json_bytes, manifest_header, zip_pack

#: A portable data set as uploaded by staff: JSON or CSV, at most this big.
MAX_DATASET_BYTES = 20 * 1024 * 1024
MAX_DATASET_RECORDS = 200_000


def portable_categories(req: DataRequest) -> list:
    """The data categories a portability answer may carry: provided by the person (policy art. 7, 8.1)."""
    policy = current_policy()
    out = []
    for act in concerned_activities(req):
        out.extend(c for c in policy.categories_for(act.key, req.subject_kind) if c.portable)
    return out


def require_portable_data(req: DataRequest) -> None:
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
    payload = json_bytes({"activity": activity, "category": category, "columns": columns, "records": records})
    doc = store_generated(req, DocumentKind.EXPORT, payload, f"{activity}__{category}.json", actor,
                           mime="application/json")
    existing = next((d for d in req.portable_datasets if (d.activity, d.category) == (activity, category)), None)
    if existing is not None:
        old = existing.document
        delete_content(old, actor, reason="replaced")
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
    delete_content(ds.document, actor, reason="removed")
    req.portable_datasets.remove(ds)
    db.session.delete(ds)
    audit.record(actor, "portable_data_removed", request=req, details={"activity": ds.activity, "category": ds.category})


def dataset_row(ds: PortableDataset, lang: str) -> dict:
    cat = next((c for c in current_policy().categories_for(ds.activity) if c.key == ds.category), None)
    return {"id": ds.id, "activity": ds.activity, "category": ds.category,
            "name": localized(cat.name, lang) if cat else ds.category,
            "activity_name": localized(current_policy().activity(ds.activity).name, lang),
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
    policy = current_policy()
    categories, csv_files = [], []
    for ds in req.portable_datasets:
        stored = json.loads(read_checked(ds.document).decode("utf-8"))
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
    data_json = json_bytes({
        "reference": req.reference,
        "controller": policy.controller.name,
        "format": "dsar-portability/1",
        "categories": categories,
    })
    # What goes in is checked again: the JSON parses back to the same records, each CSV has its columns.
    if json.loads(data_json)["categories"] != json.loads(json_bytes(categories)):
        raise RuntimeError("data.json does not read back as written")
    for path, blob, columns in csv_files:
        if next(csv.reader(io.StringIO(blob.decode("utf-8")))) != list(columns):
            raise RuntimeError(f"{path} does not read back with its columns")
    entries = [("data.json", data_json), *[(p, b) for p, b, _ in csv_files], (f"{letter.display_name}", letter_bytes)]
    manifest = manifest_header(req, "portability")
    manifest["formats"] = {"data.json": "JSON (RFC 8259), UTF-8", "csv/": "CSV (RFC 4180), UTF-8, comma, CRLF"}
    manifest["csv_formula_guard"] = ("cells that would run as spreadsheet formulas (starting with = @ or with + - not "
                                     "followed by a number) are prefixed with ' in the CSV files; data.json keeps them as given")
    manifest["columns"] = {p: list(c) for p, _, c in csv_files}
    data = zip_pack(entries, manifest)
    name = f"{file_stem('pack', req.language)}-{req.reference}.zip"
    doc = store_generated(req, DocumentKind.EXPORT, data, name, actor, mime="application/zip")
    audit.record(actor, "pack_built", request=req, details={
        "pack": "portability", "document_id": doc.id, "sha256": doc.sha256, "files": len(entries) + 1,
        "categories": [f"{c['activity']}.{c['category']}" for c in categories],
    })
    doc._pack_sources = [ds.document_id for ds in req.portable_datasets]
    return doc


