"""What a submission says, checked: the cleaning of the values people type, and the rules of who may ask what.

``check_submission`` turns what the public form, the API or staff sent into a ``Submission`` of clean values,
or raises ``InvalidRequest`` with every problem at once (each with its field) or ``PermissionDenied``.
Nothing here reads or writes the database: ``intake.submit_request`` records what it returns.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app

from ..actors import Actor
from ..contacts import valid_email as normalise_email  # the one rule for addresses (dsar.contacts), re-exported
from ..deadlines import legal_day
from ..errors import InvalidInput, N_, PermissionDenied
from ..models.enums import ActingFor, ActorType, Channel, IdentityMethod, Relationship, RequestType

SUBJECT_FIELDS = {"kind", "first_name", "last_name", "email", "phone", "birth_date", "deceased"}
REQUESTER_FIELDS = {"acting_for", "relationship", "first_name", "last_name", "email", "phone", "postal_address"}
#: Identity checked at receipt (deadline rule 1: the clock starts on the day of receipt).
VERIFIED_AT_RECEIPT = {IdentityMethod.ACCOUNT, IdentityMethod.IN_PERSON, IdentityMethod.VOUCHED}
#: Relationships that only make sense for a person who has died, and the ones that end with death.
AFTER_DEATH = {Relationship.HEIR, Relationship.EXECUTOR, Relationship.COHABITANT, Relationship.PACS_PARTNER}
ADULT_AGE = 18  # parental authority ends at majority (Code civil art. 371-1, 414)

_PHONE_CHARS = re.compile(r"^\+?[0-9 .\-()/]+$")
_LETTER = re.compile(r"[^\W\d_]")


class InvalidRequest(InvalidInput):
    """Several fields are wrong at once. ``problems`` holds one InvalidInput per problem, each with its field;
    the exception itself carries the first one, so that code expecting a single InvalidInput still works."""

    def __init__(self, problems: list[InvalidInput]):
        first = problems[0]
        super().__init__(first.message, code=first.code, field=first.field, **first.params)
        self.problems = problems

    @property
    def fields(self) -> dict[str, list[InvalidInput]]:
        out: dict[str, list[InvalidInput]] = {}
        for p in self.problems:
            out.setdefault(p.field, []).append(p)
        return out


class Problems:
    def __init__(self):
        self.items: list[InvalidInput] = []

    def add(self, field: str, message: str, code: str = "invalid_input", **params) -> None:
        self.items.append(InvalidInput(message, code=code, field=field, **params))

    def has(self, field: str) -> bool:
        return any(p.field == field for p in self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidRequest(self.items)



def _policy():
    return current_app.extensions["dsar_policy"]


# --- cleaning the values people type ----------------------------------------------------------------------


# The error summary lists messages alone, so a required field's message names it (issue 18).
REQUIRED_MESSAGES = {
    "subject.first_name": N_("Enter the first name of the person the data is about."),
    "subject.last_name": N_("Enter the last name of the person the data is about."),
    "requester.first_name": N_("Enter your first name."),
    "requester.last_name": N_("Enter your last name."),
    "answer": N_("Write your answer to our question."),
}


def clean_text(value, field: str, problems: Problems, *, required: bool, max_length: int, multiline: bool = False):
    if value is None:
        value = ""
    if not isinstance(value, str):
        problems.add(field, N_("This field must be text."), "wrong_type")
        return None
    value = unicodedata.normalize("NFC", value).strip()
    if not multiline:
        value = " ".join(value.split())
    # Control characters have no place in a name or a message (and break emails and letters).
    allowed = {"\n", "\t"} if multiline else set()
    value = "".join(ch for ch in value if ch in allowed or unicodedata.category(ch) not in ("Cc", "Cf"))
    value = value.replace("\r", "")
    if not value:
        if required:
            problems.add(field, REQUIRED_MESSAGES.get(field, N_("This field is required.")), "required")
        return None
    if len(value) > max_length:
        problems.add(field, N_("Please keep this under %(max)s characters."), "too_long", max=max_length)
        return None
    return value


def _name(value, field: str, problems: Problems, *, required: bool = True):
    value = clean_text(value, field, problems, required=required, max_length=120)
    if value is not None and not _LETTER.search(value):
        problems.add(field, N_("Please enter a name."), "invalid_name")
        return None
    return value


def _email(value, field: str, problems: Problems, *, required: bool):
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.add(field, N_("Please enter an email address: this is where we write to you."), "required")
        return None
    email = normalise_email(value)
    if email is None:
        problems.add(field, N_("Please enter a valid email address, such as name@example.fr."), "invalid_email")
    return email


def _phone(value, field: str, problems: Problems):
    value = clean_text(value, field, problems, required=False, max_length=32)
    if value is None:
        return None
    digits = re.sub(r"\D", "", value)
    if not _PHONE_CHARS.match(value) or not 6 <= len(digits) <= 15:
        problems.add(field, N_("Please enter a valid phone number, such as +33 6 12 34 56 78."), "invalid_phone")
        return None
    return ("+" if value.startswith("+") else "") + digits


def _date(value, field: str, problems: Problems, *, today: date):
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        text = value.strip()
        parsed = None
        for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y"):
            try:
                parsed = datetime.strptime(text, fmt).date()
                break
            except ValueError:
                continue
        if parsed is None:
            problems.add(field, N_("Please enter a date such as 31/01/1980."), "invalid_date")
            return None
        value = parsed
    if not isinstance(value, date):
        problems.add(field, N_("Please enter a date such as 31/01/1980."), "invalid_date")
        return None
    if value > today or value.year < 1900:
        problems.add(field, N_("This date is not possible."), "impossible_date")
        return None
    return value


def _flag(value, field: str, problems: Problems) -> bool:
    if value in (None, "", False, 0, "0", "false", "no", "off"):
        return False
    if value in (True, 1, "1", "true", "yes", "on", "y"):
        return True
    problems.add(field, N_("This field must be yes or no."), "wrong_type")
    return False


def _unknown_keys(given: dict, known: set[str], prefix: str, problems: Problems) -> None:
    for key in sorted(set(given) - known, key=str):
        problems.add(f"{prefix}.{key}", N_("Unknown field %(name)s."), "unknown_field", name=f"{prefix}.{key}")


def _age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


# --- a whole submission ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """A submission's clean values. ``method``: the identity verified at receipt (None: a document may be asked)."""

    type: RequestType
    channel: Channel
    method: IdentityMethod | None
    language: str
    received_at: datetime
    received_on: date
    subject: dict
    requester: dict
    details: str | None
    medical_record: bool
    activities: list[str]
    external_account_id: str | None


