"""How the assistant reads dates, in one place: the month names, the date pattern, the rules for a date of birth
(strict) and for a date of service (a year-less or 2-digit-year date completed), and business days.

The month names come from python-dateutil's parser tables. Its parser itself is not used to read a value: it
guesses (13/1/1960 becomes 13 January, "1960" alone a date), where a form field must refuse what it cannot read
for sure; the forms below say exactly what is read.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import holidays
import numpy
from dateutil.parser import parserinfo
from dateutil.relativedelta import relativedelta

# "jan", "january", "sep", "sept", "september", ...: dateutil's own table, one entry per spelling.
MONTHS: dict[str, int] = {name.lower(): number for number, names in enumerate(parserinfo.MONTHS, 1) for name in names}
MONTH_NAME = "(?:" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_ORDINAL = r"(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>\d{4}|\d{2})"


def _forms(year: str) -> tuple[str, ...]:
    """The written forms of a date, US order; ``year`` is "" where the year is required, "?" where optional."""
    return (
        r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})",  # ISO: 1960-03-04
        rf"(?P<month>\d{{1,2}})[/.\-](?P<day>\d{{1,2}})(?:[/.\-]{_YEAR}){year}",  # 3/4/1960, 03-04-60, 3.4.1960
        rf"(?P<name>{MONTH_NAME})\s+(?P<day>\d{{1,2}}){_ORDINAL}(?:,?\s+{_YEAR}){year}",  # March 4, 1960
        rf"(?P<day>\d{{1,2}}){_ORDINAL}\s+(?:of\s+)?(?P<name>{MONTH_NAME})(?:,?\s+{_YEAR}){year}",  # 4th of March 1960
    )


# A full date (with its year) inside text, not a piece of a longer number or identifier, nor a version (3.6.21: a
# dotted date needs its 4-digit year in text). The log filter masks with it; the draft parser and the NLU cues find
# dates with it.
DATE = (
    r"(?<![\w/.\-])(?!\d{1,2}\.\d{1,2}\.\d{2}(?!\d))(?:"
    + "|".join(re.sub(r"\(\?P<\w+>", "(?:", form) for form in _forms(year=""))
    + r")(?![\w/\-]|[.:]\d)"
)
DATE_RE = re.compile(DATE, re.IGNORECASE)
_MONTH_AND_YEAR = re.compile(rf"(?<![\w/.\-])(?P<name>{MONTH_NAME})\s+(?P<year>\d{{4}})(?!\w)", re.IGNORECASE)
# A whole value, the year optional (whether a missing or 2-digit year is allowed is the caller's rule).
_VALUE_FORMS = tuple(re.compile(form, re.IGNORECASE) for form in _forms(year="?"))

DATE_FORMS = "a date like 03/04/1960, 1960-03-04 or March 4, 1960"
BIRTH_YEARS = 120


class DateRefused(ValueError):
    """A date that cannot be accepted; ``expected`` says what would be, fit for a field's error message."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


def read_birth_date(raw: Any, today: date) -> date:
    """A date of birth: a full date with a 4-digit year (3/4/60 could be 1960 or 2060), not in the future and within
    the last 120 years. Raises ``DateRefused`` otherwise."""
    day = _read(raw)
    if day is None:
        raise DateRefused(DATE_FORMS)
    if day > today:
        raise DateRefused("a date that is not in the future")
    if day < add_years(today, -BIRTH_YEARS):
        raise DateRefused(f"within the last {BIRTH_YEARS} years")
    return day


def read_service_date(raw: Any, today: date) -> date | None:
    """A date of service, or None if unreadable. A service is booked ahead, so "3/4" or "Dec 2nd" is its next
    occurrence on or after ``today``, a 2-digit year is this century (3/4/27 is 2027), and "today" and "tomorrow"
    are understood. Whether the date is acceptable (not past, not too far) is the caller's rule."""
    text = _plain(raw)
    if text in ("today", "tomorrow"):
        return today if text == "today" else today + timedelta(days=1)
    return _read(raw, today, short_year=True)


def find_date(text: str) -> date | None:
    """The first full date a message gives (3/4/2026, 2026-03-04, March 4, 2026); a 2-digit year is this century."""
    for match in DATE_RE.finditer(text or ""):
        day = _read(match.group(0), short_year=True)
        if day is not None:
            return day
    return None


def find_service_date(text: str) -> date | None:
    """A date of service as a question gives it: a full date, else a month ("in Feb 2020") read as its first day.

    The sources' dates that decide (effective dates, the Medicare delay "until April 2020") fall on month
    boundaries, so the whole month decides alike.
    """
    full = find_date(text)
    match = _MONTH_AND_YEAR.search(text or "")
    if full or not match:
        return full
    return date(int(match.group("year")), MONTHS[match.group("name").lower().rstrip(".")], 1)


def add_years(day: date, years: int) -> date:
    """The same calendar day ``years`` later (Feb 29 becomes Feb 28)."""
    return day + relativedelta(years=years)


def last_business_day(start: date, days: int) -> date:
    """Day ``days`` of a period counted in business days: Monday to Friday, US federal holidays (and the weekdays
    they are observed on) skipped. Day 1 is ``start``, or the next business day when it falls on none."""
    if days < 1:
        raise ValueError(f"a period of business days must be at least 1 day; got {days}")
    last_year = start.year + days // 200 + 1  # 250-odd business days a year: enough years for the period
    end = numpy.busday_offset(start, days - 1, roll="forward", holidays=federal_holidays(start.year, last_year))
    return end.astype(date)


@lru_cache(maxsize=32)
def federal_holidays(first_year: int, last_year: int) -> tuple[date, ...]:
    """US federal holidays (observed days included) from ``first_year`` to ``last_year``, sorted."""
    return tuple(sorted(holidays.country_holidays("US", years=range(first_year, last_year + 1))))


def _plain(raw: Any) -> str:
    return " ".join(str(raw or "").lower().split()).rstrip(".")


def _read(raw: Any, today: date | None = None, short_year: bool = False) -> date | None:
    """A whole value in one of the forms; a missing year needs ``today``, a 2-digit one ``short_year``."""
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    text = _plain(raw)
    match = next((m for form in _VALUE_FORMS if (m := form.fullmatch(text))), None)
    if match is None:
        return None
    parts = match.groupdict()
    month = int(parts["month"]) if parts.get("month") else MONTHS[parts["name"].rstrip(".")]
    day, year = int(parts["day"]), parts["year"]
    if year is None:
        return _next_occurrence(month, day, today) if today is not None else None
    if len(year) == 2 and not short_year:
        return None
    try:
        return date(int(year) + (2000 if len(year) == 2 else 0), month, day)
    except ValueError:
        return None


def _next_occurrence(month: int, day: int, today: date) -> date | None:
    for year in (today.year, today.year + 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue  # Feb 29 in a common year
        if candidate >= today:
            return candidate
    return None
