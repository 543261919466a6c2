"""Who acts: a small value passed to every service and recorded in every audit event."""
from __future__ import annotations

from dataclasses import dataclass, field

from .models.enums import ActorType, StaffRole


@dataclass(frozen=True)
class Actor:
    type: ActorType
    id: str | None
    label: str
    role: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    ip: str | None = None
    user_agent: str | None = None

    @classmethod
    def system(cls, label: str = "dsar") -> "Actor":
        return cls(ActorType.SYSTEM, None, label)

    @classmethod
    def for_staff(cls, staff, ip: str | None = None, user_agent: str | None = None) -> "Actor":
        return cls(ActorType.STAFF, str(staff.id), staff.name, role=staff.role, ip=ip, user_agent=_ua(user_agent))

    @classmethod
    def for_requester(cls, request, ip: str | None = None, user_agent: str | None = None) -> "Actor":
        # The label is the role, not the person's name: audit details stay free of personal data where possible.
        return cls(ActorType.REQUESTER, str(request.id), "requester", ip=ip, user_agent=_ua(user_agent))

    @classmethod
    def for_professional(cls, professional, ip: str | None = None, user_agent: str | None = None) -> "Actor":
        return cls(ActorType.PROFESSIONAL, str(professional.id), professional.full_name, ip=ip, user_agent=_ua(user_agent))

    @classmethod
    def for_api_key(cls, key, ip: str | None = None, user_agent: str | None = None) -> "Actor":
        scopes = frozenset(key.scopes or ())
        # A key with the "staff" scope acts with the rights of an agent.
        role = StaffRole.AGENT if "staff" in scopes else None
        return cls(ActorType.API, str(key.id), f"API key {key.name}", role=role, scopes=scopes, ip=ip, user_agent=_ua(user_agent))

    @property
    def is_staff_like(self) -> bool:
        """Staff, or a machine client acting with staff rights."""
        return self.type == ActorType.STAFF or (self.type == ActorType.API and "staff" in self.scopes)


def _ua(value: str | None) -> str | None:
    return value[:300] if value else None
