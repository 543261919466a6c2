"""The back-office queue: requests sorted by due date, filters, search, counters, keyset pagination.

Pagination is by keyset on (due_date, id), never OFFSET, so page 2,000 costs
what page 1 costs. Requests whose clock has not started (no due date yet) come
after every dated one, ordered by id. The default view (every non-final
request whose email is confirmed) reads the partial index
``ix_requests_worklist_due``; a status filter reads ``ix_requests_status_due``.
"""
from __future__ import annotations

import base64
import itertools
import json
import re
import time as _time
import uuid
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa

from ..bounds import FIRST_DAY, LAST_DAY, MAX_DB_INT, day_in_range, parse_id
from ..deadlines import PARIS, days_left, legal_day
from ..errors import InvalidInput, N_
from ..extensions import db
from ..models import DataRequest, Document, ProfessionalTask, Requester, RequestSubject, Staff, utcnow
from ..models.enums import ACTIVE_STATUSES, Channel, RequestType, Status, SubjectKind, TaskStatus
from ..models.request import WORKLIST_STATUSES
from . import identity_reviews

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
DUE_SOON_DAYS = 7
OPEN_TASK_STATUSES = (TaskStatus.OPEN, TaskStatus.ACKNOWLEDGED)
_REFERENCE_TAIL = re.compile(r"(\d{4}-)?\d{1,6}")
_WHOLE_REFERENCE = re.compile(r"DSAR-\d{4}-\d{6}")


