"""Answers and fulfilment (DESIGN.md "Answers"): what happens once a request is answered, extended or refused.

- ``answers``: the hooks ``services.actions`` calls (answer, extension, refusal) and the letters staff send.
- ``letters``: what a letter says (``letter_context``), rendered by ``dsar.pdf`` and kept as a LETTER document.
- ``packs``: the access pack (the letter and the data gathered, one ZIP, GDPR art. 15(3)); every file that
  goes into a pack is checked like an upload first.
- ``portability``: the data the person provided, as JSON and CSV with a manifest (GDPR art. 20).
- ``delivery``: an expiring download link, emailed; it opens only in a browser session that also holds the
  request's status-page secret. Each download is recorded; staff may issue a new link; the files are deleted
  when the link has expired plus a grace period, their hashes kept.
- ``recipients``: GDPR art. 19, one notification task per recipient (policy art. 11) after a rectification, an
  erasure or a restriction, closed as notified or impossible with a reason.
- ``erasure``: the erasure plan as applied to a request (GDPR art. 17(3), policy art. 12).
- ``consent``: withdrawal of consent for health data, the patient's account is deactivated (policy art. 8.2).
- ``post_mortem``: post-mortem directives and what heirs and executors may ask (loi Informatique et Libertés art. 85).
- ``systems_hooks``: what the systems layer (above) registers; ``common``: what the others share.

Plain values and an Actor in; nothing here commits (the caller does, once). Modules inside ``dsar`` import from
the submodules; the names below keep older imports (tests, scripts) working.
"""
from ...formatting import human_size
from ...models import utcnow
from .answers import STAFF_LETTERS, after_answer, after_extension, after_refusal, send_letter
from .common import ART19_TYPES, GIVING, current_policy
from .common import legal_today as _today  # noqa: F401 - the name older tests call
from .consent import concerns_health_data, confirm_account_deactivation, request_account_deactivation
from .delivery import (
    STREAM_DOWNLOAD_BYTES, LinkGone, download_url, email_context, issue_link, link_file, link_from_token, live_links,
    purge_expired_links, record_download, reissue_link, stream_download,
)
from .erasure import erasure_plan_for, erasure_rows, fix_erasure_plan, set_erasure_facts
from .letters import AccessInformation, ActivityInfo, access_information, letter_context, produce_letter
from .packs import MAX_PACK_BYTES, build_access_pack, checked_access_entries, collected_categories
from .portability import (
    MAX_DATASET_BYTES, MAX_DATASET_RECORDS, add_portable_dataset, build_portability_pack, parse_dataset,
    portable_categories, remove_portable_dataset,
)
from .post_mortem import (
    CSP_HEIR_SCOPE, CSP_RELATIVES, CSP_SCOPE, DIRECTIVE_ACTIONS, HEIR_SCOPES, PostMortemStanding,
    concerns_patient_health_data, directive_for_subject, directive_history, find_directive, post_mortem_standing,
    record_directive,
)
from .recipients import (
    close_recipient_impossible, notify_recipient, open_recipient_notifications, pending_obligations, recipient_rows,
)

__all__ = [
    "ART19_TYPES", "AccessInformation", "ActivityInfo", "CSP_HEIR_SCOPE", "CSP_RELATIVES", "CSP_SCOPE",
    "DIRECTIVE_ACTIONS", "GIVING", "HEIR_SCOPES", "LinkGone", "MAX_DATASET_BYTES", "MAX_DATASET_RECORDS",
    "MAX_PACK_BYTES", "PostMortemStanding", "STAFF_LETTERS", "STREAM_DOWNLOAD_BYTES", "access_information",
    "add_portable_dataset", "after_answer", "after_extension", "after_refusal", "build_access_pack",
    "build_portability_pack", "checked_access_entries", "close_recipient_impossible", "collected_categories",
    "concerns_health_data", "concerns_patient_health_data", "confirm_account_deactivation", "current_policy",
    "directive_for_subject", "directive_history", "download_url", "email_context", "erasure_plan_for",
    "erasure_rows", "find_directive", "fix_erasure_plan", "human_size", "issue_link", "letter_context",
    "link_file", "link_from_token", "live_links", "notify_recipient", "open_recipient_notifications",
    "parse_dataset", "pending_obligations", "portable_categories", "post_mortem_standing", "produce_letter",
    "purge_expired_links", "recipient_rows", "record_directive", "record_download", "reissue_link",
    "remove_portable_dataset", "request_account_deactivation", "send_letter", "set_erasure_facts",
    "stream_download", "utcnow",
]
