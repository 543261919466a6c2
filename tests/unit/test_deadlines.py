"""Deadline arithmetic (DESIGN.md, "Deadline rules").

Every expected date below was checked against a calendar (weekday and holiday
computed with Python while writing), not derived from the code under test.
"""

from datetime import date, datetime, timedelta, timezone

import holidays
import pytest
from dateutil.easter import easter
from hypothesis import given, settings
from hypothesis import strategies as st

from dsar import deadlines
from dsar.deadlines import (
    PARIS,
    Deadline,
    HolidayCalendar,
    Pause,
    add_months,
    can_extend,
    compute_deadline,
    days_left,
    legal_day,
    refusal_due_date,
    roll_forward,
)

NATIONAL = HolidayCalendar()
MOSELLE = HolidayCalendar(subdivision="57")
ALSACE = HolidayCalendar(subdivision="67")

D = date.fromisoformat
UTC = timezone.utc


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def due(start: date, calendar: HolidayCalendar = NATIONAL, **kwargs) -> date:
    return compute_deadline(start, calendar=calendar, **kwargs).due_date


# --------------------------------------------------------------------------
# One-month deadline: rules 2 and 3
# --------------------------------------------------------------------------

ONE_MONTH_EXAMPLES = [
    # Same date of the next month, a plain Monday: nothing to roll.
    pytest.param(D("2027-03-05"), NATIONAL, D("2027-04-05"), id="received 5 March 2027 is due Monday 5 April 2027"),
    # 5 April 2026 is Easter Sunday and 6 April Easter Monday: two days of rolling.
    pytest.param(D("2026-03-05"), NATIONAL, D("2026-04-07"), id="received 5 March 2026 rolls past Easter Sunday and Monday to 7 April"),
    # September has no 31st: art. 3(2)(c) takes the last day of the month.
    pytest.param(D("2026-08-31"), NATIONAL, D("2026-09-30"), id="received 31 August is due 30 September"),
    # 28 Feb 2027 (the last day, February has no 31st) is a Sunday.
    pytest.param(D("2027-01-31"), NATIONAL, D("2027-03-01"), id="received 31 January 2027 ends on Sunday 28 February and rolls to 1 March"),
    # Non-leap year, 28 Feb 2029 is a Wednesday: the clamped date stands.
    pytest.param(D("2029-01-31"), NATIONAL, D("2029-02-28"), id="received 31 January 2029 is due Wednesday 28 February"),
    # Leap year: February's last day is the 29th (a Tuesday).
    pytest.param(D("2028-01-31"), NATIONAL, D("2028-02-29"), id="received 31 January 2028 is due 29 February in a leap year"),
    # 30 Feb does not exist either; leap year so the 29th.
    pytest.param(D("2028-01-30"), NATIONAL, D("2028-02-29"), id="received 30 January 2028 is due 29 February in a leap year"),
    # Non-leap: 30 Jan 2026 → 28 Feb 2026, a Saturday → Monday 2 March.
    pytest.param(D("2026-01-30"), NATIONAL, D("2026-03-02"), id="received 30 January 2026 ends on Saturday 28 February and rolls to 2 March"),
    # 29 Feb 2027 does not exist → 28 Feb (Sunday) → 1 March: 29, 30 and 31 January share a due date.
    pytest.param(D("2027-01-29"), NATIONAL, D("2027-03-01"), id="received 29 January 2027 is clamped to 28 February like the 31st"),
    # From the leap day, the same date of March exists (a Wednesday).
    pytest.param(D("2028-02-29"), NATIONAL, D("2028-03-29"), id="received 29 February 2028 is due 29 March 2028"),
    # 28 March 2027 is Easter Sunday, 29 March Easter Monday: the 2027 Easter Monday.
    pytest.param(D("2027-02-28"), NATIONAL, D("2027-03-30"), id="received 28 February 2027 rolls past Easter Sunday and Easter Monday 2027"),
    # Across the year end; 31 Jan 2027 is a Sunday.
    pytest.param(D("2026-12-31"), NATIONAL, D("2027-02-01"), id="received 31 December 2026 ends on Sunday 31 January and rolls to 1 February"),
    # Due on a Saturday (30 Jan 2027) → Monday.
    pytest.param(D("2026-12-30"), NATIONAL, D("2027-02-01"), id="due on Saturday 30 January 2027 rolls to Monday"),
    # Due on a Saturday (3 Oct 2026) → Monday 5 Oct.
    pytest.param(D("2026-09-03"), NATIONAL, D("2026-10-05"), id="due on Saturday 3 October 2026 rolls to Monday 5 October"),
    # Due on a Sunday (4 Oct 2026) → Monday 5 Oct.
    pytest.param(D("2026-09-04"), NATIONAL, D("2026-10-05"), id="due on Sunday 4 October 2026 rolls to Monday 5 October"),
    # Movable feasts, three years each.
    # Easter Monday 2026 is 6 April.
    pytest.param(D("2026-03-06"), NATIONAL, D("2026-04-07"), id="due on Easter Monday 2026 rolls to Tuesday"),
    # Easter Monday 2028 is 17 April.
    pytest.param(D("2028-03-17"), NATIONAL, D("2028-04-18"), id="due on Easter Monday 2028 rolls to Tuesday"),
    # Ascension is a Thursday; the Friday after it is a working day ("pont" is not a holiday).
    pytest.param(D("2026-04-14"), NATIONAL, D("2026-05-15"), id="due on Ascension Thursday 2026 rolls to Friday 15 May"),
    pytest.param(D("2027-04-06"), NATIONAL, D("2027-05-07"), id="due on Ascension Thursday 2027 rolls to Friday 7 May"),
    pytest.param(D("2028-04-25"), NATIONAL, D("2028-05-26"), id="due on Ascension Thursday 2028 rolls to Friday 26 May"),
    # Whit Monday: 25 May 2026, 17 May 2027, 5 June 2028.
    pytest.param(D("2026-04-25"), NATIONAL, D("2026-05-26"), id="due on Whit Monday 2026 rolls to Tuesday"),
    pytest.param(D("2027-04-17"), NATIONAL, D("2027-05-18"), id="due on Whit Monday 2027 rolls to Tuesday"),
    pytest.param(D("2028-05-05"), NATIONAL, D("2028-06-06"), id="due on Whit Monday 2028 rolls to Tuesday"),
    # Fixed holidays.
    # 1 May 2026 is a Friday: holiday then weekend, a 3-day chain.
    pytest.param(D("2026-04-01"), NATIONAL, D("2026-05-04"), id="due on Friday 1 May 2026 chains over the weekend to Monday 4 May"),
    # 1 May 2027 is a Saturday: the holiday changes nothing, the weekend rolls it.
    pytest.param(D("2027-04-01"), NATIONAL, D("2027-05-03"), id="due on Saturday 1 May 2027 rolls to Monday 3 May"),
    # 8 May 2026 is a Friday: chain to Monday 11 May.
    pytest.param(D("2026-04-08"), NATIONAL, D("2026-05-11"), id="due on Friday 8 May 2026 chains over the weekend to Monday 11 May"),
    # 8 May 2028 is a Monday.
    pytest.param(D("2028-04-08"), NATIONAL, D("2028-05-09"), id="due on Monday 8 May 2028 rolls to Tuesday 9 May"),
    # 14 July 2026 is a Tuesday, 2027 a Wednesday.
    pytest.param(D("2026-06-14"), NATIONAL, D("2026-07-15"), id="due on Tuesday 14 July 2026 rolls to Wednesday 15 July"),
    pytest.param(D("2027-06-14"), NATIONAL, D("2027-07-15"), id="due on Wednesday 14 July 2027 rolls to Thursday 15 July"),
    # 15 August 2028 is a Tuesday.
    pytest.param(D("2028-07-15"), NATIONAL, D("2028-08-16"), id="due on Tuesday 15 August 2028 rolls to Wednesday 16 August"),
    # 1 November 2027 is a Monday.
    pytest.param(D("2027-10-01"), NATIONAL, D("2027-11-02"), id="due on Monday 1 November 2027 rolls to Tuesday 2 November"),
    # 1 November 2026 is a Sunday: France has no substitute day, so Monday 2 November is working.
    pytest.param(D("2026-10-01"), NATIONAL, D("2026-11-02"), id="due on Sunday 1 November 2026 rolls only to Monday 2 November"),
    # 11 November 2026 is a Wednesday, 2027 a Thursday.
    pytest.param(D("2026-10-11"), NATIONAL, D("2026-11-12"), id="due on Wednesday 11 November 2026 rolls to Thursday 12 November"),
    pytest.param(D("2027-10-11"), NATIONAL, D("2027-11-12"), id="due on Thursday 11 November 2027 rolls to Friday 12 November"),
    # 25 December 2026 is a Friday: chain to Monday 28.
    pytest.param(D("2026-11-25"), NATIONAL, D("2026-12-28"), id="due on Friday 25 December 2026 chains over the weekend to Monday 28 December"),
    # 25 December 2028 is a Monday; 26 December is working outside Alsace-Moselle.
    pytest.param(D("2028-11-25"), NATIONAL, D("2028-12-26"), id="due on Monday 25 December 2028 rolls to Tuesday 26 December nationally"),
    # 1 January 2027 is a Friday: chain to Monday 4 January.
    pytest.param(D("2026-12-01"), NATIONAL, D("2027-01-04"), id="due on Friday 1 January 2027 chains over the weekend to Monday 4 January"),
    # 1 January 2029 is a Monday.
    pytest.param(D("2028-12-01"), NATIONAL, D("2029-01-02"), id="due on Monday 1 January 2029 rolls to Tuesday 2 January"),
    # Alsace-Moselle.
    # 3 April 2026 is Good Friday: a working day nationally ...
    pytest.param(D("2026-03-03"), NATIONAL, D("2026-04-03"), id="due on Good Friday 2026 stands in the national calendar"),
    # ... but in Moselle Good Friday, the weekend and Easter Monday make a 4-day chain.
    pytest.param(D("2026-03-03"), MOSELLE, D("2026-04-07"), id="due on Good Friday 2026 in Moselle chains to Tuesday after Easter Monday"),
    # Bas-Rhin ("67", mapped to the package's "6AE") has the same extra days.
    pytest.param(D("2026-03-03"), ALSACE, D("2026-04-07"), id="due on Good Friday 2026 in Bas-Rhin chains to Tuesday after Easter Monday"),
    # 26 December 2028 is a Tuesday: working nationally, Saint-Étienne in Moselle.
    pytest.param(D("2028-11-26"), NATIONAL, D("2028-12-26"), id="due on 26 December 2028 stands in the national calendar"),
    pytest.param(D("2028-11-26"), MOSELLE, D("2028-12-27"), id="due on 26 December 2028 in Moselle rolls to Wednesday 27"),
    # Christmas on Monday 2028, Saint-Étienne on Tuesday: two holidays in a row.
    pytest.param(D("2028-11-25"), MOSELLE, D("2028-12-27"), id="due on Christmas 2028 in Moselle rolls past Saint-Etienne to Wednesday 27"),
    # Christmas on Thursday 2025, Saint-Étienne on Friday, then the weekend: 4 days.
    pytest.param(D("2025-11-25"), MOSELLE, D("2025-12-29"), id="due on Christmas 2025 in Moselle chains over Saint-Etienne and the weekend"),
    pytest.param(D("2025-11-25"), NATIONAL, D("2025-12-26"), id="due on Christmas 2025 rolls to Friday 26 December nationally"),
]


