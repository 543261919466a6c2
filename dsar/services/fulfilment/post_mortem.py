"""Post-mortem directives and what heirs and executors may ask (loi Informatique et Libertés art. 85),
with the deceased patient's relatives' access to health information (Code de la santé publique, L.1110-4 V).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from ... import audit
from ...actors import Actor
from ...errors import IllegalTransition, InvalidInput, N_, PermissionDenied
from ...extensions import db
from ...models import DataRequest, utcnow
from ...models.enums import Outcome, Relationship, RequestType, Status
from ...models.fulfilment import DirectiveStatus, PostMortemDirective, PostMortemDirectiveChange
from .common import GIVING, concerned_activities


DIRECTIVE_ACTIONS = ("register", "change", "revoke")
#: Art. 85 II: what heirs may ask, "dans la mesure nécessaire" to settle the estate (1°) and to have
#: the death taken into account: close the accounts, object to further processing, update the data (2°).
HEIR_SCOPES = {
    RequestType.ACCESS: N_("limited to the information useful to settle the estate (art. 85 II 1°)"),
    RequestType.ERASURE: N_("closing the deceased person's accounts (art. 85 II 2°)"),
    RequestType.OBJECTION: N_("objecting to further processing of the deceased person's data (art. 85 II 2°)"),
    RequestType.RECTIFICATION: N_("updating the data to take the death into account (art. 85 II 2°)"),
}


def _norm(value: str | None) -> str:
    return unicodedata.normalize("NFKC", (value or "").strip()).casefold()


def find_directive(*, first_name: str, last_name: str, birth_date: date | None = None, email: str | None = None,
                   external_account_id: str | None = None) -> PostMortemDirective | None:
    """The person's active directive: same account, or same email, or same name and birth date."""
    keys = []
    if external_account_id:
        keys.append(PostMortemDirective.external_account_id == external_account_id)
    if email:
        keys.append(PostMortemDirective.email == email.strip().lower())
    if birth_date:
        keys.append(PostMortemDirective.birth_date == birth_date)
    if not keys:
        return None
    candidates = db.session.scalars(sa.select(PostMortemDirective).where(
        PostMortemDirective.status == DirectiveStatus.ACTIVE, sa.or_(*keys)).order_by(PostMortemDirective.id)).all()
    for d in candidates:
        if external_account_id and d.external_account_id and d.external_account_id == external_account_id:
            return d
    for d in candidates:
        if email and d.email and _norm(d.email) == _norm(email):
            return d
    for d in candidates:
        if (birth_date and d.birth_date == birth_date and _norm(d.first_name) == _norm(first_name)
                and _norm(d.last_name) == _norm(last_name)):
            return d
    return None


def directive_for_subject(req: DataRequest) -> PostMortemDirective | None:
    s = req.subject
    if s is None:
        return None
    return find_directive(first_name=s.first_name, last_name=s.last_name, birth_date=s.birth_date, email=s.email,
                          external_account_id=req.external_account_id)