def check_submission(*, type, subject, requester, channel, language, details, activities, received_at,
                     identity_method, medical_record, external_account_id, actor: Actor, now: datetime) -> Submission:
    """Every field checked, in the order the form shows them; all the problems at once (InvalidRequest)."""
    policy = _policy()
    problems = Problems()
    channel, method = _check_channel(channel, identity_method, actor, problems)
    received_at = _check_received_at(received_at, now, actor, problems)
    received_on = legal_day(received_at)
    try:
        type = RequestType(type)
        policy.request_type(type)
    except (ValueError, KeyError):
        problems.add("type", N_("Choose the right you want to exercise."), "unknown_type")
        type = None

    if language not in current_app.config["LANGUAGES"] or language not in policy.languages:
        problems.add("language", N_("Unknown language."), "unknown_language")
        language = policy.default_language

    subject, subj = _check_subject(subject, policy, received_on, problems)
    people = _check_requester(requester, subject, subj, received_on, problems)
    contents = _check_contents(type, subj["kind"], subj["deceased"], details, medical_record, activities,
                               external_account_id, policy, problems)
    problems.raise_if_any()
    return Submission(type=type, channel=channel, method=method, language=language, received_at=received_at,
                      received_on=received_on, subject=subj, requester=people, **contents)


def _check_channel(channel, identity_method, actor: Actor, problems: Problems):
    """(channel, identity method verified at receipt or None). Who may say what: a person on the public form
    cannot vouch for their own identity."""
    staff_like = actor.is_staff_like
    try:
        channel = Channel(channel)
    except ValueError:
        problems.add("channel", N_("Unknown channel."), "unknown_channel")
        channel = None
    if identity_method is None and channel == Channel.ACCOUNT:
        identity_method = IdentityMethod.ACCOUNT  # a request made from a logged-in account (policy art. 8.1)
    method = None
    if identity_method is not None:
        try:
            method = IdentityMethod(identity_method)
        except ValueError:
            method = None
        if method not in VERIFIED_AT_RECEIPT:
            problems.add("identity_method", N_("Identity can be checked at receipt only through the account, "
                                               "in person, or by a trusted client."), "bad_identity_method")
            method = None
        elif channel == Channel.WEB:
            problems.add("identity_method", N_("A request from the public form cannot be verified at receipt."),
                         "bad_identity_method")
            method = None
        elif method == IdentityMethod.ACCOUNT and not (staff_like or actor.type == ActorType.API):
            raise PermissionDenied(N_("You are not allowed to do this."), code="forbidden", field="identity_method")
        elif method in (IdentityMethod.IN_PERSON, IdentityMethod.VOUCHED) and not staff_like:
            raise PermissionDenied(N_("You are not allowed to do this."), code="forbidden", field="identity_method")
    return channel, method


