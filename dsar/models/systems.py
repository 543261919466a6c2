"""Runs against the systems that hold personal data (issues 16 and 17): state lives here, never only in Redis."""
from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow


class RunPurpose(StrEnum):
    COLLECT = "collect"
    EXECUTE = "execute"


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    WAITING_OWNER = "waiting_owner"


class SystemRun(db.Model):
    """One system's run for one request: collection (read) or execution (write), resumable per table."""

    __tablename__ = "system_runs"
    __table_args__ = (
        sa.Index("ix_system_runs_request", "request_id", "purpose"),
        {"comment": "Collection and execution runs, one per request, system and purpose"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier; job ids are collect-<id>/execute-<id>")
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="CASCADE"), comment="The request"
    )
    system_key: Mapped[str] = mapped_column(sa.String(64), comment="Key of the system in the systems file")
    purpose: Mapped[str] = mapped_column(sa.String(16), comment="RunPurpose: collect or execute")
    status: Mapped[str] = mapped_column(sa.String(16), default=RunStatus.PENDING, comment="RunStatus")
    attempts: Mapped[int] = mapped_column(default=0, comment="Attempts started so far")
    rows: Mapped[dict] = mapped_column(sa.JSON, default=dict, comment="Rows per table (counts only)")
    progress: Mapped[dict] = mapped_column(
        sa.JSON, default=dict, comment="Per table once finished: stored file name, SHA-256, rows, categories, sealed"
    )
    sha256: Mapped[str | None] = mapped_column(sa.String(64), comment="SHA-256 over what was read (or done)")
    error: Mapped[str | None] = mapped_column(sa.Text, comment="Last error, without personal data")
    owner_token_hash: Mapped[str | None] = mapped_column(
        sa.String(64), unique=True, comment="manual systems: SHA-256 of the owner's task-link secret"
    )
    owner_answer: Mapped[str | None] = mapped_column(
        sa.String(16), comment="manual systems: export or nothing_held, once the owner answered"
    )
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When the run was created")
    started_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When the last attempt started")
    finished_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When it finished (done)")

    request = relationship("DataRequest")

    @property
    def job_id(self) -> str:
        return f"{self.purpose}-{self.id}"


class CapturedKeys(db.Model):
    """The subject's keys found by traversal, encrypted in the file store, captured once per run and reused on resume."""

    __tablename__ = "captured_keys"
    __table_args__ = {"comment": "Traversal results (primary keys per table), captured before reading or changing rows"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    run_id: Mapped[int] = mapped_column(
        sa.ForeignKey("system_runs.id", ondelete="CASCADE"), unique=True, comment="The run"
    )
    stored_name: Mapped[str] = mapped_column(sa.String(64), comment="Encrypted file (JSON of the keys) in the file store")
    sha256: Mapped[str] = mapped_column(sa.String(64), comment="SHA-256 of the captured JSON")
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When it was captured")


class SealedItem(db.Model):
    """A row or document of shared health content (policy art. 8.2) the professional withheld, with the reason."""

    __tablename__ = "sealed_items"
    __table_args__ = (
        sa.UniqueConstraint("request_id", "system_key", "table_name", "item_key", name="uq_sealed_items_item"),
        {"comment": "Items of sealed tables withheld by the professional before release (GDPR art. 15(4))"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="CASCADE"), index=True, comment="The request"
    )
    system_key: Mapped[str] = mapped_column(sa.String(64), comment="System key")
    table_name: Mapped[str] = mapped_column(sa.String(128), comment="Table")
    item_key: Mapped[str] = mapped_column(sa.String(200), comment="Primary key of the row, as JSON text")
    reason: Mapped[str] = mapped_column(sa.Text, comment="Why it is withheld (shown to the patient)")
    withheld_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When it was withheld")


class PackStatus(StrEnum):
    WAITING_REVIEW = "waiting_review"   # sealed content: the professional in charge reviews and releases it first
    BUILDING = "building"
    READY = "ready"
    FAILED = "failed"


class CollectionPack(db.Model):
    """The pack built from what was collected for a request (access or portability), once per request."""

    __tablename__ = "collection_packs"
    __table_args__ = {"comment": "Packs built from collected data; sealed content waits for the professional's release"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier; the job id is pack-<request id>")
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="CASCADE"), unique=True, comment="The request"
    )
    status: Mapped[str] = mapped_column(sa.String(16), comment="PackStatus")
    document_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("documents.id", ondelete="SET NULL"), comment="The stored pack (ZIP) once built"
    )
    categories_found: Mapped[list] = mapped_column(sa.JSON, default=list, comment="Data-category keys actually found")
    sealed_rows: Mapped[int] = mapped_column(default=0, comment="Rows of shared health content (policy art. 8.2)")
    released_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When the professional released sealed content")
    released_by: Mapped[str | None] = mapped_column(sa.String(200), comment="Actor label of who released it")
    error: Mapped[str | None] = mapped_column(sa.Text, comment="Why the last build failed, without personal data")
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When all systems were collected")
    built_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When the pack was built")

    document = relationship("Document")
