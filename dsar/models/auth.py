"""Sign-in throttling: wrong passwords counted per login name and client address, whether an account exists or not."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import UTCDateTime, utcnow


class LoginThrottle(db.Model):
    """Wrong passwords for one email from one client address, known email or not (services.auth).

    Counting the pair, not the email, is what stops anyone from locking the
    DPO out from elsewhere (issue 12 item 5); counting unknown emails the same
    way keeps the answers from telling whether an account exists. The key is
    an HMAC of the lower-cased email and the address, never either of them.
    Wrong TOTP codes are counted on the account (Staff.failed_logins).
    """

    __tablename__ = "login_throttles"
    __table_args__ = {"comment": "Wrong passwords per email and client address (HMAC-keyed): slowing, never a lock"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    key: Mapped[str] = mapped_column(sa.String(64), unique=True,
                                     comment="HMAC-SHA256 of the lower-cased email and the client address")
    failed_logins: Mapped[int] = mapped_column(default=0, comment="Consecutive failed attempts")
    locked_until: Mapped[object | None] = mapped_column(UTCDateTime, comment="Next attempt not checked before this instant")
    last_failed_at: Mapped[object] = mapped_column(
        UTCDateTime, default=utcnow, index=True, comment="Last failed attempt; old rows are purged"
    )
