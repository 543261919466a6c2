"""The audit trail: append-only events chained by hash (tamper-evident)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


class Event(db.Model):
    """One thing that happened, who did it, and the hash linking it to the previous one."""

    __tablename__ = "events"
    __table_args__ = (
        sa.UniqueConstraint("stream", "seq", name="uq_events_stream_seq"),
        {"comment": "Append-only audit trail; each event hashes the previous one of its stream"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    stream: Mapped[str] = mapped_column(
        sa.String(40), comment="Chain the event belongs to: 'request:<id>' or 'system'"
    )
    seq: Mapped[int] = mapped_column(comment="Position in the stream, from 1, no gaps")
    request_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="RESTRICT"), index=True, comment="The request, for request streams"
    )
    occurred_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="Instant of the event, UTC")
    actor_type: Mapped[str] = mapped_column(sa.String(16), comment="ActorType")
    actor_id: Mapped[str | None] = mapped_column(sa.String(64), comment="Identifier of the actor within its type")
    actor_label: Mapped[str | None] = mapped_column(sa.String(200), comment="Readable name of the actor at the time")
    ip: Mapped[str | None] = mapped_column(sa.String(45), comment="Client IP address, when acting over HTTP")
    user_agent: Mapped[str | None] = mapped_column(sa.String(300), comment="Client user agent, truncated")
    action: Mapped[str] = mapped_column(sa.String(48), index=True, comment="What was done (transition or note name)")
    from_status: Mapped[str | None] = mapped_column(sa.String(24), comment="Status before")
    to_status: Mapped[str | None] = mapped_column(sa.String(24), comment="Status after")
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict, comment="What changed, as JSON")
    prev_hash: Mapped[str] = mapped_column(sa.String(64), comment="Hash of the previous event of the stream")
    hash: Mapped[str] = mapped_column(sa.String(64), comment="SHA-256 over prev_hash and this event's content")


class AppendOnlyViolation(RuntimeError):
    """The application tried to change or delete an audit event."""


@sa_event.listens_for(Event, "before_update")
def _refuse_update(mapper, connection, target):  # pragma: no cover - the guard itself is tested
    raise AppendOnlyViolation("audit events are append-only")


@sa_event.listens_for(Event, "before_delete")
def _refuse_delete(mapper, connection, target):
    raise AppendOnlyViolation("audit events are append-only")