@pytest.mark.parametrize(("start", "calendar", "expected"), ONE_MONTH_EXAMPLES)
def test_one_month_due_date(start, calendar, expected):
    assert due(start, calendar) == expected


def test_there_are_enough_dated_examples():
    assert len(ONE_MONTH_EXAMPLES) >= 40


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        pytest.param(D("2026-03-05"), 1, D("2026-04-05"), id="5 March plus one month is 5 April even on Easter Sunday"),
        pytest.param(D("2026-08-31"), 1, D("2026-09-30"), id="31 August plus one month is 30 September"),
        pytest.param(D("2027-01-31"), 1, D("2027-02-28"), id="31 January plus one month is 28 February in a common year"),
        pytest.param(D("2028-01-31"), 1, D("2028-02-29"), id="31 January plus one month is 29 February in a leap year"),
        pytest.param(D("2028-02-29"), 12, D("2029-02-28"), id="29 February plus a year is 28 February"),
        pytest.param(D("2026-12-15"), 1, D("2027-01-15"), id="15 December plus one month crosses the year"),
        pytest.param(D("2027-01-31"), 3, D("2027-04-30"), id="31 January plus three months is 30 April"),
        pytest.param(D("2026-11-30"), 3, D("2027-02-28"), id="30 November plus three months is 28 February"),
        pytest.param(D("2027-03-31"), -1, D("2027-02-28"), id="31 March minus one month is 28 February"),
        pytest.param(D("2026-05-20"), 0, D("2026-05-20"), id="zero months is the same day"),
    ],
)
def test_add_months(start, months, expected):
    # add_months does not roll: that is roll_forward's job.
    assert add_months(start, months) == expected


