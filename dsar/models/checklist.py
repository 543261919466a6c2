"""The request's checklist: the policy's per-request-type steps, each ticked by staff or the professional."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow


class RequestStep(db.Model):
    """One step that must be done before a request is answered or closed (policy ``request_types.*.steps``).

    Created when the request opens (its identity verified); ``step_key`` is the policy's stable key (another
    component may tick it once it does the work itself), ``scope`` the activity it applies to, if per activity.
    """

    __tablename__ = "request_steps"
    __table_args__ = (
        sa.UniqueConstraint("request_id", "step_key", "scope", name="uq_request_steps_step"),
        {"comment": "Checklist of each request: the steps of its type (GDPR art. 15-21) and of the law (CSP)"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="CASCADE"), index=True, comment="The request"
    )
    step_key: Mapped[str] = mapped_column(sa.String(64), comment="Stable key of the step (policy step key or a legal step)")
    scope: Mapped[str] = mapped_column(
        sa.String(64), default="", comment="Policy activity key for a per-activity step; empty for the whole request"
    )
    source: Mapped[str] = mapped_column(
        sa.String(16), default="policy", comment="Where the step comes from: 'policy' (request_types) or 'law' (CSP)"
    )
    required: Mapped[bool] = mapped_column(default=True, comment="A required step blocks the answer or the closure")
    required_before: Mapped[str] = mapped_column(
        sa.String(24), default="answered", comment="The status the step must be done before: answered or closed"
    )
    done_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When it was ticked; null while open")
    done_by: Mapped[str | None] = mapped_column(sa.String(200), comment="Who ticked it (staff, professional, system)")
    note: Mapped[str | None] = mapped_column(sa.Text, comment="What was found or done, as the person ticking wrote it")
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When the step was put on the request")

    request = relationship(
        "DataRequest", backref=sa.orm.backref("steps", order_by="RequestStep.id", cascade="all, delete-orphan")
    )

    @property
    def done(self) -> bool:
        return self.done_at is not None

    def __repr__(self) -> str:
        return f"<RequestStep {self.step_key}{'@' + self.scope if self.scope else ''} {'done' if self.done else 'open'}>"
