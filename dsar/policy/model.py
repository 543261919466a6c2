"""The controller's policy as frozen values: ``Policy`` and the dataclasses it is made of, and ``Duration``.

``dsar.policy.loading`` builds them from ``workflows/<controller>.yaml``; nothing here reads a file. The lookups
(``Policy.activity``, ``steps_for`` …) raise ``PolicyLookupError`` for a key the file does not define.
No Flask here.
"""

from __future__ import annotations

import calendar as _calendar
from dataclasses import dataclass, field as dc_field
from datetime import date, timedelta
from typing import Any, Iterable, Literal

from ..errors import N_
from .errors import PolicyLookupError
from .law import DEFAULT_CLARIFICATION_SUSPENDS, PLACEHOLDER_DOMAIN, SYSTEMATIC_DOCUMENT_MODES
from .text import gettext, join_words, ngettext


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
        """The duration in words, in ``lang`` ("1 an et 6 mois", "18 months")."""
        units = (
            (self.years, ngettext("%(num)d year", "%(num)d years", self.years, lang)),
            (self.months, ngettext("%(num)d month", "%(num)d months", self.months, lang)),
            (self.days, ngettext("%(num)d day", "%(num)d days", self.days, lang)),
            (self.hours, ngettext("%(num)d hour", "%(num)d hours", self.hours, lang)),
        )
        parts = [text % {"num": value} for value, text in units if value]
        if not parts:
            return gettext("0 days", lang)
        return join_words(parts, N_("%(first)s and %(second)s")).render(lang)


# --------------------------------------------------------------------------
# The policy as frozen values
# --------------------------------------------------------------------------


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


Applies = bool | Literal["conditional"]


def _rule_applies(sp: SubPurpose, right: str | None, subject_kind: str) -> Applies:
    """Whether ``right`` applies to a sub-purpose for a subject kind: True, False or "conditional" (art. 8.1 matrix)."""
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
