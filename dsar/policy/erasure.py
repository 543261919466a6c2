"""What an erasure removes now and what the retention rules keep, until when and on which GDPR art. 17(3) ground.

``erasure_plan`` plans each data category of the activities asked for against the policy's retention rules
(policy art. 12). Reasons are ``Text`` values (``dsar.policy.text``): ``item.reason[lang]``. No Flask here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable, Mapping

from ..errors import N_
from .law import CONTRACT_BOUND_KINDS, RETENTION_GROUNDS
from .model import Activity, DataCategory, Policy, SubjectKind
from .rights import _activities
from .text import Concat, Lazy, Message, Text

__all__ = ["ErasureItem", "erasure_plan", "HANDOVER_GROUNDS"]


@dataclass(frozen=True)
class ErasureItem:
    activity: str
    category: str
    name: dict[str, str]
    subject_kind: str
    #: "erase_now" | "archive_until" | "keep_while_contract" | "keep_rolling" | "hand_over_to_professional".
    #: ``hand_over_to_professional`` (policy art. 12, ``retention.disposal: handover_to_professional``): health
    #: data of a joint processing are not erased on the patient's request by the platform; they stay in the
    #: professional's record of the patient while the professional's contract runs (``until``: its end when
    #: known, else None) and are destroyed after being handed to the professional at its end. Whether the
    #: professional's own record keeps them is the professional's decision (policy art. 8.2; GDPR art. 17(3)(b)
    #: and (c): the duty to keep the medical record, CSP L.1111-7 and R.4127-45).
    action: str
    until: date | None
    grounds: tuple[str, ...]
    #: Why, in every language: ``reason[lang]`` (a ``Text``).
    reason: Mapping[str, str]
    #: Who carries out the erasure (policy art. 5), party keys.
    responsible: tuple[str, ...]
    sensitive: bool = False

    @property
    def gdpr_articles(self) -> tuple[str, ...]:
        return tuple(RETENTION_GROUNDS[g][0] for g in self.grounds)


def _grounds_phrase(grounds: Iterable[str]) -> Text:
    return Concat(
        *(Message(N_("%(ground)s, GDPR %(article)s"), ground=RETENTION_GROUNDS[g][1], article=RETENTION_GROUNDS[g][0])
          for g in grounds),
        sep="; ",
    )


def erasure_plan(
    policy: Policy,
    activity_keys: Iterable[str] | None,
    subject_kind: str,
    *,
    contract_ended_on: date | None,
    today: date,
    last_invoice_on: date | None = None,
    identity_proof_received_on: date | None = None,
    professional_contract_ends_on: date | None = None,
) -> list[ErasureItem]:
    """What an erasure does to each data category, planned against the retention rules (GDPR art. 17(3)).

    ``contract_ended_on``: end of the subject's contract or account; ``None`` or a
    later date means it still runs (pass ``today`` when the erasure closes the
    account). ``last_invoice_on`` anchors "10 years from the invoice" (defaults
    to the end of the contract); ``identity_proof_received_on`` anchors the
    identity-proof retention (defaults to ``today``); ``professional_contract_ends_on``: end of the contract of
    the professional in charge, when known (data handed over at its end, policy art. 12).
    """
    kind = policy.subject_kind(subject_kind)
    activities = _activities(policy, activity_keys, subject_kind)
    contract_running = kind.has_contract and (contract_ended_on is None or contract_ended_on > today)
    items = []
    for act in activities:
        responsible = act.erasure_parties(subject_kind)
        for cat in policy.categories_for(act.key, subject_kind):
            if cat.retention.disposal == "handover_to_professional" and act.joint:
                items.append(_handover_item(policy, act, cat, kind, professional_contract_ends_on))
                continue
            items.append(
                _plan_category(policy, act, cat, kind, contract_running, contract_ended_on, today, last_invoice_on, identity_proof_received_on, responsible)
            )
    return items


#: Grounds kept by the handover rule: the professional's duty to keep the patient's medical record.
HANDOVER_GROUNDS = ("legal_obligation", "public_health")


def _handover_item(policy: Policy, act: Activity, cat: DataCategory, kind: SubjectKind,
                   professional_contract_ends_on: date | None) -> ErasureItem:
    """Policy art. 12: "Destruction après remise à l'Utilisateur Professionnel au terme de son contrat".

    The patient's health data shared in a joint processing are part of the record the professional keeps
    (CSP L.1111-7, R.4127-45; GDPR art. 17(3)(b) and (c)): the platform does not erase them on the patient's
    request; the professional in charge decides for their own record (policy art. 8.2), and the platform
    destroys them once handed to the professional when the professional's contract ends.
    """
    professionals = tuple(p for p in act.controllers if p != policy.controller.key)
    art = policy.article("retention")
    until = professional_contract_ends_on
    when = Concat(" ", Message(N_("(contract due to end on %(date)s)"), date=until.isoformat())) if until else ""
    ref = Message(N_("Policy (%(article)s): %(label)s."), article=art, label=cat.retention.label) if art else ""
    why = Message(
        N_("Not erased by the platform: these health data are part of the record kept by the health professional in "
           "charge of you, who decides what becomes of them in that record; they will be destroyed after being "
           "handed to the professional at the end of their contract%(until)s (%(grounds)s)."),
        until=when, grounds=_grounds_phrase(HANDOVER_GROUNDS),
    )
    return ErasureItem(
        activity=act.key,
        category=cat.key,
        name=cat.name,
        subject_kind=kind.key,
        action="hand_over_to_professional",
        until=until,
        grounds=HANDOVER_GROUNDS,
        reason=Concat(why, ref, sep=" "),
        responsible=professionals or act.controllers[:1],
        sensitive=cat.sensitive,
    )


def _plan_category(policy, act, cat, kind, contract_running, contract_ended_on, today, last_invoice_on, identity_proof_received_on, responsible):
    ret = cat.retention
    active = ret.active
    art = policy.article("retention")

    who: Text | str = ""
    if act.joint:
        # A joint processing: say who carries the erasure out (policy art. 5, GDPR art. 26).
        names = Concat(
            *(policy.controller.name if p == policy.controller.key else policy.joint_controllers[p].name for p in responsible),
            sep=", ",
        )
        who = Concat(" ", Message(N_("Erasure carried out by: %(names)s (%(article)s)."),
                                  names=names, article=policy.article("responsibilities")))
    if art:
        ref = Message(N_("Policy (%(article)s): %(label)s."), article=art, label=ret.label)
    else:
        ref = Message(N_("Policy: %(label)s."), label=ret.label)

    def item(action, until=None, grounds=(), why: Text | str = ""):
        return ErasureItem(
            activity=act.key,
            category=cat.key,
            name=cat.name,
            subject_kind=kind.key,
            action=action,
            until=until,
            grounds=tuple(grounds),
            reason=Concat(why, " ", ref, who),
            responsible=responsible,
            sensitive=cat.sensitive,
        )

    def erase(why: str):
        return item("erase_now", why=Message(N_("Erased now: %(reason)s"), reason=Message(why)))

    no_ground = N_("no retention ground overrides the request (GDPR art. 17(1)).")
    if active.kind == "rolling":
        until = active.duration.after(today)
        if ret.grounds:
            return item(
                "keep_rolling",
                until,
                ret.grounds,
                why=Message(
                    N_("Kept for %(duration)s rolling: each entry is deleted when it expires, the last by %(date)s "
                       "(%(grounds)s)."),
                    duration=Lazy(active.duration.describe), date=until.isoformat(), grounds=_grounds_phrase(ret.grounds),
                ),
            )
        return erase(no_ground)

    if active.kind == "fixed":
        start = identity_proof_received_on or today
        until = active.duration.after(start)
        if ret.grounds and until > today:
            return item(
                "archive_until",
                until,
                ret.grounds,
                why=Message(N_("Kept until %(date)s (%(grounds)s)."), date=until.isoformat(), grounds=_grounds_phrase(ret.grounds)),
            )
        return erase(N_("the retention period is over."))

    if active.kind == "until_validation":
        return erase(N_("kept only while the account is being validated."))

    if active.kind in CONTRACT_BOUND_KINDS and contract_running:
        return item(
            "keep_while_contract",
            why=Message(N_(
                "Kept while the contract runs: the data are needed to perform it, so erasure does not apply yet "
                "(GDPR art. 17(1)(a)); they are erased or archived when the contract ends."
            )),
        )

    archive = ret.archive
    if archive is not None and kind.has_contract:
        anchor = (last_invoice_on or contract_ended_on) if archive.anchor == "invoice" else contract_ended_on
        if anchor is not None:
            until = archive.duration.after(anchor)
            if until > today:
                if archive.anchor == "invoice":
                    msgid = N_("Removed from the active base and kept in the archive until %(date)s, %(duration)s from "
                               "the invoice (%(grounds)s).")
                else:
                    msgid = N_("Removed from the active base and kept in the archive until %(date)s, %(duration)s from "
                               "the end of the contract (%(grounds)s).")
                return item(
                    "archive_until",
                    until,
                    archive.grounds,
                    why=Message(msgid, date=until.isoformat(), duration=Lazy(archive.duration.describe),
                                grounds=_grounds_phrase(archive.grounds)),
                )
            return erase(N_("the archiving period is over."))
    if archive is not None and not kind.has_contract:
        return erase(N_("with no contract, the archiving period counted from the end of a contract does not apply."))
    return erase(no_ground)
