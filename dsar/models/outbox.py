"""The transactional outbox: messages written with the change that causes them."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..security import ENCRYPTED_COLUMN
from .base import UTCDateTime, utcnow


class OutboxMessage(db.Model):
    """An email or webhook to deliver after its transaction commits: at least once (jobs/outbox.py CLAIM_TIMEOUT)."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index("ix_outbox_status_next", "status", "next_attempt_at"),
        {"comment": "Messages waiting to be delivered or delivered (emails, webhooks)"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    kind: Mapped[str] = mapped_column(sa.String(16), comment="OutboxKind: email or webhook")
    status: Mapped[str] = mapped_column(sa.String(16), default="pending", comment="OutboxStatus")
    request_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="SET NULL"), index=True, comment="Request it concerns, if any"
    )
    template: Mapped[str] = mapped_column(sa.String(64), comment="Email template or webhook event name")
    language: Mapped[str] = mapped_column(sa.String(2), default="fr", comment="Language it was rendered in")
    recipient: Mapped[str] = mapped_column(sa.String(500), comment="Email address or webhook URL")
    subject: Mapped[str | None] = mapped_column(sa.String(300), comment="Email subject")
    body_text: Mapped[str | None] = mapped_column(
        sa.Text, comment="Email plain-text body as sent, its secret links redacted (written when sent), or webhook JSON body")
    body_html: Mapped[str | None] = mapped_column(sa.Text, comment="Email HTML body with its secret links redacted")
    sealed_body: Mapped[str | None] = mapped_column(sa.Text, comment=(
        "What the email is sent from, links included, encrypted with the file keys: its context until the delivery "
        "job renders it (or the rendered email); erased once sent or given up"),
        info=ENCRYPTED_COLUMN)
    body_sha256: Mapped[str | None] = mapped_column(
        sa.String(64), comment="SHA-256 of the email as sent (text, then HTML), kept after its links are erased")
    message_id: Mapped[str] = mapped_column(sa.String(200), unique=True, comment="Message-ID / delivery id, stable across retries")
    attempts: Mapped[int] = mapped_column(default=0, comment="Delivery attempts so far")
    max_attempts: Mapped[int] = mapped_column(default=8, comment="Attempts before giving up")
    next_attempt_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="Not retried before this instant")
    claimed_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When a worker took it for sending")
    sent_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When delivery succeeded")
    last_error: Mapped[str | None] = mapped_column(sa.String(500), comment="Last delivery error, without personal data")
    response_status: Mapped[int | None] = mapped_column(comment="Webhook: HTTP status of the last attempt")
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When it was written")
    #: For the unit of work only, never loaded: a message written in the same flush as its request is INSERTed
    #: after it (issue 19: a submission is written in one flush).
    request = relationship("DataRequest", lazy="raise")
