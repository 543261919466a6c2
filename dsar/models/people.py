"""The directory of health professionals, their links to patients, and their tasks (policy art. 8.2)."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.hybrid import hybrid_method, hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..errors import Conflict, N_
from ..extensions import db
from ..security import ENCRYPTED_COLUMN
from .base import UTCDateTime, utcnow
from .enums import Status, TaskStatus

#: The statuses of a task the professional can still act on (with its link not revoked).
LIVE_TASK_STATUSES = (TaskStatus.OPEN, TaskStatus.ACKNOWLEDGED)


class Professional(db.Model):
    """A health professional using the application, who answers their patients' requests."""

    __tablename__ = "professionals"
    __table_args__ = {"comment": "Directory of professional users, synced from the application"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    external_id: Mapped[str] = mapped_column(sa.String(64), unique=True, comment="Identifier in the application")
    first_name: Mapped[str] = mapped_column(sa.String(120), comment="Given name")
    last_name: Mapped[str] = mapped_column(sa.String(120), comment="Family name")
    title: Mapped[str | None] = mapped_column(sa.String(40), comment="How a letter greets them (Docteur, Madame…), if known")
    email: Mapped[str] = mapped_column(sa.String(254), index=True, comment="Where task links are sent, lower-cased")
    rpps: Mapped[str | None] = mapped_column(sa.String(11), index=True, comment="RPPS number (11 digits)")
    language: Mapped[str] = mapped_column(sa.String(2), default="fr", comment="Language of emails to them")
    active: Mapped[bool] = mapped_column(default=True, comment="False once disabled in the application")
    contract_ended_on: Mapped[object | None] = mapped_column(sa.Date, comment="End of their contract, if ended")
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="Row creation instant")
    updated_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, comment="Last change")

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def greeting_name(self) -> str:
        """The name a letter greets them by: "Docteur Garnier" with a title, else "Hélène Garnier" (issue 18)."""
        return f"{self.title} {self.last_name}".strip() if self.title else self.full_name

    @hybrid_method
    def is_live(self, today: date) -> bool:
        """Still in the application on ``today``: active, and their contract not ended (policy art. 8.2)."""
        return bool(self.active) and (self.contract_ended_on is None or self.contract_ended_on > today)

    @is_live.inplace.expression
    @classmethod
    def _is_live_expression(cls, today: date):
        return sa.and_(cls.active.is_(True), sa.or_(cls.contract_ended_on.is_(None), cls.contract_ended_on > today))


