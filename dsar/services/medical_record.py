"""The items of a requested medical record and how old each is (CSP L.1111-7, R.1111-1).

The record is due 8 days after the receipt of the request, or 2 months "lorsque
les informations médicales datent de plus de cinq ans" (R.1111-1). How old an
item is, is a fact its holder establishes: staff, the professional in charge
(through the task link) or a staff API key set it, item by item; the requester
never does. A record mixing old and recent items has both dates
(``requests.due_date`` binds, ``requests.medical_record_old_due_date`` for the
old items). Every change recomputes the deadlines and is an audit event.

Plain values and an Actor in; nothing here commits.
"""
from __future__ import annotations

from flask import current_app

from .. import audit, lifecycle
from ..actors import Actor
from ..errors import IllegalTransition, InvalidInput, N_, NotFound, PermissionDenied
from ..models import DataRequest, MedicalRecordItem, utcnow
from ..models.enums import ActorType

#: Who may establish how old an item is: the holders' side, never the requester.
HOLDERS = frozenset({ActorType.STAFF, ActorType.PROFESSIONAL, ActorType.API})
MAX_LABEL = 200


def _check(req: DataRequest, actor: Actor) -> None:
    if actor.type not in HOLDERS:
        raise PermissionDenied(N_("Only staff or the professional in charge say how old the medical information is."),
                               code="forbidden")
    if not req.medical_record:
        raise InvalidInput(N_("This request does not ask for the medical record."), code="not_medical", field="label")
    if req.is_final:
        raise IllegalTransition(N_("This request is closed: its medical record items can no longer change."),
                                code="final")


def _flag(value) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("1", "true", "on", "yes"):
        return True
    if value in (None, "", "0", "false", "off", "no"):
        return False
    raise InvalidInput(N_("Say whether the information is over five years old."), code="bad_flag",
                       field="older_than_5_years")


def set_item(req: DataRequest, actor: Actor, *, label: str | None, older_than_5_years, item_id: int | None = None
             ) -> MedicalRecordItem:
    """Add an item of the medical record, or change one, with whether it is over five years old (R.1111-1)."""
    _check(req, actor)
    label = (label or "").strip()
    if not label:
        raise InvalidInput(N_("This field is required."), code="required", field="label")
    if len(label) > MAX_LABEL or "\n" in label or "\r" in label:
        raise InvalidInput(N_("Name the item in one line of at most %(max)s characters."), code="too_long",
                           field="label", max=MAX_LABEL)
    older = _flag(older_than_5_years)
    if item_id is not None:
        item = next((i for i in req.medical_record_items if i.id == item_id), None)
        if item is None:
            raise NotFound(N_("No such item on this request."))
        item.label, item.older_than_5_years = label, older
        item.set_by, item.set_at = actor.label, utcnow()
    else:
        item = MedicalRecordItem(label=label, older_than_5_years=older, set_by=actor.label)
        req.medical_record_items.append(item)
    lifecycle.recompute_deadline(req, current_app.extensions["dsar_policy"])
    _record(req, actor, "medical_record_item_set", older_than_5_years=older)
    return item


def remove_item(req: DataRequest, actor: Actor, *, item_id: int) -> None:
    """Take an item off the record (entered by mistake); the dates are recomputed."""
    _check(req, actor)
    item = next((i for i in req.medical_record_items if i.id == item_id), None)
    if item is None:
        raise NotFound(N_("No such item on this request."))
    req.medical_record_items.remove(item)
    lifecycle.recompute_deadline(req, current_app.extensions["dsar_policy"])
    _record(req, actor, "medical_record_item_removed")


def _record(req: DataRequest, actor: Actor, action: str, **details) -> None:
    # The item's label may name care: it stays in its row, out of the audit trail.
    audit.record(actor, action, request=req, details={
        **details,
        "items": len(req.medical_record_items),
        "medical_record_due": req.due_date.isoformat() if req.due_date else None,
        "medical_record_old_due": req.medical_record_old_due_date.isoformat() if req.medical_record_old_due_date else None,
    })