def test_roll_forward_keeps_a_working_day_and_moves_a_holiday():
    assert roll_forward(D("2026-07-15"), NATIONAL) == D("2026-07-15")
    assert roll_forward(D("2026-07-14"), NATIONAL) == D("2026-07-15")
    # Saturday before Easter, Sunday, Easter Monday → Tuesday.
    assert roll_forward(D("2026-04-04"), NATIONAL) == D("2026-04-07")


# --------------------------------------------------------------------------
# Calendar (rule 3)
# --------------------------------------------------------------------------


def eleven_national_holidays(year: int) -> set[date]:
    """Independent oracle: the 11 days of Code du travail L.3133-1."""
    e = easter(year)
    return {
        date(year, 1, 1),
        e + timedelta(days=1),  # Easter Monday
        date(year, 5, 1),
        date(year, 5, 8),
        e + timedelta(days=39),  # Ascension
        e + timedelta(days=50),  # Whit Monday
        date(year, 7, 14),
        date(year, 8, 15),
        date(year, 11, 1),
        date(year, 11, 11),
        date(year, 12, 25),
    }


def test_national_calendar_is_exactly_the_eleven_holidays_from_2000_to_2100():
    for year in range(2000, 2101):
        assert set(NATIONAL.holidays_in(year)) == eleven_national_holidays(year), year


def test_alsace_moselle_adds_exactly_good_friday_and_26_december():
    for calendar in (MOSELLE, ALSACE):
        for year in range(2000, 2101):
            extra = set(calendar.holidays_in(year)) - eleven_national_holidays(year)
            assert extra == {easter(year) - timedelta(days=2), date(year, 12, 26)}, (calendar, year)


def test_whit_monday_is_restored_for_2005_to_2007():
    # The holidays package drops it in those years (journée de solidarité);
    # it stayed a fête légale, and this test says so if the package changes.
    whit_monday_2006 = easter(2006) + timedelta(days=50)
    assert whit_monday_2006 not in holidays.France(years=2006)
    assert NATIONAL.holiday_name(whit_monday_2006) == "Lundi de Pentecôte"


def test_2008_ascension_on_labour_day_is_one_holiday():
    # Easter 23 March 2008: Ascension fell on 1 May, so that year has 10 distinct dates.
    assert len(NATIONAL.holidays_in(2008)) == 10
    assert NATIONAL.is_holiday(D("2008-05-01"))


@pytest.mark.parametrize(
    ("day", "name"),
    [
        pytest.param(D("2026-04-06"), "Lundi de Pâques", id="Easter Monday is named in French"),
        pytest.param(D("2026-07-14"), "Fête nationale", id="14 July is the Fête nationale"),
        pytest.param(D("2026-07-15"), None, id="an ordinary day has no name"),
    ],
)
def test_holiday_name(day, name):
    assert NATIONAL.holiday_name(day) == name


def test_moselle_names_its_extra_days():
    assert MOSELLE.holiday_name(D("2026-04-03")) == "Vendredi saint"
    assert MOSELLE.holiday_name(D("2026-12-26")) == "Saint-Étienne"
    assert NATIONAL.holiday_name(D("2026-04-03")) is None


def test_working_day():
    assert NATIONAL.is_working_day(D("2026-04-03"))  # Good Friday, Friday
    assert not MOSELLE.is_working_day(D("2026-04-03"))
    assert not NATIONAL.is_working_day(D("2026-04-04"))  # Saturday
    assert not NATIONAL.is_working_day(D("2026-04-05"))  # Sunday
    assert not NATIONAL.is_working_day(D("2026-04-06"))  # Easter Monday
    assert NATIONAL.is_holiday(D("2026-11-01")) and D("2026-11-01").weekday() == 6


@pytest.mark.parametrize(
    ("given_name", "code"),
    [
        pytest.param("57", "57", id="Moselle by department number"),
        pytest.param("67", "6AE", id="Bas-Rhin is the Collectivite europeenne d'Alsace"),
        pytest.param("68", "6AE", id="Haut-Rhin is the Collectivite europeenne d'Alsace"),
        pytest.param("alsace-moselle", "57", id="alsace-moselle in any case maps to Moselle"),
        pytest.param("Alsace", "6AE", id="Alsace by name"),
        pytest.param("moselle", "57", id="moselle by name in lower case"),
        pytest.param("", None, id="an empty subdivision means none"),
    ],
)
def test_subdivision_spellings(given_name, code):
    assert HolidayCalendar(subdivision=given_name).subdivision == code


