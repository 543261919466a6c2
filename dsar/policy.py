"""The controller's policy as data: ``workflows/<controller>.yaml``.

``load_policy`` reads the file, validates it (marshmallow, unknown keys
rejected, then cross-references: every sub-purpose, activity, subject kind,
request type and state named somewhere must exist) and returns a frozen
``Policy``. Any problem raises ``PolicyError`` naming the file and the dotted
key, e.g. ``workflows/x.yaml: activities.client_file.sub_purposes[2].rights.acces:
unknown right 'acces'``.

Two pure functions answer the questions the rest of the service asks:
``evaluate_rights`` (which rights apply to a request, sub-purpose by
sub-purpose, and why) and ``erasure_plan`` (what an erasure removes now and
what the retention rules keep, until when and on which GDPR art. 17(3) ground).

The GDPR itself is not controller-specific, so its vocabulary (legal bases,
which bases grant which right, art. 17(3) grounds) lives here; everything the
controller decides lives in the file. No Flask here.
"""

from __future__ import annotations

import calendar as _calendar
import functools
import os
import re
from dataclasses import dataclass, field as dc_field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

__all__ = [
    "RIGHTS",
    "REQUEST_TYPES",
    "REQUEST_TYPE_RIGHT",
    "REQUEST_STATES",
    "PolicyError",
    "PolicyLookupError",
    "Policy",
    "Activity",
    "SubPurpose",
    "RightRule",
    "Recipient",
    "Transfer",
    "DataCategory",
    "Duration",
    "RightsRow",
    "RightsEvaluation",
    "ErasureItem",
    "load_policy",
    "get_policy",
    "localized",
    "evaluate_rights",
    "erasure_plan",
]

# --------------------------------------------------------------------------
# Vocabulary fixed by the law or by the service, not by the controller
# --------------------------------------------------------------------------

RIGHTS = (
    "access",
    "rectification",
    "consent_withdrawal",
    "objection",
    "erasure",
    "portability",
    "restriction",
    "automated_decision",
)

REQUEST_TYPES = (
    "access",
    "rectification",
    "erasure",
    "portability",
    "restriction",
    "objection",
    "consent_withdrawal",
    "post_mortem_directive",
)

#: The right of the art. 8.1 matrix a request type exercises. ``None``: not in
#: the matrix, available for every processing ("en tout état de cause").
REQUEST_TYPE_RIGHT: dict[str, str | None] = {
    "access": "access",
    "rectification": "rectification",
    "erasure": "erasure",
    "portability": "portability",
    "restriction": "restriction",
    "objection": "objection",
    "consent_withdrawal": "consent_withdrawal",
    "post_mortem_directive": None,
}

#: Request states a step may be required before (DESIGN.md, "Request lifecycle").
REQUEST_STATES = (
    "unconfirmed",
    "awaiting_identity",
    "identity_review",
    "open",
    "in_progress",
    "awaiting_requester",
    "answered",
    "closed",
    "withdrawn",
    "refused",
)

RIGHT_STATUSES = ("applies", "not_applicable", "conditional")

#: GDPR art. 6(1) legal bases: key -> (article, label by language).
LEGAL_BASES: dict[str, tuple[str, dict[str, str]]] = {
    "consent": ("art. 6(1)(a)", {"fr": "le consentement", "en": "consent"}),
    "contract": ("art. 6(1)(b)", {"fr": "l'exécution du contrat", "en": "the performance of a contract"}),
    "legal_obligation": ("art. 6(1)(c)", {"fr": "une obligation légale", "en": "a legal obligation"}),
    "vital_interests": ("art. 6(1)(d)", {"fr": "la sauvegarde des intérêts vitaux", "en": "vital interests"}),
    "public_task": ("art. 6(1)(e)", {"fr": "une mission d'intérêt public", "en": "a task in the public interest"}),
    "legitimate_interest": ("art. 6(1)(f)", {"fr": "l'intérêt légitime", "en": "legitimate interests"}),
}

#: GDPR art. 9(2) conditions for sensitive (health) data.
SENSITIVE_DATA_BASES: dict[str, tuple[str, dict[str, str]]] = {
    "explicit_consent": ("art. 9(2)(a)", {"fr": "le consentement explicite", "en": "explicit consent"}),
    "vital_interests": ("art. 9(2)(c)", {"fr": "la sauvegarde des intérêts vitaux", "en": "vital interests"}),
    "legal_claims": ("art. 9(2)(f)", {"fr": "les droits en justice", "en": "legal claims"}),
    "medical_care": ("art. 9(2)(h)", {"fr": "la prise en charge médicale", "en": "medical care"}),
    "public_health": ("art. 9(2)(i)", {"fr": "la santé publique", "en": "public health"}),
}

#: right -> (GDPR article, sentence subject by language)
RIGHT_INFO: dict[str, tuple[str, dict[str, str]]] = {
    "access": ("art. 15", {"fr": "Le droit d'accès", "en": "The right of access"}),
    "rectification": ("art. 16", {"fr": "Le droit de rectification", "en": "The right to rectification"}),
    "consent_withdrawal": ("art. 7(3)", {"fr": "Le retrait du consentement", "en": "Withdrawal of consent"}),
    "objection": ("art. 21", {"fr": "Le droit d'opposition", "en": "The right to object"}),
    "erasure": ("art. 17", {"fr": "Le droit à l'effacement", "en": "The right to erasure"}),
    "portability": ("art. 20", {"fr": "Le droit à la portabilité", "en": "The right to data portability"}),
    "restriction": ("art. 18", {"fr": "Le droit à la limitation du traitement", "en": "The right to restriction of processing"}),
    "automated_decision": (
        "art. 22",
        {"fr": "Le droit de ne pas faire l'objet d'une décision automatisée", "en": "The right not to be subject to an automated decision"},
    ),
}

#: Rights the GDPR grants only for some legal bases: right -> (bases, article).
#: The other rights exist whatever the basis (with their own exceptions).
GDPR_RIGHT_BASES: dict[str, tuple[frozenset[str], str]] = {
    "portability": (frozenset({"consent", "contract"}), "art. 20(1)(a)"),
    "objection": (frozenset({"legitimate_interest", "public_task"}), "art. 21(1)"),
    "consent_withdrawal": (frozenset({"consent"}), "art. 7(3)"),
}

#: Grounds that keep data despite an erasure request: key -> (GDPR article, label).
RETENTION_GROUNDS: dict[str, tuple[str, dict[str, str]]] = {
    "legal_obligation": ("art. 17(3)(b)", {"fr": "obligation légale", "en": "legal obligation"}),
    "public_health": ("art. 17(3)(c)", {"fr": "santé publique", "en": "public health"}),
    "archiving": ("art. 17(3)(d)", {"fr": "archivage dans l'intérêt public", "en": "archiving in the public interest"}),
    "evidence": (
        "art. 17(3)(e)",
        {"fr": "preuve (constatation, exercice ou défense de droits en justice)", "en": "evidence (establishment, exercise or defence of legal claims)"},
    ),
}

#: Active-base retention rules: kind -> whether it takes a duration.
ACTIVE_KINDS: dict[str, bool] = {
    "contract": False,
    "contract_plus": True,
    "contract_or_after_last_use": True,
    "while_used": False,
    "until_validation": False,
    "after_last_use": True,
    "rolling": True,
    "fixed": True,
}
#: Kinds that last at least as long as the contract (or the account) runs.
CONTRACT_BOUND_KINDS = frozenset({"contract", "contract_plus", "contract_or_after_last_use", "while_used"})
ARCHIVE_ANCHORS = ("contract_end", "invoice")

RECIPIENT_KINDS = ("internal", "processor", "joint_controller", "authority")
CONTACT_RULES = ("professional_in_charge", "per_disclosure", "in_application")
SAFEGUARDS = (
    "adequacy_decision",
    "standard_contractual_clauses",
    "binding_corporate_rules",
    "data_privacy_framework",
    "privacy_shield",
    "derogation",
)
SAFEGUARD_STATUSES = ("as_stated", "invalidated")
#: Safeguards a court struck down: key -> (date, case). A file may not claim them as valid.
INVALIDATED_SAFEGUARDS = {"privacy_shield": (date(2020, 7, 16), "CJEU C-311/18 (Schrems II)")}
PLACEHOLDER_DOMAIN = ".invalid"  # RFC 2606: never delivered, obviously to be configured

ROLES = ("in_charge", "support", "control")
REQUEST_TASKS = ("receive", "examine", "answer")
ROUTES = ("professional_in_charge", "staff")
STEP_SCOPES = ("request", "activity", "recipient")
#: Who may act for a data subject (a step may apply to some only). cohabitant, pacs_partner: CSP L.1110-4 V
#: gives a deceased patient's heirs, cohabiting partner and PACS partner access to the health information.
RELATIONSHIPS = ("parent", "guardian", "heir", "executor", "mandatary", "cohabitant", "pacs_partner")
#: Facts about the subject a step may depend on: a minor (CSP L.1111-5), a deceased person (CSP L.1110-4).
SUBJECT_STATES = ("minor", "deceased")
#: When an identity document is asked for. ``on_reasonable_doubt``: French law lets identity be proven by any
#: means and an identity-document copy be asked only when there is a reasonable doubt (GDPR art. 12(6),
#: décret n° 2019-536 art. 77, CNIL guidance); the other values ask for it systematically or never.
DOCUMENT_REQUIRED = ("always", "unless_authenticated", "never", "on_reasonable_doubt")
#: The modes that demand a document copy from every requester outside an account (a configuration warning).
SYSTEMATIC_DOCUMENT_MODES = frozenset({"always", "unless_authenticated"})
EXPORT_FORMATS = ("json", "csv", "xml", "pdf")
MACHINE_READABLE_FORMATS = frozenset({"json", "csv", "xml"})
#: Items of an access answer: key -> GDPR article.
LETTER_ITEMS: dict[str, str] = {
    "purposes": "art. 15(1)(a)",
    "categories": "art. 15(1)(b)",
    "recipients": "art. 15(1)(c)",
    "retention": "art. 15(1)(d)",
    "rights": "art. 15(1)(e)",
    "complaint": "art. 15(1)(f)",
    "source": "art. 15(1)(g)",
    "automated_decisions": "art. 15(1)(h)",
    "transfers": "art. 15(2)",
}
ARTICLE_TOPICS = (
    "activities",
    "responsibilities",
    "legal_bases",
    "data_categories",
    "rights",
    "routing",
    "collection",
    "recipients",
    "retention",
)
#: Kinds of clarification asked of a requester (DESIGN.md rule 4); what each does to the period is a rule of
#: the policy (``deadlines.clarifications``).
CLARIFICATION_KINDS = ("identity", "scope")
#: The law's reading when a policy says nothing: décret n° 2019-536 art. 77 suspends the period while identity
#: information is awaited; GDPR art. 12(3) knows no other suspension.
DEFAULT_CLARIFICATION_SUSPENDS = {"identity": True, "scope": False}
ERASURE_ACTIONS = ("erase_now", "archive_until", "keep_while_contract", "keep_rolling", "hand_over_to_professional")
#: How data leave the processing at the end of their retention. ``handover_to_professional``: policy art. 12
#: "Destruction après remise à l'Utilisateur Professionnel au terme de son contrat" (health data shared in a
#: joint processing belong to the professional's record of the patient: CSP L.1111-7, R.4127-45).
DISPOSALS = ("destroy", "handover_to_professional")

