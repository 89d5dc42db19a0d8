"""Dates for tests against the real servers, computed from today so the calendar never overtakes a test.

"Today" is the users' day, as the draft repository counts it (PRIORAUTH_TIME_ZONE, priorauth/config.py);
a date of service two weeks ahead is valid on any day: today or later and within two years.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from priorauth.config import Settings


def service_date(days_ahead: int = 14) -> date:
    return datetime.now(Settings.from_env().zone).date() + timedelta(days=days_ahead)


def us_date(day: date) -> str:
    """The way a provider types it: 12/1/2026."""
    return f"{day.month}/{day.day}/{day.year}"