def test_unknown_subdivision_is_refused_when_the_calendar_is_made():
    with pytest.raises(ValueError, match="unknown subdivision"):
        HolidayCalendar(subdivision="99")


def test_holidays_are_cached_per_year():
    deadlines._holidays_for.cache_clear()
    for day in range(1, 29):
        NATIONAL.is_working_day(date(2031, 2, day))
    info = deadlines._holidays_for.cache_info()
    assert info.misses == 1
    assert info.hits == 27 - 8  # weekends (8 days) short-circuit before the lookup


# --------------------------------------------------------------------------
# Legal day of an instant (rule 1)
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        # Summer time is UTC+2: 23:30 UTC is 01:30 the next day in Paris.
        pytest.param(utc("2026-07-15T23:30"), D("2026-07-16"), id="23h30 UTC in summer is the next day in Paris"),
        # Winter time is UTC+1: 23:30 UTC is 00:30 the next day.
        pytest.param(utc("2026-01-15T23:30"), D("2026-01-16"), id="23h30 UTC in winter is the next day in Paris"),
        # 22:30 UTC is 23:30 in winter (same day) but 00:30 in summer (next day).
        pytest.param(utc("2026-01-15T22:30"), D("2026-01-15"), id="22h30 UTC in winter is still the same day in Paris"),
        pytest.param(utc("2026-07-15T22:30"), D("2026-07-16"), id="22h30 UTC in summer is already the next day in Paris"),
        # Spring forward on 29 March 2026 at 01:00 UTC.
        pytest.param(utc("2026-03-28T23:30"), D("2026-03-29"), id="the night before spring forward, 23h30 UTC is 00h30 CET on 29 March"),
        pytest.param(utc("2026-03-29T22:30"), D("2026-03-30"), id="on spring forward day, 22h30 UTC is already 30 March in Paris"),
        # Fall back on 25 October 2026 at 01:00 UTC.
        pytest.param(utc("2026-10-24T22:30"), D("2026-10-25"), id="the night before fall back, 22h30 UTC is 00h30 CEST on 25 October"),
        pytest.param(utc("2026-10-25T22:30"), D("2026-10-25"), id="on fall back day, 22h30 UTC is 23h30 CET on 25 October"),
        pytest.param(utc("2026-10-25T23:30"), D("2026-10-26"), id="on fall back day, 23h30 UTC is 26 October in Paris"),
        # Any aware zone is accepted; 03:00 in UTC+5 is 22:00 UTC the day before (23:00 Paris).
        pytest.param(
            datetime(2026, 1, 16, 3, 0, tzinfo=timezone(timedelta(hours=5))),
            D("2026-01-15"),
            id="an aware instant in another zone is converted",
        ),
    ],
)
def test_legal_day(instant, expected):
    assert legal_day(instant) == expected


def test_naive_instant_is_refused():
    with pytest.raises(ValueError, match="aware"):
        legal_day(datetime(2026, 7, 15, 23, 30))


def test_naive_received_at_is_refused():
    with pytest.raises(ValueError, match="aware"):
        compute_deadline(
            D("2026-06-02"), calendar=NATIONAL, medical_record=True, received_at=datetime(2026, 6, 2, 9, 0)
        )


# --------------------------------------------------------------------------
# Pauses (rule 4)
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pause", "today", "days"),
    [
        pytest.param(Pause(D("2027-03-10"), D("2027-03-10")), None, 0, id="a question answered the same day pauses nothing"),
        pytest.param(Pause(D("2027-03-10"), D("2027-03-13")), None, 3, id="asked on the 10th and answered on the 13th pauses 3 days"),
        pytest.param(Pause(D("2027-03-10"), None), D("2027-03-18"), 8, id="an open pause counts until today"),
        pytest.param(Pause(D("2027-02-25"), D("2027-03-04")), None, 7, id="a pause across the end of February counts calendar days"),
    ],
)
def test_pause_days(pause, today, days):
    assert pause.days(today) == days


def test_open_pause_needs_today():
    with pytest.raises(ValueError, match="today"):
        Pause(D("2027-03-10"), None).days()


def test_pause_cannot_end_before_it_starts():
    with pytest.raises(ValueError):
        Pause(D("2027-03-10"), D("2027-03-09"))


@pytest.mark.parametrize(
    ("start", "pauses", "today", "paused", "expected"),
    [
        # 5 April 2027 (Mon) + 3 days = Thursday 8 April.
        pytest.param(
            D("2027-03-05"), [Pause(D("2027-03-10"), D("2027-03-13"))], None, 3, D("2027-04-08"),
            id="one 3-day pause moves 5 April to 8 April",
        ),
        # 3 + 2 = 5 days: 10 April 2027 is a Saturday → Monday 12.
        pytest.param(
            D("2027-03-05"),
            [Pause(D("2027-03-10"), D("2027-03-13")), Pause(D("2027-03-20"), D("2027-03-22"))],
            None, 5, D("2027-04-12"),
            id="two pauses add up and the shifted date is rolled off a Saturday",
        ),
        # Open since 10 March, today 18 March: 8 days → Tuesday 13 April.
        pytest.param(
            D("2027-03-05"), [Pause(D("2027-03-10"), None)], D("2027-03-18"), 8, D("2027-04-13"),
            id="an open pause moves the deadline by the days paused so far",
        ),
        # 31 Jan + 1 month = 28 Feb 2027, + 7 days = Sunday 7 March → Monday 8 March.
        pytest.param(
            D("2027-01-31"), [Pause(D("2027-02-25"), D("2027-03-04"))], None, 7, D("2027-03-08"),
            id="a pause across the month end shifts the clamped end date",
        ),
        # Union of 10→15 and 12→18 March is 10→18: 8 days, not 11.
        pytest.param(
            D("2027-03-05"),
            [Pause(D("2027-03-10"), D("2027-03-15")), Pause(D("2027-03-12"), D("2027-03-18"))],
            None, 8, D("2027-04-13"),
            id="overlapping pauses are counted once",
        ),
        # Days before the clock started (1-4 March) do not count: 5→7 March is 2 days.
        pytest.param(
            D("2027-03-05"), [Pause(D("2027-03-01"), D("2027-03-07"))], None, 2, D("2027-04-07"),
            id="pause days before the clock started are ignored",
        ),
        # 28 Feb 2027 + 1 month = 28 March, + 1 = 29 March, Easter Monday → 30 March.
        pytest.param(
            D("2027-02-28"), [Pause(D("2027-03-01"), D("2027-03-02"))], None, 1, D("2027-03-30"),
            id="a one-day pause that lands on Easter Monday 2027 is rolled",
        ),
        # Due Saturday 3 Oct 2026 → Monday 5; with one day paused the raw end is Sunday 4 → still Monday 5.
        pytest.param(
            D("2026-09-03"), [Pause(D("2026-09-10"), D("2026-09-11"))], None, 1, D("2026-10-05"),
            id="a one-day pause absorbed by the weekend leaves the rolled date unchanged",
        ),
    ],
)
def test_pauses_shift_the_deadline(start, pauses, today, paused, expected):
    deadline = compute_deadline(start, calendar=NATIONAL, pauses=pauses, today=today)
    assert deadline.paused_days == paused
    assert deadline.due_date == expected


