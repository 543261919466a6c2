"""The directory of professionals and of patient↔professional links (policy art. 8.2).

Two ways in, one set of rules: a CSV file (`dsar import-professionals FILE`,
`dsar import-care-links FILE`) and bulk upserts from the JSON API
(`upsert_professionals(rows)`, `upsert_care_links(rows)`). Both are idempotent:
the same rows twice change nothing the second time. Each row is accepted
(created, updated or unchanged) or rejected with a reason; one bad row never
stops the others. Nothing here commits: the CLI command or the API view does.

What a care link holds is contact data only — the patient's reference in the
application, email, phone and birth date — which is what routing matches on.
A column the directory does not know (a diagnosis, a note…) makes the whole
file refused, so no health data can slip into it.

RPPS numbers (Répertoire partagé des professionnels de santé) are 11 digits,
the last one a Luhn check digit. Checked against nine numbers taken from the
public Annuaire Santé extraction (e.g. 10001045367, 10100224947): all pass the
Luhn test, which a random 11-digit string does one time in ten. The number is
optional: professions still registered in ADELI have none.
"""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import BinaryIO, Iterable, TextIO

import sqlalchemy as sa
from blinker import Namespace

# email_key, normalise_phone and phone_key are re-exported: the rule is dsar.contacts' (one for intake and the directory)
from ..contacts import BadValue, email_key, normalise_email, normalise_phone, phone_key, text_value  # noqa: F401
from ..deadlines import legal_day
from ..errors import N_
from ..extensions import db
from ..models import CareLink, Professional, utcnow

#: Sent with the ids of professionals an import or a sync has just made inactive (or whose contract ended):
#: whoever keeps tasks for them (services/routing) takes those back. Receivers return how many they withdrew.
professionals_left = Namespace().signal("professionals-left")

PROFESSIONAL_FIELDS = ("external_id", "first_name", "last_name", "title", "email", "rpps", "language", "active", "contract_ended_on")
PROFESSIONAL_REQUIRED = ("external_id", "first_name", "last_name", "email")
CARE_LINK_FIELDS = ("professional_external_id", "patient_ref", "patient_email", "patient_phone", "patient_birth_date",
                    "active", "ended_on")
CARE_LINK_REQUIRED = ("professional_external_id", "patient_ref")
LANGUAGES = ("fr", "en")
MAX_FILE_BYTES = 50 * 1024 * 1024
_CHUNK = 500  # keys per IN (...) query

_TRUE = {"1", "true", "yes", "y", "oui", "o", "vrai", "active", "actif"}
_FALSE = {"0", "false", "no", "n", "non", "faux", "inactive", "inactif"}
# --- values ------------------------------------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        d = int(char)
        if position % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def normalise_rpps(value) -> str | None:
    text = text_value(value)
    if text is None:
        return None
    compact = re.sub(r"\s", "", text)
    if not (len(compact) == 11 and compact.isdigit()):
        raise BadValue("bad_rpps", N_("An RPPS number has exactly 11 digits."))
    if not luhn_valid(compact):
        raise BadValue("bad_rpps", N_("This RPPS number is not valid: its check digit (Luhn key) does not match."))
    return compact


def parse_bool(value, *, default: bool | None = None) -> bool:
    if isinstance(value, bool):
        return value
    text = text_value(value)
    if text is None:
        if default is None:
            raise BadValue("required", N_("This field is required."))
        return default
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise BadValue("bad_bool", N_("Write true or false (or oui / non)."))


def parse_date(value) -> date | None:
    """ISO (2026-03-05) or French (05/03/2026) calendar date; None when blank."""
    if isinstance(value, datetime):
        raise BadValue("bad_date", N_("Write a date as YYYY-MM-DD or DD/MM/YYYY."))
    if isinstance(value, date):
        return value
    text = text_value(value)
    if text is None:
        return None
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise BadValue("bad_date", N_("Write a date as YYYY-MM-DD or DD/MM/YYYY."))


