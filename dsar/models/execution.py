"""Execution of the rights on the declared systems (issue 17): dry runs and their approval, rectifications,
and the art. 21(3) suppression list. The per-system run state is ``SystemRun`` (models/systems.py)."""
from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..security import ENCRYPTED_COLUMN
from .base import UTCDateTime, utcnow


class DryRunStatus(StrEnum):
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REJECTED = "rejected"          # staff (or the professional) did not approve: nothing executes
    SUPERSEDED = "superseded"      # the data changed since: a newer dry run replaced it
    EXECUTING = "executing"
    EXECUTED = "executed"


class LineAction(StrEnum):
    DELETE = "delete"
    MASK = "mask"                  # erase_now columns masked, the row kept for a retention ground
    ARCHIVE = "archive"
    KEEP = "keep"                  # kept in place on a retention ground (GDPR art. 17(3))
    SET = "set"                    # restriction, lifting it, deactivation: columns set
    UPDATE = "update"              # rectification
    CALL = "call"                  # an http system's verb
    OWNER_TASK = "owner_task"      # a manual system's owner does it


class RectificationStatus(StrEnum):
    PROPOSED = "proposed"
    APPLIED = "applied"
    WITHDRAWN = "withdrawn"


class DryRun(db.Model):
    """What executing a right would do, per system and table, computed from the captured keys (DESIGN "Systems")."""

    __tablename__ = "dry_runs"
    __table_args__ = {"comment": "Dry runs of an execution on the systems: reviewed and approved before anything runs"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="CASCADE"), index=True, comment="The request"
    )
    verb: Mapped[str] = mapped_column(
        sa.String(24), comment="What would execute: erasure, restriction, lift_restriction, rectification, deactivate")
    status: Mapped[str] = mapped_column(sa.String(24), default="awaiting_approval", comment="DryRunStatus")
    fingerprint: Mapped[str] = mapped_column(
        sa.String(64), comment="SHA-256 of the rows found (tables, keys, counts): a different value means stale")
    needs_professional: Mapped[bool] = mapped_column(
        default=False, comment="Sealed shared health content is touched: the professional in charge approves (art. 8.2)")
    computed_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When it was computed")
    computed_by: Mapped[str] = mapped_column(sa.String(200), comment="Actor label of who computed it")
    approved_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When staff approved it")
    approved_by: Mapped[str | None] = mapped_column(sa.String(200), comment="Staff who approved it")
    professional_approved_at: Mapped[object | None] = mapped_column(
        UTCDateTime, comment="When the professional in charge approved the sealed part (art. 8.2)")
    professional_approved_by: Mapped[str | None] = mapped_column(
        sa.String(200), comment="The professional who approved the sealed part")
    rejected_reason: Mapped[str | None] = mapped_column(sa.Text, comment="Why it was not approved")
    superseded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("dry_runs.id", ondelete="SET NULL"), comment="The recomputed dry run that replaced it")
    executed_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When every system finished")
    run_ids: Mapped[list] = mapped_column(
        sa.JSON, default=list, comment="The execution runs (system_runs ids) started from it, one per system")

    request = relationship("DataRequest", backref=sa.orm.backref("dry_runs", order_by="DryRun.id"))
    lines = relationship("DryRunLine", back_populates="dry_run", order_by="DryRunLine.id",
                         cascade="all, delete-orphan")

    @property
    def approved(self) -> bool:
        """Staff approved, and the professional too when sealed content is touched (policy art. 8.2)."""
        return self.approved_at is not None and (not self.needs_professional or self.professional_approved_at is not None)

    def __repr__(self) -> str:
        return f"<DryRun {self.id} request={self.request_id} {self.verb} {self.status}>"


