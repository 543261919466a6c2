"""The words people read for each internal code: statuses of tasks, kinds of events, relationships, outcomes…

Message ids are English and marked with ``N_``; pages translate them with ``bo_label``/``gettext``.
No page, email, CSV or letter shows the code itself (issue 18, tests/functional/test_no_internal_codes.py).
"""
from __future__ import annotations

from flask_babel import gettext

from .errors import N_

TYPE_LABELS = {
    "access": N_("Access"), "rectification": N_("Rectification"), "erasure": N_("Erasure"),
    "portability": N_("Portability"), "restriction": N_("Restriction"), "objection": N_("Objection"),
    "consent_withdrawal": N_("Consent withdrawal"), "post_mortem_directive": N_("Post-mortem directive"),
}
SUBJECT_KIND_LABELS = {"patient": N_("Patient"), "professional": N_("Professional user"), "prospect": N_("Prospect")}
CHANNEL_LABELS = {
    "account": N_("Application account"), "web": N_("Web form"), "email": N_("Email"), "post": N_("Letter"),
    "phone": N_("Phone"), "in_person": N_("In person"),
}
OUTCOME_LABELS = {"granted": N_("Granted"), "partly_granted": N_("Partly granted"), "refused": N_("Refused"),
                  "no_data": N_("No data held")}
ROLE_LABELS = {"admin": N_("Administrator"), "dpo": N_("Data protection officer"), "agent": N_("Agent"),
               "auditor": N_("Auditor (read-only)")}
URGENCY_LABELS = {"overdue": N_("Overdue"), "week": N_("Due within 7 days"), "ok": N_("On track"),
                  "paused": N_("Clock paused"), "done": N_("Answered"), "none": N_("Clock not started")}
METHOD_LABELS = {"account": N_("Application account"), "document": N_("Identity document"),
                 "in_person": N_("Seen in person"), "vouched": N_("Vouched for by an API client"),
                 "records_match": N_("Email confirmed, details matching our records")}
DOC_KIND_LABELS = {"identity": N_("Identity document"), "authority": N_("Proof of authority"), "answer": N_("Answer file"),
                   "letter": N_("Letter"), "export": N_("Export")}
REVIEW_LABELS = {"pending": N_("waiting for review"), "accepted": N_("accepted"), "refused": N_("refused")}
EVENT_LABELS = {
    "received": N_("Request received"), "confirm_email": N_("Email confirmed"), "submit_identity": N_("Identity document sent"),
    "accept_identity": N_("Identity accepted"), "refuse_identity": N_("Identity refused"), "assign": N_("Assigned"),
    "route_to_professional": N_("Routed to the professional"), "route_to_staff": N_("Routed to the privacy team"),
    "acknowledge": N_("Acknowledged by the professional"), "ask_clarification": N_("Clarification asked (clock paused)"),
    "resume": N_("Clock resumed"), "extend": N_("Deadline extended"), "answer": N_("Answer recorded"),
    "refuse": N_("Request refused"), "close": N_("Closed"), "reopen": N_("Reopened"), "withdraw": N_("Withdrawn"),
    "note": N_("Internal note"), "document_uploaded": N_("Document received"), "document_viewed": N_("Document viewed"),
    "document_purged": N_("Document copy deleted"),
}
DETAIL_LABELS = {
    "reason": N_("Reason"), "reasons": N_("Reasons"), "note": N_("Note"), "question": N_("Question"),
    "outcome": N_("Outcome"), "method": N_("Method"), "assignee": N_("Assignee"),
    "clock_started_on": N_("Clock started on"), "due_date": N_("Due on"),
}
TASK_STATUS_LABELS = {"open": N_("Waiting for the professional"), "acknowledged": N_("Seen by the professional"),
                      "answered": N_("Answered by the professional"), "declined": N_("Declined: not their patient"),
                      "cancelled": N_("Cancelled")}
RELATIONSHIP_LABELS = {"parent": N_("Parent of a minor"), "guardian": N_("Legal guardian"), "heir": N_("Heir"),
                       "executor": N_("Person named in post-mortem directives"),
                       "mandatary": N_("Holder of a written mandate"),
                       "cohabitant": N_("Cohabiting partner of the deceased"),
                       "pacs_partner": N_("Civil partner (PACS) of the deceased")}
ACTOR_LABELS = {"staff": N_("Privacy team"), "professional": N_("Professional"), "requester": N_("Requester"),
                "api": N_("API client"), "system": N_("The service (automatic)")}
