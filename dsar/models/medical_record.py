"""The items of a medical record asked for under CSP L.1111-7, and how old each is."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow


class MedicalRecordItem(db.Model):
    """One item of the medical record, and whether it is over five years old.

    CSP R.1111-1: 8 days from the receipt of the request, 2 months "lorsque les
    informations médicales datent de plus de cinq ans". How old an item is, is a
    fact the holder establishes (staff or the professional in charge), never a
    box the requester ticks; a record mixing old and recent items has both dates.
    """

    __tablename__ = "medical_record_items"
    __table_args__ = {"comment": "Items of a requested medical record and their age (CSP L.1111-7, R.1111-1)"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("requests.id", ondelete="CASCADE"), index=True, comment="The request"
    )
    label: Mapped[str] = mapped_column(sa.String(200), comment="What the item is, as the holder names it (no health content)")
    older_than_5_years: Mapped[bool] = mapped_column(
        default=False, comment="The information dates from more than five years ago (2-month period)"
    )
    set_by: Mapped[str] = mapped_column(sa.String(200), comment="Who established it (staff or professional label)")
    set_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="When it was last set")

    request = relationship("DataRequest", back_populates="medical_record_items")

    def __repr__(self) -> str:
        return f"<MedicalRecordItem {self.id} old={self.older_than_5_years}>"
