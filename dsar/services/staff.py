"""Staff accounts and API keys."""
from __future__ import annotations

import sqlalchemy as sa

from ..contacts import valid_email
from ..errors import InvalidInput, N_
from ..extensions import db
from ..models import ApiKey, Staff
from ..models.enums import StaffRole
from ..security import API_SCOPES, generate_api_key, hash_password
from .submission import normalise_email

MIN_PASSWORD_LENGTH = 12


def check_password_strength(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise InvalidInput(N_("A password needs at least 12 characters."), code="weak_password", field="password")


def create_staff_account(*, email: str, name: str, role: str, password: str, language: str = "fr") -> Staff:
    # One address, no line break, no display name: it goes into the To: header of the password link's email.
    email = valid_email(email) or ""
    if not email:
        raise InvalidInput(N_("Enter a valid email address."), code="bad_email", field="email")
    try:
        role = StaffRole(role)
    except ValueError:
        raise InvalidInput(N_("Unknown role."), code="bad_role", field="role") from None
    check_password_strength(password)
    if db.session.scalar(sa.select(Staff.id).where(Staff.email == email)):
        raise InvalidInput(N_("An account with this email already exists."), code="duplicate", field="email")
    staff = Staff(email=email, name=name.strip(), role=role, password_hash=hash_password(password), language=language)
    db.session.add(staff)
    db.session.flush()
    return staff


def create_api_key(*, name: str, scopes: list[str], created_by: str) -> tuple[ApiKey, str]:
    unknown = [s for s in scopes if s not in API_SCOPES]
    if unknown or not scopes:
        raise InvalidInput(N_("Unknown or missing scope."), code="bad_scope", field="scopes")
    new = generate_api_key()
    key = ApiKey(name=name.strip(), prefix=new.prefix, key_hash=new.key_hash, scopes=sorted(set(scopes)), created_by=created_by)
    db.session.add(key)
    db.session.flush()
    return key, new.secret
