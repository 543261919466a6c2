"""Legal deadlines of a data subject request: pure date arithmetic.

No Flask, no database, no wall clock: every function takes the dates it needs,
so the same inputs always give the same deadline (and tests need no freezing).

Conventions (DESIGN.md, "Deadline rules"):

- A *legal day* is a ``datetime.date`` in Europe/Paris.
- An *instant* is an aware ``datetime``; a naive one is refused with ``ValueError``
  because its day cannot be known.
- Periods follow Regulation (EEC, Euratom) No 1182/71: the day of the event that
  starts a period is not counted (art. 3(1)), a period in months ends on the same
  date of the final month or on that month's last day (art. 3(2)(c)), and a period
  ending on a Saturday, a Sunday or a public holiday ends on the next working day
  (art. 3(4)). French procedural law (CPC art. 641-642) counts the same way, so the
  8-day period of the Code de la santé publique uses the same arithmetic.
"""

from __future__ import annotations

import calendar as _calendar
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from types import MappingProxyType
from zoneinfo import ZoneInfo

import holidays
from dateutil.easter import easter

PARIS = ZoneInfo("Europe/Paris")

#: GDPR art. 12(3): the period "may be extended by two further months".
MAX_EXTENSION_MONTHS = 2
#: CSP L.1111-7: the record is sent within 8 days of the request ...
MEDICAL_RECORD_DAYS = 8
#: ... or within 2 months when the information is more than five years old ...
MEDICAL_RECORD_OLD_INFO_MONTHS = 2
#: ... and not before a 48-hour period of reflection.
MEDICAL_RECORD_REFLECTION = timedelta(hours=48)

# Subdivision spellings people use that the holidays package does not accept
# (checked against holidays 0.109: France knows "57" and "6AE", not "67"/"68").
# Bas-Rhin (67) and Haut-Rhin (68) form the Collectivité européenne d'Alsace,
# "6AE"; "Alsace-Moselle" is deprecated in the package, and Moselle has the
# same two extra days, so it maps to "57".
_SUBDIVISION_ALIASES = {
    ("FR", "67"): "6AE",
    ("FR", "68"): "6AE",
    ("FR", "ALSACE"): "6AE",
    ("FR", "MOSELLE"): "57",
    ("FR", "ALSACE-MOSELLE"): "57",
    ("FR", "ALSACE MOSELLE"): "57",
}

# Whit Monday (lundi de Pentecôte) stayed a "fête légale" in the Code du travail
# when the 2004 law made it the default "journée de solidarité"; the holidays
# package leaves it out for 2005-2007 only. We restore it so that the national
# calendar is the same 11 days every year.
_WHIT_MONDAY_MISSING_YEARS = range(2005, 2008)


def normalise_subdivision(country: str, subdivision: str | None) -> str | None:
    """The holidays package's code for ``subdivision``, or ``ValueError`` if unknown.

    ``"67"``, ``"68"`` and ``"alsace"`` give ``"6AE"``; ``"alsace-moselle"`` and
    ``"moselle"`` give ``"57"`` (both add Good Friday and 26 December). Matching
    is case-insensitive; an empty string means no subdivision.
    """
    if subdivision is None or not subdivision.strip():
        return None
    country = country.upper()
    wanted = subdivision.strip()
    alias = _SUBDIVISION_ALIASES.get((country, wanted.upper()))
    if alias is not None:
        return alias
    try:
        entity = holidays.country_holidays(country)
    except NotImplementedError as exc:
        raise ValueError(f"unknown holiday country {country!r}") from exc
    known = {code.upper(): code for code in entity.subdivisions}
    known.update({name.upper(): code for name, code in entity.subdivisions_aliases.items()})
    try:
        return known[wanted.upper()]
    except KeyError:
        raise ValueError(
            f"unknown subdivision {subdivision!r} for {country}; "
            f"known: {', '.join(sorted(entity.subdivisions))}"
        ) from None


