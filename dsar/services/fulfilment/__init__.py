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
from __future__ import annotations

from ...lazy_exports import lazy_exports


# The names older callers import from this package, and the module each lives in. They load on first use
# (dsar/lazy_exports.py), so that importing one module of the package runs none of the others (no import cycle
# through this file); code inside dsar imports the module itself.
_HOMES = {
    "ART19_TYPES": ("dsar.services.fulfilment.common", "ART19_TYPES"),
    "AccessInformation": ("dsar.services.fulfilment.letters", "AccessInformation"),
    "ActivityInfo": ("dsar.services.fulfilment.letters", "ActivityInfo"),
    "CSP_HEIR_SCOPE": ("dsar.services.fulfilment.post_mortem", "CSP_HEIR_SCOPE"),
    "CSP_RELATIVES": ("dsar.services.fulfilment.post_mortem", "CSP_RELATIVES"),
    "CSP_SCOPE": ("dsar.services.fulfilment.post_mortem", "CSP_SCOPE"),
    "DIRECTIVE_ACTIONS": ("dsar.services.fulfilment.post_mortem", "DIRECTIVE_ACTIONS"),
    "GIVING": ("dsar.services.fulfilment.common", "GIVING"),
    "HEIR_SCOPES": ("dsar.services.fulfilment.post_mortem", "HEIR_SCOPES"),
    "LinkGone": ("dsar.services.fulfilment.delivery", "LinkGone"),
    "MAX_DATASET_BYTES": ("dsar.services.fulfilment.portability", "MAX_DATASET_BYTES"),
    "MAX_DATASET_RECORDS": ("dsar.services.fulfilment.portability", "MAX_DATASET_RECORDS"),
    "MAX_PACK_BYTES": ("dsar.services.fulfilment.packs", "MAX_PACK_BYTES"),
    "PostMortemStanding": ("dsar.services.fulfilment.post_mortem", "PostMortemStanding"),
    "STAFF_LETTERS": ("dsar.services.fulfilment.answers", "STAFF_LETTERS"),
    "STREAM_DOWNLOAD_BYTES": ("dsar.services.fulfilment.delivery", "STREAM_DOWNLOAD_BYTES"),
    "_today": ("dsar.services.fulfilment.common", "legal_today"),
    "access_information": ("dsar.services.fulfilment.letters", "access_information"),
    "add_portable_dataset": ("dsar.services.fulfilment.portability", "add_portable_dataset"),
    "after_answer": ("dsar.services.fulfilment.answers", "after_answer"),
    "after_extension": ("dsar.services.fulfilment.answers", "after_extension"),
    "after_refusal": ("dsar.services.fulfilment.answers", "after_refusal"),
    "build_access_pack": ("dsar.services.fulfilment.packs", "build_access_pack"),
    "build_portability_pack": ("dsar.services.fulfilment.portability", "build_portability_pack"),
    "checked_access_entries": ("dsar.services.fulfilment.packs", "checked_access_entries"),
    "close_recipient_impossible": ("dsar.services.fulfilment.recipients", "close_recipient_impossible"),
    "collected_categories": ("dsar.services.fulfilment.packs", "collected_categories"),
    "concerns_health_data": ("dsar.services.fulfilment.consent", "concerns_health_data"),
    "concerns_patient_health_data": ("dsar.services.fulfilment.post_mortem", "concerns_patient_health_data"),
    "confirm_account_deactivation": ("dsar.services.fulfilment.consent", "confirm_account_deactivation"),
    "current_policy": ("dsar.services.fulfilment.common", "current_policy"),
    "directive_for_subject": ("dsar.services.fulfilment.post_mortem", "directive_for_subject"),
    "directive_history": ("dsar.services.fulfilment.post_mortem", "directive_history"),
    "download_url": ("dsar.services.fulfilment.delivery", "download_url"),
    "email_context": ("dsar.services.fulfilment.delivery", "email_context"),
    "erasure_plan_for": ("dsar.services.fulfilment.erasure", "erasure_plan_for"),
    "erasure_rows": ("dsar.services.fulfilment.erasure", "erasure_rows"),
    "find_directive": ("dsar.services.fulfilment.post_mortem", "find_directive"),
    "fix_erasure_plan": ("dsar.services.fulfilment.erasure", "fix_erasure_plan"),
    "human_size": ("dsar.formatting", "human_size"),
    "issue_link": ("dsar.services.fulfilment.delivery", "issue_link"),
    "letter_context": ("dsar.services.fulfilment.letters", "letter_context"),
    "link_file": ("dsar.services.fulfilment.delivery", "link_file"),
    "link_from_token": ("dsar.services.fulfilment.delivery", "link_from_token"),
    "live_links": ("dsar.services.fulfilment.delivery", "live_links"),
    "notify_recipient": ("dsar.services.fulfilment.recipients", "notify_recipient"),
    "open_recipient_notifications": ("dsar.services.fulfilment.recipients", "open_recipient_notifications"),
    "parse_dataset": ("dsar.services.fulfilment.portability", "parse_dataset"),
    "pending_obligations": ("dsar.services.fulfilment.recipients", "pending_obligations"),
    "portable_categories": ("dsar.services.fulfilment.portability", "portable_categories"),
    "post_mortem_standing": ("dsar.services.fulfilment.post_mortem", "post_mortem_standing"),
    "produce_letter": ("dsar.services.fulfilment.letters", "produce_letter"),
    "purge_expired_links": ("dsar.services.fulfilment.delivery", "purge_expired_links"),
    "recipient_rows": ("dsar.services.fulfilment.recipients", "recipient_rows"),
    "record_directive": ("dsar.services.fulfilment.post_mortem", "record_directive"),
    "record_download": ("dsar.services.fulfilment.delivery", "record_download"),
    "reissue_link": ("dsar.services.fulfilment.delivery", "reissue_link"),
    "remove_portable_dataset": ("dsar.services.fulfilment.portability", "remove_portable_dataset"),
    "request_account_deactivation": ("dsar.services.fulfilment.consent", "request_account_deactivation"),
    "send_letter": ("dsar.services.fulfilment.answers", "send_letter"),
    "set_erasure_facts": ("dsar.services.fulfilment.erasure", "set_erasure_facts"),
    "stream_download": ("dsar.services.fulfilment.delivery", "stream_download"),
    "utcnow": ("dsar.models", "utcnow"),
}
__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
