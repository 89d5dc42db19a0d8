"""The first slice of the mission, end to end over the REST channel with the real servers."""

from __future__ import annotations

import uuid


def sender() -> str:
    return f"e2e-{uuid.uuid4().hex[:8]}"


def test_greets_with_the_typical_questions(assistant):
    replies = assistant.ask(sender(), "hello")
    assert "prior authorization" in replies[0]["text"]
    assert {b["title"] for b in replies[0]["buttons"]} >= {"Contact AIM", "Start a draft request"}


def test_pain_management_approval_is_ten_business_days(assistant):
    text, payload = assistant.payload(sender(), "how long is a pain management approval valid?")
    assert "10 business days" in text and "Unless otherwise required by state law" in text
    assert "\nSource: AIM Musculoskeletal Program FAQ (002_7692799ea26ffc45.txt)" in text
    assert payload["topic"] == "validity" and payload["sources"] == ["002"]


def test_spine_surgery_approval_is_sixty_calendar_days(assistant):
    text = assistant.say(sender(), "what is the approval period for a spine surgery?")
    assert "60 calendar days" in text and "10 business days" not in text


def test_how_to_reach_aim_gives_every_route_with_its_scope(assistant):
    text, payload = assistant.payload(sender(), "how do I reach AIM?")
    assert "providerportal.com" in text and "24 hours a day, 7 days a week" in text
    assert "Availity" in text
    # Each number with its plan (a terse question: the hours are in the full answer).
    assert "Anthem Blue Cross: 1-877-291-0360" in text and "depends on the member's plan" in text
    assert "866-714-1107" in text and "Anthem Maine" in text
    assert "\nSource:" in text
    scopes = {c["value"]: c["scope"]["plan"] for c in payload["contacts"] if c["kind"] == "phone"}
    assert scopes["1-877-291-0360"] == "anthem_blue_cross"
    assert "1-877-291-0360, Monday–Friday, 7:00 a.m.–5:00 p.m. PT — for Anthem Blue Cross" in payload["full_text"]


def test_says_it_does_not_know_outside_its_sources(assistant):
    text = assistant.say(sender(), "how much will Anthem reimburse for a knee replacement?")
    assert "can't answer that from my sources" in text
    assert "back of the member's ID card" in text


def test_a_code_the_data_does_not_hold_is_not_guessed(assistant):
    text = assistant.say(sender(), "does 99999 need prior auth?")
    assert "not in my knowledge base" in text and "Yes:" not in text