@functools.lru_cache(maxsize=4096)
def _holidays_for(country: str, subdivision: str | None, year: int, language: str) -> Mapping[date, str]:
    """Public holidays of one year, as a read-only ``{date: name}``.

    Cached per (country, subdivision, year, language): building a holidays
    object costs far more than a dictionary lookup, and a sweep over a million
    requests touches only a few dozen distinct years.
    """
    entity = holidays.country_holidays(
        country, subdiv=subdivision, years=year, language=language, categories=("public",)
    )
    days = dict(entity.items())
    if country == "FR" and year in _WHIT_MONDAY_MISSING_YEARS:
        whit_monday = easter(year) + timedelta(days=50)
        reference = easter(2008) + timedelta(days=50)
        days.setdefault(whit_monday, _holidays_for(country, subdivision, 2008, language)[reference])
    return MappingProxyType(days)


@dataclass(frozen=True)
class HolidayCalendar:
    """Which days are not working days, for art. 3(4) of Regulation 1182/71.

    The default is metropolitan France: Saturdays, Sundays and the 11 national
    public holidays. A subdivision adds local ones: ``"57"`` (Moselle) and
    ``"6AE"`` (Alsace, also reachable as ``"67"``/``"68"``) add Good Friday and
    26 December; the overseas departments add their own. An unknown subdivision
    raises ``ValueError`` when the calendar is made, not when a deadline is due.
    """

    country: str = "FR"
    subdivision: str | None = None
    language: str = "fr"
    """Language of ``holiday_name``; French, like the rest of the service."""

    def __post_init__(self) -> None:
        country = self.country.upper()
        object.__setattr__(self, "country", country)
        object.__setattr__(self, "subdivision", normalise_subdivision(country, self.subdivision))

    def _holidays(self, year: int) -> Mapping[date, str]:
        return _holidays_for(self.country, self.subdivision, year, self.language)

    def is_holiday(self, d: date) -> bool:
        """True if ``d`` is a public holiday (whatever day of the week it falls on)."""
        return d in self._holidays(d.year)

    def is_working_day(self, d: date) -> bool:
        """True unless ``d`` is a Saturday, a Sunday or a public holiday."""
        return d.weekday() < 5 and not self.is_holiday(d)

    def holiday_name(self, d: date) -> str | None:
        """The holiday's name in ``language`` (e.g. "Lundi de Pâques"), or None."""
        return self._holidays(d.year).get(d)

    def holidays_in(self, year: int) -> Mapping[date, str]:
        """All public holidays of ``year``, ``{date: name}``."""
        return self._holidays(year)


NATIONAL_FR = HolidayCalendar()


def _require_aware(instant: datetime, name: str) -> None:
    if not isinstance(instant, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(instant).__name__}")
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (UTC), got naive {instant!r}")


def legal_day(instant: datetime) -> date:
    """The Europe/Paris calendar day of an aware instant (rule 1).

    23:30 UTC is already the next day in Paris, in winter (UTC+1) and in
    summer (UTC+2). A naive datetime raises ``ValueError``: guessing its zone
    could move a deadline by a day.
    """
    _require_aware(instant, "instant")
    return instant.astimezone(PARIS).date()


def add_months(start: date, months: int) -> date:
    """``start`` plus ``months`` calendar months, art. 3(2)(c) of Regulation 1182/71.

    The period ends on the same date of the final month; if that month has no
    such date, on its last day: 31 August + 1 → 30 September, 31 January + 1 →
    28 February (29 in a leap year), 29 February 2028 + 1 → 29 March 2028.
    Negative ``months`` count backwards with the same clamping.
    """
    month_index = start.year * 12 + (start.month - 1) + months
    year, month0 = divmod(month_index, 12)
    month = month0 + 1
    last_day = _calendar.monthrange(year, month)[1]
    return date(year, month, min(start.day, last_day))


def roll_forward(d: date, calendar: HolidayCalendar) -> date:
    """``d`` if it is a working day, else the next working day (art. 3(4)).

    Chains are followed: a holiday on Friday before a weekend rolls to Monday,
    Good Friday in Moselle rolls past Easter Monday to Tuesday.
    """
    while not calendar.is_working_day(d):
        d += timedelta(days=1)
    return d


