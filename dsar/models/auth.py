"""Sign-in throttling: failed attempts counted per login name, whether an account exists or not."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


class LoginThrottle(db.Model):
    """Failed sign-ins for an email that has no account.

    Accounts keep their own counter (Staff.failed_logins, Staff.locked_until);
    this table gives unknown emails the same slowing and lock, so that the
    answers never tell whether an account exists. The key is an HMAC of the
    lower-cased email, never the email itself.
    """

    __tablename__ = "login_throttles"
    __table_args__ = {"comment": "Failed sign-in attempts for emails without an account (HMAC-keyed)"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    key: Mapped[str] = mapped_column(sa.String(64), unique=True, comment="HMAC-SHA256 of the lower-cased email")
    failed_logins: Mapped[int] = mapped_column(default=0, comment="Consecutive failed attempts")
    locked_until: Mapped[object | None] = mapped_column(UTCDateTime, comment="Attempts refused until this instant")
    last_failed_at: Mapped[object] = mapped_column(
        UTCDateTime, default=utcnow, index=True, comment="Last failed attempt; old rows are purged"
    )
