"""Marshmallow schemas of the API. Unknown fields are errors (marshmallow's RAISE), never dropped.

Lengths follow the database columns, text refuses control characters (a NUL byte
would otherwise reach PostgreSQL), integers stay within PostgreSQL's ``integer``:
whatever passes these schemas can be stored.
"""
from __future__ import annotations

import re
from datetime import date, timedelta, timezone

import marshmallow as ma
from marshmallow import validate

from ..errors import N_
from ..models import utcnow
from ..models.enums import Channel, IdentityMethod, Relationship, RequestType, Status, SubjectKind
from ..serializers import Day, RequestSchema, values

MAX_INT = 2**31 - 1
LANGUAGES = ("fr", "en")
_SINGLE_LINE_BAD = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_MULTI_LINE_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# For the OpenAPI document: at least one visible character, no control character.
_SINGLE_LINE_PATTERN = r"^[^\u0000-\u001f\u007f]*[^\s\u0000-\u001f\u007f][^\u0000-\u001f\u007f]*$"
_MULTI_LINE_PATTERN = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*\S[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]*$"


class Text(ma.fields.String):
    """A trimmed string of 1 to ``max_length`` characters without control characters."""

    def __init__(self, max_length: int, *, multiline: bool = False, **kwargs):
        self.multiline = multiline
        metadata = dict(kwargs.pop("metadata", {}))
        metadata.setdefault("pattern", _MULTI_LINE_PATTERN if multiline else _SINGLE_LINE_PATTERN)
        super().__init__(validate=validate.Length(min=1, max=max_length), metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if (_MULTI_LINE_BAD if self.multiline else _SINGLE_LINE_BAD).search(value):
            raise ma.ValidationError(N_("Control characters are not allowed."))
        value = value.strip()
        if not value:
            raise ma.ValidationError(N_("Missing data for required field."))
        return value


class Email(ma.fields.Email):
    def __init__(self, **kwargs):
        super().__init__(validate=validate.Length(max=254), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and _SINGLE_LINE_BAD.search(value):
            raise ma.ValidationError(N_("Not a valid email address."))
        return super()._deserialize(value, attr, data, **kwargs).strip().lower()


class Instant(ma.fields.AwareDateTime):
    """An ISO 8601 instant with its offset, returned in UTC."""

    def _deserialize(self, value, attr, data, **kwargs):
        instant = super()._deserialize(value, attr, data, **kwargs)
        try:
            instant = instant.astimezone(timezone.utc)
        except (OverflowError, ValueError):
            raise ma.ValidationError(N_("Not a valid datetime.")) from None
        if not 1900 <= instant.year <= 9998:
            raise ma.ValidationError(N_("Not a valid datetime."))
        return instant


def _strict(cls):
    cls.Meta = type("Meta", (), {"unknown": ma.RAISE, "ordered": True})
    return cls


# --- submitting a request ----------------------------------------------------------------------------------


@_strict
class SubjectSchema(ma.Schema):
    kind = ma.fields.String(required=True, validate=validate.OneOf(values(SubjectKind)),
                            metadata={"description": "patient, professional (user of the application) or prospect"})
    first_name = Text(120, required=True)
    last_name = Text(120, required=True)
    email = Email(required=True, metadata={"description": "Where the requester is written to, unless a requester is given"})
    phone = ma.fields.String(validate=validate.Regexp(r"^\+?[0-9 .()-]{6,31}$"), load_default=None, allow_none=True,
                             metadata={"description": "Digits, spaces, dots, dashes, brackets, an optional leading +"})
    birth_date = Day(load_default=None, allow_none=True, metadata={"description": "Used to find the patient's professional (policy art. 8.2)"})
    deceased = ma.fields.Boolean(load_default=False, metadata={"description": "The subject has died (heirs, post-mortem directives)"})

    @ma.validates("birth_date")
    def _past(self, value, **kwargs):
        if value is not None and not date(1900, 1, 1) <= value <= date.today():
            raise ma.ValidationError(N_("The birth date must be in the past."))


@_strict
class RequesterSchema(ma.Schema):
    """A representative acting for the subject (omit it when the subject acts for themself)."""

    relationship = ma.fields.String(required=True, validate=validate.OneOf(values(Relationship)))
    first_name = Text(120, required=True)
    last_name = Text(120, required=True)
    email = Email(required=True)
    phone = ma.fields.String(validate=validate.Regexp(r"^\+?[0-9 .()-]{6,31}$"), load_default=None, allow_none=True)
    postal_address = Text(500, multiline=True, load_default=None, allow_none=True)


@_strict
class IdentitySchema(ma.Schema):
    method = ma.fields.String(required=True, validate=validate.OneOf(values(IdentityMethod)), metadata={
        "description": "account: the person was signed in to their account when asking (policy art. 8.1: no identity "
                       "document then); document: a document is needed or was checked; in_person: seen by staff; "
                       "vouched: checked by the submitting staff system"})
    verified = ma.fields.Boolean(load_default=False, metadata={
        "description": "True when the submitter vouches for the identity: the clock starts on the day of receipt. "
                       "account needs channel account; document, in_person and vouched need a staff key"})


@_strict
class RequestCreateSchema(ma.Schema):
    type = ma.fields.String(required=True, validate=validate.OneOf(values(RequestType)))
    subject = ma.fields.Nested(SubjectSchema, required=True)
    requester = ma.fields.Nested(RequesterSchema, load_default=None, allow_none=True)
    channel = ma.fields.String(required=True, validate=validate.OneOf(values(Channel)), metadata={
        "description": "post, phone and in_person are for staff keys (a request logged by the privacy team)"})
    identity = ma.fields.Nested(IdentitySchema, required=True)
    received_at = Instant(load_default=None, allow_none=True, metadata={
        "description": "Staff keys only: when a letter or call was really received (ISO 8601 with offset). Default: now"})
    language = ma.fields.String(load_default="fr", validate=validate.OneOf(LANGUAGES))
    details = Text(10000, multiline=True, load_default=None, allow_none=True,
                   metadata={"description": "What the requester wrote"})
    activities = ma.fields.List(Text(64), load_default=None, allow_none=True, validate=validate.Length(max=20),
                                metadata={"description": "Keys of the policy's processing activities; default from the subject kind"})
    medical_record = ma.fields.Boolean(load_default=False, metadata={
        "description": "A patient asks for their medical record (CSP L.1111-7: 8 days, 2 months over 5 years)"})
    external_account_id = Text(64, load_default=None, allow_none=True,
                               metadata={"description": "The account's identifier in the application"})
    client_reference = Text(64, load_default=None, allow_none=True, metadata={
        "description": "Your own identifier for this submission. Sending the same body again with it returns the "
                       "request already created (200) instead of a duplicate; a different body with it is a 409"})

    @ma.validates("received_at")
    def _not_future(self, value, **kwargs):
        if value is not None and value > utcnow() + timedelta(minutes=5):
            raise ma.ValidationError(N_("The date of receipt cannot be in the future."))


# --- the request resource: RequestSchema (dsar/serializers.py, shared with the webhooks) -----------------------


class RequestListArgs(ma.Schema):
    class Meta:
        unknown = ma.RAISE
        ordered = True

    status = ma.fields.List(ma.fields.String(validate=validate.OneOf(values(Status))),
                            metadata={"description": "One or more statuses (repeat the parameter)"})
    type = ma.fields.String(validate=validate.OneOf(values(RequestType)))
    channel = ma.fields.String(validate=validate.OneOf(values(Channel)))
    subject_kind = ma.fields.String(validate=validate.OneOf(values(SubjectKind)))
    external_account_id = Text(64)
    received_from = Day(metadata={"description": "Received on or after this Paris day"})
    received_to = Day(metadata={"description": "Received on or before this Paris day"})
    due_before = Day(metadata={"description": "Due on or before this day"})
    updated_since = Instant(metadata={"description": "Changed at or after this instant (to follow changes by polling)"})
    page = ma.fields.Integer(load_default=1, validate=validate.Range(min=1, max=10000))
    per_page = ma.fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class RequestPageSchema(ma.Schema):
    class Meta:
        ordered = True

    items = ma.fields.List(ma.fields.Nested(RequestSchema), required=True)
    page = ma.fields.Integer(required=True)
    per_page = ma.fields.Integer(required=True)
    total = ma.fields.Integer(required=True)


# --- directory sync ----------------------------------------------------------------------------------------


@_strict
class ProfessionalRowSchema(ma.Schema):
    """A professional; a field left out keeps its stored value (first_name, last_name, email needed to create)."""

    external_id = Text(64, required=True, metadata={"description": "The professional's identifier in the application"})
    first_name = Text(120, allow_none=True)
    last_name = Text(120, allow_none=True)
    title = Text(40, allow_none=True, metadata={"description": "How a letter greets them: Docteur, Madame, Monsieur…"})
    email = Email(allow_none=True)
    rpps = ma.fields.String(allow_none=True, validate=validate.Regexp(r"^[0-9]{11}$"),
                            metadata={"description": "RPPS number: 11 digits, the last a Luhn check digit"})
    language = ma.fields.String(validate=validate.OneOf(LANGUAGES), metadata={"description": "Default fr"})
    active = ma.fields.Boolean(metadata={"description": "Default true"})
    contract_ended_on = Day(allow_none=True)


@_strict
class ProfessionalSyncSchema(ma.Schema):
    professionals = ma.fields.List(ma.fields.Nested(ProfessionalRowSchema), required=True,
                                   validate=validate.Length(min=1, max=1000))


@_strict
class CareLinkRowSchema(ma.Schema):
    """A patient↔professional link: contact data only, what routing matches on (an email, or a phone and a birth date)."""

    professional_external_id = Text(64, required=True)
    patient_ref = Text(64, required=True, metadata={"description": "The patient's identifier in the application"})
    patient_email = Email(allow_none=True)
    patient_phone = ma.fields.String(allow_none=True, validate=validate.Regexp(r"^\+?[0-9 .()-]{6,31}$"))
    patient_birth_date = Day(allow_none=True)
    active = ma.fields.Boolean(metadata={"description": "False once the care relationship ended (default true)"})
    ended_on = Day(allow_none=True)


@_strict
class CareLinkSyncSchema(ma.Schema):
    links = ma.fields.List(ma.fields.Nested(CareLinkRowSchema), required=True, validate=validate.Length(min=1, max=5000))