@dataclass(frozen=True)
class Pause:
    """A clarification asked of the requester, and whether it stops the clock.

    The pause covers the half-open range ``[started_on, ended_on)``: the clock
    stops on the day the question is sent and runs again on the day the answer
    arrives. A question answered the same day pauses 0 days; asked on the 10th
    and answered on the 13th pauses 3 days.

    ``suspends`` says whether the law lets this kind of question stop the clock
    (DESIGN.md rule 4, a rule of the policy per kind of clarification): the
    French implementing decree (décret n° 2019-536 du 29 mai 2019, art. 77)
    suspends the period while information needed to verify identity is awaited;
    GDPR art. 12(3) has no suspension, so a question about the scope of the
    request leaves the clock running (``suspends=False``).
    """

    started_on: date
    ended_on: date | None
    """None while the requester has not answered yet."""
    suspends: bool = True

    def __post_init__(self) -> None:
        if self.ended_on is not None and self.ended_on < self.started_on:
            raise ValueError(f"pause ends ({self.ended_on}) before it starts ({self.started_on})")

    def end(self, today: date | None = None) -> date:
        """The (exclusive) end of the pause; for an open pause, ``today``."""
        if self.ended_on is not None:
            return self.ended_on
        if today is None:
            raise ValueError("an open pause needs `today` to be counted")
        if today < self.started_on:
            raise ValueError(f"open pause starts ({self.started_on}) after today ({today})")
        return today

    def days(self, today: date | None = None) -> int:
        """Calendar days paused; an open pause counts until ``today`` (exclusive)."""
        return (self.end(today) - self.started_on).days


def paused_days(pauses: Sequence[Pause], *, since: date | None = None, today: date | None = None) -> int:
    """Calendar days covered by at least one suspending pause, on or after ``since``.

    Overlapping pauses are counted once (two clarifications pending at the same
    time stop the clock once, not twice), days before the clock started do
    not move a deadline that had not started yet, and a pause that does not
    suspend the period (``suspends=False``) counts for nothing.
    """
    ranges = []
    for pause in pauses:
        if not pause.suspends:
            continue
        start, end = pause.started_on, pause.end(today)
        if since is not None:
            start = max(start, since)
        if end > start:
            ranges.append((start, end))
    total = 0
    covered_until: date | None = None
    for start, end in sorted(ranges):
        if covered_until is not None:
            start = max(start, covered_until)
        if end > start:
            total += (end - start).days
            covered_until = end
    return total


@dataclass(frozen=True)
class Deadline:
    """The deadlines of one request, computed by ``compute_deadline``."""

    clock_started_on: date
    """Paris day on which the complete request was received (rule 1)."""
    due_date: date
    """One month (+ paused days that count), rolled to a working day (rules 2-4)."""
    extended_due_date: date | None
    """Start + 3 months (+ paused days that count), rolled; None unless extended (rule 5)."""
    paused_days: int
    """Calendar days the clock was stopped before the one-month date, already included in ``due_date``."""
    medical_record_due: date | None
    """CSP L.1111-7 / R.1111-1: the date that binds the medical record (8 days from receipt while any item
    is recent or not yet established, else 2 months), + paused days, rolled; None if not a medical record request."""
    earliest_release_at: datetime | None
    """CSP L.1111-7: nothing is sent before this UTC instant (receipt + 48 h)."""
    medical_record_old_due: date | None = None
    """CSP R.1111-1: the 2-month date for the items over five years old; None when no item is."""

    @property
    def effective_due_date(self) -> date:
        """The date that binds now.

        The extended date when extended, else the one-month date; and never
        later than the medical record deadline when there is one (rule 6: the
        earlier of the two applies).
        """
        gdpr_due = self.extended_due_date if self.extended_due_date is not None else self.due_date
        if self.medical_record_due is not None:
            return min(gdpr_due, self.medical_record_due)
        return gdpr_due


def _shifted_and_rolled(raw_end: date, paused: int, calendar: HolidayCalendar) -> date:
    return roll_forward(raw_end + timedelta(days=paused), calendar)


