"""What happens once a request is answered: delivery links and downloads, GDPR art. 19 notifications,
the erasure plan as decided, portable data sets, account deactivations and post-mortem directives."""
from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow


class NotificationStatus(StrEnum):
    PENDING = "pending"
    NOTIFIED = "notified"
    IMPOSSIBLE = "impossible"      # impossible or disproportionate effort (GDPR art. 19), with a reason


class DeactivationStatus(StrEnum):
    REQUESTED = "requested"
    CONFIRMED = "confirmed"


class ContractState(StrEnum):
    CLOSES_NOW = "closes_now"      # the erasure closes the account today
    ENDED = "ended"                # the contract ended earlier, on contract_ended_on
    RUNNING = "running"            # the contract goes on: contract-bound data stay in the active base


class DirectiveStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class LinkPurpose(StrEnum):
    ANSWER = "answer"
    EXTENSION = "extension"
    REFUSAL = "refusal"
    LETTER = "letter"


class DownloadLink(db.Model):
    """An expiring link through which the requester downloads an answer (DESIGN.md "Answers")."""

    __tablename__ = "download_links"
    __table_args__ = (
        sa.Index("ix_download_links_purge", "purged_at", "purge_after"),
        {"comment": "Download links sent to requesters; only the hash of the link's secret is kept"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="CASCADE"), index=True, comment="The request"
    )
    purpose: Mapped[str] = mapped_column(sa.String(24), comment="What it delivers: answer, extension, refusal, letter")
    token_hash: Mapped[str | None] = mapped_column(
        sa.String(64), unique=True, comment="SHA-256 of the link's random secret; null once revoked"
    )
    files: Mapped[list] = mapped_column(
        sa.JSON, default=list,
        comment="What was sent: [{document_id, name, mime, size, sha256, contains}], kept after the purge",
    )
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When it was issued")
    created_by: Mapped[str] = mapped_column(sa.String(200), comment="Actor label of who issued it")
    expires_at: Mapped[object] = mapped_column(UTCDateTime, comment="The link stops working after this instant")
    purge_after: Mapped[object] = mapped_column(
        UTCDateTime, comment="Expiry plus the grace period: the files are deleted from the store after this"
    )
    revoked_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When a newer link replaced it")
    purged_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When its files were deleted from the store")
    replaces_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("download_links.id", ondelete="SET NULL"), comment="The link this one replaced, if any"
    )
    outbox_message_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("outbox.id", ondelete="SET NULL"), comment="The email that carried the link"
    )

    request = relationship("DataRequest", backref=sa.orm.backref("download_links", order_by="DownloadLink.id"))
    downloads = relationship("Download", back_populates="link", order_by="Download.id", cascade="all, delete-orphan")

    def state(self, now=None) -> str:
        """"active", or why the link no longer opens: "purged" (files deleted), "replaced" (a newer link was
        sent: its secret is dropped), "expired". The one rule the download pages, the status page and the
        back office follow."""
        if self.purged_at is not None:
            return "purged"
        if self.token_hash is None:
            return "replaced"
        if self.expires_at <= (now or utcnow()):
            return "expired"
        return "active"

    def __repr__(self) -> str:
        return f"<DownloadLink {self.id} request={self.request_id}>"


class Download(db.Model):
    """One download of one file through a link."""

    __tablename__ = "downloads"
    __table_args__ = {"comment": "Each download of a delivered file"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    link_id: Mapped[int] = mapped_column(
        sa.ForeignKey("download_links.id", ondelete="CASCADE"), index=True, comment="The link used"
    )
    document_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("documents.id", ondelete="SET NULL"), comment="The file downloaded"
    )
    sha256: Mapped[str] = mapped_column(sa.String(64), comment="SHA-256 of the bytes sent")
    downloaded_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When")
    ip: Mapped[str | None] = mapped_column(sa.String(45), comment="Client IP")
    user_agent: Mapped[str | None] = mapped_column(sa.String(300), comment="Client user agent, truncated")

    link = relationship(DownloadLink, back_populates="downloads")


