"""Configuration warnings: what the DPO must see about the policy file before trusting its letters.

Four families, each a reason code with its parameters (the sentences live in
``templates/backoffice/_policy_warnings.html`` and its catalogue, not here):

- gaps: a value the operator has not set (``Policy.configuration_gaps``), and a
  missing DPO contact (GDPR art. 37(7), 13(1)(b): letters must not present
  another address as the DPO's);
- contradictions, which **block every letter** until the file is fixed
  (``letter_blockers``): a transfer resting on a safeguard a court invalidated
  (Privacy Shield, CJEU C-311/18), and "health data never leave the EU" beside
  a recipient of a processing of health data that transfers outside the EU
  without the file saying it receives no health data. A letter to a patient is
  no place to state such a contradiction;
- readings the policy's text leaves open and the choice the file applies
  (``Policy.readings``), until the DPO confirms them;
- whatever ``Policy.configuration_gaps`` adds (a systematic identity-document demand …).

Pure: a ``Policy`` in, warnings out. No Flask.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .policy.law import INVALIDATED_SAFEGUARDS
from .policy.model import Policy
from .policy.text import localized

#: Reason codes, in the order the page lists them.
INVALIDATED_SAFEGUARD = "invalidated_safeguard"
HEALTH_DATA_TRANSFER = "health_data_transfer"
MISSING_DPO_CONTACT = "missing_dpo_contact"
SYSTEMATIC_IDENTITY_DOCUMENT = "systematic_identity_document"
PLACEHOLDER_CONTACT = "placeholder_contact"
MISSING_VALUE = "missing_value"
READING = "reading"

BLOCKING_CODES = frozenset({INVALIDATED_SAFEGUARD, HEALTH_DATA_TRANSFER})


@dataclass(frozen=True)
class ConfigurationWarning:
    code: str
    """Reason code (above); the page says it in the reader's language."""
    key: str
    """Dotted key of the policy file to fix or confirm."""
    params: dict = field(default_factory=dict)

    @property
    def blocks_letters(self) -> bool:
        return self.code in BLOCKING_CODES


def _contradictions(policy: Policy) -> list[ConfigurationWarning]:
    found = []
    health_activities = {c.activity for c in policy.data_categories if c.sensitive}
    for r in policy.recipients:
        for i, t in enumerate(r.transfers):
            if t.invalidated or t.safeguard in INVALIDATED_SAFEGUARDS:
                on, case = INVALIDATED_SAFEGUARDS.get(t.safeguard, (None, None))
                found.append(ConfigurationWarning(
                    INVALIDATED_SAFEGUARD, f"recipients.{r.activity}.{r.key}.transfers[{i}].safeguard",
                    {"recipient": r.name, "safeguard": t.safeguard, "invalidated_on": on, "case": case},
                ))
        if (not policy.transfers.health_data_outside_eu and r.activity in health_activities and r.transfers
                and r.receives_health_data is not False):
            found.append(ConfigurationWarning(
                HEALTH_DATA_TRANSFER, f"recipients.{r.activity}.{r.key}.receives_health_data",
                {"recipient": r.name, "activity": policy.activity(r.activity).name},
            ))
    return found


def configuration_warnings(policy: Policy) -> list[ConfigurationWarning]:
    """Every warning about the policy file, blocking ones first."""
    warnings = _contradictions(policy)
    if not policy.controller.dpo_email:
        warnings.append(ConfigurationWarning(MISSING_DPO_CONTACT, "controller.dpo.email"))
    for key in policy.configuration_gaps():
        if key == "identity.document_required":
            code = SYSTEMATIC_IDENTITY_DOCUMENT
        elif key.startswith("recipients.") and key.endswith(".contact_email"):
            code = PLACEHOLDER_CONTACT
        else:
            code = MISSING_VALUE
        warnings.append(ConfigurationWarning(code, key))
    for reading in policy.readings.values():
        warnings.append(ConfigurationWarning(
            READING, f"readings.{reading.key}",
            {"question": reading.question, "choice": reading.choice, "applies_to": reading.applies_to},
        ))
    return warnings


def letter_blockers(policy: Policy) -> list[ConfigurationWarning]:
    """The contradictions that stop every letter until the policy file is fixed."""
    return [w for w in _contradictions(policy)]


def text(value, lang: str) -> str:
    """A localized parameter in ``lang`` (for the template)."""
    return localized(value, lang) if isinstance(value, dict) else ("" if value is None else str(value))
