"""Files attached to a request: identity documents, proofs of authority, answers, letters."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow


class Document(db.Model):
    """A stored file (encrypted at rest under a random name) and what was decided about it."""

    __tablename__ = "documents"
    __table_args__ = {"comment": "Files of a request; the content lives encrypted in the file store"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="CASCADE"), index=True, comment="The request"
    )
    kind: Mapped[str] = mapped_column(sa.String(16), comment="DocumentKind")
    storage_name: Mapped[str | None] = mapped_column(
        sa.String(64), unique=True, comment="Random name in the file store; null once purged"
    )
    display_name: Mapped[str] = mapped_column(sa.String(200), comment="Sanitised file name, for display only")
    mime: Mapped[str] = mapped_column(sa.String(64), comment="Type decided from the content (libmagic)")
    size: Mapped[int] = mapped_column(comment="Size in bytes, plaintext")
    sha256: Mapped[str] = mapped_column(sa.String(64), comment="SHA-256 of the plaintext, kept after purge")
    uploaded_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When it was received")
    uploaded_by: Mapped[str] = mapped_column(sa.String(200), comment="Actor label of who uploaded it")
    review_status: Mapped[str] = mapped_column(sa.String(16), default="pending", comment="ReviewStatus")
    reviewed_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When it was reviewed")
    reviewed_by: Mapped[str | None] = mapped_column(sa.String(200), comment="Who reviewed it")
    review_reason: Mapped[str | None] = mapped_column(sa.Text, comment="Why it was refused")
    retain_until: Mapped[object | None] = mapped_column(
        sa.Date, index=True, comment="Day after which the copy is deleted (policy art. 12: identity proof 1 year)"
    )
    purged_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When the content was deleted from the store")

    request = relationship("DataRequest", backref=sa.orm.backref("documents", order_by="Document.id", cascade="all, delete-orphan"))