class RecipientNotification(db.Model):
    """A GDPR art. 19 task: tell one recipient (policy art. 11) of a rectification, an erasure or a restriction."""

    __tablename__ = "recipient_notifications"
    __table_args__ = (
        sa.UniqueConstraint("request_id", "activity", "recipient_key", "professional_id",
                            name="uq_recipient_notifications_task"),
        {"comment": "GDPR art. 19 notifications to the recipients of the data, one per recipient"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="CASCADE"), index=True, comment="The request"
    )
    activity: Mapped[str] = mapped_column(sa.String(64), comment="Policy key of the processing activity")
    recipient_key: Mapped[str] = mapped_column(sa.String(64), comment="Policy key of the recipient")
    professional_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("professionals.id", ondelete="SET NULL"), index=True,
        comment="For the joint controller 'professional': which professional linked to the patient (GDPR art. 19)",
    )
    status: Mapped[str] = mapped_column(sa.String(16), default="pending", comment="NotificationStatus")
    contact: Mapped[str | None] = mapped_column(
        sa.String(254), comment="Address the notification goes to, when the policy or the routing gives one"
    )
    contact_problem: Mapped[str | None] = mapped_column(
        sa.String(32), comment="Why no email can be sent: placeholder, per_disclosure, in_application, no_professional"
    )
    method: Mapped[str | None] = mapped_column(sa.String(16), comment="How it was notified: email or other")
    reason: Mapped[str | None] = mapped_column(
        sa.Text, comment="Why notifying is impossible or disproportionate, or how it was done otherwise"
    )
    outbox_message_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("outbox.id", ondelete="SET NULL"), comment="The notification email"
    )
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When the task was created")
    closed_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When it was closed")
    closed_by: Mapped[str | None] = mapped_column(sa.String(200), comment="Who closed it")

    request = relationship(
        "DataRequest", backref=sa.orm.backref("recipient_notifications", order_by="RecipientNotification.id")
    )
    professional = relationship("Professional")


class AccountDeactivation(db.Model):
    """Withdrawal of consent for health data: the patient's account is deactivated (policy art. 8.2)."""

    __tablename__ = "account_deactivations"
    __table_args__ = {"comment": "Deactivation of a patient's account after a withdrawal of consent (policy art. 8.2)"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="CASCADE"), unique=True, comment="The request"
    )
    external_account_id: Mapped[str | None] = mapped_column(
        sa.String(64), comment="Account identifier in the application; null when staff must find the account"
    )
    status: Mapped[str] = mapped_column(sa.String(16), default="requested", comment="DeactivationStatus")
    webhook_queued: Mapped[bool] = mapped_column(default=False, comment="A webhook asked the application to deactivate it")
    requested_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When it was asked for")
    confirmed_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When staff confirmed it was done")
    confirmed_by: Mapped[str | None] = mapped_column(sa.String(200), comment="Who confirmed it")
    note: Mapped[str | None] = mapped_column(sa.Text, comment="Staff note on how it was done")

    request = relationship("DataRequest", backref=sa.orm.backref("account_deactivation", uselist=False))


class ErasureDecision(db.Model):
    """The facts an erasure plan is computed from, and the plan as stated in the letter."""

    __tablename__ = "erasure_decisions"
    __table_args__ = {"comment": "Erasure plans (GDPR art. 17(3)) as decided for each erasure request"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="CASCADE"), unique=True, comment="The request"
    )
    contract_state: Mapped[str] = mapped_column(
        sa.String(16), default="closes_now", comment="ContractState: closes_now, ended or running"
    )
    contract_ended_on: Mapped[object | None] = mapped_column(sa.Date, comment="End of the contract, when it ended earlier")
    last_invoice_on: Mapped[object | None] = mapped_column(sa.Date, comment="Date of the last invoice, if known")
    planned_on: Mapped[object | None] = mapped_column(sa.Date, comment="Europe/Paris day the plan was fixed (answer)")
    items: Mapped[list | None] = mapped_column(
        sa.JSON, comment="The plan as sent in the letter: [{activity, category, action, until, grounds}]"
    )
    decided_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When the facts were last set")
    decided_by: Mapped[str] = mapped_column(sa.String(200), comment="Who set them")

    request = relationship("DataRequest", backref=sa.orm.backref("erasure_decision", uselist=False))