class CareLink(db.Model):
    """A professional in charge of a patient. Contact data only: no health data is stored for routing."""

    __tablename__ = "care_links"
    __table_args__ = (
        sa.UniqueConstraint("professional_id", "patient_ref", name="uq_care_links_professional_patient"),
        {"comment": "Patient-professional links synced from the application"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    professional_id: Mapped[int] = mapped_column(
        sa.ForeignKey("professionals.id", ondelete="CASCADE"), index=True, comment="The professional"
    )
    patient_ref: Mapped[str] = mapped_column(sa.String(64), index=True, comment="Patient identifier in the application")
    patient_email: Mapped[str | None] = mapped_column(sa.String(254), index=True, comment="Patient email, lower-cased")
    patient_phone: Mapped[str | None] = mapped_column(sa.String(32), index=True, comment="Patient phone, normalised")
    patient_birth_date: Mapped[object | None] = mapped_column(sa.Date, comment="Patient birth date")
    active: Mapped[bool] = mapped_column(default=True, comment="False once the care relationship ended")
    ended_on: Mapped[object | None] = mapped_column(sa.Date, comment="When the care relationship ended")
    updated_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow, comment="Last change")

    professional = relationship("Professional")

    def is_live(self, today: date) -> bool:
        """The care relationship is still in force on ``today``: active, and not ended."""
        return bool(self.active) and (self.ended_on is None or self.ended_on > today)


class ProfessionalTask(db.Model):
    """A request handed to a professional, acted on through a signed link sent by email."""

    __tablename__ = "professional_tasks"
    __table_args__ = (
        sa.Index("ix_professional_tasks_status", "status", "last_reminder_at"),
        {"comment": "Requests routed to professionals and what they did with them"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="CASCADE"), index=True, comment="The request"
    )
    professional_id: Mapped[int] = mapped_column(
        sa.ForeignKey("professionals.id", ondelete="RESTRICT"), index=True, comment="The professional"
    )
    status: Mapped[str] = mapped_column(sa.String(16), default="open", comment="TaskStatus")
    token_hash: Mapped[str | None] = mapped_column(
        sa.String(64), unique=True, comment="SHA-256 of the task link's nonce; replaced when re-sent, null when revoked"
    )
    expires_at: Mapped[object] = mapped_column(UTCDateTime, comment="The task link stops working after this")
    revoked_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When staff revoked the link")
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When the task was created")
    acknowledged_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When the professional acknowledged")
    answered_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When the professional answered")
    declined_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When they said 'not my patient'")
    last_reminder_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="Last reminder sent")
    reminder_count: Mapped[int] = mapped_column(default=0, comment="Reminders sent")
    link_secret: Mapped[str | None] = mapped_column(
        sa.Text, comment="The link's nonce, encrypted with the file keys, so reminders carry the same link; null when revoked",
        info=ENCRYPTED_COLUMN,
    )
    escalated_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When the DPO was last alerted about this task")
    escalation_reason: Mapped[str | None] = mapped_column(sa.String(32), comment="Why, last time: unacknowledged or near_deadline")
    deadline_escalated_at: Mapped[object | None] = mapped_column(
        UTCDateTime, comment="When the DPO was alerted that the deadline is near (sent once per task)"
    )
    extension_requested_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="Extension asked by the professional")
    extension_reason: Mapped[str | None] = mapped_column(sa.Text, comment="Their reason for an extension")
    help_requested_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When they asked the DPO for help")
    message: Mapped[str | None] = mapped_column(sa.Text, comment="The professional's answer or note")

    request = relationship("DataRequest", backref=sa.orm.backref("tasks", order_by="ProfessionalTask.id"))
    professional = relationship("Professional")

    @hybrid_property
    def is_live(self) -> bool:
        """The professional can still act on the task: open or acknowledged, its link not revoked."""
        return self.status in LIVE_TASK_STATUSES and self.revoked_at is None

    @is_live.inplace.expression
    @classmethod
    def _is_live_expression(cls):
        # The statuses written into the SQL, not sent as parameters: the sweep's indexes (SWEEP_RULE_INDEXES) hold
        # this very expression, and an index on an expression serves only a query holding it, constants included.
        statuses = sa.bindparam(None, [s.value for s in LIVE_TASK_STATUSES], expanding=True, literal_execute=True)
        return sa.and_(cls.status.in_(statuses), cls.revoked_at.is_(None))

    def actionable_request(self):
        """The request, if the professional can still act on it through this task; a clear 409 otherwise."""
        req = self.request
        if self.status == TaskStatus.ANSWERED:
            raise Conflict(N_("You have already answered this request. Nothing more is needed from you."),
                           code="task_answered")
        if not self.is_live:
            raise Conflict(N_("This request is no longer with you. Nothing more is needed from you."), code="task_closed")
        if req.is_final or Status(req.status) == Status.ANSWERED:
            raise Conflict(N_("This request has moved on since this page was opened: it was answered, closed or taken back "
                              "by IDOMED. Nothing was recorded and nothing more is needed from you."),
                           code="request_moved_on")
        return req


def task_reminder_counted_from():
    """When the next reminder of a live task is counted from: its last reminder, else its creation (NULL for a task
    that is not live). The sweep's rule 2 compares it with ``now - reminder_every_days`` (``jobs/reminders.py``).

    One expression, indexed (migration 0014), so that the rule reads the few tasks due, not the whole table (issue
    19: over 1,000,000 tasks, 0.3-0.5 s a morning with nothing due, 10-20 ms with the index)."""
    return sa.case((ProfessionalTask.is_live,
                    sa.func.coalesce(ProfessionalTask.last_reminder_at, ProfessionalTask.created_at)))


def task_unacknowledged_since():
    """When a live task neither acknowledged nor escalated yet was sent (NULL otherwise). The sweep's rule 3
    compares it with ``now - escalate_without_ack_days``; one indexed expression, as ``task_reminder_counted_from``."""
    return sa.case((sa.and_(ProfessionalTask.is_live, ProfessionalTask.acknowledged_at.is_(None),
                            ProfessionalTask.escalated_at.is_(None)), ProfessionalTask.created_at))


#: The indexes of the sweep's rules 2 and 3 (migration 0014). PostgreSQL gives their expressions back in a form of
#: its own (``= ANY (ARRAY[…])``, casts, ``ELSE NULL``) that autogenerate cannot compare with these, so the drift
#: check leaves them out (``migrations/render.py``) and a test checks instead that PostgreSQL reads them for the
#: sweep's very query (``tests/service/test_reminders_batched.py``).
SWEEP_RULE_INDEXES = (
    sa.Index("ix_professional_tasks_reminder_counted_from", task_reminder_counted_from()),
    sa.Index("ix_professional_tasks_unacknowledged_since", task_unacknowledged_since()),
)


class TaskOpening(db.Model):
    """Each time a task link was opened."""

    __tablename__ = "task_openings"
    __table_args__ = {"comment": "Openings of professionals' task links"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    task_id: Mapped[int] = mapped_column(
        sa.ForeignKey("professional_tasks.id", ondelete="CASCADE"), index=True, comment="The task"
    )
    opened_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When")
    ip: Mapped[str | None] = mapped_column(sa.String(45), comment="Client IP")
    user_agent: Mapped[str | None] = mapped_column(sa.String(300), comment="Client user agent, truncated")