def test_open_pause_without_today_is_refused():
    with pytest.raises(ValueError, match="today"):
        compute_deadline(D("2027-03-05"), calendar=NATIONAL, pauses=[Pause(D("2027-03-10"), None)])


# --------------------------------------------------------------------------
# Extension (rule 5)
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "pauses", "extension_months", "expected"),
    [
        # From the same start: 31 Jan + 3 months = Friday 30 April, not (28 Feb + 2 months =) 28 April.
        pytest.param(D("2027-01-31"), [], 2, D("2027-04-30"), id="extension from 31 January runs to 30 April, not 28 April"),
        # 29 Dec 2026 + 3 months = 29 March 2027, Easter Monday → Tuesday 30.
        pytest.param(D("2026-12-29"), [], 2, D("2027-03-30"), id="extension ending on Easter Monday 2027 rolls to Tuesday"),
        # 30 Nov 2026 + 3 months = 28 Feb 2027 (clamped), a Sunday → 1 March.
        pytest.param(D("2026-11-30"), [], 2, D("2027-03-01"), id="extension from 30 November is clamped to 28 February then rolled"),
        # 30 April + 5 paused days = Wednesday 5 May 2027.
        pytest.param(
            D("2027-01-31"), [Pause(D("2027-02-01"), D("2027-02-06"))], 2, D("2027-05-05"),
            id="extension keeps the days paused",
        ),
        # A one-month extension: 31 Jan + 2 months = Wednesday 31 March 2027.
        pytest.param(D("2027-01-31"), [], 1, D("2027-03-31"), id="a one-month extension runs to start plus two months"),
    ],
)
def test_extended_due_date(start, pauses, extension_months, expected):
    deadline = compute_deadline(
        start, calendar=NATIONAL, pauses=pauses, extended=True, extension_months=extension_months
    )
    assert deadline.extended_due_date == expected
    assert deadline.effective_due_date == expected


def test_not_extended_has_no_extended_date():
    deadline = compute_deadline(D("2027-01-31"), calendar=NATIONAL)
    assert deadline.extended_due_date is None
    assert deadline.effective_due_date == D("2027-03-01")


@pytest.mark.parametrize("extension_months", [0, 3])
def test_extension_beyond_gdpr_limits_is_refused(extension_months):
    with pytest.raises(ValueError, match="extension"):
        compute_deadline(D("2027-01-31"), calendar=NATIONAL, extended=True, extension_months=extension_months)


def test_months_must_be_positive():
    with pytest.raises(ValueError, match="months"):
        compute_deadline(D("2027-01-31"), calendar=NATIONAL, months=0)


@pytest.mark.parametrize(
    ("today", "allowed"),
    [
        pytest.param(D("2027-02-15"), True, id="extension allowed well before the due date"),
        pytest.param(D("2027-03-01"), True, id="extension allowed on the due date itself"),
        pytest.param(D("2027-03-02"), False, id="extension refused the day after the due date"),
    ],
)
def test_can_extend(today, allowed):
    # Received 31 January 2027, due 1 March 2027 (28 Feb is a Sunday).
    due_date = due(D("2027-01-31"))
    assert due_date == D("2027-03-01")
    assert can_extend(today, due_date) is allowed


@pytest.mark.parametrize(
    ("today", "left"),
    [
        pytest.param(D("2027-02-27"), 2, id="two days left"),
        pytest.param(D("2027-03-01"), 0, id="zero days left on the due date"),
        pytest.param(D("2027-03-03"), -2, id="negative when two days overdue"),
    ],
)
def test_days_left(today, left):
    assert days_left(today, D("2027-03-01")) == left


# --------------------------------------------------------------------------
# Medical record, CSP L.1111-7 (rule 6)
# --------------------------------------------------------------------------


def medical(start: date, received_at: datetime, **kwargs) -> Deadline:
    return compute_deadline(start, calendar=NATIONAL, medical_record=True, received_at=received_at, **kwargs)


def test_medical_record_is_due_within_8_days_and_that_binds():
    deadline = medical(D("2026-06-02"), utc("2026-06-02T08:00"))
    assert deadline.medical_record_due == D("2026-06-10")  # Wednesday
    assert deadline.due_date == D("2026-07-02")  # GDPR still computed, Thursday
    assert deadline.effective_due_date == D("2026-06-10")


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # 6 July + 8 = 14 July (Tuesday, holiday) → 15 July.
        pytest.param(D("2026-07-06"), D("2026-07-15"), id="8 days ending on 14 July roll to 15 July"),
        # Friday 5 June + 8 = Saturday 13 June → Monday 15.
        pytest.param(D("2026-06-05"), D("2026-06-15"), id="8 days ending on a Saturday roll to Monday"),
    ],
)
def test_medical_record_8_days_are_rolled(start, expected):
    received_at = datetime.combine(start, datetime.min.time(), tzinfo=PARIS).replace(hour=10)
    assert medical(start, received_at).medical_record_due == expected