class PortableDataset(db.Model):
    """Data the requester provided, for one data category, as staff or the application exported it (GDPR art. 20)."""

    __tablename__ = "portable_datasets"
    __table_args__ = (
        sa.UniqueConstraint("request_id", "activity", "category", name="uq_portable_datasets_category"),
        {"comment": "Machine-readable data for portability answers; the records live encrypted in the file store"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="CASCADE"), index=True, comment="The request"
    )
    document_id: Mapped[int] = mapped_column(
        sa.ForeignKey("documents.id", ondelete="CASCADE"), comment="The normalised records (JSON) in the file store"
    )
    activity: Mapped[str] = mapped_column(sa.String(64), comment="Policy key of the processing activity")
    category: Mapped[str] = mapped_column(sa.String(64), comment="Policy key of the data category (portable)")
    records: Mapped[int] = mapped_column(comment="Number of records")
    columns: Mapped[list] = mapped_column(sa.JSON, default=list, comment="Field names, in order")
    added_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When it was added")
    added_by: Mapped[str] = mapped_column(sa.String(200), comment="Who added it")

    request = relationship("DataRequest", backref=sa.orm.backref("portable_datasets", order_by="PortableDataset.id"))
    document = relationship("Document")


class PostMortemDirective(db.Model):
    """Directives a person left on their data after their death (loi Informatique et Libertés art. 85)."""

    __tablename__ = "post_mortem_directives"
    __table_args__ = {"comment": "Specific post-mortem directives registered with the controller (French DPA art. 85)"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    status: Mapped[str] = mapped_column(sa.String(16), default="active", index=True, comment="DirectiveStatus")
    first_name: Mapped[str] = mapped_column(sa.String(120), comment="The person's given name")
    last_name: Mapped[str] = mapped_column(sa.String(120), index=True, comment="The person's family name")
    birth_date: Mapped[object | None] = mapped_column(sa.Date, comment="The person's birth date")
    email: Mapped[str | None] = mapped_column(sa.String(254), index=True, comment="The person's email, lower-cased")
    external_account_id: Mapped[str | None] = mapped_column(
        sa.String(64), index=True, comment="The person's account in the application, if any"
    )
    executor_name: Mapped[str | None] = mapped_column(sa.String(200), comment="Person designated to carry them out")
    executor_email: Mapped[str | None] = mapped_column(sa.String(254), comment="Executor's email, lower-cased")
    instructions: Mapped[str] = mapped_column(
        sa.Text, comment="What is to be done with the data: storage, erasure, communication"
    )
    heirs_may_act: Mapped[bool] = mapped_column(
        default=True, comment="False when the directives exclude the heirs' rights (art. 85 II, 'mention contraire')"
    )
    registered_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When first registered")
    updated_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="Last change")
    revoked_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When the person revoked them")

    changes = relationship(
        "PostMortemDirectiveChange", back_populates="directive", order_by="PostMortemDirectiveChange.id",
        cascade="all, delete-orphan",
    )

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def __repr__(self) -> str:
        return f"<PostMortemDirective {self.id} {self.status}>"


class PostMortemDirectiveChange(db.Model):
    """One registration, change or revocation of a directive, as the person asked it."""

    __tablename__ = "post_mortem_directive_changes"
    __table_args__ = {"comment": "History of post-mortem directives: each version as registered"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    directive_id: Mapped[int] = mapped_column(
        sa.ForeignKey("post_mortem_directives.id", ondelete="CASCADE"), index=True, comment="The directive"
    )
    request_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="SET NULL"), index=True, comment="The request that asked for it"
    )
    action: Mapped[str] = mapped_column(sa.String(16), comment="registered, changed or revoked")
    at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When")
    by: Mapped[str] = mapped_column(sa.String(200), comment="Who recorded it")
    executor_name: Mapped[str | None] = mapped_column(sa.String(200), comment="Executor at that version")
    executor_email: Mapped[str | None] = mapped_column(sa.String(254), comment="Executor's email at that version")
    instructions: Mapped[str | None] = mapped_column(sa.Text, comment="Instructions at that version")
    heirs_may_act: Mapped[bool | None] = mapped_column(comment="Heirs' rights at that version")

    directive = relationship(PostMortemDirective, back_populates="changes")
