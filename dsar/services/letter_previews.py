"""Letters seen before they go out (issue 18): the PDF the requester would receive, drawn by the code that
draws the letters that go out (``fulfilment.letters.render_letter``, the policy's blockers), with nothing stored, no audit
event ("letter_produced" records letters that exist), no email, no link.

The blocker check of ``fulfilment.letters.produce_letter`` lives inside it (it stores and audits), so it is
asked here of ``policy_warnings`` directly.
"""
from __future__ import annotations

from flask import current_app

from ..extensions import db
from ..errors import Conflict, IllegalTransition, InvalidInput, N_
from ..models import DataRequest
from ..models.enums import Outcome
from ..policy_warnings import letter_blockers
from .fulfilment.answers import STAFF_LETTERS
from .fulfilment.letters import render_letter


def _language(req: DataRequest) -> str:
    return req.language or "fr"


def _check_no_blocker() -> None:
    """As ``fulfilment.produce_letter``: a contradiction in the policy stops every letter, previews included."""
    blockers = letter_blockers(current_app.extensions["dsar_policy"])
    if blockers:
        raise Conflict(N_("No letter can go out until the DPO fixes the policy file: %(keys)s."),
                       code="policy_contradiction", keys=", ".join(w.key for w in blockers))


def staff_letter(req: DataRequest, kind: str) -> bytes:
    """A letter staff may send by hand (acknowledgement, identity asked, clarification, recipients), as it would go."""
    if kind not in STAFF_LETTERS:
        raise InvalidInput(N_("Choose a letter."), code="bad_letter", field="kind")
    _check_no_blocker()
    return render_letter(kind, req, _language(req))


def answer_outcome(outcome: str, message: str) -> Outcome:
    """What every answer needs, whoever writes it: a known outcome and a text (lifecycle.answer checks it too)."""
    try:
        outcome = Outcome(outcome)
    except ValueError:
        raise InvalidInput(N_("Choose an outcome."), code="bad_outcome", field="outcome") from None
    if not (message or "").strip():
        raise InvalidInput(N_("This field is required."), code="required", field="message")
    return outcome


def answer_letter(req: DataRequest, *, outcome: str, message: str, reasons: str | None,
                  without_contact: bool = False) -> bytes:
    """The letter the answer being written would produce (``fulfilment.after_answer``: a refusal is a refusal
    letter), drawn with the form's values on the request in memory and put back before returning.
    ``without_contact`` leaves out the requester's address and email (the professional's preview)."""
    outcome = answer_outcome(outcome, message)
    if req.is_final:
        raise IllegalTransition(N_("This request is closed: no letter can be sent about it now."), code="final")
    _check_no_blocker()
    kind = "refusal" if outcome == Outcome.REFUSED else f"answer_{req.type}"
    saved = (req.outcome, req.answer_message, req.refusal_reasons)
    with db.session.no_autoflush:
        try:
            req.outcome, req.answer_message = outcome, message.strip()
            req.refusal_reasons = (reasons or "").strip() or None
            return render_letter(kind, req, _language(req), without_contact=without_contact)
        finally:
            req.outcome, req.answer_message, req.refusal_reasons = saved