def _bounded(value, limit: int) -> str | None:
    text = text_value(value)
    if text is not None and len(text) > limit:
        raise BadValue("too_long", N_("At most %(limit)s characters."), limit=limit)
    if text is not None and any(ord(c) < 32 for c in text):
        raise BadValue("control_chars", N_("Line breaks and control characters are not allowed here."))
    return text


# --- the report ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RejectedRow:
    """One row that was not imported, and why. ``index`` counts rows from 0; ``line`` is the CSV line, if any."""

    index: int
    line: int | None
    key: str | None
    field: str | None
    code: str
    message: str          # English msgid (translate with gettext, then % params)
    params: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.message % self.params if self.params else self.message

    def to_dict(self) -> dict:
        return {"index": self.index, "line": self.line, "key": self.key, "field": self.field, "code": self.code,
                "message": self.text}


@dataclass
class ImportReport:
    """What an import or a sync did: rows created, updated, unchanged, rejected (with reasons)."""

    kind: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    withdrawn_tasks: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)
    file_error: str | None = None     # the whole file was refused (English sentence); nothing was imported
    encoding: str | None = None

    @property
    def accepted(self) -> int:
        return self.created + self.updated + self.unchanged

    @property
    def ok(self) -> bool:
        return self.file_error is None and not self.rejected

    def reject(self, index: int, line: int | None, key: str | None, fld: str | None, err: BadValue) -> None:
        self.rejected.append(RejectedRow(index, line, key, fld, err.code, err.message, dict(err.params)))

    def to_dict(self) -> dict:
        return {"kind": self.kind, "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "accepted": self.accepted, "withdrawn_tasks": self.withdrawn_tasks,
                "rejected": [r.to_dict() for r in self.rejected], "file_error": self.file_error}

    def lines(self) -> list[str]:
        """A plain report for the command line."""
        if self.file_error:
            return [f"File refused, nothing imported: {self.file_error}"]
        out = [f"{self.kind}: {self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
               f"{len(self.rejected)} rejected."]
        if self.withdrawn_tasks:
            out.append(f"{self.withdrawn_tasks} task(s) of professionals no longer active were handed back to staff.")
        for r in self.rejected:
            where = f"line {r.line}" if r.line is not None else f"row {r.index}"
            what = f" [{r.key}]" if r.key else ""
            col = f" {r.field}:" if r.field else ""
            out.append(f"  rejected {where}{what}:{col} {r.text}")
        return out


# --- professionals -------------------------------------------------------------------------------------------


def _professional_values(row: dict) -> dict:
    """Parse one professional row. Keys absent from ``row`` stay absent (a partial update keeps them)."""
    parsers = {
        "external_id": lambda v: _bounded(v, 64),
        "first_name": lambda v: _bounded(v, 120),
        "last_name": lambda v: _bounded(v, 120),
        "title": lambda v: _bounded(v, 40),
        "email": normalise_email,
        "rpps": normalise_rpps,
        "language": _language,
        "active": lambda v: parse_bool(v, default=True),
        "contract_ended_on": parse_date,
    }
    return _parse_row(row, parsers, PROFESSIONAL_FIELDS)


def _language(value) -> str:
    text = text_value(value)
    if text is None:
        return "fr"
    if text.lower() not in LANGUAGES:
        raise BadValue("bad_language", N_("Language must be fr or en."))
    return text.lower()


class _RowError(Exception):
    def __init__(self, field_name: str | None, err: BadValue):
        self.field = field_name
        self.err = err


def _parse_row(row, parsers: dict, known: tuple[str, ...]) -> dict:
    if not isinstance(row, dict):
        raise _RowError(None, BadValue("bad_row", N_("Each row must be an object with named fields.")))
    unknown = sorted(k for k in row if k not in known)
    if unknown:
        raise _RowError(unknown[0], BadValue("unknown_field", N_("Unknown field: %(fields)s."), fields=", ".join(map(str, unknown))))
    values = {}
    for name, value in row.items():
        try:
            values[name] = parsers[name](value)
        except BadValue as err:
            raise _RowError(name, err) from None
    return values