def _check_received_at(received_at, now: datetime, actor: Actor, problems: Problems) -> datetime:
    """The instant of receipt: now, or the one staff give (a letter logged later); never backdated by the public."""
    staff_like = actor.is_staff_like
    if received_at is None:
        received_at = now
    elif not staff_like:
        raise PermissionDenied(N_("You are not allowed to do this."), code="forbidden", field="received_at")
    elif not isinstance(received_at, datetime) or received_at.tzinfo is None:
        problems.add("received_at", N_("Give the instant of receipt with its time zone."), "naive_datetime")
        received_at = now
    elif received_at > now + timedelta(minutes=5):
        problems.add("received_at", N_("A request cannot be received in the future."), "future")
        received_at = now
    return received_at


def _check_subject(subject, policy, received_on: date, problems: Problems) -> tuple[dict, dict]:
    """The data subject's fields, cleaned: (what was sent, as a dict; the cleaned values)."""
    if not isinstance(subject, dict):
        problems.add("subject", N_("Tell us who the request is about."), "required")
        subject = {}
    _unknown_keys(subject, SUBJECT_FIELDS, "subject", problems)
    kind = subject.get("kind")
    if not isinstance(kind, str) or kind not in policy.subject_kinds:
        problems.add("subject.kind", N_("Tell us who the person is: a patient, a professional user or a prospect."),
                     "unknown_subject_kind")
        kind = None
    s_first = _name(subject.get("first_name"), "subject.first_name", problems)
    s_last = _name(subject.get("last_name"), "subject.last_name", problems)
    s_phone = _phone(subject.get("phone"), "subject.phone", problems)
    s_birth = _date(subject.get("birth_date"), "subject.birth_date", problems, today=received_on)
    s_deceased = _flag(subject.get("deceased"), "subject.deceased", problems)
    return subject, {"kind": kind, "first_name": s_first, "last_name": s_last, "phone": s_phone,
                     "birth_date": s_birth, "deceased": s_deceased, "email": None}


