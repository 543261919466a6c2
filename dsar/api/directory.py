"""Directory sync: the application pushes its professionals and patient↔professional links (policy art. 8.2).

Bulk and idempotent: the same rows twice change nothing the second time. A
malformed body (wrong types, unknown fields) is refused whole with 422; rows
that are well formed but break a rule (an RPPS number whose check digit is
wrong, an unknown professional …) are listed in the report, the others applied.
Fields left out of a row keep their stored value.
"""
from __future__ import annotations

import marshmallow as ma
from flask import request
from flask_babel import gettext
from flask_smorest import Blueprint

from ..extensions import db
from ..services import directory
from . import auth
from .schemas import CareLinkSyncSchema, ProfessionalSyncSchema

bp = Blueprint("directory", __name__, url_prefix="/api/v1/directory",
               description="Keep the directory of professionals and patient links in sync (policy art. 8.2).")


class RejectedRowSchema(ma.Schema):
    class Meta:
        ordered = True

    index = ma.fields.Integer(required=True, metadata={"description": "Position of the row in the list, from 0"})
    key = ma.fields.String(required=True, allow_none=True, metadata={"description": "The row's identifier, if readable"})
    field = ma.fields.String(required=True, allow_none=True)
    code = ma.fields.String(required=True)
    message = ma.fields.String(required=True, metadata={"description": "Why, in the client's language"})


class SyncReportSchema(ma.Schema):
    class Meta:
        ordered = True

    kind = ma.fields.String(required=True)
    created = ma.fields.Integer(required=True)
    updated = ma.fields.Integer(required=True)
    unchanged = ma.fields.Integer(required=True)
    accepted = ma.fields.Integer(required=True)
    withdrawn_tasks = ma.fields.Integer(required=True, metadata={
        "description": "Tasks of professionals no longer active, handed back to staff"})
    rejected = ma.fields.List(ma.fields.Nested(RejectedRowSchema), required=True)


def _report(report) -> dict:
    return {
        "kind": report.kind, "created": report.created, "updated": report.updated, "unchanged": report.unchanged,
        "accepted": report.accepted, "withdrawn_tasks": report.withdrawn_tasks,
        "rejected": [{"index": r.index, "key": r.key, "field": r.field, "code": r.code,
                      "message": gettext(r.message) % r.params if r.params else gettext(r.message)}
                     for r in report.rejected],
    }


@bp.route("/professionals", methods=["POST"])
@auth.secured(bp, "directory", body=True)
@bp.arguments(ProfessionalSyncSchema)
@bp.response(200, SyncReportSchema)
def professionals_POST(data: dict):
    """Create or update professionals by ``external_id`` (at most 1,000 a call).

    A professional made inactive, or whose contract has ended, keeps no task: their open tasks go back to staff.
    """
    # The rows as sent (validated above): a field left out must stay out, so that it keeps its stored value.
    rows = request.get_json()["professionals"]
    report = directory.upsert_professionals(rows)
    db.session.commit()
    return _report(report)


@bp.route("/care-links", methods=["POST"])
@auth.secured(bp, "directory", body=True)
@bp.arguments(CareLinkSyncSchema)
@bp.response(200, SyncReportSchema)
def care_links_POST(data: dict):
    """Create or update patient↔professional links by (professional, patient_ref) (at most 5,000 a call).

    Contact data only — no health data. End a link with ``active: false`` or an ``ended_on`` date.
    """
    rows = request.get_json()["links"]
    report = directory.upsert_care_links(rows)
    db.session.commit()
    return _report(report)