def upsert_professionals(rows: Iterable[dict], *, lines: list[int] | None = None) -> ImportReport:
    """Create or update professionals by ``external_id``. Idempotent. Does not commit.

    A professional who becomes inactive, or whose contract has ended, keeps no
    task: their open tasks go back to staff with an alert to the DPO.
    """
    report = ImportReport("professionals")
    rows = list(rows)
    parsed: list[tuple[int, dict]] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        line = lines[index] if lines else None
        try:
            values = _professional_values(row)
        except _RowError as e:
            report.reject(index, line, _row_key(row, "external_id"), e.field, e.err)
            continue
        key = values.get("external_id")
        if not key:
            report.reject(index, line, None, "external_id", BadValue("required", N_("This field is required.")))
            continue
        if key in seen:
            report.reject(index, line, key, "external_id",
                          BadValue("duplicate", N_("This identifier appears more than once; only its first row was used.")))
            continue
        seen.add(key)
        parsed.append((index, values))

    existing = _load_by(Professional, Professional.external_id, [v["external_id"] for _, v in parsed])
    rpps_owner = {r: ext for r, ext in _rpps_owners([v["rpps"] for _, v in parsed if v.get("rpps")])}
    today = _today()
    became_inactive: list[Professional] = []
    for index, values in parsed:
        line = lines[index] if lines else None
        key = values["external_id"]
        pro = existing.get(key)
        rpps = values.get("rpps")
        if rpps and rpps_owner.get(rpps, key) != key:
            report.reject(index, line, key, "rpps", BadValue(
                "rpps_taken", N_("This RPPS number already belongs to another professional (%(other)s)."),
                other=rpps_owner[rpps]))
            continue
        if pro is None:
            missing = [f for f in PROFESSIONAL_REQUIRED if not values.get(f)]
            if missing:
                report.reject(index, line, key, missing[0], BadValue("required", N_("This field is required.")))
                continue
            db.session.add(Professional(
                external_id=key, first_name=values["first_name"], last_name=values["last_name"],
                title=values.get("title"), email=values["email"], rpps=rpps, language=values.get("language", "fr"),
                active=values.get("active", True), contract_ended_on=values.get("contract_ended_on")))
            report.created += 1
        else:
            # A partial update may leave a field out, but may not blank a required one.
            blanked = [f for f in ("first_name", "last_name", "email") if f in values and not values[f]]
            if blanked:
                report.reject(index, line, key, blanked[0], BadValue("required", N_("This field is required.")))
                continue
            was_live = pro.is_live(today)
            if _apply(pro, values, exclude=("external_id",)):
                report.updated += 1
                if was_live and not pro.is_live(today):
                    became_inactive.append(pro)
            else:
                report.unchanged += 1
        if rpps:
            rpps_owner[rpps] = key
    db.session.flush()
    if became_inactive:
        answers = professionals_left.send(None, professional_ids=[p.id for p in became_inactive])
        report.withdrawn_tasks = sum(count or 0 for _, count in answers)
    return report


def import_professionals(stream: BinaryIO | TextIO) -> ImportReport:
    """Import professionals from a CSV file (header: external_id, first_name, last_name, title, email, rpps, language,
    active, contract_ended_on; comma, semicolon or tab separated; UTF-8, or Windows-1252 as Excel writes it)."""
    return _import_csv(stream, "professionals", PROFESSIONAL_FIELDS, PROFESSIONAL_REQUIRED, upsert_professionals)


# --- care links ----------------------------------------------------------------------------------------------


def _care_link_values(row: dict) -> dict:
    parsers = {
        "professional_external_id": lambda v: _bounded(v, 64),
        "patient_ref": lambda v: _bounded(v, 64),
        "patient_email": normalise_email,
        "patient_phone": normalise_phone,
        "patient_birth_date": _birth_date,
        "active": lambda v: parse_bool(v, default=True),
        "ended_on": parse_date,
    }
    return _parse_row(row, parsers, CARE_LINK_FIELDS)


