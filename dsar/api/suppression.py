"""The art. 21(3) suppression list for the marketing tools: hashes only, paginated by an id cursor.

A marketing tool holds a key with the ``suppression`` scope and the HMAC key (``DSAR_HASH_KEY``); it hashes
its own contacts' normalised email (trimmed, lower-case) and phone (E.164) and drops every match.
"""
from __future__ import annotations

import marshmallow as ma
from flask_smorest import Blueprint

from ..services import suppression
from . import auth
from .schemas import MAX_INT

bp = Blueprint("suppression", __name__, url_prefix="/api/v1/suppression",
               description="People who objected to direct marketing (GDPR art. 21(3)): never prospect them again.")


class SuppressionQuerySchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    after = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=MAX_INT), metadata={
        "description": "Cursor: return entries with an id above this (the `next_after` of the previous page)"})
    limit = ma.fields.Integer(load_default=500, validate=ma.validate.Range(min=1, max=suppression.MAX_PAGE))
    kind = ma.fields.String(load_default=None, validate=ma.validate.OneOf(suppression.KINDS))


class SuppressionEntrySchema(ma.Schema):
    class Meta:
        ordered = True

    id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True, metadata={"description": "email or phone"})
    hash = ma.fields.String(required=True, metadata={"description": "HMAC-SHA-256 (hex) of the normalised value"})
    added_at = ma.fields.DateTime(required=True)


class SuppressionPageSchema(ma.Schema):
    class Meta:
        ordered = True

    entries = ma.fields.List(ma.fields.Nested(SuppressionEntrySchema), required=True)
    next_after = ma.fields.Integer(required=True, allow_none=True, metadata={
        "description": "Pass as `after` for the next page; null when this page is the last"})


@bp.route("", methods=["GET"])
@auth.secured(bp, "suppression", "staff")
@bp.arguments(SuppressionQuerySchema, location="query")
@bp.response(200, SuppressionPageSchema)
def suppression_GET(args: dict):
    """The suppression list, oldest first, ``limit`` entries after the cursor ``after``."""
    entries = suppression.page(after=args["after"], limit=args["limit"], kind=args["kind"])
    return {
        "entries": [{"id": e.id, "kind": e.kind, "hash": e.value_hash, "added_at": e.added_at} for e in entries],
        "next_after": entries[-1].id if len(entries) == args["limit"] else None,
    }
