"""The policy file's structure and types, as marshmallow schemas; unknown keys are errors.

Cross-references between sections (every activity, subject kind, party … named somewhere must exist) are
checked afterwards by ``dsar.policy.validation``. The building blocks (``_Strict``, ``_Keyed``, ``_Localized``,
``_one_of``) also check ``systems/<controller>.yaml`` (``dsar.systems.schema``).
"""

from __future__ import annotations

from typing import Iterable

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from .law import (
    ACTIVE_KINDS,
    ARCHIVE_ANCHORS,
    ARTICLE_TOPICS,
    CLARIFICATION_KINDS,
    CONTACT_RULES,
    COUNTRY_RE,
    DISPOSALS,
    DOCUMENT_REQUIRED,
    EXPORT_FORMATS,
    KEY_RE,
    LANG_RE,
    LEGAL_BASES,
    LETTER_ITEMS,
    RECIPIENT_KINDS,
    RELATIONSHIPS,
    REQUEST_STATES,
    REQUEST_TYPES,
    RETENTION_GROUNDS,
    RIGHT_STATUSES,
    RIGHTS,
    ROLES,
    ROUTES,
    SAFEGUARD_STATUSES,
    SAFEGUARDS,
    SENSITIVE_DATA_BASES,
    STEP_SCOPES,
    SUBJECT_STATES,
)


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
