"""Webhooks: the delivery log (admin, DPO) and the receivers (admin): add, disable, enable, new secret, retry."""
from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ... import audit
from ...bounds import parse_id
from ...errors import InvalidInput, N_
from ...extensions import db
from ...jobs import enqueue_after_commit
from ...models import DataRequest, OutboxMessage, utcnow
from ...models.webhooks import WebhookEndpoint
from ...models.enums import OutboxKind, OutboxStatus
from ...services import webhooks as service
from ..common import translate_error
from .blueprint import bp
from .auth import staff_actor, staff_required
from ...jobs.outbox import deliver

PAGE_SIZE = 50
DELIVERY_STATUS_LABELS = {
    "pending": N_("waiting (retried later)"),
    "sending": N_("being sent"),
    "sent": N_("delivered"),
    "failed": N_("given up"),
}
RETRY_MORE_ATTEMPTS = 4


def _deliveries(status: str | None, before: int | None) -> list:
    query = (sa.select(OutboxMessage, DataRequest.reference)
             .outerjoin(DataRequest, DataRequest.id == OutboxMessage.request_id)
             .where(OutboxMessage.kind == OutboxKind.WEBHOOK))
    if status:
        query = query.where(OutboxMessage.status == status)
    if before:
        query = query.where(OutboxMessage.id < before)   # keyset: stays fast deep in the log
    return db.session.execute(query.order_by(OutboxMessage.id.desc()).limit(PAGE_SIZE + 1)).all()


def _endpoints() -> list[WebhookEndpoint]:
    return list(db.session.scalars(sa.select(WebhookEndpoint).order_by(WebhookEndpoint.active.desc(), WebhookEndpoint.id)))


def _render(*, errors=None, values=None, new_secret=None, status=200):
    filter_status = request.args.get("status") or None
    if filter_status not in (None, *DELIVERY_STATUS_LABELS):
        filter_status = None
    before = parse_id(request.args.get("before"))   # a keyset position: an id, or the first page
    rows = _deliveries(filter_status, before)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return render_template(
        "backoffice/webhooks.html", endpoints=_endpoints(), deliveries=rows,
        next_before=rows[-1][0].id if more and rows else None, filter_status=filter_status,
        status_labels=DELIVERY_STATUS_LABELS, known_events=service.KNOWN_EVENTS,
        errors=errors or {}, values=values or {}, new_secret=new_secret,
        default_url=_default_url(),
    ), status


def _default_url():
    from flask import current_app

    url = current_app.config.get("DSAR_WEBHOOK_URL")
    return url if url and current_app.config.get("DSAR_WEBHOOK_SECRET") else None


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        abort(404)
    return endpoint


@bp.get("/webhooks")
@staff_required("admin", "dpo")
def webhooks_GET():
    return _render()


@bp.post("/webhooks/endpoints")
@staff_required("admin")
def webhook_endpoint_create_POST():
    url = (request.form.get("url") or "").strip()
    events = [e for e in request.form.getlist("events") if e in service.KNOWN_EVENTS]
    description = (request.form.get("description") or "").strip()
    values = {"url": url, "events": events, "description": description}
    try:
        endpoint, secret = service.create_endpoint(url=url, events=events, description=description,
                                                   created_by=staff_actor().label)
    except InvalidInput as err:
        db.session.rollback()
        return _render(errors={err.field or "url": translate_error(err)}, values=values, status=422)
    audit.record(staff_actor(), "webhook_endpoint_created", stream="webhooks",
                 details={"endpoint_id": endpoint.id, "events": endpoint.events})
    db.session.commit()
    # The secret is shown in this answer only: the receiver needs it to check signatures.
    return _render(new_secret={"url": endpoint.url, "secret": secret})


@bp.post("/webhooks/endpoints/<int:endpoint_id>/rotate")
@staff_required("admin")
def webhook_endpoint_rotate_POST(endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    secret = service.rotate_secret(endpoint)
    audit.record(staff_actor(), "webhook_secret_rotated", stream="webhooks", details={"endpoint_id": endpoint.id})
    db.session.commit()
    return _render(new_secret={"url": endpoint.url, "secret": secret})


@bp.post("/webhooks/endpoints/<int:endpoint_id>/disable")
@staff_required("admin")
def webhook_endpoint_disable_POST(endpoint_id: int):
    return _set_active(_endpoint(endpoint_id), False)


@bp.post("/webhooks/endpoints/<int:endpoint_id>/enable")
@staff_required("admin")
def webhook_endpoint_enable_POST(endpoint_id: int):
    return _set_active(_endpoint(endpoint_id), True)


def _set_active(endpoint: WebhookEndpoint, active: bool):
    if endpoint.active != active:
        endpoint.active = active
        audit.record(staff_actor(), "webhook_endpoint_enabled" if active else "webhook_endpoint_disabled",
                     stream="webhooks", details={"endpoint_id": endpoint.id})
        db.session.commit()
    flash(_("Receiver enabled.") if active else _("Receiver disabled: nothing new is sent to it."), "info")
    return redirect(url_for("backoffice.webhooks_GET"))


@bp.post("/webhooks/deliveries/<int:message_id>/retry")
@staff_required("admin", "dpo")
def webhook_delivery_retry_POST(message_id: int):
    """A delivery the outbox gave up on: a few more attempts, starting now."""
    msg = db.session.get(OutboxMessage, message_id)
    if msg is None or msg.kind != OutboxKind.WEBHOOK:
        abort(404)
    if msg.status != OutboxStatus.FAILED:
        return _render(errors={"retry": _("Only a delivery that was given up can be retried.")}, status=409)
    msg.status = OutboxStatus.PENDING
    msg.max_attempts = msg.attempts + RETRY_MORE_ATTEMPTS
    msg.next_attempt_at = utcnow()
    audit.record(staff_actor(), "webhook_delivery_retried", stream="webhooks", details={"message_id": msg.id})
    enqueue_after_commit(deliver, msg.id, job_id=f"outbox-{msg.id}")
    db.session.commit()
    flash(_("The delivery will be tried again now."), "info")
    return redirect(url_for("backoffice.webhooks_GET"))