def _birth_date(value) -> date | None:
    day = parse_date(value)
    if day is not None and not (date(1900, 1, 1) <= day <= _today()):
        raise BadValue("bad_birth_date", N_("This birth date is not plausible."))
    return day


def upsert_care_links(rows: Iterable[dict], *, lines: list[int] | None = None) -> ImportReport:
    """Create or update patient↔professional links by (professional, patient_ref). Idempotent. Does not commit.

    A link must let routing find the patient: an email, or a phone and a birth
    date (see routing.find_professionals_for). Ending a link is a row with
    ``active`` false or an ``ended_on`` date; links are never deleted by a sync.
    """
    report = ImportReport("care_links")
    rows = list(rows)
    parsed: list[tuple[int, dict]] = []
    for index, row in enumerate(rows):
        line = lines[index] if lines else None
        try:
            values = _care_link_values(row)
        except _RowError as e:
            report.reject(index, line, _link_key(row), e.field, e.err)
            continue
        for required in CARE_LINK_REQUIRED:
            if not values.get(required):
                report.reject(index, line, _link_key(row), required, BadValue("required", N_("This field is required.")))
                break
        else:
            parsed.append((index, values))

    pros = _load_by(Professional, Professional.external_id, [v["professional_external_id"] for _, v in parsed])
    pro_ids = [p.id for p in pros.values()]
    existing: dict[tuple[int, str], CareLink] = {}
    refs = sorted({v["patient_ref"] for _, v in parsed})
    for chunk in _chunks(refs):
        for link in db.session.scalars(sa.select(CareLink).where(CareLink.patient_ref.in_(chunk),
                                                                 CareLink.professional_id.in_(pro_ids))):
            existing[(link.professional_id, link.patient_ref)] = link
    seen: set[tuple[int, str]] = set()
    for index, values in parsed:
        line = lines[index] if lines else None
        key_text = f"{values['professional_external_id']}/{values['patient_ref']}"
        pro = pros.get(values["professional_external_id"])
        if pro is None:
            report.reject(index, line, key_text, "professional_external_id",
                          BadValue("unknown_professional", N_("No professional has this identifier; import the professionals first.")))
            continue
        key = (pro.id, values["patient_ref"])
        if key in seen:
            report.reject(index, line, key_text, "patient_ref",
                          BadValue("duplicate", N_("This link appears more than once; only its first row was used.")))
            continue
        seen.add(key)
        link = existing.get(key)
        merged = {f: values.get(f, getattr(link, f, None) if link else None)
                  for f in ("patient_email", "patient_phone", "patient_birth_date")}
        if not merged["patient_email"] and not (merged["patient_phone"] and merged["patient_birth_date"]):
            report.reject(index, line, key_text, "patient_email", BadValue(
                "unmatchable", N_("A link needs the patient's email, or their phone and birth date: otherwise no request can be matched to it.")))
            continue
        fields = {k: v for k, v in values.items() if k not in ("professional_external_id", "patient_ref")}
        if link is None:
            link = CareLink(professional_id=pro.id, patient_ref=values["patient_ref"],
                            patient_email=fields.get("patient_email"), patient_phone=fields.get("patient_phone"),
                            patient_birth_date=fields.get("patient_birth_date"), active=fields.get("active", True),
                            ended_on=fields.get("ended_on"))
            db.session.add(link)
            existing[key] = link
            report.created += 1
        elif _apply(link, fields):
            report.updated += 1
        else:
            report.unchanged += 1
    db.session.flush()
    return report


def import_care_links(stream: BinaryIO | TextIO) -> ImportReport:
    """Import patient↔professional links from a CSV file (header: professional_external_id, patient_ref,
    patient_email, patient_phone, patient_birth_date, active, ended_on)."""
    return _import_csv(stream, "care_links", CARE_LINK_FIELDS, CARE_LINK_REQUIRED, upsert_care_links)


# --- shared --------------------------------------------------------------------------------------------------


def _today() -> date:
    return legal_day(utcnow())


