"""The controller's policy as data: ``workflows/<controller>.yaml``, and the GDPR vocabulary it is read with.

``load_policy`` reads the file, validates it and returns a frozen ``Policy``; ``evaluate_rights`` says which
rights apply to a request and why; ``erasure_plan`` what an erasure removes now and what the retention rules
keep. The package is split by concern:

- ``law``: the GDPR's vocabulary (legal bases, rights and their articles, art. 17(3) grounds, invalidated
  safeguards) and the fixed vocabularies the file is checked against; request types and states come from
  ``dsar.models.enums``;
- ``model``: the frozen dataclasses, ``Policy`` and ``Duration``;
- ``schema``: the marshmallow schemas of the file; ``validation``: the cross-reference checks, per section;
- ``loading``: ``load_policy``, ``get_policy``, ``read_yaml_mapping``;
- ``rights``: ``evaluate_rights``; ``erasure``: ``erasure_plan``;
- ``text``: sentences as English msgids with parameters, rendered per language from ``dsar/translations``.

This module re-exports the names callers used before the split (``from dsar.policy import X``); modules
inside ``dsar`` import from the submodule. No Flask here.
"""

from __future__ import annotations

from .text import (  # noqa: F401 - re-exported
    localized,
)
from .errors import (  # noqa: F401 - re-exported
    PolicyError,
    PolicyLookupError,
)
from .law import (  # noqa: F401 - re-exported
    ACTIVE_KINDS,
    ARCHIVE_ANCHORS,
    ARTICLE_TOPICS,
    CLARIFICATION_KINDS,
    CONTACT_RULES,
    CONTRACT_BOUND_KINDS,
    COUNTRY_RE,
    DEFAULT_CLARIFICATION_SUSPENDS,
    DISPOSALS,
    DOCUMENT_REQUIRED,
    ERASURE_ACTIONS,
    EXPORT_FORMATS,
    GDPR_RIGHT_BASES,
    INVALIDATED_SAFEGUARDS,
    KEY_RE,
    LANG_RE,
    LEGAL_BASES,
    LETTER_ITEMS,
    MACHINE_READABLE_FORMATS,
    PLACEHOLDER_DOMAIN,
    RECIPIENT_KINDS,
    RELATIONSHIPS,
    REQUEST_STATES,
    REQUEST_TASKS,
    REQUEST_TYPE_RIGHT,
    REQUEST_TYPES,
    RETENTION_GROUNDS,
    RIGHT_INFO,
    RIGHT_STATUSES,
    RIGHTS,
    ROLES,
    ROUTES,
    SAFEGUARD_STATUSES,
    SAFEGUARDS,
    SENSITIVE_DATA_BASES,
    STEP_SCOPES,
    SUBJECT_STATES,
    SYSTEMATIC_DOCUMENT_MODES,
)
from .model import (  # noqa: F401 - re-exported
    ActivePhase,
    Activity,
    Applies,
    ArchivePhase,
    Calendar,
    ClarificationRule,
    ComplaintAuthority,
    Controller,
    DataCategory,
    Deadlines,
    Delivery,
    DerivedRetention,
    Document,
    Dpo,
    Duration,
    Identity,
    JointController,
    MedicalRecordRule,
    Policy,
    Reading,
    Recipient,
    RequestType,
    Responsibilities,
    Retention,
    RightRule,
    Routing,
    RoutingRule,
    _rule_applies,
    SensitiveData,
    Step,
    StepCondition,
    SubjectKind,
    SubPurpose,
    Transfer,
    TransferStatement,
)
from .schema import (  # noqa: F401 - re-exported
    ActivitySchema,
    ArchiveSchema,
    CalendarSchema,
    ClarificationRuleSchema,
    ComplaintAuthoritySchema,
    ControllerSchema,
    DataCategorySchema,
    DeadlinesSchema,
    DeliverySchema,
    DerivedSchema,
    DocumentSchema,
    DpoSchema,
    DurationSchema,
    IdentitySchema,
    JointControllerSchema,
    _Keyed,
    _Localized,
    LocalizedLists,
    LocalizedText,
    MedicalRecordSchema,
    _one_of,
    PolicySchema,
    ReadingSchema,
    RecipientSchema,
    RequestTasksSchema,
    RequestTypeSchema,
    ResponsibilitiesSchema,
    RetentionSchema,
    RightRuleSchema,
    RightsSchema,
    RoutingRuleSchema,
    RoutingSchema,
    SensitiveDataSchema,
    StepConditionSchema,
    StepSchema,
    _Strict,
    SubjectKindSchema,
    SubPurposeSchema,
    TransferSchema,
    TransferStatementSchema,
)
from .loading import (  # noqa: F401 - re-exported
    _dotted,
    _flatten,
    get_policy,
    load_policy,
    read_yaml_mapping,
    _translate,
)
from .rights import (  # noqa: F401 - re-exported
    evaluate_rights,
    RightsEvaluation,
    RightsRow,
)
from .erasure import (  # noqa: F401 - re-exported
    erasure_plan,
    ErasureItem,
    HANDOVER_GROUNDS,
)

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
