"""Staff accounts (DPO, privacy team) and API keys."""
from __future__ import annotations

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..security import ENCRYPTED_COLUMN
from .base import UTCDateTime, utcnow


class Staff(UserMixin, db.Model):
    """A member of the privacy team with a back-office account."""

    __tablename__ = "staff"
    __table_args__ = {"comment": "Back-office accounts"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    email: Mapped[str] = mapped_column(sa.String(254), unique=True, comment="Login, lower-cased")
    name: Mapped[str] = mapped_column(sa.String(200), comment="Display name")
    role: Mapped[str] = mapped_column(sa.String(16), comment="StaffRole")
    password_hash: Mapped[str] = mapped_column(sa.String(200), comment="Argon2id hash")
    totp_secret: Mapped[str | None] = mapped_column(sa.String(300), comment="TOTP secret, encrypted with the file keys",
                                                    info=ENCRYPTED_COLUMN)
    totp_confirmed_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When TOTP enrolment was confirmed")
    totp_last_step: Mapped[int | None] = mapped_column(comment="Time step of the last accepted TOTP code (no replay)")
    failed_logins: Mapped[int] = mapped_column(default=0, comment="Consecutive failed login attempts")
    locked_until: Mapped[object | None] = mapped_column(UTCDateTime, comment="Login refused until this instant")
    last_login_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="Last successful login")
    active: Mapped[bool] = mapped_column(default=True, comment="False once the account is disabled")
    language: Mapped[str] = mapped_column(sa.String(2), default="fr", comment="Interface language")
    session_epoch: Mapped[int] = mapped_column(default=0, comment="Bumped to end every session (reset, disable)")
    must_change_password: Mapped[bool] = mapped_column(default=False, comment="Set after an admin reset")
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="Row creation instant")

    def get_id(self) -> str:
        return f"{self.id}:{self.session_epoch}"

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active


class ApiKey(db.Model):
    """A key for machine clients; only its hash is kept."""

    __tablename__ = "api_keys"
    __table_args__ = {"comment": "API keys (shown once, stored hashed)"}

    id: Mapped[int] = mapped_column(primary_key=True, comment="Internal identifier")
    name: Mapped[str] = mapped_column(sa.String(120), comment="What the key is for")
    prefix: Mapped[str] = mapped_column(sa.String(16), unique=True, comment="Public part of the key, for lookup")
    key_hash: Mapped[str] = mapped_column(sa.String(64), comment="SHA-256 of the whole key")
    scopes: Mapped[list] = mapped_column(sa.JSON, default=list, comment="Scopes: submit, read, staff, directory")
    created_by: Mapped[str | None] = mapped_column(sa.String(200), comment="Who created it")
    created_at: Mapped[object] = mapped_column(UTCDateTime, default=utcnow, comment="Creation instant")
    revoked_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="When it was revoked")
    last_used_at: Mapped[object | None] = mapped_column(UTCDateTime, comment="Last successful use")