class DryRunLine(db.Model):
    """One system table and one action: how many rows, which columns, on which ground."""

    __tablename__ = "dry_run_lines"
    __table_args__ = {"comment": "Lines of a dry run: per system, table and action, the rows and the legal ground"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    dry_run_id: Mapped[int] = mapped_column(
        sa.ForeignKey("dry_runs.id", ondelete="CASCADE"), index=True, comment="The dry run")
    system: Mapped[str] = mapped_column(sa.String(64), comment="System key in the systems file")
    table: Mapped[str | None] = mapped_column(sa.String(64), comment="Table (sql systems); null for http and manual")
    action: Mapped[str] = mapped_column(sa.String(16), comment="LineAction")
    rows: Mapped[int | None] = mapped_column(comment="Rows concerned; null when the system does not say (http, manual)")
    categories: Mapped[list] = mapped_column(sa.JSON, default=list, comment="Policy data categories of the columns")
    columns: Mapped[list] = mapped_column(sa.JSON, default=list, comment="Columns masked or set")
    grounds: Mapped[list] = mapped_column(sa.JSON, default=list, comment="Retention grounds (policy keys) when kept")
    until: Mapped[object | None] = mapped_column(sa.Date, comment="Kept or archived until this day, when known")
    sealed: Mapped[bool] = mapped_column(default=False, comment="Shared health content (policy art. 8.2)")
    done_rows: Mapped[int | None] = mapped_column(comment="Rows the execution actually changed")

    dry_run = relationship(DryRun, back_populates="lines")


class Rectification(db.Model):
    """A change of one field in one system (GDPR art. 16), the values before and after kept encrypted."""

    __tablename__ = "rectifications"
    __table_args__ = {"comment": "Rectifications applied through the systems' update verb; values encrypted (Fernet)"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="CASCADE"), index=True, comment="The request")
    system: Mapped[str] = mapped_column(sa.String(64), comment="System key")
    table: Mapped[str] = mapped_column(sa.String(64), comment="Table")
    column: Mapped[str] = mapped_column(sa.String(64), comment="Column changed")
    status: Mapped[str] = mapped_column(sa.String(16), default="proposed", comment="RectificationStatus")
    proposed_by: Mapped[str] = mapped_column(sa.String(200), comment="Actor label: the requester or staff")
    proposed_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When it was proposed")
    after_sealed: Mapped[str] = mapped_column(sa.Text, comment="The new value, Fernet-encrypted JSON",
                                              info=ENCRYPTED_COLUMN)
    before_sealed: Mapped[str | None] = mapped_column(
        sa.Text, comment="The values before, per row, Fernet-encrypted JSON; set when applied", info=ENCRYPTED_COLUMN)
    applied_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When it was applied")
    applied_by: Mapped[str | None] = mapped_column(sa.String(200), comment="Who applied it")
    rows: Mapped[int | None] = mapped_column(comment="Rows changed")

    request = relationship("DataRequest", backref=sa.orm.backref("rectifications", order_by="Rectification.id"))

    def __repr__(self) -> str:
        return f"<Rectification {self.id} {self.system}.{self.table}.{self.column} {self.status}>"


class SuppressionEntry(db.Model):
    """Someone who objected to direct marketing (GDPR art. 21(2)-(3)): never to be prospected again.

    Only the HMAC of the normalised email or phone is kept (``dsar.protected.keyed_hash``): the marketing tools
    hash their own contacts with the same key and drop the matches.
    """

    __tablename__ = "suppression_entries"
    __table_args__ = (
        sa.UniqueConstraint("kind", "value_hash", name="uq_suppression_entries_value"),
        {"comment": "Art. 21(3) suppression list: hashed emails and phones of people who objected to prospecting"},
    )

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier, the API's pagination cursor")
    kind: Mapped[str] = mapped_column(sa.String(8), comment="email or phone")
    value_hash: Mapped[str] = mapped_column(sa.String(64), comment="HMAC-SHA-256 (DSAR_HASH_KEY) of the normalised value")
    request_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="SET NULL"), index=True, comment="The objection that added it")
    added_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When it was added")
    added_by: Mapped[str] = mapped_column(sa.String(200), comment="Actor label")

    def __repr__(self) -> str:
        return f"<SuppressionEntry {self.id} {self.kind}>"
