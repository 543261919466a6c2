"""The vocabulary of the domain. Values are stored as lowercase strings."""
from __future__ import annotations

from enum import StrEnum


class RequestType(StrEnum):
    ACCESS = "access"
    RECTIFICATION = "rectification"
    ERASURE = "erasure"
    PORTABILITY = "portability"
    RESTRICTION = "restriction"
    OBJECTION = "objection"
    CONSENT_WITHDRAWAL = "consent_withdrawal"
    POST_MORTEM_DIRECTIVE = "post_mortem_directive"


class SubjectKind(StrEnum):
    PATIENT = "patient"
    PROFESSIONAL = "professional"
    PROSPECT = "prospect"


class Channel(StrEnum):
    ACCOUNT = "account"
    WEB = "web"
    EMAIL = "email"
    POST = "post"
    PHONE = "phone"
    IN_PERSON = "in_person"


class Status(StrEnum):
    UNCONFIRMED = "unconfirmed"
    AWAITING_IDENTITY = "awaiting_identity"
    IDENTITY_REVIEW = "identity_review"
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    AWAITING_REQUESTER = "awaiting_requester"
    ANSWERED = "answered"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"
    REFUSED = "refused"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES

    @property
    def clock_running(self) -> bool:
        return self in {Status.OPEN, Status.IN_PROGRESS}


FINAL_STATUSES = frozenset({Status.CLOSED, Status.WITHDRAWN, Status.REFUSED})
# Statuses in which the legal deadline matters (the queue's "open" counter).
ACTIVE_STATUSES = frozenset({Status.OPEN, Status.IN_PROGRESS, Status.AWAITING_REQUESTER})


class Outcome(StrEnum):
    GRANTED = "granted"
    PARTLY_GRANTED = "partly_granted"
    REFUSED = "refused"
    NO_DATA = "no_data"


class IdentityMethod(StrEnum):
    ACCOUNT = "account"            # authenticated in the IDOMED application (policy art. 8.1)
    DOCUMENT = "document"          # identity document checked by staff
    IN_PERSON = "in_person"        # seen in person by staff
    VOUCHED = "vouched"            # an API client with a staff key vouched for it
    RECORDS_MATCH = "records_match"  # email confirmed, details matching the records held (policy on_reasonable_doubt)


class ActingFor(StrEnum):
    SELF = "self"
    OTHER = "other"


class Relationship(StrEnum):
    PARENT = "parent"              # holder of parental authority over a minor
    GUARDIAN = "guardian"          # legal guardian (tutelle, curatelle)
    HEIR = "heir"                  # heir of a deceased person
    EXECUTOR = "executor"          # person designated in post-mortem directives
    MANDATARY = "mandatary"        # person holding a written mandate
    COHABITANT = "cohabitant"      # cohabiting partner (concubin) of a deceased patient (CSP L.1110-4 V)
    PACS_PARTNER = "pacs_partner"  # partner in a civil solidarity pact of a deceased patient (CSP L.1110-4 V)


class StaffRole(StrEnum):
    ADMIN = "admin"
    DPO = "dpo"
    AGENT = "agent"
    AUDITOR = "auditor"            # read-only


class ActorType(StrEnum):
    STAFF = "staff"
    PROFESSIONAL = "professional"
    REQUESTER = "requester"
    API = "api"
    SYSTEM = "system"


class DocumentKind(StrEnum):
    IDENTITY = "identity"          # proof of the requester's identity
    AUTHORITY = "authority"        # proof of a representative's authority
    ANSWER = "answer"              # a file given in answer (data gathered)
    LETTER = "letter"              # a letter produced by the service (PDF)
    EXPORT = "export"              # a machine-readable export (portability)


class ReviewStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REFUSED = "refused"


class OutboxKind(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"              # gave up after the last attempt; shown to staff


class TaskStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ANSWERED = "answered"
    DECLINED = "declined"          # "not my patient"
    CANCELLED = "cancelled"