KEY_RE = re.compile(r"^[a-z][a-z0-9_]*$")
LANG_RE = re.compile(r"^[a-z]{2}$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


class PolicyError(Exception):
    """The policy file is wrong, or a caller asked for something it does not define.

    ``problems`` holds (dotted key path, message) pairs; the message has one
    line per problem, each "<file>: <key path>: <what is wrong>".
    """

    def __init__(self, message: str, *, source: str | None = None, problems: Iterable[tuple[str, str]] = ()):
        super().__init__(message)
        self.source = source
        self.problems = tuple(problems)

    @classmethod
    def from_problems(cls, source: str, problems: list[tuple[str, str]]) -> "PolicyError":
        lines = [f"{source}: {path}: {problem}" for path, problem in problems]
        return cls("\n".join(lines), source=source, problems=problems)


class PolicyLookupError(PolicyError, KeyError):
    """A key the policy does not define (activity, subject kind, request type …)."""

    __str__ = Exception.__str__


# --------------------------------------------------------------------------
# Durations
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Duration:
    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0

    def after(self, start: date) -> date:
        """``start`` plus this duration; a missing day of month becomes the month's last day."""
        if self.hours:
            raise ValueError("a duration in hours cannot be added to a date")
        total = start.year * 12 + (start.month - 1) + self.years * 12 + self.months
        year, month = divmod(total, 12)
        month += 1
        day = min(start.day, _calendar.monthrange(year, month)[1])
        return date(year, month, day) + timedelta(days=self.days)

    def as_timedelta(self) -> timedelta:
        if self.years or self.months:
            raise ValueError("years and months have no fixed length; use Duration.after(date)")
        return timedelta(days=self.days, hours=self.hours)

    def describe(self, lang: str = "fr") -> str:
        names = {
            "fr": (("an", "ans"), ("mois", "mois"), ("jour", "jours"), ("heure", "heures"), " et "),
            "en": (("year", "years"), ("month", "months"), ("day", "days"), ("hour", "hours"), " and "),
        }[lang if lang in ("fr", "en") else "en"]
        parts = []
        for value, (one, many) in zip((self.years, self.months, self.days, self.hours), names[:4]):
            if value:
                parts.append(f"{value} {one if value == 1 else many}")
        return names[4].join(parts) or ("0 jour" if lang == "fr" else "0 days")


# --------------------------------------------------------------------------
# The policy as frozen values
# --------------------------------------------------------------------------

def localized(d: Mapping[str, Any] | None, lang: str) -> Any:
    """``d[lang]``, else the French text, else any; ``""`` for nothing."""
    if not d:
        return ""
    if lang in d:
        return d[lang]
    if "fr" in d:
        return d["fr"]
    return next(iter(d.values()))


@dataclass(frozen=True)
class Document:
    title: dict[str, str]
    articles: dict[str, str]


@dataclass(frozen=True)
class ComplaintAuthority:
    name: str
    url: str
    postal_address: str | None


@dataclass(frozen=True)
class Dpo:
    name: str | None
    #: None when the policy names no DPO contact: a configuration gap shown to the DPO, never replaced by
    #: another address on letters (GDPR art. 13(1)(b), 37(7)).
    email: str | None
    postal_address: str | None


@dataclass(frozen=True)
class Controller:
    key: str
    name: str
    postal_address: str | None
    contact_email: str
    dpo: Dpo
    complaint_authority: ComplaintAuthority

    @property
    def dpo_email(self) -> str | None:
        return self.dpo.email


@dataclass(frozen=True)
class JointController:
    key: str
    name: dict[str, str]
    contact_rule: str | None
    contact_email: str | None


@dataclass(frozen=True)
class SubjectKind:
    key: str
    name: dict[str, str]
    has_contract: bool


@dataclass(frozen=True)
class RightRule:
    status: str  # "applies" | "not_applicable" | "conditional"
    condition: dict[str, str] | None = None
    #: For a conditional right: the only subject kinds it is offered to (None: all).
    subject_kinds: tuple[str, ...] | None = None
    note: dict[str, str] | None = None


@dataclass(frozen=True)
class SubPurpose:
    key: str
    activity: str
    name: dict[str, str]
    legal_basis: str
    rights: dict[str, RightRule]
    direct_marketing: bool = False

    @property
    def ref(self) -> str:
        return f"{self.activity}.{self.key}"


@dataclass(frozen=True)
class SensitiveData:
    basis: str
    label: dict[str, str]


@dataclass(frozen=True)
class Responsibilities:
    """GDPR art. 26 arrangement: who (party key) does what, with which role."""

    requests: dict[str, dict[str, dict[str, str]]]  # subject kind -> task -> party -> role
    erasure: dict[str, dict[str, str]]  # subject kind -> party -> role
    notify_recipients: dict[str, str]  # party -> role
    #: Art. 5 "Contrôle de la majorité des Patients / recueil de l'accord du représentant légal": party -> role.
    #: The party in charge checks a minor's age and, for a parent's request, whether the minor kept the care
    #: secret from the holders of parental authority (CSP L.1111-5).
    minors: dict[str, str] = dc_field(default_factory=dict)


@dataclass(frozen=True)
class Activity:
    key: str
    name: dict[str, str]
    purpose: dict[str, str] | None
    joint: bool
    controllers: tuple[str, ...]
    data_subjects: tuple[str, ...]
    sub_purposes: tuple[SubPurpose, ...]
    collection: dict[str, str] | None
    sensitive_data: SensitiveData | None
    responsibilities: Responsibilities | None

    def sub_purpose(self, key: str) -> SubPurpose:
        for sp in self.sub_purposes:
            if sp.key == key:
                return sp
        raise PolicyLookupError(f"{self.key}: unknown sub-purpose {key!r}")

    def parties(self, task: str, subject_kind: str, role: str = "in_charge") -> tuple[str, ...]:
        """Parties with ``role`` for a request ``task`` (receive, examine, answer) of a subject kind."""
        if self.responsibilities is None or subject_kind not in self.responsibilities.requests:
            return self.controllers[:1] if role == "in_charge" else ()
        rows = self.responsibilities.requests[subject_kind].get(task, {})
        return tuple(party for party, r in rows.items() if r == role)

    def erasure_parties(self, subject_kind: str) -> tuple[str, ...]:
        if self.responsibilities is None or subject_kind not in self.responsibilities.erasure:
            return self.controllers[:1]
        return tuple(p for p, r in self.responsibilities.erasure[subject_kind].items() if r == "in_charge")


@dataclass(frozen=True)
class ActivePhase:
    kind: str
    duration: Duration | None


@dataclass(frozen=True)
class ArchivePhase:
    duration: Duration
    anchor: str  # "contract_end" | "invoice"
    grounds: tuple[str, ...]


@dataclass(frozen=True)
class DerivedRetention:
    name: dict[str, str]
    duration: Duration


@dataclass(frozen=True)
class Retention:
    label: dict[str, str]
    active: ActivePhase
    archive: ArchivePhase | None
    #: Grounds that keep the active-phase data despite an erasure (rolling logs, identity proof).
    grounds: tuple[str, ...]
    derived: DerivedRetention | None
    #: How the data leave the processing: "destroy", or "handover_to_professional" (see DISPOSALS).
    disposal: str = "destroy"


@dataclass(frozen=True)
class DataCategory:
    key: str
    activity: str
    name: dict[str, str]
    subject_kinds: tuple[str, ...]
    items: dict[str, tuple[str, ...]]
    sensitive: bool
    #: Provided by the data subject, so part of a portability export (GDPR art. 20).
    portable: bool
    retention: Retention


@dataclass(frozen=True)
class Transfer:
    destination: dict[str, str]
    countries: tuple[str, ...]
    safeguard: str
    safeguard_status: str  # "as_stated" | "invalidated"
    reference_url: str | None

    @property
    def invalidated(self) -> bool:
        return self.safeguard_status == "invalidated"


@dataclass(frozen=True)
class Recipient:
    key: str
    activity: str
    name: dict[str, str]
    kind: str
    service: dict[str, str] | None
    contact_email: str | None
    #: When there is no fixed address: professional_in_charge | per_disclosure | in_application.
    contact_rule: str | None
    joint_controller: str | None
    country: str | None
    transfers: tuple[Transfer, ...]
    #: Whether health data reach this recipient; None: the policy does not say (for a recipient of a
    #: processing of health data that transfers outside the EU, a configuration gap).
    receives_health_data: bool | None = None

    @property
    def transfer(self) -> Transfer | None:
        """The first transfer outside the EU, if any (see ``transfers`` for all)."""
        return self.transfers[0] if self.transfers else None

    @property
    def outside_eu(self) -> bool:
        return bool(self.transfers)

    @property
    def contact_is_placeholder(self) -> bool:
        return bool(self.contact_email) and self.contact_email.lower().endswith(PLACEHOLDER_DOMAIN)


@dataclass(frozen=True)
class TransferStatement:
    health_data_outside_eu: bool
    statement: dict[str, str] | None


@dataclass(frozen=True)
class Identity:
    document_required: str  # always | unless_authenticated | never | on_reasonable_doubt
    accepted_types: tuple[str, ...]
    max_size_bytes: int
    copy_retention: Duration
    delete_unconfirmed_after: Duration
    representative_proofs: dict[str, dict[str, str]]

    def document_needed(self, *, authenticated: bool, doubt_recorded: bool = False) -> bool:
        """Whether a document copy is asked for. ``on_reasonable_doubt``: only once staff record a doubt and why."""
        if self.document_required == "always":
            return True
        if self.document_required == "never":
            return False
        if self.document_required == "on_reasonable_doubt":
            return doubt_recorded
        return not authenticated

    @property
    def systematic_document_demand(self) -> bool:
        """A copy is demanded from everyone outside an account, doubt or not (a warning shown to the DPO)."""
        return self.document_required in SYSTEMATIC_DOCUMENT_MODES


@dataclass(frozen=True)
class Calendar:
    country: str
    subdivision: str | None


@dataclass(frozen=True)
class MedicalRecordRule:
    days: int
    old_information_months: int
    old_information_years: int
    minimum_wait_hours: int


@dataclass(frozen=True)
class ClarificationRule:
    """What one kind of clarification does to the period (DESIGN.md rule 4)."""

    suspends: bool
    legal_reference: dict[str, str] | None


@dataclass(frozen=True)
class Deadlines:
    months: int
    extension_months: int
    calendar: Calendar
    timezone: str
    medical_record: MedicalRecordRule | None
    #: kind of clarification (CLARIFICATION_KINDS) -> its rule.
    clarifications: dict[str, ClarificationRule] = dc_field(default_factory=dict)

    def clarification_suspends(self, kind: str) -> bool:
        """Whether a clarification of ``kind`` stops the clock (the law's reading when the policy is silent)."""
        rule = self.clarifications.get(kind)
        return rule.suspends if rule is not None else DEFAULT_CLARIFICATION_SUSPENDS[kind]


@dataclass(frozen=True)
class RoutingRule:
    subject_kinds: tuple[str, ...]
    activities: tuple[str, ...]
    route_to: str
    fallback: str


@dataclass(frozen=True)
class Routing:
    rules: tuple[RoutingRule, ...]
    default_route: str
    reminder_every_days: int
    escalate_without_ack_days: int
    escalate_days_before_due: int
    task_link_valid_days: int


@dataclass(frozen=True)
class Delivery:
    download_link_valid_days: int
    purge_grace_days: int


@dataclass(frozen=True)
class StepCondition:
    activities: tuple[str, ...] = ()
    subject_kinds: tuple[str, ...] = ()
    sub_purposes: tuple[str, ...] = ()  # "activity.sub_purpose"
    relationships: tuple[str, ...] = ()  # the requester acts as one of these (RELATIONSHIPS)
    subject_states: tuple[str, ...] = ()  # the subject is all of these (SUBJECT_STATES)


@dataclass(frozen=True)
class Step:
    key: str
    name: dict[str, str]
    per: str  # request | activity | recipient
    when: StepCondition | None
    required: bool
    required_before: str  # a request state
    gdpr: str | None
    legal_reference: dict[str, str] | None
    letter: str | None
    letter_items: tuple[str, ...]
    formats: tuple[str, ...]


@dataclass(frozen=True)
class RequestType:
    key: str
    name: dict[str, str]
    right: str | None
    gdpr: str | None
    legal_reference: dict[str, str] | None
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Reading:
    """A passage of the policy open to more than one reading, and the reading this file applies (shown to the DPO)."""

    key: str
    question: dict[str, str]
    choice: dict[str, str]
    applies_to: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    source: str
    key: str
    version: int
    document: Document
    languages: tuple[str, ...]
    default_language: str
    controller: Controller
    joint_controllers: dict[str, JointController]
    subject_kinds: dict[str, SubjectKind]
    activities: dict[str, Activity]
    data_categories: tuple[DataCategory, ...]
    recipients: tuple[Recipient, ...]
    transfers: TransferStatement
    identity: Identity
    deadlines: Deadlines
    routing: Routing
    delivery: Delivery
    request_types: dict[str, RequestType]
    #: Readings the policy's text leaves open, and the choice made for each (issue 13 item 13): key -> Reading.
    readings: dict[str, "Reading"] = dc_field(default_factory=dict)

    # -- lookups -----------------------------------------------------------

    def _unknown(self, what: str, key: Any, known: Iterable[str]) -> PolicyLookupError:
        return PolicyLookupError(f"{self.source}: unknown {what} {key!r} (known: {', '.join(known)})")

    def activity(self, key: str) -> Activity:
        try:
            return self.activities[key]
        except KeyError:
            raise self._unknown("activity", key, self.activities) from None

    def subject_kind(self, key: str) -> SubjectKind:
        try:
            return self.subject_kinds[key]
        except KeyError:
            raise self._unknown("subject kind", key, self.subject_kinds) from None

    def request_type(self, key: str) -> RequestType:
        try:
            return self.request_types[key]
        except KeyError:
            raise self._unknown("request type", key, self.request_types) from None

    def sub_purpose(self, ref: str) -> SubPurpose:
        """A sub-purpose by its reference ``"activity.sub_purpose"``."""
        activity_key, _, key = ref.partition(".")
        return self.activity(activity_key).sub_purpose(key)

    def article(self, topic: str) -> str:
        """Where the policy document deals with ``topic`` (e.g. "art. 8.1"); "" if not stated."""
        return self.document.articles.get(topic, "")

    def recipients_for(self, activity_key: str) -> list[Recipient]:
        self.activity(activity_key)
        return [r for r in self.recipients if r.activity == activity_key]

    def activities_for_subject(self, subject_kind: str) -> list[Activity]:
        self.subject_kind(subject_kind)
        return [a for a in self.activities.values() if subject_kind in a.data_subjects]

    def categories_for(self, activity_key: str, subject_kind: str | None = None) -> list[DataCategory]:
        self.activity(activity_key)
        if subject_kind is not None:
            self.subject_kind(subject_kind)
        return [
            c
            for c in self.data_categories
            if c.activity == activity_key and (subject_kind is None or subject_kind in c.subject_kinds)
        ]

    def route_for(self, activity_key: str, subject_kind: str) -> RoutingRule | None:
        """The routing rule for a request of ``subject_kind`` about ``activity_key`` (None: default route)."""
        self.activity(activity_key)
        self.subject_kind(subject_kind)
        for rule in self.routing.rules:
            if subject_kind in rule.subject_kinds and activity_key in rule.activities:
                return rule
        return None

    def answering_parties(self, activity_key: str, subject_kind: str) -> tuple[str, ...]:
        """Who answers a request of ``subject_kind`` about ``activity_key`` (policy art. 5)."""
        return self.activity(activity_key).parties("answer", subject_kind)

    def steps_for(
        self, request_type: str, activity_keys: Iterable[str], subject_kind: str, *,
        relationship: str | None = None, subject_states: Iterable[str] = (),
    ) -> list[Step]:
        """The steps of ``request_type`` that concern these activities and this subject kind.

        ``relationship``: how the requester acts for the subject (None: for themself); ``subject_states``:
        "minor", "deceased". A step conditioned on them applies only when they hold (CSP L.1111-5, L.1110-4).
        """
        rt = self.request_type(request_type)
        states = set(subject_states)
        keys = [self.activity(k).key for k in activity_keys]
        self.subject_kind(subject_kind)
        chosen = []
        for step in rt.steps:
            cond = step.when
            if cond is not None:
                if cond.activities and not set(cond.activities) & set(keys):
                    continue
                if cond.subject_kinds and subject_kind not in cond.subject_kinds:
                    continue
                if cond.relationships and relationship not in cond.relationships:
                    continue
                if not set(cond.subject_states) <= states:
                    continue
                if cond.sub_purposes and not any(
                    ref.partition(".")[0] in keys
                    and subject_kind in self.activity(ref.partition(".")[0]).data_subjects
                    and _rule_applies(self.sub_purpose(ref), rt.right, subject_kind) is not False
                    for ref in cond.sub_purposes
                ):
                    continue
            chosen.append(step)
        return chosen

    def placeholder_contacts(self) -> list[Recipient]:
        """Recipients whose notification address is still a ``.invalid`` placeholder."""
        return [r for r in self.recipients if r.contact_is_placeholder]

    def configuration_gaps(self) -> list[str]:
        """Dotted keys the operator still has to fill in (shown at start-up and in the back-office)."""
        gaps = []
        if not self.controller.postal_address:
            gaps.append("controller.postal_address")
        for r in self.placeholder_contacts():
            gaps.append(f"recipients.{r.activity}.{r.key}.contact_email")
        if self.identity.systematic_document_demand:
            # An identity-document copy may be asked only on reasonable doubt (GDPR art. 12(6); décret
            # n° 2019-536 art. 77): a policy that asks everyone for one is shown to the DPO.
            gaps.append("identity.document_required")
        return gaps


# --------------------------------------------------------------------------
# Schemas (structure and types); cross-references are checked afterwards
# --------------------------------------------------------------------------


class LocalizedText(dict):
    """A language -> text mapping as loaded (marker type for the language checks)."""


class LocalizedLists(dict):
    """A language -> list of texts mapping as loaded."""


class _Localized(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict) or not value:
            raise ValidationError("wrong type: expected a mapping of language to text, e.g. {fr: …, en: …}")
        errors = {}
        for lang, text in value.items():
            if not isinstance(lang, str) or not LANG_RE.match(lang):
                errors[str(lang)] = ["not a two-letter language code"]
            elif not isinstance(text, str) or not text.strip():
                errors[lang] = ["wrong type: expected a non-empty text"]
        if errors:
            raise ValidationError(errors)
        return LocalizedText(value)


class _LocalizedList(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict) or not value:
            raise ValidationError("wrong type: expected a mapping of language to a list of texts")
        errors = {}
        for lang, texts in value.items():
            if not isinstance(lang, str) or not LANG_RE.match(lang):
                errors[str(lang)] = ["not a two-letter language code"]
            elif not isinstance(texts, list) or not all(isinstance(t, str) and t.strip() for t in texts):
                errors[lang] = ["wrong type: expected a list of non-empty texts"]
        if errors:
            raise ValidationError(errors)
        return LocalizedLists({lang: tuple(texts) for lang, texts in value.items()})


class _Keyed(fields.Field):
    """A mapping ``key -> nested object``; keys are identifiers, optionally from a fixed vocabulary."""

    def __init__(self, nested: type[Schema] | fields.Field, *, noun: str = "key", allowed: Iterable[str] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.nested = nested
        self.noun = noun
        self.allowed = tuple(allowed) if allowed is not None else None

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("wrong type: expected a mapping")
        out, errors = {}, {}
        for key, item in value.items():
            if self.allowed is not None and key not in self.allowed:
                errors[str(key)] = [f"unknown {self.noun} {key!r} (known: {', '.join(self.allowed)})"]
                continue
            if not isinstance(key, str) or not KEY_RE.match(key):
                errors[str(key)] = [f"invalid {self.noun} {key!r}: use lowercase letters, digits and _"]
                continue
            try:
                if isinstance(self.nested, fields.Field):
                    out[key] = self.nested.deserialize(item)
                else:
                    out[key] = self.nested().load(item)
            except ValidationError as err:
                errors[key] = err.messages
        if errors:
            raise ValidationError(errors)
        return out


_UNKNOWN_MARK = "\x00unknown "  # marks marshmallow's unknown-key error; _translate adds the key


class _Strict(Schema):
    """Unknown keys are errors, reported as "unknown <noun> '<key>'" next to the other errors."""

    noun = "key"

    class Meta:
        unknown = RAISE

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.error_messages = {"unknown": _UNKNOWN_MARK + cls.noun}


def _key(**kw):
    return fields.String(validate=validate.Regexp(KEY_RE, error="invalid key {input!r}: use lowercase letters, digits and _"), **kw)


def _one_of(choices: Iterable[str], noun: str):
    choices = tuple(choices)
    return validate.OneOf(choices, error=f"unknown {noun} {{input!r}} (known: {', '.join(choices)})")


def _count(**kw):
    return fields.Integer(strict=True, validate=validate.Range(min=0, error="must not be negative (got {input})"), **kw)


def _email(**kw):
    return fields.Email(**kw)


class DurationSchema(_Strict):
    years = fields.Integer(strict=True, validate=validate.Range(min=0, error="negative duration ({input})"))
    months = fields.Integer(strict=True, validate=validate.Range(min=0, error="negative duration ({input})"))
    days = fields.Integer(strict=True, validate=validate.Range(min=0, error="negative duration ({input})"))
    hours = fields.Integer(strict=True, validate=validate.Range(min=0, error="negative duration ({input})"))

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("a duration needs at least one of years, months, days, hours")


class _ActivePhaseField(fields.Field):
    """``contract`` or ``{contract_plus: {years: 3}}``: one rule, with a duration when the rule takes one."""

    def _deserialize(self, value, attr, data, **kwargs):
        known = ", ".join(ACTIVE_KINDS)
        if isinstance(value, str):
            if value not in ACTIVE_KINDS:
                raise ValidationError(f"unknown retention rule {value!r} (known: {known})")
            if ACTIVE_KINDS[value]:
                raise ValidationError(f"retention rule {value!r} needs a duration, e.g. {{{value}: {{months: 12}}}}")
            return {"kind": value, "duration": None}
        if isinstance(value, dict) and len(value) == 1:
            (kind, duration), = value.items()
            if kind not in ACTIVE_KINDS:
                raise ValidationError({str(kind): [f"unknown retention rule {kind!r} (known: {known})"]})
            if not ACTIVE_KINDS[kind]:
                raise ValidationError({kind: [f"retention rule {kind!r} takes no duration; write it as a plain word"]})
            try:
                return {"kind": kind, "duration": DurationSchema().load(duration)}
            except ValidationError as err:
                raise ValidationError({kind: err.messages}) from None
        raise ValidationError("wrong type: expected a retention rule (a word, or one rule with its duration)")


class ArchiveSchema(_Strict):
    duration = fields.Nested(DurationSchema, required=True)
    from_ = fields.String(data_key="from", required=True, validate=_one_of(ARCHIVE_ANCHORS, "archive start"))
    grounds = fields.List(fields.String(validate=_one_of(RETENTION_GROUNDS, "retention ground")), required=True, validate=validate.Length(min=1))


class DerivedSchema(_Strict):
    name = _Localized(required=True)
    duration = fields.Nested(DurationSchema, required=True)


class RetentionSchema(_Strict):
    label = _Localized(required=True)
    active = _ActivePhaseField(required=True)
    archive = fields.Nested(ArchiveSchema)
    grounds = fields.List(fields.String(validate=_one_of(RETENTION_GROUNDS, "retention ground")))
    derived = fields.Nested(DerivedSchema)
    disposal = fields.String(load_default="destroy", validate=_one_of(DISPOSALS, "disposal"))


class DataCategorySchema(_Strict):
    key = _key(required=True)
    name = _Localized(required=True)
    subject_kinds = fields.List(_key(), required=True, validate=validate.Length(min=1))
    items = _LocalizedList(required=True)
    sensitive = fields.Boolean(load_default=False)
    portable = fields.Boolean(required=True)
    retention = fields.Nested(RetentionSchema, required=True)


class RightRuleSchema(_Strict):
    status = fields.String(required=True, validate=_one_of(RIGHT_STATUSES, "right status"))
    condition = _Localized()
    subject_kinds = fields.List(_key())
    note = _Localized()

    @validates_schema
    def _condition_iff_conditional(self, data, **kwargs):
        if data["status"] == "conditional" and "condition" not in data:
            raise ValidationError({"condition": ["missing required key: a conditional right states its condition"]})
        if data["status"] != "conditional" and ("condition" in data or "subject_kinds" in data):
            raise ValidationError({"status": ["condition and subject_kinds are only for status: conditional"]})


class _RightRuleField(fields.Field):
    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            if value == "conditional":
                raise ValidationError("a conditional right is written {status: conditional, condition: {fr: …, en: …}}")
            if value not in RIGHT_STATUSES:
                raise ValidationError(f"unknown right status {value!r} (known: {', '.join(RIGHT_STATUSES)})")
            return {"status": value}
        if isinstance(value, dict):
            return RightRuleSchema().load(value)
        raise ValidationError("wrong type: expected applies, not_applicable or {status: conditional, condition: …}")


class RightsSchema(_Strict):
    """Every right of the matrix, each stated explicitly."""

    noun = "right"
    access = _RightRuleField(required=True)
    rectification = _RightRuleField(required=True)
    consent_withdrawal = _RightRuleField(required=True)
    objection = _RightRuleField(required=True)
    erasure = _RightRuleField(required=True)
    portability = _RightRuleField(required=True)
    restriction = _RightRuleField(required=True)
    automated_decision = _RightRuleField(required=True)


if tuple(RightsSchema._declared_fields) != RIGHTS:  # pragma: no cover - two constants kept in step
    raise RuntimeError("RightsSchema and RIGHTS disagree")


class SubPurposeSchema(_Strict):
    key = _key(required=True)
    name = _Localized(required=True)
    legal_basis = fields.String(required=True, validate=_one_of(LEGAL_BASES, "legal basis"))
    direct_marketing = fields.Boolean(load_default=False)
    rights = fields.Nested(RightsSchema, required=True)


class SensitiveDataSchema(_Strict):
    basis = fields.String(required=True, validate=_one_of(SENSITIVE_DATA_BASES, "sensitive-data basis"))
    label = _Localized(required=True)


_role = fields.String(validate=_one_of(ROLES, "role"))


class RequestTasksSchema(_Strict):
    noun = "task"
    receive = fields.Dict(keys=_key(), values=_role, required=True)
    examine = fields.Dict(keys=_key(), values=_role, required=True)
    answer = fields.Dict(keys=_key(), values=_role, required=True)


class ResponsibilitiesSchema(_Strict):
    requests = _Keyed(RequestTasksSchema, noun="subject kind", required=True)
    erasure = _Keyed(fields.Dict(keys=_key(), values=_role), noun="subject kind", load_default=dict)
    notify_recipients = fields.Dict(keys=_key(), values=_role, load_default=dict)
    minors = fields.Dict(keys=_key(), values=_role, load_default=dict)


class ActivitySchema(_Strict):
    name = _Localized(required=True)
    purpose = _Localized()
    controllers = fields.List(_key(), required=True, validate=validate.Length(min=1))
    joint = fields.Boolean(required=True)
    data_subjects = fields.List(_key(), required=True, validate=validate.Length(min=1))
    collection = _Localized()
    sensitive_data = fields.Nested(SensitiveDataSchema)
    responsibilities = fields.Nested(ResponsibilitiesSchema)
    sub_purposes = fields.List(fields.Nested(SubPurposeSchema), required=True, validate=validate.Length(min=1))


class TransferSchema(_Strict):
    destination = _Localized(required=True)
    countries = fields.List(fields.String(validate=validate.Regexp(COUNTRY_RE, error="not an ISO 3166 two-letter country code: {input!r}")), required=True)
    safeguard = fields.String(required=True, validate=_one_of(SAFEGUARDS, "safeguard"))
    safeguard_status = fields.String(required=True, validate=_one_of(SAFEGUARD_STATUSES, "safeguard status"))
    reference_url = fields.Url()


class RecipientSchema(_Strict):
    key = _key(required=True)
    name = _Localized(required=True)
    kind = fields.String(required=True, validate=_one_of(RECIPIENT_KINDS, "recipient kind"))
    service = _Localized()
    contact_email = _email()
    contact_rule = fields.String(validate=_one_of(CONTACT_RULES, "contact rule"))
    joint_controller = _key()
    country = fields.String(validate=validate.Regexp(r"^(EU|[A-Z]{2})$", error="not a country code (EU or ISO 3166): {input!r}"))
    transfers = fields.List(fields.Nested(TransferSchema), load_default=list)
    receives_health_data = fields.Boolean(allow_none=True, load_default=None)

    @validates_schema
    def _one_contact(self, data, **kwargs):
        if ("contact_email" in data) == ("contact_rule" in data):
            raise ValidationError({"contact_email": ["give exactly one of contact_email or contact_rule (who gets GDPR art. 19 notifications)"]})


class ComplaintAuthoritySchema(_Strict):
    name = fields.String(required=True)
    url = fields.Url(required=True)
    postal_address = fields.String(allow_none=True, load_default=None)


class DpoSchema(_Strict):
    name = fields.String(allow_none=True, load_default=None)
    email = _email(allow_none=True, load_default=None)
    postal_address = fields.String(allow_none=True, load_default=None)


class ControllerSchema(_Strict):
    key = _key(required=True)
    name = fields.String(required=True)
    postal_address = fields.String(required=True, allow_none=True)
    contact_email = _email(required=True)
    dpo = fields.Nested(DpoSchema, required=True)
    complaint_authority = fields.Nested(ComplaintAuthoritySchema, required=True)


class JointControllerSchema(_Strict):
    name = _Localized(required=True)
    contact_rule = fields.String(validate=_one_of(CONTACT_RULES, "contact rule"))
    contact_email = _email()

    @validates_schema
    def _one_contact(self, data, **kwargs):
        if ("contact_email" in data) == ("contact_rule" in data):
            raise ValidationError({"contact_rule": ["give exactly one of contact_email or contact_rule"]})


class SubjectKindSchema(_Strict):
    name = _Localized(required=True)
    has_contract = fields.Boolean(required=True)


class DocumentSchema(_Strict):
    title = _Localized(required=True)
    articles = _Keyed(fields.String(), noun="topic", allowed=ARTICLE_TOPICS, load_default=dict)


class TransferStatementSchema(_Strict):
    health_data_outside_eu = fields.Boolean(required=True)
    statement = _Localized()


class IdentitySchema(_Strict):
    document_required = fields.String(required=True, validate=_one_of(DOCUMENT_REQUIRED, "identity rule"))
    accepted_types = fields.List(
        fields.String(validate=validate.Regexp(r"^[a-z]+/[a-z0-9.+-]+$", error="not a media type: {input!r}")),
        required=True,
        validate=validate.Length(min=1),
    )
    max_size_bytes = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, error="must be at least 1 (got {input})"))
    copy_retention = fields.Nested(DurationSchema, required=True)
    delete_unconfirmed_after = fields.Nested(DurationSchema, required=True)
    representative_proofs = _Keyed(_Localized(), noun="representative kind", load_default=dict)


