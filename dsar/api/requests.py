"""Requests: submit (the application, policy art. 8.1), read, list, and act on them as the back-office does."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, time, timedelta, timezone

import sqlalchemy as sa
from flask import request, url_for
from flask_smorest import Blueprint

from .. import lifecycle
from ..deadlines import PARIS
from ..errors import Conflict, InvalidInput, N_, NotFound, PermissionDenied
from ..extensions import db
from ..models import DataRequest, Professional
from ..models.webhooks import ApiSubmission
from ..models.enums import Channel, IdentityMethod
from ..services import actions, intake
from . import auth
from .errors import ErrorSchema
from .action_schemas import ActionSchema
from .schemas import RequestCreateSchema, RequestListArgs, RequestPageSchema, RequestSchema

bp = Blueprint("requests", __name__, url_prefix="/api/v1/requests",
               description="Data subject requests: submit, read, follow, and act on them like the back-office.")

PROTOCOL = "api"
# Channels that mean "the privacy team logged this": only a staff key uses them.
STAFF_CHANNELS = {Channel.POST, Channel.PHONE, Channel.IN_PERSON}


def body_digest() -> str:
    """SHA-256 of the JSON body, keys sorted: the same request sent twice digests the same."""
    payload = request.get_json(silent=True)
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _identity_method(identity: dict, channel: str) -> str | None:
    """What the submitter vouches for (policy art. 8.1). Unverified: None, and a document is asked for."""
    if not identity.get("verified"):
        if channel == Channel.ACCOUNT:
            # Policy art. 8.1: what comes through the account is verified by the account; an unverified
            # "account" request is a contradiction, not something to guess about.
            raise InvalidInput(N_("A request made from the account is verified by the account: set identity.verified "
                                  "to true, or choose the channel the request really came through."),
                               code="bad_identity", field="identity.verified")
        return None
    method = identity["method"]
    if method == IdentityMethod.ACCOUNT:
        if channel != Channel.ACCOUNT:
            raise InvalidInput(N_("An identity checked through the account needs the account channel."),
                               code="bad_identity", field="identity.method")
        return IdentityMethod.ACCOUNT
    if not auth.has_scope("staff"):
        raise PermissionDenied(N_("Only a staff key may vouch for an identity checked outside the account."),
                               code="forbidden", field="identity.verified")
    if method == IdentityMethod.IN_PERSON:
        return IdentityMethod.IN_PERSON
    return IdentityMethod.VOUCHED  # a document checked, or an identity vouched for, by the staff system


def _created(req: DataRequest, status: int):
    return req, status, {"Location": url_for("requests.request_GET", reference=req.reference)}


@bp.route("", methods=["POST"])
@auth.secured(bp, "submit", "staff", body=True)
@bp.arguments(RequestCreateSchema())  # an instance, built once: a class is instantiated (fields deep-copied) per call
@bp.response(201, RequestSchema, description="The request, as received")
@bp.alt_response(200, schema=RequestSchema, description="The same client_reference and body were sent before: the request already created")
@bp.alt_response(409, schema=ErrorSchema, description="client_reference already used with another body")
def requests_POST(data: dict):
    """Submit a request.

    From a signed-in account (channel ``account``), identity is verified by the account (policy art. 8.1): the
    request is complete on receipt, its clock starts that day (deadline rule 1) and it is routed. Otherwise a
    document is asked of the requester by email. A staff key may also log a letter, a call or a visit with its
    real date of receipt (``received_at``) and vouch for an identity checked in person.
    """
    key = auth.authenticate()
    is_staff = auth.has_scope("staff")
    if data.get("received_at") is not None and not is_staff:
        raise PermissionDenied(N_("Only a staff key may set the date of receipt."), code="forbidden", field="received_at")
    if data["channel"] in STAFF_CHANNELS and not is_staff:
        raise PermissionDenied(N_("Only a staff key may log a request received by post, phone or in person."),
                               code="forbidden", field="channel")
    digest = body_digest()
    reference = data.get("client_reference")
    # Idempotency rides on the INSERT: (key, client_reference) is unique, so a retry of a committed submission
    # fails at its idempotency row's INSERT and is answered as a replay below; the first try reads nothing beforehand.
    try:
        req = intake.submit_request(
            type=data["type"],
            subject=data["subject"],
            requester=dict(data["requester"], acting_for="other") if data.get("requester") else None,
            channel=data["channel"],
            language=data["language"],
            details=data.get("details"),
            activities=data.get("activities"),
            received_at=data.get("received_at"),
            identity_method=_identity_method(data["identity"], data["channel"]),
            medical_record=data["medical_record"],
            external_account_id=data.get("external_account_id"),
            actor=auth.actor(),
        )
    except (InvalidInput, PermissionDenied):
        # A client_reference already used is answered as such (200 or 409) before what this body says.
        previous = _previous_submission(key.id, reference) if reference else None
        if previous is None:
            raise
        db.session.rollback()
        return _replayed(previous, digest)
    try:
        _record_submission(req.id, key.id, reference, digest)
        _commit_keeping_values()
    except sa.exc.IntegrityError:
        # The same client_reference committed before (a retry, or a concurrent one): answer as a replay.
        db.session.rollback()
        previous = _previous_submission(key.id, reference) if reference else None
        if previous is None:
            raise
        return _replayed(previous, digest)
    return _created(req, 201)


#: The idempotency row, written with Core: nothing in the request reads it back, so it needs no ORM object
#: (the unit of work's bookkeeping for one more mapper cost more than the INSERT itself, issue 19).
_INSERT_SUBMISSION = sa.insert(ApiSubmission.__table__)


def _record_submission(request_id: int, key_id: int, reference: str | None, digest: str) -> None:
    """The (key, client_reference) row, in the submission's transaction: a rollback takes it with the request."""
    db.session.execute(_INSERT_SUBMISSION.values(
        request_id=request_id, api_key_id=key_id, protocol=PROTOCOL, client_reference=reference, body_sha256=digest))


