"""The one reader of dates (priorauth/dates.py): dates of birth strictly, dates of service completed, dates in text,
and business days across holidays. Every "today" is a literal date, never the clock."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from priorauth.dates import (
    DATE,
    DATE_FORMS,
    MONTH_NAME,
    MONTHS,
    DateRefused,
    add_years,
    find_date,
    find_service_date,
    last_business_day,
    read_birth_date,
    read_service_date,
)

TODAY = date(2026, 11, 23)  # a Monday, the week of Thanksgiving (Thursday, November 26)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("3/4/1960", date(1960, 3, 4)),
        ("03-04-1960", date(1960, 3, 4)),
        ("3.4.1960", date(1960, 3, 4)),
        ("1960-03-04", date(1960, 3, 4)),
        ("March 4, 1960", date(1960, 3, 4)),
        ("mar. 4th, 1960", date(1960, 3, 4)),
        ("4th of March 1960", date(1960, 3, 4)),
        ("4 Sept 1960", date(1960, 9, 4)),
        ("Sep 4 1960", date(1960, 9, 4)),
        ("September 4, 1960.", date(1960, 9, 4)),
        ("2/29/1960", date(1960, 2, 29)),  # a leap year
        (date(1960, 3, 4), date(1960, 3, 4)),
        (datetime(1960, 3, 4, 8, 30), date(1960, 3, 4)),
        ("11/23/2026", TODAY),  # born today: not in the future
        ("11/23/1906", date(1906, 11, 23)),  # 120 years ago to the day
    ],
)
def test_a_date_of_birth_is_read_in_every_us_form(raw, expected):
    assert read_birth_date(raw, TODAY) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("3/4/60", DATE_FORMS),  # 1960 or 2060: a 2-digit year is refused for a birth date
        ("March 4, 60", DATE_FORMS),
        ("3/4", DATE_FORMS),  # no year at all
        ("2/30/1960", DATE_FORMS),
        ("2/29/1961", DATE_FORMS),  # not a leap year
        ("13/1/1960", DATE_FORMS),  # month first: there is no 13th month
        ("Marchy 4, 1960", DATE_FORMS),
        ("today", DATE_FORMS),
        ("1960", DATE_FORMS),
        ("", DATE_FORMS),
        (None, DATE_FORMS),
        ("11/24/2026", "a date that is not in the future"),
        ("1/1/2030", "a date that is not in the future"),
        ("11/22/1906", "within the last 120 years"),
    ],
)
def test_a_date_of_birth_is_refused_unless_it_is_certain_and_past(raw, expected):
    with pytest.raises(DateRefused) as refused:
        read_birth_date(raw, TODAY)
    assert refused.value.expected == expected


@pytest.mark.parametrize(
    ("raw", "today", "expected"),
    [
        ("3/4", TODAY, date(2027, 3, 4)),  # a year-less date is its next occurrence
        ("12/1", TODAY, date(2026, 12, 1)),
        ("11/23", TODAY, TODAY),  # today is the next occurrence of today
        ("11/22", TODAY, date(2027, 11, 22)),  # yesterday's date is next year's
        ("Dec 2nd", TODAY, date(2026, 12, 2)),
        ("2nd of December", TODAY, date(2026, 12, 2)),
        ("jan. 5", TODAY, date(2027, 1, 5)),
        ("3/4/27", TODAY, date(2027, 3, 4)),  # a 2-digit year is this century
        ("12/1/26", TODAY, date(2026, 12, 1)),
        ("3.4.27", TODAY, date(2027, 3, 4)),
        ("Dec 2, 26", TODAY, date(2026, 12, 2)),
        ("12/1/2026", TODAY, date(2026, 12, 1)),
        ("2027-03-04", TODAY, date(2027, 3, 4)),
        ("1/5/2020", TODAY, date(2020, 1, 5)),  # read; whether a past date is acceptable is the caller's rule
        ("today", TODAY, TODAY),
        ("Tomorrow", TODAY, date(2026, 11, 24)),
        ("2/29", date(2027, 3, 1), date(2028, 2, 29)),  # the next Feb 29 is in a leap year
        ("2/29", TODAY, None),  # neither 2026 nor 2027 has one
        ("2/30", TODAY, None),
        ("13/1", TODAY, None),
        ("Sept 31", TODAY, None),
        ("next week", TODAY, None),
        ("3/4/202", TODAY, None),  # a 3-digit year
        ("", TODAY, None),
    ],
)
def test_a_date_of_service_completes_a_missing_or_2_digit_year(raw, today, expected):
    assert read_service_date(raw, today) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("approved on 11/23/2026", date(2026, 11, 23)),
        ("approved 11/23/26, how long?", date(2026, 11, 23)),
        ("approval dated 2026-11-23", date(2026, 11, 23)),
        ("we got it March 3, 2026", date(2026, 3, 3)),
        ("on the 3rd of march 2026.", date(2026, 3, 3)),
        ("dated 2/30/2026, no, 3/1/2026", date(2026, 3, 1)),  # an impossible date is passed over
        ("Rasa 3.6.21 on 127.0.0.1", None),  # a version and an address are not dates
        ("call 1-877-291-0360", None),
        ("L4-5 fusion, 2 levels", None),
        ("sometime in the spring", None),
        ("", None),
    ],
)
def test_find_date_reads_the_first_full_date_in_a_message(text, expected):
    assert find_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("outpatient PT in Feb 2020", date(2020, 2, 1)),  # a month alone: its first day
        ("in Sept. 2021", date(2021, 9, 1)),
        ("surgery on March 3, 2020", date(2020, 3, 3)),
        ("DOS 4/15/2020, or in May 2020", date(2020, 4, 15)),  # a full date wins
        ("in may we'll see", None),
    ],
)
def test_find_service_date_reads_a_month_or_a_full_date(text, expected):
    assert find_service_date(text) == expected


def test_one_month_table_gives_every_spelling_its_number():
    assert [MONTHS[name] for name in ("jan", "january", "may", "sep", "sept", "september", "dec")] == [
        1,
        1,
        5,
        9,
        9,
        9,
        12,
    ]
    assert re.fullmatch(MONTH_NAME, "Sept.", re.I) and not re.fullmatch(MONTH_NAME, "Septembre", re.I)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("seen 03-04-1961 and 1961-03-04", ["03-04-1961", "1961-03-04"]),
        ("born March 4, 1961.", ["March 4, 1961"]),
        ("4/5/72 at noon", ["4/5/72"]),
        ("3.6.21 is a version", []),
        ("2024-01-05T12:00:00Z", []),
        ("uuid 123e4567-e89b-12d3", []),
    ],
)
def test_the_date_pattern_finds_whole_dates_only(text, found):
    assert [m.group(0) for m in re.finditer(DATE, text, re.I)] == found


@pytest.mark.parametrize(
    ("day", "years", "expected"),
    [(date(2026, 1, 15), 2, date(2028, 1, 15)), (date(2024, 2, 29), 1, date(2025, 2, 28))],
)
def test_add_years_keeps_the_calendar_day(day, years, expected):
    assert add_years(day, years) == expected


@pytest.mark.parametrize(
    ("start", "days", "last"),
    [
        (date(2026, 11, 23), 10, date(2026, 12, 7)),  # Thanksgiving (Thu Nov 26) is skipped: not Dec 4
        (date(2026, 11, 21), 10, date(2026, 12, 7)),  # a Saturday start counts from Monday
        (date(2026, 11, 26), 1, date(2026, 11, 27)),  # a start on the holiday counts from the next business day
        (date(2026, 11, 27), 10, date(2026, 12, 10)),  # no holiday in the period
        (date(2026, 7, 1), 10, date(2026, 7, 15)),  # July 4 is a Saturday: observed Friday July 3
        (date(2026, 12, 24), 3, date(2026, 12, 29)),  # Christmas
        (date(2026, 12, 31), 2, date(2027, 1, 4)),  # New Year's Day, in the next year
        (date(2027, 12, 30), 2, date(2028, 1, 3)),  # Jan 1, 2028 is a Saturday: observed Friday Dec 31, 2027
        (date(2026, 1, 14), 5, date(2026, 1, 21)),  # Martin Luther King Jr. Day (Jan 19)
        (date(2026, 6, 18), 2, date(2026, 6, 22)),  # Juneteenth (Fri Jun 19)
    ],
)
def test_business_days_skip_weekends_and_us_federal_holidays(start, days, last):
    assert last_business_day(start, days) == last


def test_a_period_of_no_business_days_is_refused():
    with pytest.raises(ValueError, match="at least 1 day; got 0"):
        last_business_day(date(2026, 11, 23), 0)