ON_TIME_LABELS = {"yes": N_("yes"), "no": N_("no"), "overdue": N_("late")}
# Events recorded outside the lifecycle (audit.record with a literal action): the timeline names each one.
EVENT_LABELS.update({
    "answer_downloaded": N_("Answer downloaded by the requester"), "checklist_opened": N_("Checklist opened"),
    "download_link_issued": N_("Download link sent"), "download_link_purged": N_("Delivered files deleted"),
    "erasure_facts_set": N_("Erasure facts recorded"), "erasure_planned": N_("Erasure planned"),
    "extension_requested": N_("Extension requested"), "help_requested": N_("Help requested by the professional"),
    "identity_doubt_recorded": N_("Doubt about the identity recorded"), "letter_produced": N_("Letter produced"),
    "pack_built": N_("Answer pack built"), "portable_data_added": N_("Portable data added"),
    "portable_data_removed": N_("Portable data removed"),
    "recipient_notification_impossible": N_("Recipients could not be notified"),
    "recipient_notifications_opened": N_("Recipients to notify listed"), "recipient_notified": N_("Recipient notified"),
    "reminders": N_("Reminder sent"), "routing_needs_choice": N_("Routing needs a choice"),
    "routing_to_staff": N_("Routed to the privacy team"), "step_done": N_("Checklist step done"),
    "task_answered": N_("The professional answered"), "task_closed": N_("Professional's task closed"),
    "task_declined": N_("The professional declined"), "task_escalated": N_("Professional's task escalated"),
    "task_link_refused": N_("Professional's link refused"), "task_link_sent": N_("Link sent to the professional"),
    "task_opened": N_("Task opened for a professional"), "task_reminder_sent": N_("Reminder sent to the professional"),
    "hand_over_to_professional": N_("Handed over to the professional"),
    "post_mortem_directive_registered": N_("Post-mortem directive recorded"),
    "post_mortem_directive_changed": N_("Post-mortem directive changed"),
    "post_mortem_directive_revoked": N_("Post-mortem directive revoked"),
    "medical_record_item_added": N_("Medical record item added"),
    "medical_record_item_set": N_("Medical record item updated"),
    "medical_record_item_removed": N_("Medical record item removed"),
})
# Automated fulfilment (issues 16 and 17) and operations (issue 14).
EVENT_LABELS.update({
    "collection_attempt": N_("Collection attempt"),
    "collection_complete": N_("Collection complete"),
    "collection_done": N_("Collection done in a system"),
    "collection_failed": N_("Collection failed in a system"),
    "collection_rerun": N_("Collection run again"),
    "collection_started": N_("Collection started"),
    "dry_run_approved": N_("Dry run approved"),
    "dry_run_approved_sealed": N_("Dry run approved by the professional (shared health content)"),
    "dry_run_computed": N_("Dry run computed"),
    "dry_run_rejected": N_("Dry run rejected"),
    "dry_run_stale": N_("Dry run out of date: recomputed"),
    "dry_run_superseded": N_("Dry run replaced"),
    "execution_attempt": N_("Execution attempt"),
    "execution_call_done": N_("Execution done by a system"),
    "execution_done": N_("Execution done in every system"),
    "execution_failed": N_("Execution failed in a system"),
    "execution_resumed": N_("Execution resumed"),
    "execution_run_done": N_("Execution done in a system"),
    "execution_started": N_("Execution started"),
    "execution_table_done": N_("Execution done in a table"),
    "file_keys_rotated": N_("Encryption keys rotated"),
    "manual_execution_confirmed": N_("Owner confirmed the execution"),
    "manual_execution_task_opened": N_("Execution task sent to a system's owner"),
    "manual_system_answered": N_("A system's owner answered"),
    "manual_system_task_opened": N_("Collection task sent to a system's owner"),
    "manual_system_task_opened_page": N_("A system's owner opened their task"),
    "pack_failed": N_("Answer pack failed"),
    "rectification_applied": N_("Rectification applied"),
    "rectification_proposed": N_("Rectification proposed"),
    "rectification_replaced": N_("Rectification proposal replaced"),
    "restriction_lift_announced": N_("Requester told the restriction will be lifted"),
    "sealed_content_previewed": N_("Shared health content previewed by the professional"),
    "sealed_content_released": N_("Shared health content released by the professional"),
    "sealed_item_withheld": N_("An item withheld by the professional"),
    "second_factor_reset": N_("Second factor reset"),
    "suppression_listed": N_("Added to the suppression list"),
})
# Details whose value is itself a code: shown through these tables.
DETAIL_VALUE_LABELS = {"outcome": OUTCOME_LABELS, "method": METHOD_LABELS}


def label(table: dict, key) -> str:
    """The translated label of ``key``, or a neutral word when a code has none (never the code itself)."""
    if key in table:
        return gettext(table[key])
    return "" if key in (None, "") else gettext("(other)")