class CalendarSchema(_Strict):
    country = fields.String(required=True, validate=validate.Regexp(COUNTRY_RE, error="not an ISO 3166 two-letter country code: {input!r}"))
    subdivision = fields.String(required=True, allow_none=True)


class MedicalRecordSchema(_Strict):
    days = _count(required=True)
    old_information_months = _count(required=True)
    old_information_years = _count(required=True)
    minimum_wait_hours = _count(required=True)


class ClarificationRuleSchema(_Strict):
    suspends = fields.Boolean(required=True)
    legal_reference = _Localized()


class DeadlinesSchema(_Strict):
    months = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, error="must be at least 1 (got {input})"))
    extension_months = _count(required=True)
    calendar = fields.Nested(CalendarSchema, required=True)
    timezone = fields.String(load_default="Europe/Paris")
    medical_record = fields.Nested(MedicalRecordSchema, allow_none=True, load_default=None)
    clarifications = _Keyed(ClarificationRuleSchema, noun="kind of clarification", allowed=CLARIFICATION_KINDS,
                            load_default=dict)


class RoutingRuleSchema(_Strict):
    subject_kinds = fields.List(_key(), required=True, validate=validate.Length(min=1))
    activities = fields.List(_key(), required=True, validate=validate.Length(min=1))
    route_to = fields.String(required=True, validate=_one_of(ROUTES, "route"))
    fallback = fields.String(load_default="staff", validate=_one_of(ROUTES, "route"))


