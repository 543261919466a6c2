"""Where signed webhooks go, and which requests came in through the API (and how to call their submitter back)."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..security import ENCRYPTED_COLUMN
from .base import UTCDateTime, utcnow


class WebhookEndpoint(db.Model):
    """A receiver of signed webhooks (HMAC-SHA256), managed by admins in the back-office."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = {"comment": "Receivers of outbound webhooks; deliveries go through the outbox"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    url: Mapped[str] = mapped_column(sa.String(500), unique=True, comment="Where deliveries are POSTed")
    description: Mapped[str | None] = mapped_column(sa.String(200), comment="What the receiver is, for staff")
    secret_encrypted: Mapped[str] = mapped_column(
        sa.String(500), comment="Signing secret, encrypted with the file keys; shown once at creation", info=ENCRYPTED_COLUMN
    )
    events: Mapped[list] = mapped_column(
        sa.JSON, default=list, comment="Event names delivered to it; an empty list means every event"
    )
    active: Mapped[bool] = mapped_column(default=True, comment="False: nothing new is queued for it")
    created_by: Mapped[str | None] = mapped_column(sa.String(200), comment="Who created it")
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="Creation instant")
    secret_rotated_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="Last time the secret was replaced")

    def wants(self, event: str) -> bool:
        return self.active and (not self.events or event in self.events)

    def __repr__(self) -> str:
        return f"<WebhookEndpoint {self.id} active={self.active}>"


class ApiSubmission(db.Model):
    """A request submitted by a machine client: which key, its own reference, and OpenDSR callbacks."""

    __tablename__ = "api_submissions"
    __table_args__ = (
        # Per key for the API's client_reference; OpenDSR's subject_request_id (a UUID) is checked across keys too.
        sa.UniqueConstraint("protocol", "api_key_id", "client_reference", name="uq_api_submissions_key_reference"),
        sa.Index("ix_api_submissions_protocol_reference", "protocol", "client_reference"),
        {"comment": "Requests received through the API or the OpenDSR endpoint, for idempotent retries and callbacks"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="CASCADE"), unique=True, comment="The request created"
    )
    api_key_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("api_keys.id", ondelete="SET NULL"), index=True, comment="The key that submitted it"
    )
    protocol: Mapped[str] = mapped_column(sa.String(16), comment="'api' (POST /api/v1/requests) or 'opendsr'")
    client_reference: Mapped[str | None] = mapped_column(
        sa.String(64), comment="The client's own identifier: client_reference, or OpenDSR subject_request_id"
    )
    body_sha256: Mapped[str] = mapped_column(
        sa.String(64), comment="SHA-256 of the submitted body: a retry must repeat it exactly"
    )
    callback_urls: Mapped[list] = mapped_column(
        sa.JSON, default=list, comment="OpenDSR status_callback_urls, called on every OpenDSR status change"
    )
    reported_status: Mapped[str | None] = mapped_column(
        sa.String(16), comment="Last OpenDSR request_status sent to the callbacks"
    )
    api_version: Mapped[str | None] = mapped_column(sa.String(16), comment="OpenDSR api_version asked by the client")
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When it was received")

    request = relationship("DataRequest")
    api_key = relationship("ApiKey")

    def __repr__(self) -> str:
        return f"<ApiSubmission {self.protocol} request={self.request_id}>"
