"""The words of the public pages that depend on data: each right in plain words, each status, each relationship.

Message ids are English and marked with ``N_``; templates translate them with ``_()``.
The rights are explained from the policy's own list (policy art. 8.1) and the GDPR article that grants each.
"""
from __future__ import annotations

from flask_babel import gettext as _

from ...errors import N_
from ...models.enums import Outcome, Status

# Policy art. 8.1, "Droits des Personnes Concernées", in plain words; the form shows the policy's own name.
REQUEST_TYPES: dict[str, dict[str, str]] = {
    "access": {
        "plain": N_("Find out whether we hold data about you and get a copy of it, with what we use it for, "
                    "who receives it and how long we keep it."),
    },
    "rectification": {
        "plain": N_("Have data about you corrected or completed when it is wrong or incomplete."),
    },
    "erasure": {
        "plain": N_("Have data about you deleted. Some data must be kept for a while by law or as evidence: "
                    "our answer says which, and until when."),
    },
    "portability": {
        "plain": N_("Receive the data you gave us in a file a computer can read (JSON, CSV), or have it sent "
                    "to another organisation."),
    },
    "restriction": {
        "plain": N_("Have data about you marked so that we only keep it and stop using it for a while, "
                    "for example while its accuracy is checked."),
    },
    "objection": {
        "plain": N_("Object to a use of your data. You must give a legitimate reason, except to stop "
                    "advertising and newsletters, which you can refuse at any time."),
    },
    "consent_withdrawal": {
        "plain": N_("Withdraw the consent you gave, at any time. It counts for the future only. For a patient, "
                    "withdrawing consent to the sharing of health data closes the patient account."),
    },
    "post_mortem_directive": {
        "plain": N_("Tell us what should happen to your data after your death: kept, deleted or passed on, "
                    "and who should see to it."),
    },
}

SUBJECT_KIND_HINTS = {
    "patient": N_("A person whose health professional uses the application to exchange with them or about them."),
    "professional": N_("A health professional or a member of their staff who uses the service."),
    "prospect": N_("A person we contacted or who asked us for information, without an account."),
}

# (relationship, label, hint); the proof comes from the policy (identity.representative_proofs).
RELATIONSHIPS = [
    ("parent", N_("Parent of a minor"), N_("You hold parental authority over a child under 18.")),
    ("guardian", N_("Legal guardian"), N_("A court appointed you as guardian or curator of an adult.")),
    ("mandatary", N_("Holder of a written mandate"), N_("The person signed a mandate asking you to act for them.")),
    ("heir", N_("Heir of a deceased person"), N_("The person has died and you are one of their heirs.")),
    ("cohabitant", N_("Cohabiting partner of a deceased patient"),
     N_("The patient has died and you lived with them as a couple (Code de la santé publique, art. L.1110-4).")),
    ("pacs_partner", N_("PACS partner of a deceased patient"),
     N_("The patient has died and you were bound to them by a civil solidarity pact (Code de la santé publique, "
        "art. L.1110-4).")),
    ("executor", N_("Person named in directives"),
     N_("The person has died and named you in their directives to see to their data.")),
]

# Fields of the form, in the order they appear: errors are listed in this order.
FIELD_ORDER = [
    "type", "subject_kind", "acting_for", "relationship",
    "subject_first_name", "subject_last_name", "subject_email", "subject_phone", "subject_birth_date",
    "subject_deceased",
    "requester_first_name", "requester_last_name", "requester_email", "requester_phone", "requester_postal_address",
    "medical_record", "details", "accuracy",
]

_SERVICE_TO_FORM = {
    "subject.kind": "subject_kind",
    "requester.acting_for": "acting_for",
    "requester.relationship": "relationship",
    "requester": "acting_for",
    "subject": "subject_kind",
    "activities": "type",
    "language": "type",
    "channel": "type",
}


def form_field_for(service_field: str | None) -> str:
    """The form field an error of ``submit_request`` belongs to ("subject.first_name" → "subject_first_name")."""
    if not service_field:
        return "type"
    name = _SERVICE_TO_FORM.get(service_field, service_field.replace(".", "_"))
    return name if name in FIELD_ORDER else "type"


_STATUS_WORDS = {
    Status.UNCONFIRMED: (N_("Waiting for you to confirm your email address"),
                         N_("We sent you an email with a link. Your request starts once you have clicked it.")),
    Status.AWAITING_IDENTITY: (N_("Waiting for your identity document"),
                               N_("We need to make sure we answer the right person before we can start.")),
    Status.IDENTITY_REVIEW: (N_("We are checking your documents"),
                             N_("We will write to you once they are checked.")),
    Status.OPEN: (N_("Received and complete"),
                  N_("Your identity is verified. The deadline for our answer is running.")),
    Status.IN_PROGRESS: (N_("Being handled"), N_("Someone is working on your request.")),
    Status.AWAITING_REQUESTER: (N_("Waiting for your answer"),
                                N_("We asked you a question. The deadline is paused until you answer.")),
    Status.ANSWERED: (N_("Answered"), N_("We have answered your request.")),
    Status.CLOSED: (N_("Closed"), N_("Your request is complete.")),
    Status.WITHDRAWN: (N_("Withdrawn"), N_("You withdrew this request. We do not handle it any more.")),
    Status.REFUSED: (N_("Refused"), N_("We could not grant your request. The reasons are below.")),
}

OUTCOME_WORDS = {
    Outcome.GRANTED: N_("Granted"),
    Outcome.PARTLY_GRANTED: N_("Partly granted"),
    Outcome.REFUSED: N_("Refused"),
    Outcome.NO_DATA: N_("We hold no data about this person"),
}

DOCUMENT_KIND_WORDS = {
    "identity": N_("Identity document"),
    "authority": N_("Proof of authority"),
}


def status_words(req) -> tuple[str, str]:
    """The status in plain words, translated: a short label and one sentence."""
    label, explanation = _STATUS_WORDS.get(Status(req.status), (req.status, ""))
    return _(label), _(explanation) if explanation else ""


# The progress line of the status page (issue 18): four steps in plain words, whatever the internal status.
PROGRESS_STEPS = (N_("Request received"), N_("Identity checked"), N_("Request in progress"), N_("Answer sent"))
_PROGRESS_REACHED = {
    Status.UNCONFIRMED: 0, Status.AWAITING_IDENTITY: 0, Status.IDENTITY_REVIEW: 0,
    Status.OPEN: 1, Status.IN_PROGRESS: 2, Status.AWAITING_REQUESTER: 2,
    Status.ANSWERED: 3, Status.CLOSED: 3, Status.REFUSED: 3,
}


def progress_steps(req) -> list[dict]:
    """Each step's words and state ("done", "current", "todo"); empty for a withdrawn request (no line to show)."""
    reached = _PROGRESS_REACHED.get(Status(req.status))
    if reached is None:
        return []
    steps = []
    for i, label in enumerate(PROGRESS_STEPS):
        if i <= reached:
            state = "done"
        elif i == reached + 1:
            state = "current"
        else:
            state = "todo"
        steps.append({"label": _(label), "state": state})
    if reached == len(PROGRESS_STEPS) - 1:
        steps[-1]["state"] = "done"
    return steps
