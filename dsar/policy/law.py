"""The law's vocabulary: what the GDPR (and the service) fixes, not the controller.

Legal bases (GDPR art. 6(1)) and sensitive-data conditions (art. 9(2)), the rights and their articles
(art. 15 to 22, 7(3)), which bases grant which right (art. 20(1)(a), 21(1), 7(3)), the grounds that keep data
despite an erasure (art. 17(3)), safeguards a court struck down, and the fixed vocabularies the policy file
is checked against. Request types and states are the domain's own (``dsar.models.enums``), not a second list.
Labels are English msgids (``Message``), French in ``dsar/translations``.
"""

from __future__ import annotations

import re
from datetime import date

from ..errors import N_
from ..models.enums import Relationship, RequestType, Status
from .text import Message, pgettext

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

#: The request types, from the one list of the domain (``dsar.models.enums.RequestType``).
REQUEST_TYPES: tuple[str, ...] = tuple(t.value for t in RequestType)

#: The right of the art. 8.1 matrix a request type exercises. ``None``: not in
#: the matrix, available for every processing ("en tout état de cause").
REQUEST_TYPE_RIGHT: dict[str, str | None] = {
    RequestType.ACCESS.value: "access",
    RequestType.RECTIFICATION.value: "rectification",
    RequestType.ERASURE.value: "erasure",
    RequestType.PORTABILITY.value: "portability",
    RequestType.RESTRICTION.value: "restriction",
    RequestType.OBJECTION.value: "objection",
    RequestType.CONSENT_WITHDRAWAL.value: "consent_withdrawal",
    RequestType.POST_MORTEM_DIRECTIVE.value: None,
}
if set(REQUEST_TYPE_RIGHT) != set(REQUEST_TYPES):  # pragma: no cover - a request type added to the enum
    raise RuntimeError("REQUEST_TYPE_RIGHT does not name every RequestType")

#: Request states a step may be required before (DESIGN.md, "Request lifecycle"): the lifecycle's
#: ``dsar.models.enums.Status``.
REQUEST_STATES: tuple[str, ...] = tuple(s.value for s in Status)

RIGHT_STATUSES = ("applies", "not_applicable", "conditional")

#: GDPR art. 6(1) legal bases: key -> (article, label). A label is a Message: ``label[lang]`` renders it.
LEGAL_BASES: dict[str, tuple[str, Message]] = {
    "consent": ("art. 6(1)(a)", Message(N_("consent"))),
    "contract": ("art. 6(1)(b)", Message(N_("the performance of a contract"))),
    "legal_obligation": ("art. 6(1)(c)", Message(N_("a legal obligation"))),
    "vital_interests": ("art. 6(1)(d)", Message(N_("vital interests"))),
    "public_task": ("art. 6(1)(e)", Message(N_("a task in the public interest"))),
    "legitimate_interest": ("art. 6(1)(f)", Message(N_("legitimate interests"))),
}

#: GDPR art. 9(2) conditions for sensitive (health) data.
SENSITIVE_DATA_BASES: dict[str, tuple[str, Message]] = {
    "explicit_consent": ("art. 9(2)(a)", Message(N_("explicit consent"))),
    "vital_interests": ("art. 9(2)(c)", Message(N_("vital interests"))),
    "legal_claims": ("art. 9(2)(f)", Message(N_("legal claims"))),
    "medical_care": ("art. 9(2)(h)", Message(N_("medical care"))),
    "public_health": ("art. 9(2)(i)", Message(N_("public health"))),
}

#: right -> (GDPR article, sentence subject)
RIGHT_INFO: dict[str, tuple[str, Message]] = {
    "access": ("art. 15", Message(N_("The right of access"))),
    "rectification": ("art. 16", Message(N_("The right to rectification"))),
    "consent_withdrawal": ("art. 7(3)", Message(N_("Withdrawal of consent"))),
    "objection": ("art. 21", Message(N_("The right to object"))),
    "erasure": ("art. 17", Message(N_("The right to erasure"))),
    "portability": ("art. 20", Message(N_("The right to data portability"))),
    "restriction": ("art. 18", Message(N_("The right to restriction of processing"))),
    "automated_decision": (
        "art. 22",
        Message(N_("The right not to be subject to an automated decision")),
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
RETENTION_GROUNDS: dict[str, tuple[str, Message]] = {
    "legal_obligation": ("art. 17(3)(b)", pgettext("retention ground", "legal obligation")),
    "public_health": ("art. 17(3)(c)", pgettext("retention ground", "public health")),
    "archiving": ("art. 17(3)(d)", pgettext("retention ground", "archiving in the public interest")),
    "evidence": (
        "art. 17(3)(e)",
        pgettext("retention ground", "evidence (establishment, exercise or defence of legal claims)"),
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
#: Who may act for a data subject (a step may apply to some only), the domain's ``Relationship``. cohabitant,
#: pacs_partner: CSP L.1110-4 V gives a deceased patient's heirs, cohabiting partner and PACS partner access to
#: the health information.
RELATIONSHIPS: tuple[str, ...] = tuple(r.value for r in Relationship)
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