def test_medical_information_over_5_years_old_gives_2_months_and_gdpr_is_earlier():
    deadline = medical(D("2026-06-02"), utc("2026-06-02T08:00"), medical_recent_items=False, medical_old_items=True)
    # 2 August 2026 is a Sunday → Monday 3 August.
    assert deadline.medical_record_due == D("2026-08-03")
    # The GDPR month (2 July) is earlier, so it applies.
    assert deadline.effective_due_date == D("2026-07-02")


def test_medical_2_months_is_earlier_than_the_gdpr_extension():
    deadline = medical(D("2026-06-02"), utc("2026-06-02T08:00"), medical_recent_items=False, medical_old_items=True, extended=True)
    assert deadline.extended_due_date == D("2026-09-02")
    assert deadline.effective_due_date == D("2026-08-03")


def test_medical_record_deadline_keeps_the_pauses():
    deadline = medical(D("2026-06-02"), utc("2026-06-02T08:00"), pauses=[Pause(D("2026-06-03"), D("2026-06-05"))])
    # 10 June + 2 days = Friday 12 June.
    assert deadline.medical_record_due == D("2026-06-12")


def test_nothing_is_released_before_48_hours():
    # 23:30 UTC on 1 June is 01:30 on 2 June in Paris: the clock starts on the 2nd.
    deadline = medical(D("2026-06-02"), utc("2026-06-01T23:30"))
    assert deadline.earliest_release_at == utc("2026-06-03T23:30")
    assert deadline.earliest_release_at.utcoffset() == timedelta(0)


def test_earliest_release_is_given_in_utc_whatever_the_input_zone():
    received_at = datetime(2026, 6, 2, 10, 0, tzinfo=PARIS)  # 08:00 UTC in summer
    deadline = medical(D("2026-06-02"), received_at)
    assert deadline.earliest_release_at.tzinfo == UTC
    assert deadline.earliest_release_at == utc("2026-06-04T08:00")


def test_medical_record_without_received_at_is_refused():
    with pytest.raises(ValueError, match="received_at"):
        compute_deadline(D("2026-06-02"), calendar=NATIONAL, medical_record=True)


def test_received_after_the_clock_start_is_refused():
    with pytest.raises(ValueError, match="after the clock started"):
        medical(D("2026-06-02"), utc("2026-06-03T08:00"))


def test_not_a_medical_record_request_has_no_csp_dates():
    deadline = compute_deadline(D("2026-06-02"), calendar=NATIONAL, received_at=utc("2026-06-02T08:00"))
    assert deadline.medical_record_due is None
    assert deadline.earliest_release_at is None
    assert deadline.effective_due_date == D("2026-07-02")


# --------------------------------------------------------------------------
# Refusal (rule 7)
# --------------------------------------------------------------------------


def test_refusal_is_due_within_one_month():
    # 31 January 2027 → 28 February (Sunday) → 1 March.
    assert refusal_due_date(D("2027-01-31"), NATIONAL) == D("2027-03-01")


def test_refusal_due_date_keeps_the_pauses():
    # 5 April 2027 + 3 paused days = 8 April.
    assert refusal_due_date(D("2027-03-05"), NATIONAL, [Pause(D("2027-03-10"), D("2027-03-13"))]) == D("2027-04-08")


# --------------------------------------------------------------------------
# Properties over 2000-2100
# --------------------------------------------------------------------------

starts = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))
calendars = st.sampled_from([NATIONAL, MOSELLE, ALSACE])
fast = settings(deadline=None, database=None, max_examples=200)

# Longest run of non-working days: 3 nationally (holiday + weekend), 4 in
# Alsace-Moselle (Good Friday, weekend, Easter Monday; or 25-26 Dec + weekend).
MAX_ROLL = {None: 3, "57": 4, "6AE": 4}


@fast
@given(start=starts, calendar=calendars)
def test_due_date_is_always_a_working_day(start, calendar):
    due_date = due(start, calendar)
    assert due_date.weekday() < 5
    assert not calendar.is_holiday(due_date)


@fast
@given(start=starts, calendar=calendars)
def test_due_date_is_between_28_days_and_31_days_plus_the_longest_roll(start, calendar):
    elapsed = (due(start, calendar) - start).days
    assert 28 <= elapsed <= 31 + MAX_ROLL[calendar.subdivision]


@pytest.mark.parametrize(
    ("calendar", "shortest", "longest"),
    [
        # 31 Jan 2001 → 28 Feb (Wed): 28 days. 22 Mar 2000 → 22 Apr (Sat), Easter Sun, Easter Mon → 25 Apr: 34 days.
        pytest.param(NATIONAL, (28, D("2001-01-31")), (34, D("2000-03-22")), id="nationally 28 to 34 days"),
        # 21 Mar 2000 → Good Friday 21 Apr, weekend, Easter Monday → 25 Apr: 35 days.
        pytest.param(MOSELLE, (28, D("2001-01-31")), (35, D("2000-03-21")), id="in Moselle 28 to 35 days"),
    ],
)
def test_bounds_are_reached_exactly_over_2000_to_2100(calendar, shortest, longest):
    # Exhaustive (about 37,000 dates): the bounds in the property test are the real ones.
    elapsed = {}
    day = date(2000, 1, 1)
    while day <= date(2100, 12, 31):
        elapsed[day] = (due(day, calendar) - day).days
        day += timedelta(days=1)
    assert min(elapsed.values()) == shortest[0]
    assert max(elapsed.values()) == longest[0]
    # And the named starts reach them (the first of several in the range).
    assert elapsed[shortest[1]] == shortest[0]
    assert elapsed[longest[1]] == longest[0]


