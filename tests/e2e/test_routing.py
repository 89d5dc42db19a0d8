"""Routing over REST: real phrasing reaches the right topic and the right subject.

A long message with a back-story is a review question; "still good / got bumped" with a procedure named is
a validity question; a generic word asks which procedure, with buttons whose payload answers the question;
a phone question after the plan was named answers for that plan only; a denial follow-up keeps its subject.
"""

from __future__ import annotations

import uuid

NOT_KNOWN = "can't answer that from my sources"
BCBS_PHONE, MAINE_PHONE, ABC_PHONE = "(866) 789-0158", "866-714-1107", "1-877-291-0360"


def sender() -> str:
    return f"route-{uuid.uuid4().hex[:10]}"


def first_line(text: str) -> str:
    return text.strip().splitlines()[0]


def test_a_long_message_with_a_back_story_is_a_review_question(assistant):
    text = assistant.say(
        sender(),
        "so some background: our surgeon has treated a retired teacher for knee arthritis for two years, the "
        "injections and bracing stopped helping, and now he is booking a total knee arthroplasty for March. "
        "front desk wants to know, does that have to get a precert through AIM?",
    )
    assert first_line(text).startswith("Yes"), text
    assert "Total knee replacement" in text and NOT_KNOWN not in text


def test_still_good_after_the_date_moved_is_a_validity_question(assistant):
    text = assistant.say(
        sender(), "the TKR was approved on the 2nd but the OR bumped us three weeks, is it still good?"
    )
    assert "60 calendar days" in text, text
    assert not first_line(text).startswith("Yes:") and "10 business days" not in text


def test_the_most_specific_procedure_wins(assistant):
    text = assistant.say(sender(), "SI jt fusion - how long is the approval good for")
    assert "60 calendar days" in text, text
    assert "Cervical/lumbar spinal fusion" not in text


def test_a_generic_word_asks_which_procedure_and_the_button_answers(assistant):
    who = sender()
    replies = assistant.ask(who, "knee PA?")
    text = "\n".join(m.get("text", "") for m in replies)
    buttons = [b for m in replies for b in m.get("buttons") or []]
    assert text.startswith("Did you mean"), text
    assert {b["title"] for b in buttons} == {"Knee arthroscopy", "Total knee replacement"}
    choice = next(b["payload"] for b in buttons if b["title"] == "Knee arthroscopy")
    answer = assistant.say(who, choice)
    assert first_line(answer).startswith("Yes") and "Knee arthroscopy" in answer, answer
    assert "Total knee replacement" not in answer


def test_the_phone_number_is_the_named_plans(assistant):
    who = sender()
    assistant.say(who, "we're a spine clinic, pt has Anthem Blue Cross commercial coverage and needs a cervical fusion")
    text = assistant.say(who, "what number do we call for it?")
    assert ABC_PHONE in text, text
    assert BCBS_PHONE not in text and MAINE_PHONE not in text


def test_a_denial_follow_up_keeps_its_subject(assistant):
    who = sender()
    assistant.say(who, "p2p timing after a denial?")
    text = assistant.say(who, "and a recon?")
    assert "within 10 days of the denial" in text, text


def test_how_long_after_a_denial_is_the_reconsideration_deadline(assistant):
    who = sender()
    assistant.say(who, "our fusion request was denied and we want it reconsidered with more records")
    text = assistant.say(who, "what's our deadline for that?")
    assert "10 days" in text and "60 calendar days" not in text, text
    assert "Goodbye" not in text and "Bye" not in text


def test_a_procedure_not_on_the_lists_is_not_made_up(assistant):
    text = assistant.say(sender(), "does a carpal tunnel release need auth from AIM?")
    assert "not on the lists" in text, text
    assert not first_line(text).startswith("Yes")
