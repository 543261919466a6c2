"""The body of POST /api/v1/requests/{reference}/actions: one schema per action, chosen by ``action``.

Each action's schema says which fields it takes and which it needs, so a missing or wrong-typed field is a 422
naming it, before anything is read from the database (``{"action": "extend"}`` without a reason used to reach
the service and fail there with a 500). ``ActionSchema`` dispatches on ``action`` (a oneOf, as
marshmallow-oneofschema does) and declares every field for the OpenAPI document.
"""
from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from ..errors import N_
from ..models.enums import IdentityMethod, Outcome
from .schemas import MAX_INT, Text, values

_VERSION_DOC = "The version you acted on; another one means someone acted meanwhile: 409"


def _version():
    return ma.fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_INT), metadata={"description": _VERSION_DOC})


def _id(**kwargs):
    return ma.fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_INT), **kwargs)


class _Action(ma.Schema):
    class Meta:
        unknown = ma.RAISE
        ordered = True

    action = ma.fields.String(required=True)
    expected_version = _version()


class VerifyIdentityAction(_Action):
    method = ma.fields.String(load_default=str(IdentityMethod.DOCUMENT), validate=validate.OneOf(values(IdentityMethod)))
    note = Text(5000, multiline=True)


class RefuseIdentityAction(_Action):
    reason = Text(5000, multiline=True, required=True)


class AssignAction(_Action):
    assignee_id = _id(required=True, allow_none=True, metadata={"description": "null: nobody"})


class RouteAction(_Action):
    professional_id = _id()
    professional_external_id = Text(64)
    to_staff = ma.fields.Boolean()

    @ma.validates_schema
    def _one_destination(self, data, **kwargs):
        given = [k for k in ("professional_id", "professional_external_id") if k in data]
        if data.get("to_staff"):
            given.append("to_staff")
        if len(given) != 1:
            raise ma.ValidationError(N_("Give one of professional_id, professional_external_id or to_staff."),
                                     field_name=given[-1] if given else "professional_id")


class ClarifyAction(_Action):
    question = Text(5000, multiline=True, required=True)
    kind = ma.fields.String(load_default="scope", validate=validate.OneOf(("identity", "scope")), metadata={
        "description": "identity suspends the period (décret n° 2019-536 art. 77); scope does not (GDPR art. 12(3))"})


class ResumeAction(_Action):
    answer = Text(10000, multiline=True)


class ExtendAction(_Action):
    reason = Text(5000, multiline=True, required=True)


class AnswerAction(_Action):
    outcome = ma.fields.String(required=True, validate=validate.OneOf(values(Outcome)))
    message = Text(20000, multiline=True, required=True)
    reasons = Text(10000, multiline=True)


class RefuseAction(_Action):
    reasons = Text(10000, multiline=True, required=True)
    unfounded_or_excessive = ma.fields.String(validate=validate.OneOf(("manifestly_unfounded", "excessive")),
                                              metadata={"description": "GDPR art. 12(5): needs its grounds"})
    unfounded_or_excessive_grounds = Text(10000, multiline=True)


class CloseAction(_Action):
    pass


class ReopenAction(_Action):
    reason = Text(5000, multiline=True, required=True)


class WithdrawAction(_Action):
    pass


class NoteAction(_Action):
    note = Text(5000, multiline=True, required=True, metadata={"description": "Recorded in the audit trail"})


class MedicalRecordItemAction(_Action):
    """How old an item of the requested medical record is, as its holder establishes it (CSP R.1111-1)."""

    label = Text(200)
    older_than_5_years = ma.fields.Boolean()
    item_id = _id(metadata={"description": "The item to change; none: a new item"})


class CompleteStepAction(_Action):
    """Tick a step of the request's checklist; a required open step blocks a granting answer or the closure."""

    step_id = _id(required=True)
    note = Text(5000, multiline=True)


class RecordIdentityDoubtAction(_Action):
    """A reasonable doubt about the requester's identity: only then is a document asked for (GDPR art. 12(6))."""

    reason = Text(5000, multiline=True, required=True)


# The API's action names; each must be a verb of services.actions.ACTIONS (a test keeps the two in step).
ACTION_SCHEMAS: dict[str, type[_Action]] = {
    "verify_identity": VerifyIdentityAction,
    "refuse_identity": RefuseIdentityAction,
    "assign": AssignAction,
    "route": RouteAction,
    "clarify": ClarifyAction,
    "resume": ResumeAction,
    "extend": ExtendAction,
    "answer": AnswerAction,
    "refuse": RefuseAction,
    "close": CloseAction,
    "reopen": ReopenAction,
    "withdraw": WithdrawAction,
    "note": NoteAction,
    "medical_record_item": MedicalRecordItemAction,
    "complete_step": CompleteStepAction,
    "record_identity_doubt": RecordIdentityDoubtAction,
}


def _summary() -> str:
    parts = []
    for name, schema in ACTION_SCHEMAS.items():
        fields = [("" if f.required else "optional ") + key for key, f in schema._declared_fields.items()
                  if key not in ("action", "expected_version")]
        parts.append(f"{name} ({', '.join(fields)})" if fields else name)
    return " · ".join(parts)


class ActionSchema(_Action):
    """One back-office action; each action takes only its own fields, and needs its required ones.

    Loading dispatches to the action's own schema; the fields below are the union, for the documentation.
    """

    action = ma.fields.String(required=True, validate=validate.OneOf(list(ACTION_SCHEMAS)),
                              metadata={"description": _summary()})
    method = ma.fields.String(validate=validate.OneOf(values(IdentityMethod)))
    note = Text(5000, multiline=True)
    reason = Text(5000, multiline=True)
    assignee_id = _id(allow_none=True)
    professional_id = _id()
    professional_external_id = Text(64)
    to_staff = ma.fields.Boolean()
    question = Text(5000, multiline=True)
    answer = Text(10000, multiline=True)
    outcome = ma.fields.String(validate=validate.OneOf(values(Outcome)))
    message = Text(20000, multiline=True)
    reasons = Text(10000, multiline=True)
    kind = ma.fields.String(validate=validate.OneOf(("identity", "scope")))
    unfounded_or_excessive = ma.fields.String(validate=validate.OneOf(("manifestly_unfounded", "excessive")))
    unfounded_or_excessive_grounds = Text(10000, multiline=True)
    label = Text(200)
    older_than_5_years = ma.fields.Boolean()
    item_id = _id()
    step_id = _id()

    def load(self, data, *, many=None, partial=None, unknown=None):
        if not isinstance(data, dict):
            raise ma.ValidationError({"_schema": [N_("Invalid input type.")]})
        action = data.get("action")
        schema = ACTION_SCHEMAS.get(action) if isinstance(action, str) else None
        if schema is None:
            # The action itself is at fault: report it alone, as the generic schema words it.
            super().load({"action": action} if "action" in data else {}, partial=partial)
            raise ma.ValidationError({"action": [N_("Invalid value.")]})   # not reached: OneOf refused it
        return schema().load(data, partial=partial)
