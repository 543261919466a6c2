"""Routing patients' requests to the professional in charge (policy art. 8.2, GDPR art. 26(3)).

A package: who is in charge is ``services.care_links``; handing a request over and taking it back
(``routes``), the link the professional acts through (``task_links``), what they do
with it (``task_actions``) and the emails about it (``task_emails``). This module
re-exports the old public names for the tests and outside callers; modules inside
dsar import from the precise module.
"""
from __future__ import annotations

from ...lazy_exports import lazy_exports


# The names older callers import from this package, and the module each lives in. They load on first use
# (dsar/lazy_exports.py), so that importing one module of the package runs none of the others (no import cycle
# through this file); code inside dsar imports the module itself.
_HOMES = {
    "LINK_SIGNATURE_MAX_AGE": ("dsar.services.routing.task_links", "LINK_SIGNATURE_MAX_AGE"),
    "LIVE_TASK_STATUSES": ("dsar.models", "LIVE_TASK_STATUSES"),
    "MAX_ANSWER_FILES": ("dsar.services.routing.task_actions", "MAX_ANSWER_FILES"),
    "PROFESSIONAL_ROUTE": ("dsar.services.care_links", "PROFESSIONAL_ROUTE"),
    "RoutingOutcome": ("dsar.services.routing.routes", "RoutingOutcome"),
    "TaskLinkGone": ("dsar.services.routing.task_links", "TaskLinkGone"),
    "TaskLinkInvalid": ("dsar.services.routing.task_links", "TaskLinkInvalid"),
    "acknowledge_task": ("dsar.services.routing.task_actions", "acknowledge_task"),
    "answer_task": ("dsar.services.routing.task_actions", "answer_task"),
    "ask_for_help": ("dsar.services.routing.task_actions", "ask_for_help"),
    "auto_route": ("dsar.services.routing.routes", "auto_route"),
    "decline_task": ("dsar.services.routing.task_actions", "decline_task"),
    "email_context": ("dsar.services.routing.task_emails", "email_context"),
    "email_escalation": ("dsar.services.routing.task_emails", "email_escalation"),
    "email_reminder": ("dsar.services.routing.task_emails", "email_reminder"),
    "ensure_link_lasts": ("dsar.services.routing.task_links", "ensure_link_lasts"),
    "find_professionals_for": ("dsar.services.care_links", "find_professionals_for"),
    "live_task": ("dsar.services.routing.routes", "live_task"),
    "live_tasks": ("dsar.services.routing.routes", "live_tasks"),
    "matching_links": ("dsar.services.care_links", "matching_links"),
    "policy_route": ("dsar.services.care_links", "policy_route"),
    "professional_actor": ("dsar.services.routing.task_actions", "professional_actor"),
    "record_opening": ("dsar.services.routing.task_links", "record_opening"),
    "record_refused_link": ("dsar.services.routing.task_links", "record_refused_link"),
    "renew_expired_link": ("dsar.services.routing.routes", "renew_expired_link"),
    "request_extension": ("dsar.services.routing.task_actions", "request_extension"),
    "resend_task_link": ("dsar.services.routing.routes", "resend_task_link"),
    "revoke_task": ("dsar.services.routing.routes", "revoke_task"),
    "right_name": ("dsar.services.routing.task_emails", "right_name"),
    "route_to_professional": ("dsar.services.routing.routes", "route_to_professional"),
    "route_to_staff": ("dsar.services.routing.routes", "route_to_staff"),
    "task_from_token": ("dsar.services.routing.task_links", "task_from_token"),
    "task_token": ("dsar.services.routing.task_links", "task_token"),
    "task_url": ("dsar.services.routing.task_links", "task_url"),
    "withdraw_task": ("dsar.services.routing.routes", "withdraw_task"),
    "withdraw_tasks_of_professionals": ("dsar.services.routing.routes", "withdraw_tasks_of_professionals"),
}
__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