@dataclass(frozen=True)
class QueueFilters:
    """What the queue shows. Every field is optional; empty means "any"."""

    status: str | None = None          # a Status, "all" (final ones too) or None (the worklist)
    type: str | None = None
    subject_kind: str | None = None
    assignee: str | None = None        # a staff id, "none" (unassigned) or None
    channel: str | None = None
    handler: str | None = None         # "staff" or "professional"
    overdue: bool = False
    received_from: date | None = None
    received_to: date | None = None
    search: str | None = None          # reference, family name or email

    def as_args(self) -> dict:
        """The filters as query-string arguments (without the search, which never goes in a URL)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "search" or value in (None, False, ""):
                continue
            out[f.name] = "1" if value is True else (value.isoformat() if isinstance(value, date) else str(value))
        return out


def _choice(value, allowed, name):
    value = (value or "").strip()
    if not value:
        return None
    if value not in allowed:
        raise InvalidInput(N_("Unknown value for the filter %(filter)s."), code="bad_filter", field=name, filter=name)
    return value


def _day(value, name):
    value = (value or "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(N_("Enter a date as YYYY-MM-DD."), code="bad_date", field=name) from None
    if not day_in_range(day):   # 9999-12-31 + 1 day overflowed while the register was already streaming
        raise InvalidInput(N_("Enter a date between %(first)s and %(last)s."), code="bad_date", field=name,
                           first=FIRST_DAY.isoformat(), last=LAST_DAY.isoformat())
    return day


def parse_filters(args, *, search: str | None = None) -> QueueFilters:
    """Filters from a query string (a MultiDict or a dict); a bad value is a 422 naming the filter."""
    assignee = (args.get("assignee") or "").strip() or None
    if assignee is not None and assignee != "none" and parse_id(assignee) is None:   # 2^64 overflowed the database
        raise InvalidInput(N_("Unknown value for the filter %(filter)s."), code="bad_filter", field="assignee",
                           filter="assignee")
    filters = QueueFilters(
        status=_choice(args.get("status"), {s.value for s in Status} | {"all"}, "status"),
        type=_choice(args.get("type"), {t.value for t in RequestType}, "type"),
        subject_kind=_choice(args.get("subject_kind"), {k.value for k in SubjectKind}, "subject_kind"),
        assignee=assignee,
        channel=_choice(args.get("channel"), {c.value for c in Channel}, "channel"),
        handler=_choice(args.get("handler"), {"staff", "professional"}, "handler"),
        overdue=(args.get("overdue") or "") in {"1", "on", "true", "yes"},
        received_from=_day(args.get("received_from"), "received_from"),
        received_to=_day(args.get("received_to"), "received_to"),
        search=(search or "").strip()[:254] or None,
    )
    if filters.received_from and filters.received_to and filters.received_from > filters.received_to:
        raise InvalidInput(N_("The start date is after the end date."), code="bad_range", field="received_to")
    return filters


def _paris_midnight_utc(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=PARIS)


#: A name search whose prefix matches more names than this (the subjects' and requesters' family and first names,
#: counted in the prefix indexes) is, on a queue page, a walk of the requests in the page's own order, each checked
#: against the names, until the page is full: its cost falls as the matches grow. Fewer, and the matching ids are
#: gathered first and the page sorted from them: their cost grows with the matches. Over 1,000,000 requests the two
#: cost the same between 25,000 names (48 ms gathered, 89 ms walked) and 35,000 (127 against 41 ms); the count that
#: decides costs up to 26 ms more (bench/queue_1m.py --names french, issue 19: "m", 420,000 names of 199,000
#: requests, 574 → 17 ms a page).
BROAD_SEARCH_NAMES = 30_000


def _search_clause(term: str, *, page: bool = False):
    """The WHERE clause of a search. ``page``: for one page of the queue (sorted and cut to its size), where a
    broad name search walks the requests in order (BROAD_SEARCH_NAMES); the register reads every match."""
    term = term.strip()
    if "@" in term:
        email = term.lower()
        # One IN over a UNION (not an OR of two INs): PostgreSQL then starts from the few matching ids.
        return DataRequest.id.in_(sa.union(
            sa.select(RequestSubject.request_id).where(RequestSubject.email == email),
            sa.select(Requester.request_id).where(Requester.email == email),
        ))
    upper = term.upper()
    escaped = upper.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if upper.startswith("DSAR-"):
        # A whole reference, or its beginning (issue 18: "DSAR-2026-0001" finds DSAR-2026-000123 …).
        return DataRequest.reference.like(escaped + "%", escape="\\")
    if _REFERENCE_TAIL.fullmatch(upper):
        # The end of a reference as people read it out: "123", "000123", "2026-000123". PostgreSQL reads the
        # references backwards from their start in an index (models.request.REFERENCE_TAIL_INDEX); SQLite has no
        # reverse() and reads them all.
        if db.session.get_bind().dialect.name == "postgresql":
            return sa.func.reverse(DataRequest.reference).like(upper[::-1] + "%")   # digits and "-": nothing to escape
        return DataRequest.reference.like("%" + escaped, escape="\\")
    # A family name or a first name, case-insensitive, matched from its start, in the subject or the requester.
    low = term.lower()
    like = low.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if db.session.get_bind().dialect.name == "postgresql":
        if page and _more_names_than(like, BROAD_SEARCH_NAMES):
            return _names_like_walk_postgresql(like)
        return DataRequest.id == sa.any_(sa.func.array(_names_like_postgresql(like).scalar_subquery()))
    # SQLite compares text byte by byte, so the range reads the index on last_name_lower and matches what the LIKE
    # matches (SQLite's LIKE reads no index).
    high = low[:-1] + chr(ord(low[-1]) + 1)

    def names(model):
        col = model.last_name_lower
        return sa.select(model.request_id).where(col >= low, col < high, col.like(like, escape="\\"))

    def first_names(model):
        return sa.select(model.request_id).where(sa.func.lower(model.first_name).like(like, escape="\\"))

    return DataRequest.id.in_(sa.union(names(RequestSubject), names(Requester), first_names(RequestSubject),
                                       first_names(Requester)))


def _names_like_postgresql(like: str):
    """The ids of the requests whose subject's or requester's family or first name (lower-cased) is LIKE ``like``.

    Each branch reads one covering text_pattern_ops index alone (migration 0012): a prefix LIKE reads it whatever
    the collation, and request_id is in the index. The caller matches them with ``id = ANY(ARRAY(...))``, not
    ``IN (...)``: the planner's guess at how many names share a prefix swings from 100 to 10,000 rows over 1,000,000
    with the histogram's bounds, and above a few thousand it chose a hash join over a sequential scan of every
    request (186 ms against 7 ms, issue 19). ANY(ARRAY) always probes the primary key with the ids found; the
    duplicates of UNION ALL (a subject who is also the requester) change nothing in a WHERE.
    """
    def branch(model, column):
        return sa.select(model.request_id).where(column.like(like, escape="\\"))

    return sa.union_all(
        branch(RequestSubject, RequestSubject.last_name_lower), branch(Requester, Requester.last_name_lower),
        branch(RequestSubject, sa.func.lower(RequestSubject.first_name)),
        branch(Requester, sa.func.lower(Requester.first_name)),
    )


def _more_names_than(like: str, limit: int) -> bool:
    """Whether more than ``limit`` names are LIKE ``like``: the prefix indexes read up to ``limit`` + 1 entries."""
    found = _names_like_postgresql(like).limit(limit + 1).subquery()
    return db.session.scalar(sa.select(sa.func.count()).select_from(found)) > limit


def _names_like_walk_postgresql(like: str):
    """True for a request whose subject's or requester's family or first name (lower-cased) is LIKE ``like``: one
    correlated subquery, which PostgreSQL runs for each request it reads in the page's order (a scalar subquery is
    never turned into a hashed set of every match, as an EXISTS or an IN would be: 950 ms for "m"), two index
    probes each, until the page is full. It starts from the subject, which every request has (intake writes it with
    the request; a request is only ever deleted whole)."""
    subject, requester = RequestSubject, Requester
    return (
        sa.select(sa.true())
        .select_from(subject)
        .outerjoin(requester, requester.request_id == subject.request_id)
        .where(subject.request_id == DataRequest.id,
               sa.or_(subject.last_name_lower.like(like, escape="\\"),
                      sa.func.lower(subject.first_name).like(like, escape="\\"),
                      requester.last_name_lower.like(like, escape="\\"),
                      sa.func.lower(requester.first_name).like(like, escape="\\")))
        .scalar_subquery()
    )


def exact_reference(term: str) -> str | None:
    """The reference itself when ``term`` is a whole reference that exists (the search then opens the request)."""
    upper = (term or "").strip().upper()
    if not _WHOLE_REFERENCE.fullmatch(upper):
        return None
    return db.session.scalar(sa.select(DataRequest.reference).where(DataRequest.reference == upper))


def filter_clauses(filters: QueueFilters, *, today: date, page: bool = False) -> list:
    """The WHERE clauses for ``filters`` (shared by the queue, the register and the statistics); ``page``: for one
    page of the queue (see _search_clause)."""
    clauses = []
    if filters.overdue:
        clauses.append(DataRequest.status.in_([s.value for s in ACTIVE_STATUSES]))
        clauses.append(DataRequest.due_date < today)
        if filters.status not in (None, "all"):
            clauses.append(DataRequest.status == filters.status)
    elif filters.status == "all":
        pass
    elif filters.status:
        clauses.append(DataRequest.status == filters.status)
    elif filters.search:
        pass  # a search looks through every request, closed ones too
    else:
        clauses.append(DataRequest.status.in_([s.value for s in WORKLIST_STATUSES]))
    if filters.type:
        clauses.append(DataRequest.type == filters.type)
    if filters.subject_kind:
        clauses.append(DataRequest.subject_kind == filters.subject_kind)
    if filters.channel:
        clauses.append(DataRequest.channel == filters.channel)
    if filters.handler:
        clauses.append(DataRequest.handler == filters.handler)
    if filters.assignee == "none":
        clauses.append(DataRequest.assignee_id.is_(None))
    elif filters.assignee:
        clauses.append(DataRequest.assignee_id == int(filters.assignee))
    if filters.received_from:
        clauses.append(DataRequest.received_at >= _paris_midnight_utc(filters.received_from))
    if filters.received_to:
        clauses.append(DataRequest.received_at < _paris_midnight_utc(filters.received_to + timedelta(days=1)))
    if filters.search:
        clauses.append(_search_clause(filters.search, page=page))
    return clauses


# --- keyset cursor ---------------------------------------------------------------------------------------


def encode_cursor(due: date | None, request_id: int) -> str:
    raw = json.dumps([due.isoformat() if due else None, request_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[date | None, int] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        due, request_id = json.loads(raw)
        if not isinstance(request_id, int) or not 0 <= request_id <= MAX_DB_INT:
            raise ValueError
        return (date.fromisoformat(due) if due else None), request_id
    except (ValueError, TypeError, RecursionError):
        raise InvalidInput(N_("This page link is not valid. Go back to the first page."), code="bad_cursor",
                           field="after") from None


# --- rows ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueRow:
    id: int
    reference: str | None
    type: str
    status: str
    subject_kind: str
    channel: str
    received_at: datetime
    due_date: date | None
    days_left: int | None
    urgency: str                 # overdue | week | ok | paused | done | none
    handler: str
    assignee: str | None
    subject_name: str


def urgency_of(status: str, due: date | None, today: date) -> tuple[int | None, str]:
    if due is None:
        return None, "none"
    left = days_left(today, due)
    if status == Status.ANSWERED or Status(status).is_final:
        return left, "done"
    if status == Status.AWAITING_REQUESTER:
        return left, "paused"          # the clock stands still (deadline rule 4)
    if left < 0:
        return left, "overdue"
    if left <= DUE_SOON_DAYS:
        return left, "week"
    return left, "ok"


_ROW_COLUMNS = (
    DataRequest.id, DataRequest.reference, DataRequest.type, DataRequest.status, DataRequest.subject_kind,
    DataRequest.channel, DataRequest.received_at, DataRequest.due_date, DataRequest.handler,
)


def _rows_query(where: list, order_by: tuple, limit: int):
    """One page's rows: the requests are sorted and cut to ``limit`` first, then joined to their assignee and
    subject, so that only the rows shown are joined (issue 19: a search matching 2,000 requests joined all 2,000
    before the sort; 20 → 7 ms of SQL)."""
    page = (sa.select(*_ROW_COLUMNS, DataRequest.assignee_id).where(*where).order_by(*order_by).limit(limit)
            .subquery("page"))
    return (
        sa.select(*(page.c[c.key] for c in _ROW_COLUMNS), Staff.name.label("assignee_name"),
                  RequestSubject.first_name, RequestSubject.last_name)
        .select_from(page)
        .outerjoin(Staff, Staff.id == page.c.assignee_id)
        .outerjoin(RequestSubject, RequestSubject.request_id == page.c.id)
        .order_by(*(page.c[c.key] for c in order_by))
    )


@dataclass
class QueuePage:
    rows: list[QueueRow]
    next_cursor: str | None
    filters: QueueFilters
    first_page: bool = True
    counters: dict = field(default_factory=dict)


def fetch_page(filters: QueueFilters, *, after: str | None = None, page_size: int = PAGE_SIZE,
               today: date | None = None) -> QueuePage:
    """One page of the queue, sorted by due date (undated last), then id."""
    today = today or legal_day(utcnow())
    page_size = max(1, min(int(page_size), MAX_PAGE_SIZE))
    cursor = decode_cursor(after)
    base = filter_clauses(filters, today=today, page=True)
    fetched = []
    want = page_size + 1
    if cursor is None or cursor[0] is not None:
        dated = base + [DataRequest.due_date.is_not(None)]
        if cursor is not None:
            dated.append(sa.tuple_(DataRequest.due_date, DataRequest.id) > sa.tuple_(sa.literal(cursor[0]), sa.literal(cursor[1])))
        q = _rows_query(dated, (DataRequest.due_date, DataRequest.id), want)
        fetched.extend(db.session.execute(q).all())
    if len(fetched) < want and not filters.overdue:
        undated = base + [DataRequest.due_date.is_(None)]
        if cursor is not None and cursor[0] is None:
            undated.append(DataRequest.id > cursor[1])
        q = _rows_query(undated, (DataRequest.id,), want - len(fetched))
        fetched.extend(db.session.execute(q).all())
    has_more = len(fetched) > page_size
    fetched = fetched[:page_size]
    rows = []
    for r in fetched:
        left, urgency = urgency_of(r.status, r.due_date, today)
        rows.append(QueueRow(
            id=r.id, reference=r.reference, type=r.type, status=r.status, subject_kind=r.subject_kind,
            channel=r.channel, received_at=r.received_at, due_date=r.due_date, days_left=left, urgency=urgency,
            handler=r.handler, assignee=r.assignee_name,
            subject_name=f"{r.first_name or ''} {r.last_name or ''}".strip(),
        ))
    next_cursor = encode_cursor(rows[-1].due_date, rows[-1].id) if has_more and rows else None
    return QueuePage(rows=rows, next_cursor=next_cursor, filters=filters, first_page=cursor is None)


#: The counters are kept by the process this long (issue 19: they were most of a page's time over a large
#: worklist), and so is the list of identity reviews waiting (15 of a page's 37 ms with 5,000 requests in review:
#: it sorts them all by how long each has waited). A request or a document written through this process forgets
#: them at once; others' changes show within it.
COUNTERS_SECONDS = 10
_kept: dict[tuple, tuple[float, object]] = {}
_clock = _time.monotonic
_requests_written = itertools.count()
_generation = [0]


@sa.event.listens_for(sa.orm.Session, "after_flush")
def _forget_counters_on_write(session, flush_context) -> None:
    if any(isinstance(o, (DataRequest, Document)) for o in itertools.chain(session.new, session.dirty, session.deleted)):
        _generation[0] = next(_requests_written) + 1


def forget_counters() -> None:
    _kept.clear()


def _database_key() -> str:
    engine = db.engine  # one key per engine: an id() may be reused by a later engine, a uuid is not
    key = getattr(engine, "_dsar_counters_key", None)
    if key is None:
        key = engine._dsar_counters_key = uuid.uuid4().hex
    return key


def _keep(name: tuple, today: date, compute):
    """``compute()``, or what it gave less than COUNTERS_SECONDS ago in this process with nothing written since."""
    key = (name, _database_key(), today, _generation[0])
    kept = _kept.get(key)
    if kept is not None and _clock() - kept[0] < COUNTERS_SECONDS:
        return kept[1]
    value = compute()
    for old in [k for k in _kept if k[0] == name]:
        del _kept[old]
    _kept[key] = (_clock(), value)
    return value


def counters(*, today: date | None = None) -> dict[str, int]:
    """The figures at the top of the queue, in one pass over the worklist (kept COUNTERS_SECONDS by the process)."""
    today = today or legal_day(utcnow())
    return dict(_keep(("counters",), today, lambda: _count(today)))


def identity_reviews_waiting(*, limit: int, now: datetime | None = None) -> tuple[list[dict], int]:
    """``identity_reviews.waiting`` as the queue shows it: kept COUNTERS_SECONDS by the process like the counters,
    each row's wait counted from ``now``."""
    now = now or utcnow()
    rows, total = _keep(("identity_reviews", limit), legal_day(now), lambda: identity_reviews.waiting(limit=limit))
    return [dict(r, waited=now - r["since"]) for r in rows], total


