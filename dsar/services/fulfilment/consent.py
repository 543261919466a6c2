"""Withdrawal of consent for health data (policy art. 8.2): the patient's account is deactivated.

The archive is kept as evidence. The application's system deactivates the account when the systems layer
offers it (registered in ``systems_hooks``), else a webhook asks the application and staff confirm.
"""
from __future__ import annotations

from ... import audit
from ...actors import Actor
from ...errors import IllegalTransition, N_, NotFound
from ...extensions import db
from ...models import DataRequest, utcnow
from ...models.fulfilment import AccountDeactivation, DeactivationStatus
from ...urls import public_url
from .. import notifications
from ..webhooks import queue_webhook
from .common import concerned_activities, current_policy
from .systems_hooks import systems_hooks


def concerns_health_data(req: DataRequest) -> bool:
    """A withdrawal of consent that reaches sensitive (health) data processed for this kind of person."""
    policy = current_policy()
    return any(
        act.sensitive_data is not None and any(c.sensitive for c in policy.categories_for(act.key, req.subject_kind))
        for act in concerned_activities(req)
    )


def request_account_deactivation(req: DataRequest, actor: Actor) -> AccountDeactivation:
    """Policy art. 8.2: the patient's account is deactivated; the archive is kept as evidence.

    The application is asked by webhook (references only, no health data); staff confirm once it is done.
    Without an account identifier the webhook cannot say which account: staff find it and confirm.
    """
    if req.account_deactivation is not None:
        return req.account_deactivation
    dz = AccountDeactivation(request=req, external_account_id=req.external_account_id,
                             status=DeactivationStatus.REQUESTED)
    db.session.add(dz)
    if systems_hooks.deactivate(req, actor) is not None:
        # The application's system deactivates it (issue 17); the execution confirms it when done.
        db.session.flush()
        audit.record(actor, "account_deactivation_requested", request=req, details={
            "through": "systems", "policy": "art. 8.2"})
        return dz
    if req.external_account_id:
        queue_webhook("account.deactivation_requested",
                      {"reference": req.reference, "external_account_id": req.external_account_id}, request=req)
        dz.webhook_queued = True
    db.session.flush()
    notifications.email_dpo("deactivation_requested", {
        "reference": req.reference,
        "has_account_id": bool(req.external_account_id),
        "webhook_queued": dz.webhook_queued,
        "url": public_url("backoffice.fulfilment_GET", reference=req.reference),
    })
    audit.record(actor, "account_deactivation_requested", request=req, details={
        "webhook": dz.webhook_queued, "policy": "art. 8.2",
    })
    return dz


def confirm_account_deactivation(req: DataRequest, actor: Actor, *, note: str | None = None) -> AccountDeactivation:
    dz = req.account_deactivation
    if dz is None:
        raise NotFound(N_("No account deactivation was asked for on this request."))
    if dz.status == DeactivationStatus.CONFIRMED:
        raise IllegalTransition(N_("The deactivation has already been confirmed."), code="already_confirmed")
    dz.status, dz.confirmed_at, dz.confirmed_by = DeactivationStatus.CONFIRMED, utcnow(), actor.label
    dz.note = (note or "").strip() or None
    audit.record(actor, "account_deactivation_confirmed", request=req, details={"policy": "art. 8.2"})
    return dz


