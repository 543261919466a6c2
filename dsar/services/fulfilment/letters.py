"""Letters: what each letter says, built from the policy and the request, rendered to PDF and kept.

``letter_context`` gathers everything a letter states (GDPR art. 15(1)-(2) items, the erasure plan, the
recipients told, the proof asked of a representative ...); ``dsar.pdf`` only lays it out.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ... import audit, lifecycle
from ...actors import Actor
from ...deadlines import legal_day
from ...errors import Conflict, N_
from ...models import DataRequest, Document
from ...models.enums import DocumentKind, ReviewStatus
from ...pdf import letter_language, render_html, render_pdf
from ...policy.law import INVALIDATED_SAFEGUARDS, LEGAL_BASES, RIGHT_INFO, SENSITIVE_DATA_BASES
from ...policy.rights import evaluate_rights
from ...policy.text import localized
from ...policy_warnings import letter_blockers
from ..authority import authority_proof
from .common import concerned_activities, current_policy, file_stem, party_name, store_generated
from .consent import concerns_health_data
from .erasure import erasure_rows
from .packs import answer_documents, collected_categories
from .portability import dataset_row
from .post_mortem import change_for_request, post_mortem_standing
from .recipients import recipient_rows
from .systems_hooks import systems_hooks


def produce_letter(req: DataRequest, kind: str, actor: Actor, **ctx) -> tuple[Document, bytes]:
    """Render a letter in the requester's language and keep it as a LETTER document.

    A contradiction in the policy (a transfer on an invalidated safeguard, "health data never leave the
    EU" beside transfers of a processing of health data) stops every letter with a 409 until the DPO fixes
    the file: a letter to a data subject never states it (``policy_warnings.letter_blockers``).
    """
    blockers = letter_blockers(current_policy())
    if blockers:
        raise Conflict(
            N_("No letter can go out until the DPO fixes the policy file: %(keys)s."),
            code="policy_contradiction", keys=", ".join(w.key for w in blockers),
        )
    data = render_letter(kind, req, req.language or "fr", **ctx)
    name = f"{file_stem(kind, req.language)}-{req.reference}.pdf"
    doc = store_generated(req, DocumentKind.LETTER, data, name, actor, check_as_upload=True)
    audit.record(actor, "letter_produced", request=req, details={
        "kind": kind, "document_id": doc.id, "sha256": doc.sha256, "language": req.language,
    })
    return doc, data


def _full_context(kind: str, req: DataRequest, language: str, ctx: dict) -> tuple[str, dict]:
    language = letter_language(language)
    context = letter_context(kind, req, language)
    context.update(ctx)
    context["req"] = req
    return language, context


def render_letter_html(kind: str, req: DataRequest, language: str, **ctx) -> str:
    """The letter as HTML (what WeasyPrint lays out); ``ctx`` overrides the context built from the policy."""
    language, context = _full_context(kind, req, language, ctx)
    return render_html(kind, language, context)


def render_letter(kind: str, req: DataRequest, language: str, **ctx) -> bytes:
    """The letter ``kind`` for request ``req`` as PDF bytes, in ``language`` (fr or en)."""
    language, context = _full_context(kind, req, language, ctx)
    return render_pdf(kind, language, context)


def open_or_last_pause(req: DataRequest):
    return next((p for p in reversed(req.pauses) if p.question), None)


def letter_context(kind: str, req: DataRequest, language: str) -> dict:
    """Everything a letter says that comes from the policy and the request, in ``language``."""
    policy = current_policy()
    lang = language
    rt = policy.request_types.get(req.type)
    ctx = {
        "policy": policy,
        "controller": policy.controller,
        "authority": policy.controller.complaint_authority,
        "policy_title": localized(policy.document.title, lang),
        "article": policy.article,
        "request_type_name": localized(rt.name, lang) if rt else req.type,
        "request_type_gdpr": rt.gdpr if rt else None,
        "request_type_reference": localized(rt.legal_reference, lang) if rt and rt.legal_reference else None,
        "received_on": legal_day(req.received_at) if req.received_at else None,
        "outcome": req.outcome,
        "handled_by_professional": req.handler == "professional",
        "post_mortem": post_mortem_standing(req),
    }
    if kind == "clarification":
        pause = open_or_last_pause(req)
        ctx["question"] = pause.question if pause else ""
        ctx["paused_on"] = pause.started_on if pause else None
        # DESIGN.md rule 4: the letter says exactly what happens to the deadline (suspended, running, passed).
        ctx["effect"] = lifecycle.clarification_effect(req, policy, pause.kind or "scope", pause.started_on) if pause else None
        ctx["due_date"] = req.due_date
    if kind == "identity_requested":
        refused = [d for d in req.documents if d.kind in (DocumentKind.IDENTITY, DocumentKind.AUTHORITY)
                   and d.review_status == ReviewStatus.REFUSED]
        ctx["refusal_reason"] = refused[-1].review_reason if refused else None
        ctx["max_size_mb"] = policy.identity.max_size_bytes // (1024 * 1024)
        ctx["retention_text"] = policy.identity.copy_retention.describe(lang)
        proof = authority_proof(req)
        ctx["authority_proof"] = localized(proof, lang) if proof else None
    if kind == "answer_access":
        ctx["access"] = access_information(req, lang)
        ctx["data_files"] = [d for d in answer_documents(req)]
    if kind == "answer_erasure":
        ctx["erasure_rows"] = erasure_rows(req, lang)
        ctx["executed_rows"] = systems_hooks.executed_rows(req, lang)
    if kind == "answer_rectification":
        ctx["rectified_rows"] = systems_hooks.rectified_rows(req, lang)
    if kind in ("answer_rectification", "answer_erasure", "answer_restriction", "recipients_list"):
        ctx["recipients"] = recipient_rows(req, lang)
    if kind == "answer_portability":
        ctx["datasets"] = [dataset_row(ds, lang) for ds in req.portable_datasets]
    if kind == "answer_objection":
        ctx["objection_rows"] = _applicable_rows(req, "objection", lang)
    if kind == "answer_consent_withdrawal":
        ctx["health_data"] = concerns_health_data(req)
        ctx["deactivation"] = req.account_deactivation
    if kind == "answer_post_mortem_directive":
        ctx["directive_change"] = change_for_request(req)
    if kind in ("acknowledgement", "extension"):
        ctx["extension_months"] = policy.deadlines.extension_months
    return ctx


# --- GDPR art. 15(1)(a)-(h) and 15(2), from the policy ---------------------------------------------------


@dataclass
class ActivityInfo:
    key: str
    name: str
    purpose: str
    joint: bool
    controllers: list[str]
    sub_purposes: list[dict]
    sensitive: dict | None
    categories: list[dict]
    recipients: list[dict]
    source: str
    automated_decisions: str | None


@dataclass
class AccessInformation:
    activities: list[ActivityInfo]
    transfers: list[dict]
    health_data_outside_eu: bool
    transfer_statement: str
    rights: list[dict]
    items: dict = field(default_factory=dict)


def access_information(req: DataRequest, lang: str) -> AccessInformation:
    """The art. 15 items for the processing activities the request concerns, from the policy."""
    policy = current_policy()
    activities, transfers = [], []
    found = collected_categories(req)
    for act in concerned_activities(req):
        cats = policy.categories_for(act.key, req.subject_kind)
        if found is not None:
            # GDPR art. 15(1)(b): the categories actually found in the systems, not every one the policy names.
            cats = [c for c in cats if f"{act.key}.{c.key}" in found]
        sensitive = None
        if act.sensitive_data is not None and any(c.sensitive for c in cats):
            art, labels = SENSITIVE_DATA_BASES[act.sensitive_data.basis]
            sensitive = {"label": localized(act.sensitive_data.label, lang), "basis": labels[lang], "article": art}
        recipients = []
        for r in policy.recipients_for(act.key):
            recipients.append({
                "name": localized(r.name, lang), "kind": r.kind,
                "service": localized(r.service, lang) if r.service else "",
            })
            for t in r.transfers:
                invalid = INVALIDATED_SAFEGUARDS.get(t.safeguard) if t.invalidated else None
                transfers.append({
                    "recipient": localized(r.name, lang),
                    "destination": localized(t.destination, lang),
                    "safeguard": t.safeguard,
                    "invalidated": t.invalidated,
                    "invalidated_on": invalid[0] if invalid else None,
                    "invalidated_by": invalid[1] if invalid else None,
                    "reference_url": t.reference_url,
                })
        automated = None
        if all(sp.rights["automated_decision"].status == "not_applicable" for sp in act.sub_purposes):
            notes = {localized(sp.rights["automated_decision"].note, lang) for sp in act.sub_purposes
                     if sp.rights["automated_decision"].note}
            automated = next(iter(notes)) if len(notes) == 1 else ""
        activities.append(ActivityInfo(
            key=act.key,
            name=localized(act.name, lang),
            purpose=localized(act.purpose, lang),
            joint=act.joint,
            controllers=[party_name(policy, p, lang) for p in act.controllers],
            sub_purposes=[{
                "name": localized(sp.name, lang),
                "basis": LEGAL_BASES[sp.legal_basis][1][lang],
                "article": LEGAL_BASES[sp.legal_basis][0],
            } for sp in act.sub_purposes],
            sensitive=sensitive,
            categories=[{
                "name": localized(c.name, lang), "items": list(localized(c.items, lang)),
                "retention": localized(c.retention.label, lang), "sensitive": c.sensitive,
            } for c in cats],
            recipients=recipients,
            source=localized(act.collection, lang),
            automated_decisions=automated,
        ))
    rights = []
    for rtype in ("rectification", "erasure", "restriction", "objection", "portability", "consent_withdrawal"):
        right = rtype
        ev = evaluate_rights(policy, rtype, [a.key for a in activities] or None, req.subject_kind)
        if ev.any_applicable:
            art, labels = RIGHT_INFO[right]
            rights.append({"key": right, "name": labels[lang], "article": art})
    return AccessInformation(
        activities=activities,
        transfers=transfers,
        health_data_outside_eu=policy.transfers.health_data_outside_eu,
        transfer_statement=localized(policy.transfers.statement, lang) if policy.transfers.statement else "",
        rights=rights,
    )


def _applicable_rows(req: DataRequest, request_type: str, lang: str) -> list[dict]:
    ev = evaluate_rights(current_policy(), request_type, [a.key for a in concerned_activities(req)] or None, req.subject_kind)
    return [{
        "activity": localized(r.activity_name, lang), "sub_purpose": localized(r.sub_purpose_name, lang),
        "applies": r.applies, "reason": r.reason[lang] if lang in r.reason else r.reason["fr"],
    } for r in ev.rows]