def _check_requester(requester, subject: dict, subj: dict, received_on: date, problems: Problems) -> dict:
    """Who makes the request, cleaned; completes ``subj`` (its email, its death) from what the requester says."""
    # Who makes it: the subject, or someone acting for them.
    if requester is not None and not isinstance(requester, dict):
        problems.add("requester", N_("This field must be an object."), "wrong_type")
        requester = None
    acting_for = ActingFor.SELF
    if requester:
        _unknown_keys(requester, REQUESTER_FIELDS, "requester", problems)
        try:
            acting_for = ActingFor(requester.get("acting_for") or ActingFor.OTHER)
        except ValueError:
            problems.add("requester.acting_for", N_("Say whether you act for yourself or for someone else."),
                         "bad_acting_for")
    relationship = None
    if acting_for == ActingFor.SELF:
        stray = sorted(k for k, v in (requester or {}).items() if k != "acting_for" and v not in (None, ""))
        for key in stray:
            problems.add(f"requester.{key}", N_("Only for a request made for someone else."), "not_for_self")
        subj["email"] = _email(subject.get("email"), "subject.email", problems, required=True)
        r_first, r_last, r_email, r_phone = subj["first_name"], subj["last_name"], subj["email"], subj["phone"]
        r_address = None
        if subj["deceased"]:
            problems.add("subject.deceased", N_("For a person who has died, make the request as their heir or as "
                                                "the person named in their directives."), "deceased_self")
    else:
        try:
            relationship = Relationship(requester.get("relationship"))
        except ValueError:
            problems.add("requester.relationship", N_("Tell us on what ground you act for this person."),
                         "bad_relationship")
        subj["email"] = _email(subject.get("email"), "subject.email", problems, required=False)
        r_first = _name(requester.get("first_name"), "requester.first_name", problems)
        r_last = _name(requester.get("last_name"), "requester.last_name", problems)
        r_email = _email(requester.get("email"), "requester.email", problems, required=True)
        r_phone = _phone(requester.get("phone"), "requester.phone", problems)
        r_address = clean_text(requester.get("postal_address"), "requester.postal_address", problems, required=False,
                          max_length=500, multiline=True)
        if relationship in AFTER_DEATH:
            if subject.get("deceased") in (None, ""):
                subj["deceased"] = True
            elif not subj["deceased"]:
                problems.add("subject.deceased", N_("An heir or the person named in directives acts for someone "
                                                    "who has died."), "not_deceased")
        elif relationship is not None and subj["deceased"]:
            problems.add("requester.relationship", N_("For a person who has died, act as their heir or as the person "
                                                      "named in their directives."), "deceased_needs_heir")
        if relationship == Relationship.PARENT and not problems.has("subject.birth_date"):
            if subj["birth_date"] is None:
                problems.add("subject.birth_date", N_("Give the child's date of birth: parental authority ends at 18."),
                             "required")
            elif _age_on(subj["birth_date"], received_on) >= ADULT_AGE:
                problems.add("requester.relationship", N_("Parental authority ends at 18: for an adult, act as their "
                                                          "guardian or with their written mandate."), "not_a_minor")

    return {"acting_for": acting_for, "relationship": relationship, "first_name": r_first, "last_name": r_last,
            "email": r_email, "phone": r_phone, "postal_address": r_address}


def _check_contents(type, kind, deceased: bool, details, medical_record, activities, external_account_id, policy,
                    problems: Problems) -> dict:
    """What is asked: the text, the medical record, the services concerned, the account."""
    if type == RequestType.POST_MORTEM_DIRECTIVE and deceased:
        problems.add("type", N_("Directives for after death are set by the person during their lifetime."),
                     "directive_after_death")

    details = clean_text(details, "details", problems, required=False, max_length=5000, multiline=True)
    if type == RequestType.RECTIFICATION and details is None and not problems.has("details"):
        problems.add("details", N_("Tell us which data are wrong and what they should be."), "required")

    medical_record = _flag(medical_record, "medical_record", problems)
    if medical_record and (kind != "patient" or type != RequestType.ACCESS):
        problems.add("medical_record", N_("Only a patient's request for access can ask for the medical record."),
                     "not_medical")
        medical_record = False
    # How old each item of the record is, is a fact its holder establishes afterwards (CSP R.1111-1;
    # services/medical_record.py), not something the requester declares.

    if activities is None:
        activity_keys = [a.key for a in policy.activities_for_subject(kind)] if kind else []
    elif not isinstance(activities, list) or not activities:
        problems.add("activities", N_("Choose at least one service."), "required")
        activity_keys = []
    else:
        activity_keys = []
        for key in activities:
            act = policy.activities.get(key) if isinstance(key, str) else None
            if act is None or (kind and kind not in act.data_subjects):
                problems.add("activities", N_("Unknown service %(activity)s for this person."), "unknown_activity",
                             activity=str(key)[:40])
            elif key not in activity_keys:
                activity_keys.append(key)

    if external_account_id is not None:
        external_account_id = clean_text(external_account_id, "external_account_id", problems, required=False,
                                    max_length=64)
    return {"details": details, "medical_record": medical_record, "activities": activity_keys,
            "external_account_id": external_account_id}