def _commit_keeping_values() -> None:
    """Commit without expiring what was written: the answer is serialised from the objects as they were
    sent to the database, not read again (issue 19)."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def _previous_submission(key_id: int, reference: str) -> ApiSubmission | None:
    return db.session.scalar(sa.select(ApiSubmission).where(
        ApiSubmission.protocol == PROTOCOL, ApiSubmission.api_key_id == key_id,
        ApiSubmission.client_reference == reference))


def _replayed(previous: ApiSubmission, digest: str):
    if previous.body_sha256 != digest:
        raise Conflict(N_("This client_reference was already used for a different request."),
                       code="client_reference_reused", field="client_reference")
    return _created(previous.request, 200)


@bp.route("", methods=["GET"])
@auth.secured(bp, "read", "staff")
@bp.arguments(RequestListArgs(), location="query", unknown="raise")
@bp.response(200, RequestPageSchema)
def requests_GET(args: dict):
    """List requests, newest first, with filters; pages of up to 100."""
    query = sa.select(DataRequest).where(DataRequest.reference.is_not(None))
    if args.get("status"):
        query = query.where(DataRequest.status.in_(args["status"]))
    for name in ("type", "channel", "subject_kind", "external_account_id"):
        if args.get(name):
            query = query.where(getattr(DataRequest, name) == args[name])
    if args.get("received_from"):
        query = query.where(DataRequest.received_at >= _paris_midnight(args["received_from"]))
    if args.get("received_to"):
        query = query.where(DataRequest.received_at < _paris_midnight(args["received_to"], days_after=1))
    if args.get("due_before"):
        query = query.where(DataRequest.due_date <= args["due_before"])
    if args.get("updated_since"):
        query = query.where(DataRequest.updated_at >= args["updated_since"])
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    page, per_page = args["page"], args["per_page"]
    items = db.session.scalars(query.order_by(DataRequest.received_at.desc(), DataRequest.id.desc())
                               .limit(per_page).offset((page - 1) * per_page)).all()
    return {"items": items, "page": page, "per_page": per_page, "total": total}


def _paris_midnight(day, days_after: int = 0) -> datetime:
    try:
        return datetime.combine(day + timedelta(days=days_after), time(0), tzinfo=PARIS).astimezone(timezone.utc)
    except OverflowError:
        return datetime.max.replace(tzinfo=timezone.utc) if days_after else datetime.min.replace(tzinfo=timezone.utc)


@bp.route("/<string:reference>", methods=["GET"])
@auth.secured(bp, "read", "staff")
@bp.response(200, RequestSchema)
@bp.alt_response(404, schema=ErrorSchema, description="No request with this reference")
def request_GET(reference: str):
    """One request, by its reference."""
    return actions.get_request(reference)


@bp.route("/<string:reference>/actions", methods=["POST"])
@auth.secured(bp, "staff", body=True)
@bp.arguments(ActionSchema)
@bp.response(200, RequestSchema, description="The request after the action")
@bp.alt_response(404, schema=ErrorSchema, description="No request with this reference")
@bp.alt_response(409, schema=ErrorSchema, description="Not possible in the request's current status, or expected_version is stale")
def request_actions_POST(data: dict, reference: str):
    """Act on a request as the back-office does: the same rules, the same audit events, the same emails.

    A staff key acts with an agent's rights (reopening is for the DPO). An action that the request's status does
    not allow answers 409 and changes nothing.
    """
    req = lifecycle.lock_request(reference)
    if req is None:
        raise NotFound(N_("No such request."))
    action = data.pop("action")
    expected_version = data.pop("expected_version", None)
    if "professional_external_id" in data:
        pro_id = db.session.scalar(sa.select(Professional.id).where(
            Professional.external_id == data.pop("professional_external_id")))
        if pro_id is None:
            raise InvalidInput(N_("Unknown professional."), code="bad_professional", field="professional_external_id")
        if data.setdefault("professional_id", pro_id) != pro_id:
            raise InvalidInput(N_("Give the professional once: professional_id or professional_external_id."),
                               code="bad_professional", field="professional_id")
    actions.perform(req, action, auth.actor(), data, expected_version=expected_version)
    db.session.commit()
    return req
