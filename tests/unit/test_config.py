"""priorauth/config.py: the insurer and the users' time zone are configuration, with the current values as defaults."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from priorauth.config import Settings


def test_defaults_name_anthem_and_new_york():
    settings = Settings.from_env({})
    assert (settings.insurer_name, settings.zone) == ("Anthem (via AIM Specialty Health)", ZoneInfo("America/New_York"))


def test_environment_overrides_the_insurer_and_the_time_zone():
    settings = Settings.from_env(
        {"PRIORAUTH_INSURER_NAME": "Example Plan", "PRIORAUTH_TIME_ZONE": "America/Los_Angeles"}
    )
    assert (settings.insurer_name, settings.zone) == ("Example Plan", ZoneInfo("America/Los_Angeles"))
