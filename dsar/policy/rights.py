"""Which rights apply to a request, sub-purpose by sub-purpose, and why (policy art. 8.1, GDPR art. 15 to 22).

``evaluate_rights`` follows the policy's matrix as it stands; where the matrix grants more (or less) than the
GDPR does for a legal basis (art. 20(1)(a), 21(1), 7(3)), the reason says so and ``differs_from_gdpr`` is set.
Reasons are ``Text`` values (English msgids with parameters, ``dsar.policy.text``): ``row.reason[lang]``
renders one in a language of the catalogue. No Flask here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from ..errors import N_
from .errors import PolicyLookupError
from .law import GDPR_RIGHT_BASES, LEGAL_BASES, REQUEST_TYPE_RIGHT, REQUEST_TYPES, RIGHT_INFO
from .model import Activity, Applies, Policy, SubPurpose, _rule_applies
from .text import Concat, Message, Text, gettext, join_words, localized

__all__ = ["Applies", "RightsRow", "RightsEvaluation", "evaluate_rights"]


@dataclass(frozen=True)
class RightsRow:
    activity: str
    activity_name: dict[str, str]
    sub_purpose: str
    sub_purpose_name: dict[str, str]
    legal_basis: str
    right: str | None
    #: The matrix cell: "applies" | "not_applicable" | "conditional" (None when the
    #: request type is outside the matrix, e.g. post-mortem directives).
    status: str | None
    applies: Applies
    condition: dict[str, str] | None
    #: Why, in every language: ``reason[lang]`` (a ``Text``).
    reason: Mapping[str, str]
    #: The policy grants more (or less) than the GDPR does for this legal basis.
    differs_from_gdpr: bool = False


#: The title of the summary of a post-mortem directive (outside the art. 8.1 matrix).
POST_MORTEM_TITLE = Message(N_("Post-mortem directives"))


@dataclass(frozen=True)
class RightsEvaluation:
    request_type: str
    right: str | None
    subject_kind: str
    rows: tuple[RightsRow, ...]

    @property
    def applicable_rows(self) -> list[RightsRow]:
        """Rows where the right applies, with or without a condition."""
        return [r for r in self.rows if r.applies is not False]

    @property
    def conditional_rows(self) -> list[RightsRow]:
        return [r for r in self.rows if r.applies == "conditional"]

    @property
    def not_applicable_rows(self) -> list[RightsRow]:
        return [r for r in self.rows if r.applies is False]

    @property
    def any_applicable(self) -> bool:
        return bool(self.applicable_rows)

    def summary(self, lang: str = "fr") -> str:
        """The right, then one line per activity: the sub-purposes it applies to, under a condition, or not."""
        title = RIGHT_INFO[self.right][1] if self.right else POST_MORTEM_TITLE
        lines = [localized(title, lang)]
        by_activity: dict[str, list[RightsRow]] = {}
        for row in self.rows:
            by_activity.setdefault(row.activity, []).append(row)
        groups = (
            (N_("Applies to: %(purposes)s"), True),
            (N_("Under a condition: %(purposes)s"), "conditional"),
            (N_("Does not apply to: %(purposes)s"), False),
        )
        for rows in by_activity.values():
            parts = []
            for msgid, pick in groups:
                names = [localized(r.sub_purpose_name, lang) for r in rows if _same(r.applies, pick)]
                if names:
                    purposes = join_words(names, N_("%(first)s; %(second)s")).render(lang)
                    parts.append(gettext(msgid, lang) % {"purposes": purposes})
            lines.append(f"- {localized(rows[0].activity_name, lang)} — " + ". ".join(parts or [gettext("No purpose", lang)]) + ".")
        return "\n".join(lines)


def _same(a: Applies, b: Applies) -> bool:
    return a == b and type(a) is type(b)


def _basis_phrase(basis: str) -> Message:
    article, label = LEGAL_BASES[basis]
    return Message(N_("%(basis)s (GDPR %(article)s)"), basis=label, article=article)


def _reason(policy: Policy, sp: SubPurpose, right: str, subject_kind: str, applies: Applies) -> tuple[Text, bool]:
    rule = sp.rights[right]
    art = policy.article("rights")
    right_article, subject = RIGHT_INFO[right]
    granting = GDPR_RIGHT_BASES.get(right)
    gdpr_grants = granting is None or sp.legal_basis in granting[0]
    basis = _basis_phrase(sp.legal_basis)
    pol = Message(N_("the policy (%(article)s)"), article=art) if art else Message(N_("the policy"))
    said = dict(right=subject, purpose=sp.name, basis=basis, policy=pol)
    parts: list = []
    if applies is True:
        if gdpr_grants:
            parts.append(Message(
                N_("%(right)s applies: “%(purpose)s” rests on %(basis)s and %(policy)s grants it (GDPR %(article)s)."),
                article=right_article, **said,
            ))
        else:
            parts.append(Message(
                N_("%(right)s applies as %(policy)s states it for “%(purpose)s”, although this processing rests on "
                   "%(basis)s, for which the GDPR (%(article)s) does not grant this right."),
                article=granting[1], **said,
            ))
        if right == "objection" and sp.direct_marketing:
            parts.append(Message(N_("No reason is needed to object to prospection (GDPR art. 21(2) and 21(3)).")))
        elif right == "objection" and sp.legal_basis in ("legitimate_interest", "public_task"):
            parts.append(Message(N_(
                "The person gives reasons relating to their particular situation; processing stops unless there are "
                "compelling legitimate grounds (GDPR art. 21(1))."
            )))
        if right == "erasure" and sp.legal_basis == "legal_obligation":
            parts.append(Message(N_(
                "Data needed to comply with the legal obligation may be kept (GDPR art. 17(3)(b)); the erasure plan "
                "says which."
            )))
    elif applies == "conditional":
        parts.append(Message(
            N_("%(right)s applies only under the condition %(policy)s sets for “%(purpose)s”: %(condition)s."),
            condition=rule.condition, **said,
        ))
        if not gdpr_grants:
            parts.append(Message(
                N_("This processing rests on %(basis)s, for which the GDPR (%(article)s) does not require it."),
                basis=basis, article=granting[1],
            ))
    elif rule.status == "conditional":  # a condition that excludes this subject kind
        parts.append(Message(
            N_("%(right)s does not apply to this person (%(kind)s): for “%(purpose)s”, %(policy)s grants it only "
               "under this condition: %(condition)s."),
            kind=policy.subject_kinds[subject_kind].name, condition=rule.condition, **said,
        ))
    elif rule.note is not None:
        parts.append(Message(N_("%(right)s — “%(purpose)s”: %(note)s"), right=subject, purpose=sp.name, note=rule.note))
    elif not gdpr_grants:
        allowed = join_words([LEGAL_BASES[b][1] for b in sorted(granting[0])], N_("%(first)s or %(second)s"))
        parts.append(Message(
            N_("%(right)s does not apply: “%(purpose)s” rests on %(basis)s, and the GDPR (%(article)s) grants this "
               "right only for %(allowed)s."),
            article=granting[1], allowed=allowed, **said,
        ))
    else:
        parts.append(Message(
            N_("%(right)s is not listed by %(policy)s for “%(purpose)s”, although the GDPR (%(article)s) grants it "
               "for %(basis)s: the DPO should check."),
            article=right_article, **said,
        ))
    if applies is not False and rule.note is not None:
        parts.append(rule.note)
    return Concat(*parts, sep=" "), ((applies is not False) != gdpr_grants) and right != "automated_decision"


def _activities(policy: Policy, activity_keys: Iterable[str] | str | None, subject_kind: str) -> list[Activity]:
    """The activities asked for, in order and once each; ``None``: all those about ``subject_kind``."""
    if activity_keys is None:
        return policy.activities_for_subject(subject_kind)
    if isinstance(activity_keys, str):
        activity_keys = [activity_keys]
    return [policy.activity(k) for k in dict.fromkeys(activity_keys)]


def evaluate_rights(policy: Policy, request_type: str, activity_keys: Iterable[str] | None, subject_kind: str) -> RightsEvaluation:
    """Which rights apply to a request, one row per (activity, sub-purpose), with the reason in every language.

    The matrix is followed as the policy states it; where it grants more or less
    than the GDPR for a legal basis, the reason says so and ``differs_from_gdpr``
    is set. ``activity_keys=None`` means every activity about ``subject_kind``.
    """
    if request_type not in REQUEST_TYPES:
        raise PolicyLookupError(f"{policy.source}: unknown request type {request_type!r} (known: {', '.join(REQUEST_TYPES)})")
    policy.subject_kind(subject_kind)
    right = REQUEST_TYPE_RIGHT[request_type]
    activities = _activities(policy, activity_keys, subject_kind)
    rows = []
    for act in activities:
        concerned = subject_kind in act.data_subjects
        for sp in act.sub_purposes:
            if not concerned:
                kind_name = policy.subject_kinds[subject_kind].name
                rows.append(
                    RightsRow(
                        act.key, act.name, sp.key, sp.name, sp.legal_basis, right,
                        sp.rights[right].status if right else None, False,
                        None,
                        Message(N_("“%(activity)s” holds no data about this kind of person (%(kind)s)."),
                                activity=act.name, kind=kind_name),
                    )
                )
                continue
            if right is None:
                rows.append(
                    RightsRow(
                        act.key, act.name, sp.key, sp.name, sp.legal_basis, None, None, True, None,
                        Message(N_("In any case (%(article)s), the person may set directives on the storage, erasure "
                                   "and communication of their data after their death (French Data Protection Act, "
                                   "art. 85)."), article=policy.article("rights")),
                    )
                )
                continue
            applies = _rule_applies(sp, right, subject_kind)
            reason, differs = _reason(policy, sp, right, subject_kind, applies)
            rule = sp.rights[right]
            rows.append(
                RightsRow(
                    act.key, act.name, sp.key, sp.name, sp.legal_basis, right, rule.status, applies, rule.condition, reason, differs
                )
            )
    return RightsEvaluation(request_type, right, subject_kind, tuple(rows))
