"""The erasure plan as applied to a request (GDPR art. 17(3), policy art. 12).

Staff record whether the contract ends with the erasure; at the answer the plan is computed once and kept,
so that the letter and the record say the same thing.
"""
from __future__ import annotations

from datetime import date

from ... import audit
from ...actors import Actor
from ...deadlines import legal_day
from ...errors import IllegalTransition, InvalidInput, N_
from ...extensions import db
from ...models import DataRequest, utcnow
from ...models.enums import DocumentKind, RequestType, Status
from ...models.fulfilment import ContractState, ErasureDecision
from ...policy.erasure import erasure_plan
from ...policy.law import RETENTION_GROUNDS
from ...policy.text import localized
from .common import concerned_activities, current_policy, legal_today, party_name
from .recipients import professionals_in_charge


def _identity_proof_day(req: DataRequest) -> date | None:
    docs = [d for d in req.documents if d.kind == DocumentKind.IDENTITY]
    return legal_day(docs[0].uploaded_at) if docs else None


def erasure_plan_for(req: DataRequest, *, today: date | None = None):
    """The plan for this request from its recorded facts: by default the erasure closes the account today."""
    today = today or legal_today()
    decision = req.erasure_decision
    state = ContractState(decision.contract_state) if decision else ContractState.CLOSES_NOW
    ended = {ContractState.CLOSES_NOW: today, ContractState.RUNNING: None}.get(
        state, decision.contract_ended_on if decision else today)
    return erasure_plan(
        current_policy(), [a.key for a in concerned_activities(req)] or None, req.subject_kind,
        contract_ended_on=ended, today=today,
        last_invoice_on=decision.last_invoice_on if decision else None,
        identity_proof_received_on=_identity_proof_day(req),
        professional_contract_ends_on=_professional_contract_end(req),
    )


def _professional_contract_end(req: DataRequest) -> date | None:
    """When the contract of the professional(s) in charge ends, if every one has an end date (policy art. 12)."""
    pros = professionals_in_charge(req) if req.subject_kind == "patient" else []
    ends = [p.contract_ended_on for p in pros]
    return max(ends) if ends and all(ends) else None


def set_erasure_facts(req: DataRequest, actor: Actor, *, contract_state: str, contract_ended_on: date | None = None,
                      last_invoice_on: date | None = None) -> ErasureDecision:
    """Staff say whether the contract ends with the erasure, ended before, or goes on."""
    if req.type != RequestType.ERASURE:
        raise IllegalTransition(N_("An erasure plan belongs to an erasure request."), code="wrong_type")
    if req.is_final or Status(req.status) == Status.ANSWERED:
        raise IllegalTransition(N_("The answer has been sent: the erasure plan it states can no longer change."),
                                code="wrong_state")
    try:
        state = ContractState(contract_state)
    except ValueError:
        raise InvalidInput(N_("Choose what happens to the contract."), code="bad_state", field="contract_state") from None
    today = legal_today()
    if state == ContractState.ENDED:
        if contract_ended_on is None:
            raise InvalidInput(N_("Give the date the contract ended."), code="required", field="contract_ended_on")
        if contract_ended_on > today:
            raise InvalidInput(N_("A contract that ends in the future is still running."), code="future",
                               field="contract_ended_on")
    else:
        contract_ended_on = None
    if last_invoice_on is not None and last_invoice_on > today:
        raise InvalidInput(N_("The last invoice cannot be in the future."), code="future", field="last_invoice_on")
    decision = req.erasure_decision or ErasureDecision(request=req, decided_by=actor.label)
    decision.contract_state, decision.contract_ended_on, decision.last_invoice_on = state, contract_ended_on, last_invoice_on
    decision.decided_at, decision.decided_by = utcnow(), actor.label
    db.session.add(decision)
    audit.record(actor, "erasure_facts_set", request=req, details={
        "contract_state": str(state), "contract_ended_on": contract_ended_on, "last_invoice_on": last_invoice_on,
    })
    return decision


def _stored_item(i) -> dict:
    """One item of the plan as kept with the decision (JSON) and read back for the letter and the page."""
    return {
        "activity": i.activity, "category": i.category, "action": i.action,
        "until": i.until.isoformat() if i.until else None, "grounds": list(i.grounds),
        "articles": list(i.gdpr_articles), "reason": dict(i.reason), "responsible": list(i.responsible),
        "sensitive": i.sensitive,
    }


def fix_erasure_plan(req: DataRequest, actor: Actor) -> ErasureDecision:
    """At the answer: the plan is computed once and kept, so the letter and the record say the same thing."""
    today = legal_today()
    plan = erasure_plan_for(req, today=today)
    decision = req.erasure_decision or ErasureDecision(request=req, decided_by=actor.label)
    decision.planned_on = today
    decision.items = [_stored_item(i) for i in plan]
    db.session.add(decision)
    db.session.flush()
    audit.record(actor, "erasure_planned", request=req, details={
        "planned_on": today, "items": [{k: v for k, v in it.items() if k != "reason"} for it in decision.items],
    })
    return decision


def erasure_rows(req: DataRequest, lang: str, *, today: date | None = None) -> list[dict]:
    """The plan as shown to staff and stated in the letter: the fixed one after the answer, else a preview."""
    policy = current_policy()
    decision = req.erasure_decision
    if decision is not None and decision.items is not None:
        items = decision.items
    else:
        items = [_stored_item(i) for i in erasure_plan_for(req, today=today)]
    rows = []
    for it in items:
        cat = next((c for c in policy.categories_for(it["activity"]) if c.key == it["category"]), None)
        rows.append({
            "activity": localized(policy.activity(it["activity"]).name, lang),
            "category": localized(cat.name, lang) if cat else it["category"],
            "action": it["action"],
            "until": date.fromisoformat(it["until"]) if it["until"] else None,
            "grounds": [{"label": RETENTION_GROUNDS[g][1][lang], "article": RETENTION_GROUNDS[g][0]} for g in it["grounds"]],
            "reason": it["reason"].get(lang) or it["reason"].get("fr", ""),
            "responsible": [party_name(policy, p, lang) for p in it.get("responsible", [])],
        })
    return rows