def counted_pauses(
    raw_end: date, pauses: Sequence[Pause], calendar: HolidayCalendar, *, since: date, today: date | None = None
) -> list[Pause]:
    """The pauses that move a period ending (before pauses) on ``raw_end``: never a date already passed.

    Pauses are taken in the order they were asked. One counts only if it
    suspends the period (``Pause.suspends``) and was asked on or before the
    deadline as it stood then (the deadline shifted by the pauses counted so
    far): a question asked once the date has passed cannot bring an overdue
    request back into time (GDPR art. 12(3) has no suspension; the decree
    suspends a period that is still running, not one that has ended). Asked on
    the due date itself it counts: the period runs to the end of that day.
    """
    counted: list[Pause] = []
    for pause in sorted((p for p in pauses if p.suspends), key=lambda p: p.started_on):
        due_then = _shifted_and_rolled(raw_end, paused_days(counted, since=since, today=today), calendar)
        if pause.started_on <= due_then:
            counted.append(pause)
    return counted


def _period_end(raw_end: date, pauses: Sequence[Pause], calendar: HolidayCalendar, *, since: date,
                today: date | None) -> tuple[date, int]:
    """``raw_end`` shifted by the pauses that count for it (``counted_pauses``), rolled; and those days."""
    paused = paused_days(counted_pauses(raw_end, pauses, calendar, since=since, today=today), since=since, today=today)
    return _shifted_and_rolled(raw_end, paused, calendar), paused


def compute_deadline(
    clock_started_on: date,
    *,
    calendar: HolidayCalendar,
    months: int = 1,
    pauses: Sequence[Pause] = (),
    extended: bool = False,
    extension_months: int = MAX_EXTENSION_MONTHS,
    medical_record: bool = False,
    medical_recent_items: bool = True,
    medical_old_items: bool = False,
    received_at: datetime | None = None,
    today: date | None = None,
) -> Deadline:
    """Every deadline of a request whose clock started on ``clock_started_on``.

    Pauses (rule 4): the raw end of the period is shifted by the paused calendar
    days that count for it (``counted_pauses``: a suspending kind of
    clarification, asked while that date had not passed), *then* rolled to a
    working day: ``roll_forward(add_months(start, m) + paused)``. Shifting the
    raw end rather than the rolled date means a pause gives back exactly the
    calendar days the controller lost, and the result is the same whether the
    pause is recorded before or after the date was first computed.
    Consequence: a pause can be absorbed by a weekend (due Saturday → Monday
    either way after a 1-day pause); the new date is never earlier and never
    before ``raw end + paused``. Pauses are merged when they overlap and
    counted from the start of each period only. Each date counts its own
    pauses: a question asked after the one-month date but before the extended
    one moves the extended date only.

    Extension (rule 5): from the same start, ``add_months(start, months +
    extension_months)`` + paused, rolled — never the one-month date plus two months
    (31 Jan + 1 month = 28 Feb, + 2 months = 28 Apr, but 31 Jan + 3 months = 30 Apr).

    Medical record (rule 6, CSP L.1111-7 and R.1111-1): counted "à compter de
    la date de réception de la demande", so from the Paris day of
    ``received_at``, not from the identity check: 8 days while any item is
    recent or not yet established by its holder (``medical_recent_items``), 2
    months for the items over five years old (``medical_old_items``). A record
    mixing both has both dates; ``medical_record_due`` is the one that binds.
    Shifted by the pauses that count and rolled like the others.
    ``earliest_release_at`` is ``received_at`` + 48 hours, so ``received_at``
    is required. ``effective_due_date`` takes the earlier of this and the GDPR date.

    ``today`` is needed only to count an open pause. Raises ``ValueError`` on a
    naive ``received_at``, a receipt after the clock start, ``months < 1``, an
    extension outside 1..2 months, or a medical record with neither recent nor old items.
    """
    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}")
    if not 1 <= extension_months <= MAX_EXTENSION_MONTHS:
        raise ValueError(
            f"GDPR art. 12(3) allows an extension of 1 to {MAX_EXTENSION_MONTHS} months, got {extension_months}"
        )
    if received_at is not None:
        _require_aware(received_at, "received_at")
        if legal_day(received_at) > clock_started_on:
            raise ValueError(
                f"received on {legal_day(received_at)} (Paris), after the clock started on {clock_started_on}"
            )

    start = clock_started_on
    due_date, paused = _period_end(add_months(start, months), pauses, calendar, since=start, today=today)

    extended_due_date = None
    if extended:
        extended_due_date, _ = _period_end(
            add_months(start, months + extension_months), pauses, calendar, since=start, today=today
        )

    medical_record_due = medical_record_old_due = None
    earliest_release_at = None
    if medical_record:
        if received_at is None:
            raise ValueError("a medical record request needs received_at for the 48-hour rule")
        if not (medical_recent_items or medical_old_items):
            raise ValueError("a medical record has recent items, items over five years old, or both")
        received_on = legal_day(received_at)  # R.1111-1: from the receipt of the request
        if medical_old_items:
            medical_record_old_due, _ = _period_end(
                add_months(received_on, MEDICAL_RECORD_OLD_INFO_MONTHS), pauses, calendar, since=received_on, today=today
            )
        if medical_recent_items:
            medical_record_due, _ = _period_end(
                received_on + timedelta(days=MEDICAL_RECORD_DAYS), pauses, calendar, since=received_on, today=today
            )
        else:
            medical_record_due = medical_record_old_due
        earliest_release_at = received_at.astimezone(timezone.utc) + MEDICAL_RECORD_REFLECTION

    return Deadline(
        clock_started_on=clock_started_on,
        due_date=due_date,
        extended_due_date=extended_due_date,
        paused_days=paused,
        medical_record_due=medical_record_due,
        earliest_release_at=earliest_release_at,
        medical_record_old_due=medical_record_old_due,
    )