def _count(today: date) -> dict[str, int]:
    active = DataRequest.status.in_([s.value for s in ACTIVE_STATUSES])
    awaiting = DataRequest.status.in_([Status.AWAITING_IDENTITY.value, Status.IDENTITY_REVIEW.value])
    q = sa.select(
        sa.func.count().filter(active).label("open"),
        sa.func.count().filter(active, DataRequest.due_date >= today,
                               DataRequest.due_date <= today + timedelta(days=DUE_SOON_DAYS)).label("due_this_week"),
        sa.func.count().filter(active, DataRequest.due_date < today).label("overdue"),
        sa.func.count().filter(awaiting).label("awaiting_identity"),
        sa.func.count().filter(active, DataRequest.handler == "professional").label("with_professionals"),
    ).where(DataRequest.status.in_([s.value for s in WORKLIST_STATUSES]))
    row = db.session.execute(q).one()
    return dict(row._mapping)


def assignable_staff() -> list[Staff]:
    return list(db.session.scalars(
        sa.select(Staff).where(Staff.active.is_(True), Staff.role != "auditor").order_by(Staff.name)))


def open_tasks_for(request_ids: list[int]) -> dict[int, list[ProfessionalTask]]:
    if not request_ids:
        return {}
    out: dict[int, list] = {}
    for t in db.session.scalars(sa.select(ProfessionalTask).where(
            ProfessionalTask.request_id.in_(request_ids), ProfessionalTask.status.in_([s.value for s in OPEN_TASK_STATUSES]))):
        out.setdefault(t.request_id, []).append(t)
    return out


def with_search(filters: QueueFilters, search: str | None) -> QueueFilters:
    return replace(filters, search=(search or "").strip()[:254] or None)
