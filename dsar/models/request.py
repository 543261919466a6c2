"""The request aggregate: the request itself, its subject, its requester, its pauses."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow
from .enums import Status

# The back-office queue's default view: every request still needing work (not final, email confirmed).
# The partial index below is built on exactly this list, so that the queue's first page and its
# deep pages read the index in order however many closed requests pile up behind them.
WORKLIST_STATUSES = (
    Status.AWAITING_IDENTITY, Status.IDENTITY_REVIEW, Status.OPEN, Status.IN_PROGRESS,
    Status.AWAITING_REQUESTER, Status.ANSWERED,
)
_WORKLIST_SQL = sa.text("status IN (" + ", ".join(f"'{s.value}'" for s in WORKLIST_STATUSES) + ")")


class DataRequest(db.Model):
    """A data subject request, from receipt to closure."""

    __tablename__ = "requests"
    __table_args__ = (
        sa.Index("ix_requests_status_due", "status", "due_date", "id"),
        sa.Index("ix_requests_due_id", "due_date", "id"),
        sa.Index("ix_requests_worklist_due", "due_date", "id", postgresql_where=_WORKLIST_SQL, sqlite_where=_WORKLIST_SQL),
        # The queue's counters in one index-only scan (status, due date and handler are all they read).
        sa.Index("ix_requests_status_due_handler", "status", "due_date", "handler"),
        {"comment": "Data subject requests (GDPR art. 15-22, Informatique et Libertés art. 85)"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier; never shown outside")
    reference: Mapped[str | None] = mapped_column(
        sa.String(32), unique=True, comment="Human reference, e.g. DSAR-2026-000123; opens nothing by itself"
    )
    type: Mapped[str] = mapped_column(sa.String(32), index=True, comment="RequestType: the right exercised")
    subject_kind: Mapped[str] = mapped_column(sa.String(16), index=True, comment="SubjectKind of the data subject")
    activities: Mapped[list] = mapped_column(
        sa.JSON, default=list, comment="Keys of the policy's processing activities the request concerns"
    )
    channel: Mapped[str] = mapped_column(sa.String(16), index=True, comment="Channel the request came through")
    status: Mapped[str] = mapped_column(
        sa.String(24), default=Status.UNCONFIRMED, index=True, comment="Status in the lifecycle"
    )
    outcome: Mapped[str | None] = mapped_column(sa.String(24), comment="Outcome of the answer, once answered")
    language: Mapped[str] = mapped_column(sa.String(2), default="fr", comment="Language of letters and emails")
    details: Mapped[str | None] = mapped_column(sa.Text, comment="What the requester wrote")
    received_at: Mapped[object] = mapped_column(UTCDateTime, index=True, comment="Instant the request was received")
    clock_started_on: Mapped[object | None] = mapped_column(
        sa.Date, comment="Europe/Paris day the complete request was received (deadline rule 1)"
    )
    due_date: Mapped[object | None] = mapped_column(
        sa.Date, comment="Date the answer is due now: extension, pauses and medical-record rule applied"
    )
    one_month_due_date: Mapped[object | None] = mapped_column(
        sa.Date, comment="The one-month due date (pauses applied), which bounds when an extension may be told"
    )
    extended_due_date: Mapped[object | None] = mapped_column(
        sa.Date, comment="Due date after the two-month extension of GDPR art. 12(3), if extended"
    )
    extension_reason: Mapped[str | None] = mapped_column(sa.Text, comment="Reason given for the extension")
    extended_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When the extension was decided")
    medical_record: Mapped[bool] = mapped_column(
        default=False, comment="Patient asks for their medical record (CSP L.1111-7: 8 days / 2 months)"
    )
    medical_info_older_than_5_years: Mapped[bool] = mapped_column(
        default=False, comment="Some item of the medical record is over five years old, as its holder established it"
    )
    medical_record_old_due_date: Mapped[object | None] = mapped_column(
        sa.Date, comment="CSP R.1111-1: 2 months from receipt, for the items over five years old"
    )
    earliest_release_at: Mapped[object | None] = mapped_column(
        UTCDateTime, comment="Medical record: nothing is sent before this instant (48 h reflection period)"
    )
    paused_days: Mapped[int] = mapped_column(default=0, comment="Calendar days the clock was paused, closed pauses")
    identity_method: Mapped[str | None] = mapped_column(sa.String(16), comment="IdentityMethod once verified")
    identity_verified_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When identity was verified")
    identity_verified_by: Mapped[str | None] = mapped_column(
        sa.String(120), comment="Who verified identity (staff label, API key name, 'account')"
    )
    email_confirmed_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When the requester's email was confirmed")
    identity_doubt: Mapped[str | None] = mapped_column(
        sa.Text, comment="Why staff have a reasonable doubt about the requester's identity (an ID copy is asked only then)"
    )
    identity_doubt_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When that doubt was recorded")
    status_link_salt: Mapped[str | None] = mapped_column(
        sa.String(32), comment="Random value signed into the status-page link; replacing it revokes earlier links"
    )
    assignee_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("staff.id", ondelete="SET NULL"), index=True, comment="Staff member handling the request"
    )
    handler: Mapped[str] = mapped_column(
        sa.String(16), default="staff", comment="Who answers: 'staff' or 'professional' (policy art. 8.2)"
    )
    answered_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When the answer was recorded")
    closed_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When the request reached a final status")
    answer_message: Mapped[str | None] = mapped_column(sa.Text, comment="The answer's text, as sent to the requester")
    refusal_reasons: Mapped[str | None] = mapped_column(sa.Text, comment="Reasons for a whole or partial refusal (rule 7)")
    refused_at: Mapped[object | None] = mapped_column(
        UTCDateTime, comment="When a whole or partial refusal was given (GDPR art. 12(4): within one month)"
    )
    refusal_late: Mapped[bool] = mapped_column(
        default=False, comment="The refusal came after the one-month date of GDPR art. 12(4), extension or not"
    )
    unfounded_or_excessive: Mapped[str | None] = mapped_column(
        sa.String(24), comment="GDPR art. 12(5) decision: manifestly_unfounded or excessive; null: none"
    )
    unfounded_or_excessive_grounds: Mapped[str | None] = mapped_column(
        sa.Text, comment="Why, as the controller must demonstrate it (GDPR art. 12(5))"
    )
    unfounded_or_excessive_by: Mapped[str | None] = mapped_column(sa.String(200), comment="Who decided it")
    external_account_id: Mapped[str | None] = mapped_column(
        sa.String(64), comment="Account identifier in the controller's application, for account requests"
    )
    form_submission_hash: Mapped[str | None] = mapped_column(
        sa.String(64), unique=True,
        comment="SHA-256 of the public form's one-time nonce and fields: the same form sent twice is one request",
    )
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="Row creation instant")
    updated_at: Mapped[object] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, comment="Last change instant"
    )
    version: Mapped[int] = mapped_column(
        nullable=False, default=1, comment="Optimistic lock: bumped by every change; a stale writer gets a conflict"
    )

    __mapper_args__ = {"version_id_col": version}

    subject: Mapped["RequestSubject"] = relationship(back_populates="request", uselist=False, cascade="all, delete-orphan")
    requester: Mapped["Requester"] = relationship(back_populates="request", uselist=False, cascade="all, delete-orphan")
    pauses: Mapped[list["RequestPause"]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="RequestPause.id"
    )
    assignee = relationship("Staff", foreign_keys=[assignee_id])
    medical_record_items: Mapped[list["MedicalRecordItem"]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="MedicalRecordItem.id"
    )

    @property
    def status_enum(self) -> Status:
        return Status(self.status)

    @property
    def is_final(self) -> bool:
        return Status(self.status).is_final

    def __repr__(self) -> str:  # never personal data in a repr: it ends up in logs
        return f"<DataRequest {self.reference or self.id} {self.status}>"


class RequestSubject(db.Model):
    """The person the data is about."""

    __tablename__ = "request_subjects"
    __table_args__ = {"comment": "The data subject of each request"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="CASCADE"), unique=True, comment="The request"
    )
    kind: Mapped[str] = mapped_column(sa.String(16), comment="SubjectKind")
    first_name: Mapped[str] = mapped_column(sa.String(120), comment="Given name")
    last_name: Mapped[str] = mapped_column(sa.String(120), index=True, comment="Family name")
    last_name_lower: Mapped[str | None] = mapped_column(
        sa.String(120), sa.Computed("lower(last_name)", persisted=True),
        comment="Family name lower-cased, computed by the database: the queue's case-insensitive search",
    )
    email: Mapped[str | None] = mapped_column(sa.String(254), index=True, comment="Email, lower-cased")
    phone: Mapped[str | None] = mapped_column(sa.String(32), comment="Phone number, digits and +")
    birth_date: Mapped[object | None] = mapped_column(sa.Date, comment="Birth date, used to match a patient")
    deceased: Mapped[bool] = mapped_column(default=False, comment="The subject has died (heirs, post-mortem directives)")

    request: Mapped[DataRequest] = relationship(back_populates="subject")

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Requester(db.Model):
    """Who made the request: the subject themself or a representative."""

    __tablename__ = "requesters"
    __table_args__ = {"comment": "The person who made each request and receives its correspondence"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="CASCADE"), unique=True, comment="The request"
    )
    acting_for: Mapped[str] = mapped_column(sa.String(8), default="self", comment="ActingFor: self or other")
    relationship_to_subject: Mapped[str | None] = mapped_column(
        sa.String(16), comment="Relationship when acting for someone else (parent, guardian, heir, executor, mandatary)"
    )
    first_name: Mapped[str] = mapped_column(sa.String(120), comment="Given name")
    last_name: Mapped[str] = mapped_column(sa.String(120), comment="Family name")
    last_name_lower: Mapped[str | None] = mapped_column(
        sa.String(120), sa.Computed("lower(last_name)", persisted=True),
        comment="Family name lower-cased, computed by the database: the queue's case-insensitive search",
    )
    email: Mapped[str] = mapped_column(sa.String(254), index=True, comment="Where correspondence goes, lower-cased")
    phone: Mapped[str | None] = mapped_column(sa.String(32), comment="Phone number")
    postal_address: Mapped[str | None] = mapped_column(sa.Text, comment="Postal address, for letters received by post")

    request: Mapped[DataRequest] = relationship(back_populates="requester")

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class RequestPause(db.Model):
    """A period during which the clock stood still (deadline rule 4)."""

    __tablename__ = "request_pauses"
    __table_args__ = {"comment": "Clock pauses while a clarification is awaited from the requester"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="CASCADE"), index=True, comment="The request"
    )
    started_on: Mapped[object] = mapped_column(sa.Date, comment="Europe/Paris day the clarification was asked")
    ended_on: Mapped[object | None] = mapped_column(sa.Date, comment="Europe/Paris day the answer came; null while paused")
    question: Mapped[str | None] = mapped_column(sa.Text, comment="What was asked of the requester")
    kind: Mapped[str] = mapped_column(
        sa.String(16), default="scope", server_default="scope",
        comment="Kind of clarification (identity, scope): whether it suspends the period is a policy rule",
    )
    answer: Mapped[str | None] = mapped_column(sa.Text, comment="What the requester answered")
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="Row creation instant")

    request: Mapped[DataRequest] = relationship(back_populates="pauses")


# The queue's search by family name or first name, case-insensitive, from its start (``LIKE 'x%'`` on the lower-cased
# name). text_pattern_ops: PostgreSQL reads the index for a prefix LIKE whatever the database's collation (a plain
# range on the column misses "sanchez" under fr-FR, where 'sanchez' > 'sanche{'); INCLUDE (request_id): the search
# reads the index only, never the table (issue 19, migration 0012, which replaced 0011's first-name indexes and the
# default-collation ones on last_name_lower; equality, as the duplicate check uses, reads these too). The first-name
# index includes first_name as well: PostgreSQL rechecks the LIKE on lower(first_name) and reads an index alone only
# when the index holds the column the expression is made of (2 ms → 0.2 ms for 1,000 names).
for _model in (RequestSubject, Requester):
    sa.Index(f"ix_{_model.__tablename__}_last_name_prefix", _model.__table__.c.last_name_lower,
             postgresql_ops={"last_name_lower": "text_pattern_ops"}, postgresql_include=["request_id"])
    sa.Index(f"ix_{_model.__tablename__}_first_name_prefix",
             sa.func.lower(_model.__table__.c.first_name).label("first_name_lower"),
             postgresql_ops={"first_name_lower": "text_pattern_ops"}, postgresql_include=["request_id", "first_name"])

# The queue's search by the end of a reference, as people read it out ("123" finds DSAR-2026-000123, issue 18): the
# references are read backwards from their start, ``reverse(reference) LIKE '321%'``, text_pattern_ops so that any
# collation reads the index for a prefix (services/queue.py; migration 0015). Without it the search read every
# request (130-230 ms over 1,000,000, issue 19). PostgreSQL only: SQLite has no reverse(), and its LIKE reads no index.
REFERENCE_TAIL_INDEX = sa.Index(
    "ix_requests_reference_reversed", sa.func.reverse(DataRequest.__table__.c.reference).label("reference_reversed"),
    postgresql_ops={"reference_reversed": "text_pattern_ops"},
).ddl_if(dialect="postgresql")
