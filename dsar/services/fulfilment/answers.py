"""What happens when a request is answered, extended or refused (DESIGN.md "Answers"); called by
``services.actions`` once the decision is recorded, in the same transaction.

The letter is written, the pack built, the follow-up tasks opened (art. 19 notifications, the erasure plan,
an account deactivation, the suppression list), and the link to the files emailed.
"""
from __future__ import annotations

from ...actors import Actor
from ...errors import IllegalTransition, InvalidInput, N_
from ...models import DataRequest
from ...models.enums import Outcome, RequestType
from ...models.fulfilment import DownloadLink, LinkPurpose
from .. import suppression
from .common import ART19_TYPES, GIVING
from .consent import concerns_health_data, request_account_deactivation
from .delivery import issue_link
from .erasure import fix_erasure_plan
from .letters import open_or_last_pause, produce_letter
from .packs import build_access_pack, checked_access_entries, collected_pack, require_answer_documents
from .portability import build_portability_pack, require_portable_data
from .post_mortem import check_post_mortem_standing, require_directive_recorded
from .recipients import open_recipient_notifications

#: Letters staff may send by hand, and the order the form offers them in.
STAFF_LETTERS = ("acknowledgement", "identity_requested", "clarification", "recipients_list")


def after_answer(req: DataRequest, actor: Actor) -> DownloadLink:
    """The answer is recorded: write the letter, build the pack, open the follow-up tasks, send the link."""
    outcome = Outcome(req.outcome)
    check_post_mortem_standing(req, outcome)
    if outcome == Outcome.REFUSED:
        # A refusal given as an answer is a refusal letter (deadline rule 7).
        return after_refusal(req, actor)
    rtype = RequestType(req.type)
    giving = outcome in GIVING
    # Checks first: a missing piece is a 4xx and nothing is written.
    collected = collected_pack(req) if giving and rtype in (RequestType.ACCESS, RequestType.PORTABILITY) else None
    if giving and rtype == RequestType.ACCESS and collected is None:
        require_answer_documents(req)
    if giving and rtype == RequestType.PORTABILITY and collected is None:
        require_portable_data(req)
    if giving and rtype == RequestType.POST_MORTEM_DIRECTIVE:
        require_directive_recorded(req)

    if giving and rtype == RequestType.ERASURE:
        fix_erasure_plan(req, actor)
    if giving and rtype in ART19_TYPES:
        open_recipient_notifications(req, actor)
    if giving and rtype == RequestType.CONSENT_WITHDRAWAL and concerns_health_data(req):
        request_account_deactivation(req, actor)
    if rtype == RequestType.OBJECTION:
        if suppression.concerns_direct_marketing(req):
            # GDPR art. 21(3): answered = never prospected again, whatever the answer's wording.
            suppression.suppress_subject(req, actor)

    # The gathered files are checked before anything is rendered: a bad file fails fast.
    data_entries = checked_access_entries(req) if giving and rtype == RequestType.ACCESS and collected is None else None
    letter, letter_bytes = produce_letter(req, f"answer_{rtype}", actor)
    files = [letter]
    if collected is not None:
        # Built by a job from what was collected (issue 16), streamed to the store: sent as it is.
        files.append(collected)
    elif data_entries is not None:
        files.append(build_access_pack(req, letter, letter_bytes, actor, data_entries))
    elif giving and rtype == RequestType.PORTABILITY:
        files.append(build_portability_pack(req, letter, letter_bytes, actor))
    return issue_link(req, files, actor, purpose=LinkPurpose.ANSWER)


def after_extension(req: DataRequest, actor: Actor) -> DownloadLink:
    """GDPR art. 12(3): the requester is told of the extension and its reasons, before the one-month deadline."""
    letter, _ = produce_letter(req, "extension", actor)
    return issue_link(req, [letter], actor, purpose=LinkPurpose.EXTENSION)


def after_refusal(req: DataRequest, actor: Actor) -> DownloadLink:
    """Rule 7 and GDPR art. 12(4): reasons, the right to complain to the CNIL and to a judicial remedy."""
    letter, _ = produce_letter(req, "refusal", actor)
    return issue_link(req, [letter], actor, purpose=LinkPurpose.REFUSAL)


def send_letter(req: DataRequest, actor: Actor, kind: str) -> DownloadLink:
    """A letter staff choose to send (acknowledgement, identity asked, clarification, list of recipients)."""
    if kind not in STAFF_LETTERS:
        raise InvalidInput(N_("Choose a letter."), code="bad_letter", field="kind")
    if req.is_final and kind != "recipients_list":
        raise IllegalTransition(N_("This request is closed: no letter can be sent about it now."), code="final")
    if kind == "clarification" and open_or_last_pause(req) is None:
        raise InvalidInput(N_("No clarification has been asked on this request."), code="no_question", field="kind")
    if kind == "recipients_list" and not req.recipient_notifications:
        raise InvalidInput(N_("This request has no recipients to notify."), code="no_recipients", field="kind")
    letter, _ = produce_letter(req, kind, actor)
    return issue_link(req, [letter], actor, purpose=LinkPurpose.LETTER)
