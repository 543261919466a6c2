"""Email addresses and phone numbers: one rule for every way in (intake, the directory, routing).

A request is matched to a care link on the subject's email or phone (services/care_links.py), so
the address a requester gives at intake and the one the application syncs into the directory must be
read by the same rule: an address accepted at intake and refused by the directory import would silently
never match a care link.

The email rule (RFC 5321 §4.5.3.1: at most 64 characters before the @, 254 in all; RFC 6531: the part
before the @ may be UTF-8, "andré@exemple.fr"): dot-separated words of anything but spaces, control
characters and the specials ``@ < > ( ) [ ] , ; : " \\`` (no leading, trailing or doubled dot), an @,
then a domain of at least two LDH labels whose last one is not all digits. Addresses are compared
lower-cased and trimmed.
"""
from __future__ import annotations

import re

from .errors import N_

_WORD = r"[^\s\x00-\x1f\x7f@<>()\[\],;:\"\\.]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL = re.compile(rf"{_WORD}(?:\.{_WORD})*@(?:{_LABEL}\.)+(?![0-9]+$){_LABEL}")
MAX_EMAIL = 254
MAX_LOCAL_PART = 64


class BadValue(ValueError):
    """A value that cannot be accepted; ``message`` is an English msgid, ``params`` fill it."""

    def __init__(self, code: str, message: str, **params):
        super().__init__(message % params if params else message)
        self.code = code
        self.message = message
        self.params = params


def text_value(value) -> str | None:
    """A text (or number) cell trimmed; None when blank. Raises BadValue for anything else (a list, a bool)."""
    if value is None:
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise BadValue("bad_type", N_("This value should be text."))
    text = str(value).strip()
    return text or None


def valid_email(value) -> str | None:
    """The address lower-cased and trimmed, or None if it is not text that looks like an address."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if len(text) > MAX_EMAIL or len(text.partition("@")[0]) > MAX_LOCAL_PART or not EMAIL.fullmatch(text):
        return None
    return text


def normalise_email(value) -> str | None:
    """Lower-cased, trimmed email, or None when blank. Raises BadValue when it is not an address."""
    text = text_value(value)
    if text is None:
        return None
    email = valid_email(text)
    if email is None:
        raise BadValue("bad_email", N_("This is not a valid email address."))
    return email


def email_key(value) -> str | None:
    """The form an email is matched on (lower-cased, trimmed); None when blank."""
    text = text_value(value)
    return text.lower() if text else None


def normalise_phone(value) -> str | None:
    """A phone number in international form, "+33612345678"; None when blank. Raises BadValue otherwise.

    Spaces, dots, dashes, slashes and brackets are dropped; "00" becomes "+";
    ten digits starting with 0 are a French national number (+33), the way the
    application and patients write them; "+33 (0)6…" loses its bracketed 0.
    Overseas numbers written nationally (0690…) are therefore read as +33: a
    mismatch there only means staff handle the request.
    """
    text = text_value(value)
    if text is None:
        return None
    compact = re.sub(r"[\s.\-/()]", "", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if compact.startswith("+"):
        digits = compact[1:]
        if digits.startswith("330"):
            digits = "33" + digits[3:]
    elif len(compact) == 10 and compact.startswith("0"):
        digits = "33" + compact[1:]
    else:
        raise BadValue("bad_phone", N_("This is not a phone number in national (06…) or international (+33…) form."))
    if not digits.isdigit() or not 8 <= len(digits) <= 15:  # E.164: at most 15 digits
        raise BadValue("bad_phone", N_("This is not a phone number in national (06…) or international (+33…) form."))
    return "+" + digits


def phone_key(value) -> str | None:
    """The form a phone is matched on, or None when blank or not a phone number."""
    try:
        return normalise_phone(value)
    except BadValue:
        return None
