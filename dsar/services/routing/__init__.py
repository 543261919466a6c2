"""Routing patients' requests to the professional in charge (policy art. 8.2, GDPR art. 26(3)).

A package: who is in charge (``matching``), handing a request over and taking it back
(``routes``), the link the professional acts through (``task_links``), what they do
with it (``task_actions``) and the emails about it (``task_emails``). This module
re-exports the old public names for the tests and outside callers; modules inside
dsar import from the precise module.
"""
from ...models import LIVE_TASK_STATUSES  # noqa: F401
from .matching import PROFESSIONAL_ROUTE, find_professionals_for, matching_links, policy_route  # noqa: F401
from .task_links import (  # noqa: F401
    LINK_SIGNATURE_MAX_AGE,
    TaskLinkGone,
    TaskLinkInvalid,
    ensure_link_lasts,
    record_opening,
    record_refused_link,
    task_from_token,
    task_token,
    task_url,
)
from .task_emails import email_context, email_escalation, email_reminder, right_name  # noqa: F401
from .routes import (  # noqa: F401
    RoutingOutcome,
    auto_route,
    live_task,
    live_tasks,
    renew_expired_link,
    resend_task_link,
    revoke_task,
    route_to_professional,
    route_to_staff,
    withdraw_task,
    withdraw_tasks_of_professionals,
)
from .task_actions import (  # noqa: F401
    MAX_ANSWER_FILES,
    acknowledge_task,
    answer_task,
    ask_for_help,
    decline_task,
    professional_actor,
    request_extension,
)