class RoutingSchema(_Strict):
    rules = fields.List(fields.Nested(RoutingRuleSchema), load_default=list)
    default_route = fields.String(load_default="staff", validate=_one_of(ROUTES, "route"))
    reminder_every_days = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, error="must be at least 1 (got {input})"))
    escalate_without_ack_days = _count(required=True)
    escalate_days_before_due = _count(required=True)
    task_link_valid_days = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, error="must be at least 1 (got {input})"))


class DeliverySchema(_Strict):
    download_link_valid_days = fields.Integer(strict=True, required=True, validate=validate.Range(min=1, error="must be at least 1 (got {input})"))
    purge_grace_days = _count(required=True)


class StepConditionSchema(_Strict):
    activities = fields.List(_key(), load_default=list)
    subject_kinds = fields.List(_key(), load_default=list)
    sub_purposes = fields.List(fields.String(), load_default=list)
    relationships = fields.List(fields.String(validate=_one_of(RELATIONSHIPS, "relationship")), load_default=list)
    subject_states = fields.List(fields.String(validate=_one_of(SUBJECT_STATES, "subject state")), load_default=list)


class StepSchema(_Strict):
    key = _key(required=True)
    name = _Localized(required=True)
    description = _Localized()
    per = fields.String(load_default="request", validate=_one_of(STEP_SCOPES, "step scope"))
    when = fields.Nested(StepConditionSchema)
    required = fields.Boolean(load_default=True)
    required_before = fields.String(load_default="answered", validate=_one_of(REQUEST_STATES, "state"))
    gdpr = fields.String()
    legal_reference = _Localized()
    letter = _key()
    letter_items = fields.List(fields.String(validate=_one_of(LETTER_ITEMS, "letter item")), load_default=list)
    formats = fields.List(fields.String(validate=_one_of(EXPORT_FORMATS, "export format")), load_default=list)


