"""The register of requests as CSV, for a spreadsheet and for the regulator.

Format (documented on the register page and in the README of the export):
- UTF-8 with a byte-order mark, so that Excel and LibreOffice read accents right;
- fields separated by semicolons (the list separator of French spreadsheets), CRLF line ends,
  every field quoted when needed (RFC 4180);
- dates as YYYY-MM-DD (Europe/Paris days);
- a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed
  with an apostrophe so that no spreadsheet runs it as a formula (CSV injection).

Rows follow the queue's filters and its order (due date, then id), streamed in
batches: a register of a million requests never sits in memory.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date

import sqlalchemy as sa
from flask_babel import gettext

from ..deadlines import legal_day
from ..errors import N_
from ..extensions import db
from ..labels import CHANNEL_LABELS, ON_TIME_LABELS, OUTCOME_LABELS, SUBJECT_KIND_LABELS, TYPE_LABELS, label
from ..models import DataRequest, Event, Professional, ProfessionalTask, Staff, utcnow
from .queue import QueueFilters, filter_clauses

BOM = "\ufeff"
DELIMITER = ";"
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
BATCH = 2000

COLUMNS = (
    ("reference", N_("Reference")),
    ("type", N_("Type")),
    ("received", N_("Received on")),
    ("clock_start", N_("Clock started on")),
    ("due", N_("Due on")),
    ("answered_on", N_("Answered on")),
    ("on_time", N_("On time")),
    ("outcome", N_("Outcome")),
    ("handled_by", N_("Handled by")),
    ("channel", N_("Channel")),
    ("subject_kind", N_("Data subject")),
)


def neutralise(value) -> str:
    """A cell as text a spreadsheet shows and never evaluates."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def on_time(answered_on: date | None, due: date | None, today: date) -> str:
    """yes / no / overdue (not answered, past due) / "" (not answered, not due yet)."""
    if due is None:
        return ""
    if answered_on is not None:
        return "yes" if answered_on <= due else "no"
    return "overdue" if today > due else ""


ANSWERING_ACTIONS = ("answer", "refuse")


def answered_by_subquery():
    """Who answered (issue 18, "Traitée par"): the staff member or API client of the request's latest answer or
    refusal, as the audit trail names them (the assignee may be nobody, or someone else)."""
    return (sa.select(Event.actor_label)
            .where(Event.request_id == DataRequest.id, Event.action.in_(ANSWERING_ACTIONS),
                   Event.actor_type.in_(("staff", "api")))
            .order_by(Event.id.desc()).limit(1).scalar_subquery())


def answered_by(req) -> str | None:
    return db.session.scalar(sa.select(answered_by_subquery()).where(DataRequest.id == req.id))


def _query(filters: QueueFilters, today: date):
    latest_pro = (
        sa.select(Professional.first_name + sa.literal(" ") + Professional.last_name)
        .select_from(ProfessionalTask)
        .join(Professional, Professional.id == ProfessionalTask.professional_id)
        .where(ProfessionalTask.request_id == DataRequest.id)
        .order_by(ProfessionalTask.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return (
        sa.select(
            DataRequest.id, DataRequest.reference, DataRequest.type, DataRequest.received_at,
            DataRequest.clock_started_on, DataRequest.due_date, DataRequest.answered_at, DataRequest.outcome,
            DataRequest.status, DataRequest.handler, Staff.name.label("assignee"), latest_pro.label("professional"),
            answered_by_subquery().label("answered_by"), DataRequest.channel, DataRequest.subject_kind,
        )
        .select_from(DataRequest)
        .outerjoin(Staff, Staff.id == DataRequest.assignee_id)
        .where(*filter_clauses(filters, today=today))
        .order_by(DataRequest.due_date.is_(None), DataRequest.due_date, DataRequest.id)
    )


def rows(filters: QueueFilters, *, today: date | None = None) -> Iterator[list[str]]:
    """The register's rows (header first), each cell already neutralised.

    The query is built and executed here, when called, not at the first row: whatever can fail with the
    filters fails before a streamed answer has sent its 200 (a register cut mid-stream opens as a complete one).
    """
    today = today or legal_day(utcnow())
    result = db.session.execute(_query(filters, today).execution_options(yield_per=BATCH))
    return _rows(result, today)


def _rows(result, today: date) -> Iterator[list[str]]:
    yield [gettext(label) for _key, label in COLUMNS]
    for r in result:
        answered_on = legal_day(r.answered_at) if r.answered_at else None
        if r.handler == "professional" and r.professional:
            handled_by = gettext("Professional: %(name)s", name=r.professional)
        else:
            handled_by = r.answered_by or r.assignee or ""
        yield [neutralise(v) for v in (
            r.reference, label(TYPE_LABELS, r.type), legal_day(r.received_at).isoformat() if r.received_at else "",
            r.clock_started_on.isoformat() if r.clock_started_on else "",
            r.due_date.isoformat() if r.due_date else "",
            answered_on.isoformat() if answered_on else "",
            label(ON_TIME_LABELS, on_time(answered_on, r.due_date, today)), label(OUTCOME_LABELS, r.outcome),
            handled_by, label(CHANNEL_LABELS, r.channel), label(SUBJECT_KIND_LABELS, r.subject_kind),
        )]


def stream_csv(filters: QueueFilters, *, today: date | None = None) -> Iterator[str]:
    """The register as CSV text chunks: BOM first, then a few hundred rows per chunk (the query runs now)."""
    return _chunks(rows(filters, today=today))


def _chunks(register_rows: Iterator[list[str]]) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=DELIMITER, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    yield BOM
    for i, row in enumerate(register_rows, start=1):
        writer.writerow(row)
        if i % 500 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()
