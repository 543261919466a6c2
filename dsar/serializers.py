"""How a request is shown outside: the API's request resource, also the payload of the webhooks.

Below both the API (dsar/api/) and the services that send webhooks, so that neither imports the other. References,
dates and statuses only: no names, emails or health data.
"""
from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from .bounds import FIRST_DAY, LAST_DAY, day_in_range
from .errors import N_
from .models.enums import Channel, IdentityMethod, Outcome, RequestType, Status, SubjectKind


def values(enum) -> list[str]:
    return [str(e) for e in enum]


class Day(ma.fields.Date):
    """A calendar day, ``YYYY-MM-DD``, between 1900-01-01 and 9998-12-31 (dsar/bounds.py)."""

    def _deserialize(self, value, attr, data, **kwargs):
        day = super()._deserialize(value, attr, data, **kwargs)
        if not day_in_range(day):
            raise ma.ValidationError(N_("Enter a date between %(first)s and %(last)s.")
                                     % {"first": FIRST_DAY.isoformat(), "last": LAST_DAY.isoformat()})
        return day


class RequestSchema(ma.Schema):
    """A request as clients see it: references, dates and statuses; no names, emails or health data."""

    class Meta:
        ordered = True

    reference = ma.fields.String(required=True, metadata={"example": "DSAR-2026-000123"})
    type = ma.fields.String(required=True, validate=validate.OneOf(values(RequestType)))
    status = ma.fields.String(required=True, validate=validate.OneOf(values(Status)))
    channel = ma.fields.String(required=True, validate=validate.OneOf(values(Channel)))
    subject_kind = ma.fields.String(required=True, validate=validate.OneOf(values(SubjectKind)))
    language = ma.fields.String(required=True)
    received_at = ma.fields.AwareDateTime(required=True, format="iso", metadata={"description": "Instant of receipt, UTC"})
    clock_started_on = Day(required=True, allow_none=True, metadata={
        "description": "Paris day the complete request was received (null until identity is verified)"})
    due_date = Day(required=True, allow_none=True, metadata={
        "description": "The date the answer is due now (pauses, extension and the medical-record rule applied)"})
    one_month_due_date = Day(required=True, allow_none=True, metadata={"description": "The one-month date (GDPR art. 12(3))"})
    extended_due_date = Day(required=True, allow_none=True, metadata={"description": "Set once extended by two months"})
    medical_record_old_due_date = Day(required=True, allow_none=True, metadata={
        "description": "CSP R.1111-1: 2 months from receipt for the medical record items over five years old"})
    paused = ma.fields.Method("_is_paused", required=True, metadata={
        "type": "boolean", "description": "A clarification is awaited; only an identity question stops the clock "
                                          "(décret n° 2019-536 art. 77), never once the date has passed"})
    outcome = ma.fields.String(required=True, allow_none=True, validate=validate.OneOf(values(Outcome)))
    identity_method = ma.fields.String(required=True, allow_none=True, validate=validate.OneOf(values(IdentityMethod)))
    identity_verified_at = ma.fields.AwareDateTime(required=True, allow_none=True, format="iso")
    handler = ma.fields.String(required=True, metadata={"description": "staff or professional (policy art. 8.2)"})
    answered_at = ma.fields.AwareDateTime(required=True, allow_none=True, format="iso")
    refused_at = ma.fields.AwareDateTime(required=True, allow_none=True, format="iso", metadata={
        "description": "When a whole or partial refusal was given"})
    refusal_late = ma.fields.Boolean(required=True, metadata={
        "description": "The refusal came after the one-month date (GDPR art. 12(4)), even after an extension"})
    unfounded_or_excessive = ma.fields.String(required=True, allow_none=True, validate=validate.OneOf(
        ("manifestly_unfounded", "excessive")), metadata={"description": "GDPR art. 12(5) decision, if any"})
    closed_at = ma.fields.AwareDateTime(required=True, allow_none=True, format="iso")
    external_account_id = ma.fields.String(required=True, allow_none=True)
    updated_at = ma.fields.AwareDateTime(required=True, format="iso")
    version = ma.fields.Integer(required=True, metadata={"description": "Send it back as expected_version to act only on this state"})

    def _is_paused(self, req) -> bool:
        return req.status == Status.AWAITING_REQUESTER