class RequestTypeSchema(_Strict):
    name = _Localized(required=True)
    gdpr = fields.String()
    legal_reference = _Localized()
    steps = fields.List(fields.Nested(StepSchema), required=True, validate=validate.Length(min=1))


class ReadingSchema(_Strict):
    question = _Localized(required=True)
    choice = _Localized(required=True)
    #: Dotted keys of the policy file this choice is applied to.
    applies_to = fields.List(fields.String(), load_default=list)


class PolicySchema(_Strict):
    version = fields.Integer(strict=True, required=True, validate=validate.Equal(1, error="unsupported version {input} (this service reads version 1)"))
    key = _key(required=True)
    document = fields.Nested(DocumentSchema, required=True)
    languages = fields.List(fields.String(validate=validate.Regexp(LANG_RE, error="not a two-letter language code: {input!r}")), required=True, validate=validate.Length(min=1))
    default_language = fields.String(required=True)
    controller = fields.Nested(ControllerSchema, required=True)
    joint_controllers = _Keyed(JointControllerSchema, noun="joint controller", load_default=dict)
    subject_kinds = _Keyed(SubjectKindSchema, noun="subject kind", required=True)
    activities = _Keyed(ActivitySchema, noun="activity", required=True)
    data_categories = _Keyed(fields.List(fields.Nested(DataCategorySchema)), noun="activity", required=True)
    recipients = _Keyed(fields.List(fields.Nested(RecipientSchema)), noun="activity", required=True)
    transfers = fields.Nested(TransferStatementSchema, required=True)
    identity = fields.Nested(IdentitySchema, required=True)
    deadlines = fields.Nested(DeadlinesSchema, required=True)
    routing = fields.Nested(RoutingSchema, required=True)
    delivery = fields.Nested(DeliverySchema, required=True)
    readings = _Keyed(ReadingSchema, noun="reading", load_default=dict)
    request_types = _Keyed(RequestTypeSchema, noun="request type", allowed=REQUEST_TYPES, required=True)


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------


class _StrictYamlLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys (PyYAML silently keeps the last one)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep)


_MESSAGES = {
    "Missing data for required field.": "missing required key",
    "Field may not be null.": "must not be empty (null)",
    "Invalid input type.": "wrong type: expected a mapping",
    "Invalid type.": "wrong type: expected a list",
    "Not a valid list.": "wrong type: expected a list",
    "Not a valid mapping type.": "wrong type: expected a mapping",
    "Not a valid integer.": "wrong type: expected an integer",
    "Not a valid string.": "wrong type: expected a text",
    "Not a valid boolean.": "wrong type: expected true or false",
    "Not a valid email address.": "not a valid email address",
    "Not a valid URL.": "not a valid URL",
}


