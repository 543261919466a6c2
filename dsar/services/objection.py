"""The objection to direct marketing is absolute (GDPR art. 21(2)-(3); policy art. 8.1).

"Where personal data are processed for direct marketing purposes, the data subject shall have the right
to object at any time [...]" and "the personal data shall no longer be processed for such purposes":
no balancing of interests, no reason to give. A refusal, whole or partial, of an objection that reaches a
direct-marketing sub-purpose of the policy (``direct_marketing: true``) is a domain error (409), whoever
answers (back-office, API, professional's task page). An answer records one outcome for the whole request, so
"partly granted" cannot show that the part refused is another processing (where compelling legitimate grounds
may prevail, art. 21(1)): it is refused too, and that other part is answered as a request of its own. Acting on it across systems (the suppression
list) is the execution component's; here, only the rule.
"""
from __future__ import annotations

from flask import current_app

from ..errors import IllegalTransition, N_
from ..models import DataRequest
from ..models.enums import Outcome, RequestType
from ..policy.model import _rule_applies

#: Outcomes that refuse all or part of what was asked.
REFUSING = frozenset({Outcome.REFUSED, Outcome.PARTLY_GRANTED})


def direct_marketing_purposes(req: DataRequest) -> list[str]:
    """The direct-marketing sub-purposes (``activity.sub_purpose``) an objection of this request reaches."""
    if req.type != RequestType.OBJECTION:
        return []
    policy = current_app.extensions["dsar_policy"]
    keys = req.activities or [a.key for a in policy.activities_for_subject(req.subject_kind)]
    refs = []
    for key in keys:
        act = policy.activities.get(key)
        if act is None or req.subject_kind not in act.data_subjects:
            continue
        for sp in act.sub_purposes:
            if sp.direct_marketing and _rule_applies(sp, "objection", req.subject_kind) is not False:
                refs.append(sp.ref)
    return refs


def require_objection_honoured(req: DataRequest, outcome: str | None) -> None:
    """409 when an objection reaching direct marketing would be refused in whole or in part (art. 21(3))."""
    try:
        outcome = Outcome(outcome) if outcome is not None else None
    except ValueError:
        return  # the lifecycle says "choose an outcome"
    if outcome not in REFUSING or not direct_marketing_purposes(req):
        return
    raise IllegalTransition(
        N_("An objection to direct marketing cannot be refused, in whole or in part: it is absolute and needs "
           "no reason (GDPR art. 21(2)-(3)). Grant it, and stop the prospection."),
        code="direct_marketing_objection",
    )