@fast
@given(first=starts, second=starts, calendar=calendars)
def test_a_later_start_never_gives_an_earlier_due_date(first, second, calendar):
    first, second = sorted((first, second))
    assert due(first, calendar) <= due(second, calendar)


@fast
@given(start=starts, calendar=calendars)
def test_extension_is_always_later_than_the_due_date(start, calendar):
    deadline = compute_deadline(start, calendar=calendar, extended=True)
    assert deadline.extended_due_date >= add_months(start, 3)
    assert deadline.extended_due_date > deadline.due_date
    assert deadline.effective_due_date == deadline.extended_due_date


@fast
@given(
    start=starts,
    calendar=calendars,
    offset=st.integers(min_value=0, max_value=20),
    length=st.integers(min_value=0, max_value=60),
)
def test_paused_days_shift_the_raw_end_by_exactly_the_days_paused(start, calendar, offset, length):
    pause = Pause(start + timedelta(days=offset), start + timedelta(days=offset + length))
    paused = compute_deadline(start, calendar=calendar, pauses=[pause])
    raw_end = add_months(start, 1) + timedelta(days=length)
    assert paused.paused_days == length
    # Shifted by at least the paused days from the raw end, at most the longest roll beyond ...
    assert raw_end <= paused.due_date <= raw_end + timedelta(days=MAX_ROLL[calendar.subdivision])
    # ... and never earlier than without the pause (a weekend may absorb a short pause).
    assert paused.due_date >= due(start, calendar)


@fast
@given(start=starts, calendar=calendars)
def test_add_months_keeps_the_day_or_clamps_to_the_month_end(start, calendar):
    end = add_months(start, 1)
    assert (end.year * 12 + end.month) - (start.year * 12 + start.month) == 1
    assert end.day == start.day or (end.day < start.day and (end + timedelta(days=1)).day == 1)


@fast
@given(start=starts, calendar=calendars)
def test_roll_forward_lands_on_the_first_working_day(start, calendar):
    rolled = roll_forward(start, calendar)
    assert calendar.is_working_day(rolled)
    assert all(not calendar.is_working_day(start + timedelta(days=i)) for i in range((rolled - start).days))