def _flatten(messages: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from _flatten(value, path if key == "_schema" else path + (key,))
    elif isinstance(messages, (list, tuple)):
        for message in messages:
            if isinstance(message, (dict, list, tuple)):
                yield from _flatten(message, path)
            else:
                yield path, str(message)
    else:
        yield path, str(messages)


def _dotted(path: Iterable) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _translate(path: tuple, message: str) -> str:
    if message.startswith(_UNKNOWN_MARK):
        noun = message[len(_UNKNOWN_MARK):]
        return f"unknown {noun} {path[-1]!r}" if path else f"unknown {noun}"
    return _MESSAGES.get(message, message)


def read_yaml_mapping(source: str, noun: str, error: type[PolicyError] = PolicyError) -> dict:
    """The YAML mapping of a data file (policy, systems), duplicate keys refused; ``error`` names the file and
    the line of the problem."""
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{source}: cannot read the {noun}: {exc.strerror or exc}", source=source) from exc
    try:
        raw = yaml.load(text, Loader=_StrictYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise error.from_problems(source, [(where, f"not valid YAML: {problem}")]) from exc
    if not isinstance(raw, dict):
        raise error.from_problems(source, [("(top level)", "wrong type: the file must hold a mapping")])
    return raw


def load_policy(path: str | os.PathLike) -> Policy:
    """Read and validate a policy file; raise ``PolicyError`` naming the file and every bad key."""
    source = os.fspath(path)
    raw = read_yaml_mapping(source, "policy file")
    try:
        doc = PolicySchema().load(raw)
    except ValidationError as err:
        problems = [(_dotted(p), _translate(p, m)) for p, m in _flatten(err.messages)]
        raise PolicyError.from_problems(source, problems) from None
    problems = list(_check(doc))
    if problems:
        raise PolicyError.from_problems(source, [(_dotted(p), m) for p, m in problems])
    return _build(source, doc)


@functools.lru_cache(maxsize=8)
def _cached_policy(resolved: str, mtime_ns: int) -> Policy:
    return load_policy(resolved)


def get_policy(path: str | os.PathLike) -> Policy:
    """``load_policy`` once per process and file version (reloaded if the file changes)."""
    resolved = Path(path).resolve()
    try:
        mtime = resolved.stat().st_mtime_ns
    except OSError:
        mtime = 0
    return _cached_policy(str(resolved), mtime)


# --------------------------------------------------------------------------
# Cross-reference checks
# --------------------------------------------------------------------------


def _walk_localized(node: Any, path: tuple) -> Iterator[tuple[tuple, dict]]:
    if isinstance(node, (LocalizedText, LocalizedLists)):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _walk_localized(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk_localized(value, path + (i,))


def _check(doc: dict) -> Iterator[tuple[tuple, str]]:
    languages = doc["languages"]
    default = doc["default_language"]
    if default not in languages:
        yield ("default_language",), f"{default!r} is not one of languages ({', '.join(languages)})"
    for path, texts in _walk_localized(doc, ()):
        for lang in texts:
            if lang not in languages:
                yield path + (lang,), f"unknown language {lang!r} (languages: {', '.join(languages)})"
        if default not in texts:
            yield path, f"missing text in the default language {default!r}"

    controller_key = doc["controller"]["key"]
    joint = doc["joint_controllers"]
    if controller_key in joint:
        yield ("joint_controllers", controller_key), "a joint controller cannot have the controller's key"
    kinds = doc["subject_kinds"]
    activities = doc["activities"]

    def unknown_refs(values, known, noun, path):
        for i, value in enumerate(values):
            if value not in known:
                yield path + (i,), f"unknown {noun} {value!r} (known: {', '.join(known)})"

    for akey, act in activities.items():
        base = ("activities", akey)
        parties = {controller_key, *joint}
        yield from unknown_refs(act["controllers"], parties, "controller", base + ("controllers",))
        if act["joint"] != (len(act["controllers"]) > 1):
            yield base + ("joint",), "joint must be true exactly when the activity has more than one controller"
        yield from unknown_refs(act["data_subjects"], kinds, "subject kind", base + ("data_subjects",))
        seen: set[str] = set()
        for i, sp in enumerate(act["sub_purposes"]):
            if sp["key"] in seen:
                yield base + ("sub_purposes", i, "key"), f"duplicate sub-purpose {sp['key']!r}"
            seen.add(sp["key"])
            for right, rule in sp["rights"].items():
                for j, kind in enumerate(rule.get("subject_kinds") or ()):
                    if kind not in act["data_subjects"]:
                        yield base + ("sub_purposes", i, "rights", right, "subject_kinds", j), (
                            f"unknown subject kind {kind!r} for this activity (data_subjects: {', '.join(act['data_subjects'])})"
                        )
        resp = act.get("responsibilities")
        if act["joint"] and resp is None:
            yield base + ("responsibilities",), "missing required key: a joint processing states who does what (GDPR art. 26)"
        if resp is not None:
            rbase = base + ("responsibilities",)
            for kind, tasks in resp["requests"].items():
                if kind not in act["data_subjects"]:
                    yield rbase + ("requests", kind), f"unknown subject kind {kind!r} for this activity"
                for task, roles in tasks.items():
                    for party in roles:
                        if party not in act["controllers"]:
                            yield rbase + ("requests", kind, task, party), f"unknown party {party!r} (controllers: {', '.join(act['controllers'])})"
                    if "in_charge" not in roles.values():
                        yield rbase + ("requests", kind, task), "nobody is in charge"
            for kind, roles in resp["erasure"].items():
                if kind not in act["data_subjects"]:
                    yield rbase + ("erasure", kind), f"unknown subject kind {kind!r} for this activity"
                for party in roles:
                    if party not in act["controllers"]:
                        yield rbase + ("erasure", kind, party), f"unknown party {party!r}"
            for section in ("notify_recipients", "minors"):
                for party in resp[section]:
                    if party not in act["controllers"]:
                        yield rbase + (section, party), f"unknown party {party!r}"

    for section in ("data_categories", "recipients"):
        for akey in doc[section]:
            if akey not in activities:
                yield (section, akey), f"unknown activity {akey!r} (known: {', '.join(activities)})"
        for akey in activities:
            if akey not in doc[section]:
                yield (section, akey), f"missing required key: every activity lists its {section.replace('_', ' ')}"

    for akey, cats in doc["data_categories"].items():
        if akey not in activities:
            continue
        seen = set()
        for i, cat in enumerate(cats):
            path = ("data_categories", akey, i)
            if cat["key"] in seen:
                yield path + ("key",), f"duplicate data category {cat['key']!r}"
            seen.add(cat["key"])
            for j, kind in enumerate(cat["subject_kinds"]):
                if kind not in activities[akey]["data_subjects"]:
                    yield path + ("subject_kinds", j), f"unknown subject kind {kind!r} for this activity"
            ret = cat["retention"]
            if ret["active"]["kind"] in ("rolling", "fixed") and ret.get("archive"):
                yield path + ("retention", "archive"), f"a {ret['active']['kind']} retention has no archive phase"

    for akey, recipients in doc["recipients"].items():
        if akey not in activities:
            continue
        seen = set()
        for i, rec in enumerate(recipients):
            path = ("recipients", akey, i)
            if rec["key"] in seen:
                yield path + ("key",), f"duplicate recipient {rec['key']!r}"
            seen.add(rec["key"])
            if rec["kind"] == "joint_controller":
                jc = rec.get("joint_controller")
                if jc is None:
                    yield path + ("joint_controller",), "missing required key: which joint controller this recipient is"
                elif jc not in activities[akey]["controllers"] or jc == controller_key:
                    yield path + ("joint_controller",), f"unknown joint controller {jc!r} for this activity"
            elif "joint_controller" in rec:
                yield path + ("joint_controller",), "only a recipient of kind joint_controller names a joint controller"
            if rec.get("contact_rule") == "professional_in_charge" and rec["kind"] != "joint_controller":
                yield path + ("contact_rule",), "professional_in_charge is the contact of a joint controller only"
            for j, tr in enumerate(rec["transfers"]):
                if tr["safeguard"] in INVALIDATED_SAFEGUARDS and tr["safeguard_status"] != "invalidated":
                    when, case = INVALIDATED_SAFEGUARDS[tr["safeguard"]]
                    yield path + ("transfers", j, "safeguard_status"), (
                        f"{tr['safeguard']} was invalidated on {when.isoformat()} ({case}); write safeguard_status: invalidated"
                    )

    for i, rule in enumerate(doc["routing"]["rules"]):
        path = ("routing", "rules", i)
        yield from unknown_refs(rule["subject_kinds"], kinds, "subject kind", path + ("subject_kinds",))
        yield from unknown_refs(rule["activities"], activities, "activity", path + ("activities",))
        if rule["route_to"] == "professional_in_charge":
            for j, akey in enumerate(rule["activities"]):
                if akey in activities and not activities[akey]["joint"]:
                    yield path + ("activities", j), f"{akey!r} has no joint controller to route to"

    cal = doc["deadlines"]["calendar"]
    try:
        import holidays

        holidays.country_holidays(cal["country"], subdiv=cal["subdivision"])
    except ImportError:  # pragma: no cover - holidays is a dependency
        pass
    except (NotImplementedError, KeyError) as exc:
        yield ("deadlines", "calendar"), f"unknown holiday calendar: {exc}"
    try:
        ZoneInfo(doc["deadlines"]["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        yield ("deadlines", "timezone"), f"unknown time zone {doc['deadlines']['timezone']!r}"

    sub_refs = {f"{a}.{sp['key']}" for a, act in activities.items() for sp in act["sub_purposes"]}
    for rt in REQUEST_TYPES:
        if rt not in doc["request_types"]:
            yield ("request_types", rt), f"missing request type {rt!r}: every request type lists its steps"
    for rkey, rt in doc["request_types"].items():
        seen = set()
        for i, step in enumerate(rt["steps"]):
            path = ("request_types", rkey, "steps", i)
            if step["key"] in seen:
                yield path + ("key",), f"duplicate step {step['key']!r}"
            seen.add(step["key"])
            when = step.get("when")
            if when:
                yield from unknown_refs(when["activities"], activities, "activity", path + ("when", "activities"))
                yield from unknown_refs(when["subject_kinds"], kinds, "subject kind", path + ("when", "subject_kinds"))
                for j, ref in enumerate(when["sub_purposes"]):
                    if ref not in sub_refs:
                        yield path + ("when", "sub_purposes", j), f"unknown sub-purpose {ref!r} (write activity.sub_purpose)"
            if step["formats"] and not MACHINE_READABLE_FORMATS & set(step["formats"]):
                yield path + ("formats",), "a portability export needs a machine-readable format (json, csv or xml)"
        if rkey == "portability" and not any(MACHINE_READABLE_FORMATS & set(s["formats"]) for s in rt["steps"]):
            yield ("request_types", rkey, "steps"), "portability needs a step with machine-readable formats (GDPR art. 20)"


# --------------------------------------------------------------------------
# Building the frozen values
# --------------------------------------------------------------------------


def _loc(d: dict | None) -> dict | None:
    return dict(d) if d is not None else None


def _duration(d: dict | None) -> Duration | None:
    return Duration(**d) if d is not None else None


def _build(source: str, doc: dict) -> Policy:
    c = doc["controller"]
    controller = Controller(
        key=c["key"],
        name=c["name"],
        postal_address=c["postal_address"],
        contact_email=c["contact_email"],
        dpo=Dpo(**c["dpo"]),
        complaint_authority=ComplaintAuthority(**c["complaint_authority"]),
    )
    joint_controllers = {
        k: JointController(key=k, name=_loc(v["name"]), contact_rule=v.get("contact_rule"), contact_email=v.get("contact_email"))
        for k, v in doc["joint_controllers"].items()
    }
    subject_kinds = {k: SubjectKind(key=k, name=_loc(v["name"]), has_contract=v["has_contract"]) for k, v in doc["subject_kinds"].items()}

    activities = {}
    for akey, a in doc["activities"].items():
        sub_purposes = tuple(
            SubPurpose(
                key=sp["key"],
                activity=akey,
                name=_loc(sp["name"]),
                legal_basis=sp["legal_basis"],
                direct_marketing=sp["direct_marketing"],
                rights={
                    right: RightRule(
                        status=rule["status"],
                        condition=_loc(rule.get("condition")),
                        subject_kinds=tuple(rule["subject_kinds"]) if rule.get("subject_kinds") else None,
                        note=_loc(rule.get("note")),
                    )
                    for right, rule in sp["rights"].items()
                },
            )
            for sp in a["sub_purposes"]
        )
        resp = a.get("responsibilities")
        activities[akey] = Activity(
            key=akey,
            name=_loc(a["name"]),
            purpose=_loc(a.get("purpose")),
            joint=a["joint"],
            controllers=tuple(a["controllers"]),
            data_subjects=tuple(a["data_subjects"]),
            sub_purposes=sub_purposes,
            collection=_loc(a.get("collection")),
            sensitive_data=SensitiveData(a["sensitive_data"]["basis"], _loc(a["sensitive_data"]["label"])) if a.get("sensitive_data") else None,
            responsibilities=Responsibilities(
                requests={k: {t: dict(r) for t, r in tasks.items()} for k, tasks in resp["requests"].items()},
                erasure={k: dict(r) for k, r in resp["erasure"].items()},
                notify_recipients=dict(resp["notify_recipients"]),
                minors=dict(resp["minors"]),
            )
            if resp
            else None,
        )

    categories = []
    for akey, cats in doc["data_categories"].items():
        for cat in cats:
            ret = cat["retention"]
            archive = ret.get("archive")
            derived = ret.get("derived")
            categories.append(
                DataCategory(
                    key=cat["key"],
                    activity=akey,
                    name=_loc(cat["name"]),
                    subject_kinds=tuple(cat["subject_kinds"]),
                    items=dict(cat["items"]),
                    sensitive=cat["sensitive"],
                    portable=cat["portable"],
                    retention=Retention(
                        label=_loc(ret["label"]),
                        active=ActivePhase(ret["active"]["kind"], _duration(ret["active"]["duration"])),
                        archive=ArchivePhase(Duration(**archive["duration"]), archive["from_"], tuple(archive["grounds"])) if archive else None,
                        grounds=tuple(ret.get("grounds") or ()),
                        derived=DerivedRetention(_loc(derived["name"]), Duration(**derived["duration"])) if derived else None,
                        disposal=ret["disposal"],
                    ),
                )
            )

    recipients = []
    for akey, recs in doc["recipients"].items():
        for r in recs:
            recipients.append(
                Recipient(
                    key=r["key"],
                    activity=akey,
                    name=_loc(r["name"]),
                    kind=r["kind"],
                    service=_loc(r.get("service")),
                    contact_email=r.get("contact_email"),
                    contact_rule=r.get("contact_rule"),
                    joint_controller=r.get("joint_controller"),
                    country=r.get("country"),
                    receives_health_data=r["receives_health_data"],
                    transfers=tuple(
                        Transfer(
                            destination=_loc(t["destination"]),
                            countries=tuple(t["countries"]),
                            safeguard=t["safeguard"],
                            safeguard_status=t["safeguard_status"],
                            reference_url=t.get("reference_url"),
                        )
                        for t in r["transfers"]
                    ),
                )
            )

    i = doc["identity"]
    d = doc["deadlines"]
    mr = d.get("medical_record")
    r = doc["routing"]
    request_types = {}
    for rkey in REQUEST_TYPES:
        rt = doc["request_types"][rkey]
        request_types[rkey] = RequestType(
            key=rkey,
            name=_loc(rt["name"]),
            right=REQUEST_TYPE_RIGHT[rkey],
            gdpr=rt.get("gdpr"),
            legal_reference=_loc(rt.get("legal_reference")),
            steps=tuple(
                Step(
                    key=s["key"],
                    name=_loc(s["name"]),
                    per=s["per"],
                    when=StepCondition(
                        activities=tuple(s["when"]["activities"]),
                        subject_kinds=tuple(s["when"]["subject_kinds"]),
                        sub_purposes=tuple(s["when"]["sub_purposes"]),
                        relationships=tuple(s["when"]["relationships"]),
                        subject_states=tuple(s["when"]["subject_states"]),
                    )
                    if s.get("when")
                    else None,
                    required=s["required"],
                    required_before=s["required_before"],
                    gdpr=s.get("gdpr"),
                    legal_reference=_loc(s.get("legal_reference")),
                    letter=s.get("letter"),
                    letter_items=tuple(s["letter_items"]),
                    formats=tuple(s["formats"]),
                )
                for s in rt["steps"]
            ),
        )

    return Policy(
        source=source,
        key=doc["key"],
        version=doc["version"],
        document=Document(title=_loc(doc["document"]["title"]), articles=dict(doc["document"]["articles"])),
        languages=tuple(doc["languages"]),
        default_language=doc["default_language"],
        controller=controller,
        joint_controllers=joint_controllers,
        subject_kinds=subject_kinds,
        activities=activities,
        data_categories=tuple(categories),
        recipients=tuple(recipients),
        transfers=TransferStatement(doc["transfers"]["health_data_outside_eu"], _loc(doc["transfers"].get("statement"))),
        identity=Identity(
            document_required=i["document_required"],
            accepted_types=tuple(i["accepted_types"]),
            max_size_bytes=i["max_size_bytes"],
            copy_retention=Duration(**i["copy_retention"]),
            delete_unconfirmed_after=Duration(**i["delete_unconfirmed_after"]),
            representative_proofs={k: _loc(v) for k, v in i["representative_proofs"].items()},
        ),
        deadlines=Deadlines(
            months=d["months"],
            extension_months=d["extension_months"],
            calendar=Calendar(d["calendar"]["country"], d["calendar"]["subdivision"]),
            timezone=d["timezone"],
            medical_record=MedicalRecordRule(**mr) if mr else None,
            clarifications={
                k: ClarificationRule(c["suspends"], _loc(c.get("legal_reference"))) for k, c in d["clarifications"].items()
            },
        ),
        routing=Routing(
            rules=tuple(
                RoutingRule(tuple(x["subject_kinds"]), tuple(x["activities"]), x["route_to"], x["fallback"]) for x in r["rules"]
            ),
            default_route=r["default_route"],
            reminder_every_days=r["reminder_every_days"],
            escalate_without_ack_days=r["escalate_without_ack_days"],
            escalate_days_before_due=r["escalate_days_before_due"],
            task_link_valid_days=r["task_link_valid_days"],
        ),
        delivery=Delivery(**doc["delivery"]),
        request_types=request_types,
        readings={
            k: Reading(k, _loc(r["question"]), _loc(r["choice"]), tuple(r["applies_to"]))
            for k, r in doc["readings"].items()
        },
    )


# --------------------------------------------------------------------------
# Rights evaluation
# --------------------------------------------------------------------------

Applies = bool | Literal["conditional"]


@dataclass(frozen=True)
class RightsRow:
    activity: str
    activity_name: dict[str, str]
    sub_purpose: str
    sub_purpose_name: dict[str, str]
    legal_basis: str
    right: str | None
    #: The matrix cell: "applies" | "not_applicable" | "conditional" (None when the
    #: request type is outside the matrix, e.g. post-mortem directives).
    status: str | None
    applies: Applies
    condition: dict[str, str] | None
    reason: dict[str, str]
    #: The policy grants more (or less) than the GDPR does for this legal basis.
    differs_from_gdpr: bool = False


@dataclass(frozen=True)
class RightsEvaluation:
    request_type: str
    right: str | None
    subject_kind: str
    rows: tuple[RightsRow, ...]

    @property
    def applicable_rows(self) -> list[RightsRow]:
        """Rows where the right applies, with or without a condition."""
        return [r for r in self.rows if r.applies is not False]

    @property
    def conditional_rows(self) -> list[RightsRow]:
        return [r for r in self.rows if r.applies == "conditional"]

    @property
    def not_applicable_rows(self) -> list[RightsRow]:
        return [r for r in self.rows if r.applies is False]

    @property
    def any_applicable(self) -> bool:
        return bool(self.applicable_rows)

    def summary(self, lang: str = "fr") -> str:
        words = {
            "fr": ("S'applique à", "Sous condition", "Ne s'applique pas à", "Aucune finalité"),
            "en": ("Applies to", "Under a condition", "Does not apply to", "No purpose"),
        }[lang if lang in ("fr", "en") else "en"]
        title = RIGHT_INFO[self.right][1] if self.right else _POST_MORTEM_TITLE
        lines = [localized(title, lang)]
        by_activity: dict[str, list[RightsRow]] = {}
        for row in self.rows:
            by_activity.setdefault(row.activity, []).append(row)
        for rows in by_activity.values():
            parts = []
            for label, pick in ((words[0], True), (words[1], "conditional"), (words[2], False)):
                names = [localized(r.sub_purpose_name, lang) for r in rows if _same(r.applies, pick)]
                if names:
                    sep = " ; " if lang == "fr" else "; "
                    parts.append((f"{label} : " if lang == "fr" else f"{label}: ") + sep.join(names))
            lines.append(f"- {localized(rows[0].activity_name, lang)} — " + ". ".join(parts or [words[3]]) + ".")
        return "\n".join(lines)


def _same(a: Applies, b: Applies) -> bool:
    return a == b and type(a) is type(b)


_POST_MORTEM_TITLE = {"fr": "Les directives post mortem", "en": "Post-mortem directives"}


def _rule_applies(sp: SubPurpose, right: str | None, subject_kind: str) -> Applies:
    if right is None:
        return True
    rule = sp.rights[right]
    if rule.status == "applies":
        return True
    if rule.status == "conditional":
        if rule.subject_kinds is not None and subject_kind not in rule.subject_kinds:
            return False
        return "conditional"
    return False


def _basis_phrase(basis: str, lang: str) -> str:
    article, label = LEGAL_BASES[basis]
    gdpr = "RGPD" if lang == "fr" else "GDPR"
    return f"{label[lang]} ({gdpr} {article})"


def _reason(policy: Policy, sp: SubPurpose, right: str, subject_kind: str, applies: Applies) -> tuple[dict[str, str], bool]:
    rule = sp.rights[right]
    art = policy.article("rights")
    right_article, subject = RIGHT_INFO[right]
    granting = GDPR_RIGHT_BASES.get(right)
    gdpr_grants = granting is None or sp.legal_basis in granting[0]
    out: dict[str, str] = {}
    for lang in ("fr", "en"):
        r = subject[lang]
        name = localized(sp.name, lang)
        basis = _basis_phrase(sp.legal_basis, lang)
        pol = (f"la politique ({art})" if art else "la politique") if lang == "fr" else (f"the policy ({art})" if art else "the policy")
        if applies is True:
            if gdpr_grants:
                text = (
                    f"{r} s'applique : « {name} » repose sur {basis} et {pol} le prévoit (RGPD {right_article})."
                    if lang == "fr"
                    else f"{r} applies: “{name}” rests on {basis} and {pol} grants it (GDPR {right_article})."
                )
            else:
                text = (
                    f"{r} s'applique car {pol} le prévoit pour « {name} », bien que ce traitement repose sur {basis}, "
                    f"base pour laquelle le RGPD ({granting[1]}) ne prévoit pas ce droit."
                    if lang == "fr"
                    else f"{r} applies as {pol} states it for “{name}”, although this processing rests on {basis}, "
                    f"for which the GDPR ({granting[1]}) does not grant this right."
                )
            if right == "objection" and sp.direct_marketing:
                text += (
                    " Aucun motif n'est nécessaire pour s'opposer à la prospection (RGPD art. 21(2) et 21(3))."
                    if lang == "fr"
                    else " No reason is needed to object to prospection (GDPR art. 21(2) and 21(3))."
                )
            elif right == "objection" and sp.legal_basis in ("legitimate_interest", "public_task"):
                text += (
                    " La personne invoque des raisons tenant à sa situation particulière ; le traitement cesse sauf motifs légitimes et impérieux (RGPD art. 21(1))."
                    if lang == "fr"
                    else " The person gives reasons relating to their particular situation; processing stops unless there are compelling legitimate grounds (GDPR art. 21(1))."
                )
            if right == "erasure" and sp.legal_basis == "legal_obligation":
                text += (
                    " Les données nécessaires au respect de l'obligation légale peuvent être conservées (RGPD art. 17(3)(b)) ; le plan d'effacement précise lesquelles."
                    if lang == "fr"
                    else " Data needed to comply with the legal obligation may be kept (GDPR art. 17(3)(b)); the erasure plan says which."
                )
        elif applies == "conditional":
            cond = localized(rule.condition, lang)
            text = (
                f"{r} s'applique seulement sous la condition prévue par {pol} pour « {name} » : {cond}."
                if lang == "fr"
                else f"{r} applies only under the condition {pol} sets for “{name}”: {cond}."
            )
            if not gdpr_grants:
                text += (
                    f" Ce traitement repose sur {basis}, base pour laquelle le RGPD ({granting[1]}) ne l'impose pas."
                    if lang == "fr"
                    else f" This processing rests on {basis}, for which the GDPR ({granting[1]}) does not require it."
                )
        elif rule.status == "conditional":  # a condition that excludes this subject kind
            kind = localized(policy.subject_kinds[subject_kind].name, lang)
            cond = localized(rule.condition, lang)
            text = (
                f"{r} ne s'applique pas à cette personne ({kind}) : pour « {name} », {pol} ne le prévoit que sous cette condition : {cond}."
                if lang == "fr"
                else f"{r} does not apply to this person ({kind}): for “{name}”, {pol} grants it only under this condition: {cond}."
            )
        elif rule.note is not None:
            text = f"{r} — « {name} » : {localized(rule.note, lang)}" if lang == "fr" else f"{r} — “{name}”: {localized(rule.note, lang)}"
        elif not gdpr_grants:
            allowed = " ou ".join(LEGAL_BASES[b][1]["fr"] for b in sorted(granting[0])) if lang == "fr" else " or ".join(
                LEGAL_BASES[b][1]["en"] for b in sorted(granting[0])
            )
            text = (
                f"{r} ne s'applique pas : « {name} » repose sur {basis}, et le RGPD ({granting[1]}) ne prévoit ce droit que pour {allowed}."
                if lang == "fr"
                else f"{r} does not apply: “{name}” rests on {basis}, and the GDPR ({granting[1]}) grants this right only for {allowed}."
            )
        else:
            text = (
                f"{r} n'est pas prévu par {pol} pour « {name} », bien que le RGPD ({right_article}) l'accorde pour {basis} : à vérifier par le DPO."
                if lang == "fr"
                else f"{r} is not listed by {pol} for “{name}”, although the GDPR ({right_article}) grants it for {basis}: the DPO should check."
            )
        if applies is not False and rule.note is not None:
            text += " " + localized(rule.note, lang)
        out[lang] = text
    return out, ((applies is not False) != gdpr_grants) and right != "automated_decision"


def _activities(policy: Policy, activity_keys: Iterable[str] | str | None, subject_kind: str) -> list[Activity]:
    """The activities asked for, in order and once each; ``None``: all those about ``subject_kind``."""
    if activity_keys is None:
        return policy.activities_for_subject(subject_kind)
    if isinstance(activity_keys, str):
        activity_keys = [activity_keys]
    return [policy.activity(k) for k in dict.fromkeys(activity_keys)]


def evaluate_rights(policy: Policy, request_type: str, activity_keys: Iterable[str] | None, subject_kind: str) -> RightsEvaluation:
    """Which rights apply to a request, one row per (activity, sub-purpose), with the reason in fr and en.

    The matrix is followed as the policy states it; where it grants more or less
    than the GDPR for a legal basis, the reason says so and ``differs_from_gdpr``
    is set. ``activity_keys=None`` means every activity about ``subject_kind``.
    """
    if request_type not in REQUEST_TYPES:
        raise PolicyLookupError(f"{policy.source}: unknown request type {request_type!r} (known: {', '.join(REQUEST_TYPES)})")
    policy.subject_kind(subject_kind)
    right = REQUEST_TYPE_RIGHT[request_type]
    activities = _activities(policy, activity_keys, subject_kind)
    rows = []
    for act in activities:
        concerned = subject_kind in act.data_subjects
        for sp in act.sub_purposes:
            if not concerned:
                kind_name = policy.subject_kinds[subject_kind].name
                rows.append(
                    RightsRow(
                        act.key, act.name, sp.key, sp.name, sp.legal_basis, right,
                        sp.rights[right].status if right else None, False,
                        None,
                        {
                            "fr": f"« {localized(act.name, 'fr')} » ne traite pas de données de cette catégorie de personnes ({localized(kind_name, 'fr')}).",
                            "en": f"“{localized(act.name, 'en')}” holds no data about this kind of person ({localized(kind_name, 'en')}).",
                        },
                    )
                )
                continue
            if right is None:
                art = policy.article("rights")
                rows.append(
                    RightsRow(
                        act.key, act.name, sp.key, sp.name, sp.legal_basis, None, None, True, None,
                        {
                            "fr": f"En tout état de cause ({art}), la personne peut définir des directives relatives à la conservation, "
                            f"à l'effacement et à la communication de ses données après son décès (loi Informatique et Libertés, art. 85).",
                            "en": f"In any case ({art}), the person may set directives on the storage, erasure and communication "
                            f"of their data after their death (French Data Protection Act, art. 85).",
                        },
                    )
                )
                continue
            applies = _rule_applies(sp, right, subject_kind)
            reason, differs = _reason(policy, sp, right, subject_kind, applies)
            rule = sp.rights[right]
            rows.append(
                RightsRow(
                    act.key, act.name, sp.key, sp.name, sp.legal_basis, right, rule.status, applies, rule.condition, reason, differs
                )
            )
    return RightsEvaluation(request_type, right, subject_kind, tuple(rows))


# --------------------------------------------------------------------------
# Erasure plan
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ErasureItem:
    activity: str
    category: str
    name: dict[str, str]
    subject_kind: str
    #: "erase_now" | "archive_until" | "keep_while_contract" | "keep_rolling" | "hand_over_to_professional".
    #: ``hand_over_to_professional`` (policy art. 12, ``retention.disposal: handover_to_professional``): health
    #: data of a joint processing are not erased on the patient's request by the platform; they stay in the
    #: professional's record of the patient while the professional's contract runs (``until``: its end when
    #: known, else None) and are destroyed after being handed to the professional at its end. Whether the
    #: professional's own record keeps them is the professional's decision (policy art. 8.2; GDPR art. 17(3)(b)
    #: and (c): the duty to keep the medical record, CSP L.1111-7 and R.4127-45).
    action: str
    until: date | None
    grounds: tuple[str, ...]
    reason: dict[str, str]
    #: Who carries out the erasure (policy art. 5), party keys.
    responsible: tuple[str, ...]
    sensitive: bool = False

    @property
    def gdpr_articles(self) -> tuple[str, ...]:
        return tuple(RETENTION_GROUNDS[g][0] for g in self.grounds)


def _grounds_phrase(grounds: Iterable[str], lang: str) -> str:
    gdpr = "RGPD" if lang == "fr" else "GDPR"
    return "; ".join(f"{RETENTION_GROUNDS[g][1][lang]}, {gdpr} {RETENTION_GROUNDS[g][0]}" for g in grounds)


def erasure_plan(
    policy: Policy,
    activity_keys: Iterable[str] | None,
    subject_kind: str,
    *,
    contract_ended_on: date | None,
    today: date,
    last_invoice_on: date | None = None,
    identity_proof_received_on: date | None = None,
    professional_contract_ends_on: date | None = None,
) -> list[ErasureItem]:
    """What an erasure does to each data category, planned against the retention rules (GDPR art. 17(3)).

    ``contract_ended_on``: end of the subject's contract or account; ``None`` or a
    later date means it still runs (pass ``today`` when the erasure closes the
    account). ``last_invoice_on`` anchors "10 years from the invoice" (defaults
    to the end of the contract); ``identity_proof_received_on`` anchors the
    identity-proof retention (defaults to ``today``); ``professional_contract_ends_on``: end of the contract of
    the professional in charge, when known (data handed over at its end, policy art. 12).
    """
    kind = policy.subject_kind(subject_kind)
    activities = _activities(policy, activity_keys, subject_kind)
    contract_running = kind.has_contract and (contract_ended_on is None or contract_ended_on > today)
    items = []
    for act in activities:
        responsible = act.erasure_parties(subject_kind)
        for cat in policy.categories_for(act.key, subject_kind):
            if cat.retention.disposal == "handover_to_professional" and act.joint:
                items.append(_handover_item(policy, act, cat, kind, professional_contract_ends_on))
                continue
            items.append(
                _plan_category(policy, act, cat, kind, contract_running, contract_ended_on, today, last_invoice_on, identity_proof_received_on, responsible)
            )
    return items


#: Grounds kept by the handover rule: the professional's duty to keep the patient's medical record.
HANDOVER_GROUNDS = ("legal_obligation", "public_health")


def _handover_item(policy, act, cat, kind, professional_contract_ends_on):
    """Policy art. 12: "Destruction après remise à l'Utilisateur Professionnel au terme de son contrat".

    The patient's health data shared in a joint processing are part of the record the professional keeps
    (CSP L.1111-7, R.4127-45; GDPR art. 17(3)(b) and (c)): the platform does not erase them on the patient's
    request; the professional in charge decides for their own record (policy art. 8.2), and the platform
    destroys them once handed to the professional when the professional's contract ends.
    """
    professionals = tuple(p for p in act.controllers if p != policy.controller.key)
    art = policy.article("retention")
    until = professional_contract_ends_on
    until_fr = f" (fin de contrat prévue le {until.isoformat()})" if until else ""
    until_en = f" (contract due to end on {until.isoformat()})" if until else ""
    ref_fr = f"Politique ({art}) : {localized(cat.retention.label, 'fr')}." if art else ""
    ref_en = f"Policy ({art}): {localized(cat.retention.label, 'en')}." if art else ""
    return ErasureItem(
        activity=act.key,
        category=cat.key,
        name=cat.name,
        subject_kind=kind.key,
        action="hand_over_to_professional",
        until=until,
        grounds=HANDOVER_GROUNDS,
        reason={
            "fr": "Non effacé par la plateforme : ces données de santé font partie du dossier que tient le professionnel "
            "de santé qui vous prend en charge, qui décide de leur sort dans son dossier ; elles seront détruites après "
            f"lui avoir été remises au terme de son contrat{until_fr} ({_grounds_phrase(HANDOVER_GROUNDS, 'fr')}). {ref_fr}",
            "en": "Not erased by the platform: these health data are part of the record kept by the health professional "
            "in charge of you, who decides what becomes of them in that record; they will be destroyed after being handed "
            f"to the professional at the end of their contract{until_en} ({_grounds_phrase(HANDOVER_GROUNDS, 'en')}). {ref_en}",
        },
        responsible=professionals or act.controllers[:1],
        sensitive=cat.sensitive,
    )


def _plan_category(policy, act, cat, kind, contract_running, contract_ended_on, today, last_invoice_on, identity_proof_received_on, responsible):
    ret = cat.retention
    active = ret.active
    art = policy.article("retention")

    who = {"fr": "", "en": ""}
    if act.joint:
        # A joint processing: say who carries the erasure out (policy art. 5, GDPR art. 26).
        resp_art = policy.article("responsibilities")
        for lang in ("fr", "en"):
            names = ", ".join(
                policy.controller.name if p == policy.controller.key else localized(policy.joint_controllers[p].name, lang) for p in responsible
            )
            who[lang] = (
                f" Effacement à la charge de : {names} ({resp_art})." if lang == "fr" else f" Erasure carried out by: {names} ({resp_art})."
            )

    def item(action, until=None, grounds=(), fr="", en=""):
        label_fr, label_en = localized(ret.label, "fr"), localized(ret.label, "en")
        ref_fr = f"Politique ({art}) : {label_fr}." if art else f"Politique : {label_fr}."
        ref_en = f"Policy ({art}): {label_en}." if art else f"Policy: {label_en}."
        return ErasureItem(
            activity=act.key,
            category=cat.key,
            name=cat.name,
            subject_kind=kind.key,
            action=action,
            until=until,
            grounds=tuple(grounds),
            reason={"fr": f"{fr} {ref_fr}{who['fr']}", "en": f"{en} {ref_en}{who['en']}"},
            responsible=responsible,
            sensitive=cat.sensitive,
        )

    def erase(fr_why, en_why):
        return item("erase_now", fr=f"Effacé maintenant : {fr_why}", en=f"Erased now: {en_why}")

    if active.kind == "rolling":
        until = active.duration.after(today)
        if ret.grounds:
            return item(
                "keep_rolling",
                until,
                ret.grounds,
                fr=f"Conservé en fenêtre glissante de {active.duration.describe('fr')} : chaque entrée est supprimée à l'échéance, "
                f"la dernière au plus tard le {until.isoformat()} ({_grounds_phrase(ret.grounds, 'fr')}).",
                en=f"Kept for {active.duration.describe('en')} rolling: each entry is deleted when it expires, "
                f"the last by {until.isoformat()} ({_grounds_phrase(ret.grounds, 'en')}).",
            )
        return erase("aucun motif de conservation ne prévaut sur la demande (RGPD art. 17(1)).", "no retention ground overrides the request (GDPR art. 17(1)).")

    if active.kind == "fixed":
        start = identity_proof_received_on or today
        until = active.duration.after(start)
        if ret.grounds and until > today:
            return item(
                "archive_until",
                until,
                ret.grounds,
                fr=f"Conservé jusqu'au {until.isoformat()} ({_grounds_phrase(ret.grounds, 'fr')}).",
                en=f"Kept until {until.isoformat()} ({_grounds_phrase(ret.grounds, 'en')}).",
            )
        return erase("la durée de conservation est écoulée.", "the retention period is over.")

    if active.kind == "until_validation":
        return erase("conservé seulement le temps de la validation du compte.", "kept only while the account is being validated.")

    if active.kind in CONTRACT_BOUND_KINDS and contract_running:
        return item(
            "keep_while_contract",
            fr="Conservé tant que le contrat est en cours : ces données sont nécessaires à son exécution, l'effacement ne s'applique pas encore "
            "(RGPD art. 17(1)(a)) ; elles seront effacées ou archivées à la fin du contrat.",
            en="Kept while the contract runs: the data are needed to perform it, so erasure does not apply yet (GDPR art. 17(1)(a)); "
            "they are erased or archived when the contract ends.",
        )

    archive = ret.archive
    if archive is not None and kind.has_contract:
        anchor = (last_invoice_on or contract_ended_on) if archive.anchor == "invoice" else contract_ended_on
        if anchor is not None:
            until = archive.duration.after(anchor)
            if until > today:
                since_fr = "de la facture" if archive.anchor == "invoice" else "de la fin du contrat"
                since_en = "the invoice" if archive.anchor == "invoice" else "the end of the contract"
                return item(
                    "archive_until",
                    until,
                    archive.grounds,
                    fr=f"Retiré de la base active et conservé en archive jusqu'au {until.isoformat()}, "
                    f"{archive.duration.describe('fr')} à compter {since_fr} ({_grounds_phrase(archive.grounds, 'fr')}).",
                    en=f"Removed from the active base and kept in the archive until {until.isoformat()}, "
                    f"{archive.duration.describe('en')} from {since_en} ({_grounds_phrase(archive.grounds, 'en')}).",
                )
            return erase("la durée d'archivage est écoulée.", "the archiving period is over.")
    if archive is not None and not kind.has_contract:
        return erase(
            "sans contrat, la durée d'archivage comptée depuis la fin du contrat ne s'applique pas.",
            "with no contract, the archiving period counted from the end of a contract does not apply.",
        )
    return erase("aucun motif de conservation ne prévaut sur la demande (RGPD art. 17(1)).", "no retention ground overrides the request (GDPR art. 17(1)).")