def can_extend(today: date, due_date: date) -> bool:
    """True while an extension may still be notified (rule 5, GDPR art. 12(3)).

    The requester must be told "within one month of receipt", so up to and
    including the one-month ``due_date`` (the rolled date, pauses included),
    and not the day after.
    """
    return today <= due_date


def days_left(today: date, due: date) -> int:
    """Calendar days from ``today`` to ``due``: 0 on the due date, negative when overdue."""
    return (due - today).days


def refusal_due_date(
    clock_started_on: date,
    calendar: HolidayCalendar,
    pauses: Sequence[Pause] = (),
    *,
    today: date | None = None,
) -> date:
    """Date by which a refusal (whole or partial) must be sent (rule 7).

    GDPR art. 12(4): "without delay and at the latest within one month of
    receipt" — the one-month date, pauses included, and never the extended one.
    ``today`` is needed only for an open pause.
    """
    return compute_deadline(clock_started_on, calendar=calendar, pauses=pauses, today=today).due_date


#: What a clarification does to the period, as letters and pages say it (reason codes; the sentences
#: are in the templates): it suspends the period, the period keeps running, or the date had passed.
CLARIFICATION_SUSPENDS = "suspends"
CLARIFICATION_CLOCK_RUNS = "clock_runs"
CLARIFICATION_AFTER_DEADLINE = "after_deadline"


def clarification_effect(asked_on: date, *, suspends: bool, due_date: date | None) -> str:
    """What a clarification asked on ``asked_on`` does to a period due on ``due_date`` (rule 4).

    ``CLARIFICATION_CLOCK_RUNS`` when its kind does not suspend the period
    (GDPR art. 12(3): a question about the scope); ``CLARIFICATION_AFTER_DEADLINE``
    when the date had already passed (it never moves); else
    ``CLARIFICATION_SUSPENDS`` (décret n° 2019-536 art. 77: identity information awaited).
    Matches ``counted_pauses``.
    """
    if not suspends:
        return CLARIFICATION_CLOCK_RUNS
    if due_date is not None and asked_on > due_date:
        return CLARIFICATION_AFTER_DEADLINE
    return CLARIFICATION_SUSPENDS