def record_directive(req: DataRequest, actor: Actor, *, action: str, instructions: str | None = None,
                     executor_name: str | None = None, executor_email: str | None = None,
                     heirs_may_act: bool = True) -> PostMortemDirective:
    """Register, change or revoke the directives the person asked for in this request."""
    if req.type != RequestType.POST_MORTEM_DIRECTIVE:
        raise IllegalTransition(N_("Directives are recorded from a post-mortem directive request."), code="wrong_type")
    if Status(req.status) not in (Status.OPEN, Status.IN_PROGRESS, Status.AWAITING_REQUESTER):
        raise IllegalTransition(N_("Directives can only be recorded while the request is being handled."),
                                code="wrong_state")
    if req.subject is not None and req.subject.deceased:
        raise IllegalTransition(N_("Directives are set by the person during their lifetime (art. 85 I)."),
                                code="deceased")
    if req.requester is not None and req.requester.acting_for != "self":
        raise PermissionDenied(N_("Only the person themself can set, change or revoke their directives (art. 85 I)."),
                               code="not_self")
    if action not in DIRECTIVE_ACTIONS:
        raise InvalidInput(N_("Choose what to do with the directives."), code="bad_action", field="action")
    instructions = (instructions or "").strip()
    executor_name = (executor_name or "").strip() or None
    executor_email = (executor_email or "").strip().lower() or None
    if executor_email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", executor_email):
        raise InvalidInput(N_("Enter a valid email address."), code="bad_email", field="executor_email")
    current = directive_for_subject(req)
    now = utcnow()
    if action == "register":
        if current is not None:
            raise IllegalTransition(N_("Directives are already registered for this person: change them instead."),
                                    code="already_registered")
        if not instructions:
            raise InvalidInput(N_("This field is required."), code="required", field="instructions")
        s = req.subject
        current = PostMortemDirective(
            status=DirectiveStatus.ACTIVE, first_name=s.first_name, last_name=s.last_name, birth_date=s.birth_date,
            email=(s.email or req.requester.email or "").lower() or None, external_account_id=req.external_account_id,
            executor_name=executor_name, executor_email=executor_email, instructions=instructions,
            heirs_may_act=heirs_may_act, registered_at=now, updated_at=now,
        )
        db.session.add(current)
        change_action = "registered"
    elif current is None:
        raise IllegalTransition(N_("No directives are registered for this person."), code="no_directive")
    elif action == "change":
        if not instructions:
            raise InvalidInput(N_("This field is required."), code="required", field="instructions")
        current.instructions, current.executor_name, current.executor_email = instructions, executor_name, executor_email
        current.heirs_may_act, current.updated_at = heirs_may_act, now
        change_action = "changed"
    else:
        current.status, current.revoked_at, current.updated_at = DirectiveStatus.REVOKED, now, now
        change_action = "revoked"
    current.changes.append(PostMortemDirectiveChange(
        request_id=req.id, action=change_action, at=now, by=actor.label, executor_name=current.executor_name,
        executor_email=current.executor_email, instructions=current.instructions, heirs_may_act=current.heirs_may_act,
    ))
    db.session.flush()
    # The content is personal: the trail keeps the fact and the directive's id.
    audit.record(actor, f"post_mortem_directive_{change_action}", request=req,
                 details={"directive_id": current.id, "law": "Informatique et Libertés art. 85"})
    return current


def change_for_request(req: DataRequest) -> PostMortemDirectiveChange | None:
    return db.session.scalars(sa.select(PostMortemDirectiveChange).where(
        PostMortemDirectiveChange.request_id == req.id).order_by(PostMortemDirectiveChange.id.desc())).first()


def require_directive_recorded(req: DataRequest) -> None:
    if change_for_request(req) is None:
        raise InvalidInput(N_("Record the directives (register, change or revoke) before answering."),
                           code="no_directive", field="outcome")


@dataclass(frozen=True)
class PostMortemStanding:
    """What a requester may ask about a deceased person (art. 85)."""

    role: str                      # "executor" or "heir"
    allowed: bool
    reason: str                    # message id (N_), explains the decision
    scope: str | None              # message id: the limit of what is given, when allowed
    directive_id: int | None


def post_mortem_standing(req: DataRequest) -> PostMortemStanding | None:
    """None unless the subject has died and the requester acts as heir or executor."""
    subject, requester = req.subject, req.requester
    if subject is None or requester is None or not subject.deceased:
        return None
    rel = requester.relationship_to_subject
    if rel not in (Relationship.HEIR, Relationship.EXECUTOR, *CSP_RELATIVES):
        return None
    directive = directive_for_subject(req)
    did = directive.id if directive else None
    rtype = RequestType(req.type)
    if rel in CSP_RELATIVES or (rel == Relationship.HEIR and concerns_patient_health_data(req)):
        csp = _csp_standing(req, rel, rtype, directive)
        if csp is not None:
            return csp
    if rel == Relationship.EXECUTOR:
        if directive is None:
            return PostMortemStanding("executor", False, N_(
                "No directives are registered for this person: an executor's role exists only to carry out "
                "directives (art. 85 I)."), None, None)
        if not directive.executor_email or _norm(directive.executor_email) != _norm(requester.email):
            return PostMortemStanding("executor", False, N_(
                "The registered directives designate another person to carry them out (art. 85 I)."), None, did)
        return PostMortemStanding("executor", True, N_(
            "The requester is the person the directives designate; they may have the directives carried out "
            "(art. 85 I)."), N_("carrying out the registered directives"), did)
    # Heirs.
    if directive is not None and not directive.heirs_may_act:
        return PostMortemStanding("heir", False, N_(
            "The person's directives exclude the heirs' rights (art. 85 II, \"mention contraire\")."), None, did)
    if rtype == RequestType.POST_MORTEM_DIRECTIVE:
        return PostMortemStanding("heir", False, N_(
            "Directives are set by the person during their lifetime; heirs cannot set them (art. 85 I)."), None, did)
    if rtype not in HEIR_SCOPES:
        return PostMortemStanding("heir", False, N_(
            "After a death, heirs may only ask what is needed to settle the estate or to have the death taken into "
            "account: access for the estate, closing accounts, objecting to further processing, updating the data "
            "(art. 85 II)."), None, did)
    return PostMortemStanding("heir", True, N_(
        "Heirs may exercise this right to the extent needed to settle the estate or to have the death taken into "
        "account (art. 85 II)."), HEIR_SCOPES[rtype], did)