@fast
@given(instant=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 12, 31), timezones=st.just(UTC)))
def test_legal_day_is_the_utc_day_or_the_next(instant):
    shift = (legal_day(instant) - instant.date()).days
    assert shift in (0, 1)
    # Paris is UTC+1 or +2, so the day changes exactly when the UTC hour is 23 (winter) or 22-23 (summer).
    assert shift == (instant.hour + instant.astimezone(PARIS).utcoffset().seconds // 3600 >= 24)


# --------------------------------------------------------------------------
# Issue 13 item 1: what a clarification does to the clock (DESIGN.md rule 4).
# GDPR art. 12(3) has no suspension; décret n° 2019-536 art. 77 suspends the
# period while identity information is awaited. A date already passed never moves.
# Weekdays and holidays checked with the holidays package while writing.
# --------------------------------------------------------------------------

IDENTITY = True   # Pause.suspends for an identity question (policy: clarifications.identity)
SCOPE = False     # ... and for a question about the scope of the request


@pytest.mark.parametrize(
    ("pauses", "expected"),
    [
        # The case: due Wednesday 1 April 2026; a question asked on 10 April and answered on
        # 20 April used to make it due 13 April, so an overdue request stopped looking overdue.
        pytest.param([Pause(D("2026-04-10"), D("2026-04-20"), IDENTITY)], D("2026-04-01"),
                     id="an identity question asked after the due date does not move it"),
        pytest.param([Pause(D("2026-04-10"), None, IDENTITY)], D("2026-04-01"),
                     id="nor while it is still unanswered"),
        # Asked 10 March, answered 20 March: 10 days; 1 April + 10 = Saturday 11 April → Monday 13 April.
        pytest.param([Pause(D("2026-03-10"), D("2026-03-20"), IDENTITY)], D("2026-04-13"),
                     id="an identity question within the month suspends it (decree art. 77)"),
        pytest.param([Pause(D("2026-03-10"), D("2026-03-20"), SCOPE)], D("2026-04-01"),
                     id="a scope question within the month does not (GDPR art. 12(3))"),
        # Asked on the due date itself: the period runs to the end of that day, 2 days → Friday 3 April.
        pytest.param([Pause(D("2026-04-01"), D("2026-04-03"), IDENTITY)], D("2026-04-03"),
                     id="asked on the due date itself it still counts"),
        # 25 March → 5 April (11 days) moves the date to Sunday 12 → Monday 13 April; a second question
        # asked on 13 April (2 days) counts, → Tuesday 14 April; a third asked on 16 April does not.
        pytest.param(
            [Pause(D("2026-03-25"), D("2026-04-05"), IDENTITY), Pause(D("2026-04-13"), D("2026-04-15"), IDENTITY),
             Pause(D("2026-04-16"), D("2026-04-30"), IDENTITY)],
            D("2026-04-14"),
            id="each question is judged against the date as it stood when it was asked",
        ),
    ],
)
def test_a_clarification_moves_the_one_month_date_only_as_the_law_allows(pauses, expected):
    deadline = compute_deadline(D("2026-03-01"), calendar=NATIONAL, pauses=pauses, today=D("2026-05-01"))
    assert deadline.due_date == expected


def test_a_question_after_the_one_month_date_moves_only_the_extended_date():
    # Started 1 March 2026, extended: 1 June (Monday). Identity asked 10 April, answered 20 April:
    # the one-month date (1 April) had passed and stays; the extended one had not → Thursday 11 June.
    deadline = compute_deadline(D("2026-03-01"), calendar=NATIONAL, extended=True,
                                pauses=[Pause(D("2026-04-10"), D("2026-04-20"), IDENTITY)])
    assert deadline.due_date == D("2026-04-01")
    assert deadline.extended_due_date == D("2026-06-11")
    assert deadline.paused_days == 0


def test_the_refusal_date_keeps_only_the_pauses_that_count():
    # GDPR art. 12(4): one month; an identity question after 1 April does not give the refusal more time.
    assert refusal_due_date(D("2026-03-01"), NATIONAL, [Pause(D("2026-04-10"), D("2026-04-20"), IDENTITY)]) \
        == D("2026-04-01")


@pytest.mark.parametrize(
    ("asked_on", "suspends", "effect"),
    [
        pytest.param(D("2026-03-10"), True, deadlines.CLARIFICATION_SUSPENDS, id="identity within the month"),
        pytest.param(D("2026-04-01"), True, deadlines.CLARIFICATION_SUSPENDS, id="identity on the due date"),
        pytest.param(D("2026-04-10"), True, deadlines.CLARIFICATION_AFTER_DEADLINE, id="identity after the due date"),
        pytest.param(D("2026-03-10"), False, deadlines.CLARIFICATION_CLOCK_RUNS, id="scope"),
    ],
)
def test_clarification_effect_says_what_the_letter_says(asked_on, suspends, effect):
    assert deadlines.clarification_effect(asked_on, suspends=suspends, due_date=D("2026-04-01")) == effect


# --------------------------------------------------------------------------
# Issue 13 item 5: CSP L.1111-7 and R.1111-1, "à compter de la date de
# réception de la demande"; over five years old is a fact about each item.
# --------------------------------------------------------------------------


def test_medical_record_runs_from_receipt_not_from_the_identity_check():
    # The case: received Monday 2 March 2026, identity accepted Friday 6 March → due Tuesday 10 March.
    deadline = medical(D("2026-03-06"), utc("2026-03-02T09:00"))
    assert deadline.medical_record_due == D("2026-03-10")
    assert deadline.effective_due_date == D("2026-03-10")
    # The GDPR month still runs from the complete request: 6 April 2026 is Easter Monday → 7 April.
    assert deadline.due_date == D("2026-04-07")


def test_medical_record_receipt_is_the_paris_day():
    # 23:30 UTC on 1 March is 2 March in Paris: due 10 March, not 9.
    assert medical(D("2026-03-06"), utc("2026-03-01T23:30")).medical_record_due == D("2026-03-10")


def test_a_record_mixing_old_and_recent_items_has_both_dates():
    # Received 2 March 2026: recent items by Tuesday 10 March; items over five years old by
    # 2 May (Saturday) → Monday 4 May; the 8 days bind.
    deadline = medical(D("2026-03-06"), utc("2026-03-02T09:00"), medical_recent_items=True, medical_old_items=True)
    assert deadline.medical_record_due == D("2026-03-10")
    assert deadline.medical_record_old_due == D("2026-05-04")
    assert deadline.effective_due_date == D("2026-03-10")


def test_a_record_of_old_items_only_has_the_two_month_date_from_receipt():
    deadline = medical(D("2026-03-06"), utc("2026-03-02T09:00"), medical_recent_items=False, medical_old_items=True)
    assert deadline.medical_record_due == deadline.medical_record_old_due == D("2026-05-04")
    # The GDPR month from the complete request (6 March → 6 April, Easter Monday → 7 April) is earlier.
    assert deadline.effective_due_date == deadline.due_date


def test_eight_days_from_a_receipt_on_a_holiday():
    # Received Friday 8 May 2026 (Victoire 1945): + 8 = Saturday 16 May → Monday 18 May.
    assert medical(D("2026-05-11"), utc("2026-05-08T10:00")).medical_record_due == D("2026-05-18")


def test_a_medical_record_needs_some_items():
    with pytest.raises(ValueError):
        medical(D("2026-03-06"), utc("2026-03-02T09:00"), medical_recent_items=False, medical_old_items=False)


@fast
@given(
    start=starts,
    calendar=calendars,
    after=st.integers(min_value=1, max_value=60),
    length=st.integers(min_value=0, max_value=60),
    extended=st.booleans(),
)
def test_a_question_asked_after_the_date_never_moves_it(start, calendar, after, length, extended):
    before = compute_deadline(start, calendar=calendar, extended=extended)
    asked = before.due_date + timedelta(days=after)
    later = compute_deadline(start, calendar=calendar, extended=extended,
                             pauses=[Pause(asked, asked + timedelta(days=length), IDENTITY)])
    assert later.due_date == before.due_date
    if extended and asked > before.extended_due_date:
        assert later.extended_due_date == before.extended_due_date


@fast
@given(start=starts, calendar=calendars, offset=st.integers(0, 40), length=st.integers(0, 60))
def test_a_scope_question_never_moves_any_date(start, calendar, offset, length):
    pause = Pause(start + timedelta(days=offset), start + timedelta(days=offset + length), SCOPE)
    received_at = datetime.combine(start, datetime.min.time(), tzinfo=PARIS).replace(hour=10)
    kwargs = dict(calendar=calendar, extended=True, medical_record=True, received_at=received_at,
                  medical_old_items=True)
    assert compute_deadline(start, pauses=[pause], **kwargs) == compute_deadline(start, **kwargs)


@fast
@given(received=starts, delay=st.integers(0, 30), calendar=calendars)
def test_the_medical_record_date_does_not_depend_on_when_identity_was_accepted(received, delay, calendar):
    received_at = datetime.combine(received, datetime.min.time(), tzinfo=PARIS).replace(hour=10)
    on_receipt = compute_deadline(received, calendar=calendar, medical_record=True, received_at=received_at)
    later = compute_deadline(received + timedelta(days=delay), calendar=calendar, medical_record=True,
                             received_at=received_at)
    assert later.medical_record_due == on_receipt.medical_record_due
    assert (later.medical_record_due - received).days <= 8 + MAX_ROLL[calendar.subdivision]