def _apply(obj, values: dict, exclude: tuple[str, ...] = ()) -> bool:
    """Set the given values; True when something changed."""
    changed = False
    for name, value in values.items():
        if name in exclude:
            continue
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


def _chunks(values: list, size: int = _CHUNK):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _load_by(model, column, keys: list[str]) -> dict:
    found = {}
    for chunk in _chunks(sorted(set(keys))):
        for obj in db.session.scalars(sa.select(model).where(column.in_(chunk))):
            found[getattr(obj, column.key)] = obj
    return found


def _rpps_owners(numbers: list[str]):
    for chunk in _chunks(sorted(set(numbers))):
        yield from db.session.execute(sa.select(Professional.rpps, Professional.external_id).where(Professional.rpps.in_(chunk)))


def _row_key(row, name: str) -> str | None:
    value = row.get(name) if isinstance(row, dict) else None
    return str(value)[:64] if isinstance(value, (str, int)) and not isinstance(value, bool) else None


def _link_key(row) -> str | None:
    pro, ref = _row_key(row, "professional_external_id"), _row_key(row, "patient_ref")
    return f"{pro}/{ref}" if pro or ref else None


def _decode(raw: bytes) -> tuple[str, str]:
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        # Excel on Windows saves "CSV" in Windows-1252; anything else is not text.
        try:
            return raw.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            raise BadValue("bad_encoding", N_("The file is not text in UTF-8 or Windows-1252.")) from None


def _import_csv(stream, kind: str, known: tuple[str, ...], required: tuple[str, ...], upsert) -> ImportReport:
    raw = stream.read(MAX_FILE_BYTES + 1)
    if isinstance(raw, bytes):
        if len(raw) > MAX_FILE_BYTES:
            return ImportReport(kind, file_error=f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
        try:
            text, encoding = _decode(raw)
        except BadValue as err:
            return ImportReport(kind, file_error=str(err))
    else:
        text, encoding = raw.lstrip("\ufeff"), "text"
    first_line = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return ImportReport(kind, file_error="the file is empty", encoding=encoding)
    columns = [h.strip().lower() for h in header]
    unknown = [c for c in columns if c not in known]
    if unknown:
        return ImportReport(kind, encoding=encoding, file_error=(
            f"unknown column(s): {', '.join(repr(c) for c in unknown)}. Known columns: {', '.join(known)}. "
            "Nothing else may be stored in the directory (no health data)."))
    missing = [c for c in required if c not in columns]
    if missing:
        return ImportReport(kind, encoding=encoding, file_error=f"missing column(s): {', '.join(missing)}")
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        return ImportReport(kind, encoding=encoding, file_error=f"column(s) given twice: {', '.join(duplicates)}")
    rows, lines = [], []
    try:
        for record in reader:
            if not any(cell.strip() for cell in record):
                continue  # blank lines, often at the end of a spreadsheet export
            if len(record) != len(columns):
                rows.append({"__bad__": len(record)})
            else:
                rows.append(dict(zip(columns, record)))
            lines.append(reader.line_num)
    except csv.Error as exc:
        return ImportReport(kind, encoding=encoding, file_error=f"the CSV cannot be read near line {reader.line_num}: {exc}")
    bad = [(i, r["__bad__"]) for i, r in enumerate(rows) if "__bad__" in r]
    good_index = [i for i, r in enumerate(rows) if "__bad__" not in r]
    report = upsert([rows[i] for i in good_index], lines=[lines[i] for i in good_index])
    # Indexes of the sub-report count good rows only: renumber them against the file.
    report.rejected = [RejectedRow(good_index[r.index], r.line, r.key, r.field, r.code, r.message, r.params)
                       for r in report.rejected]
    for i, count in bad:
        report.rejected.append(RejectedRow(i, lines[i], None, None, "bad_columns", N_(
            "This line has %(count)s cells where the header has %(expected)s."), {"count": count, "expected": len(columns)}))
    report.rejected.sort(key=lambda r: r.index)
    report.encoding = encoding
    return report