#: CSP L.1110-4 V: who may have a deceased patient's health information, and what for.
CSP_RELATIVES = (Relationship.COHABITANT, Relationship.PACS_PARTNER)
CSP_SCOPE = N_("the health information needed to know the causes of death, to defend the memory of the deceased "
               "or to assert your rights, unless the deceased objected during their lifetime (Code de la santé "
               "publique, art. L.1110-4 V)")
#: An heir also keeps art. 85 II 1° for the data that are not health information (the estate).
CSP_HEIR_SCOPE = N_("the health information needed to know the causes of death, to defend the memory of the deceased "
                    "or to assert your rights, unless the deceased objected during their lifetime (Code de la santé "
                    "publique, art. L.1110-4 V); for the other data, the information useful to settle the estate "
                    "(art. 85 II 1°)")


def concerns_patient_health_data(req: DataRequest) -> bool:
    """A patient's request that reaches a processing of health data (policy art. 6, sensitive data)."""
    if req.subject_kind != "patient":
        return False
    return any(act.sensitive_data is not None for act in concerned_activities(req))


def _csp_standing(req: DataRequest, rel: str, rtype: RequestType, directive) -> PostMortemStanding | None:
    """CSP L.1110-4 V: heirs, cohabiting partner, PACS partner of a deceased patient may have the health
    information needed to know the causes of death, defend the deceased's memory or assert their rights,
    unless the deceased objected during their lifetime (checked as a step of the checklist:
    ``check_deceased_objection``). It is a right of access only; the partners have no other right after death
    (loi Informatique et Libertés art. 85 II names the heirs alone)."""
    role = "heir" if rel == Relationship.HEIR else str(rel)
    directive_id = directive.id if directive is not None else None
    if rtype == RequestType.ACCESS and concerns_patient_health_data(req):
        if directive is not None and not directive.heirs_may_act:
            # Registered directives that exclude the heirs are the deceased's "volonté contraire".
            return PostMortemStanding(role, False, N_(
                "The deceased's registered directives object to their data being given after their death: that "
                "objection stands against heirs and partners (Code de la santé publique, art. L.1110-4 V)."),
                None, directive_id)
        return PostMortemStanding(role, True, N_(
            "Heirs, the cohabiting partner and the PACS partner of a deceased patient may have the health information "
            "needed to know the causes of death, to defend the memory of the deceased or to assert their rights, "
            "unless the deceased objected during their lifetime (Code de la santé publique, art. L.1110-4 V)."),
            CSP_HEIR_SCOPE if rel == Relationship.HEIR else CSP_SCOPE, directive_id)
    if rel == Relationship.HEIR:
        # Not the health information: the heir's rights of art. 85 II apply as for any other processing.
        return None
    return PostMortemStanding(role, False, N_(
        "After a patient's death, a cohabiting partner or a PACS partner may only ask for the health information "
        "needed to know the causes of death, to defend the memory of the deceased or to assert their rights "
        "(Code de la santé publique, art. L.1110-4 V)."), None, directive_id)


def check_post_mortem_standing(req: DataRequest, outcome: Outcome) -> None:
    standing = post_mortem_standing(req)
    if standing is not None and not standing.allowed and outcome in GIVING:
        raise InvalidInput(N_("This requester cannot be given this after the person's death (loi Informatique et "
                              "Libertés art. 85): answer with a refusal that states the reason."),
                           code="post_mortem_limit", field="outcome")


def directive_history(req: DataRequest) -> list[PostMortemDirectiveChange]:
    d = directive_for_subject(req)
    if d is None:
        change = change_for_request(req)
        d = change.directive if change else None
    return list(d.changes) if d else []
