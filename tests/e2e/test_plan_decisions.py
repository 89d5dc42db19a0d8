"""Decisions that know the member's plan, over the REST channel (issue 14's "What must work").

Each test asserts the reply's first sentence (no "Yes"/"No" where the answer depends) and, where a plan is
given, the absence of another plan's phone number or rule.
"""

from __future__ import annotations

import json
import uuid

ABC_PHONE, BCBS_PHONE, MAINE_PHONE = "1-877-291-0360", "(866) 789-0158", "866-714-1107"
ABC_RULE = "excluded from AIM programs"  # Anthem Blue Cross's own exclusion (000)


def _sender() -> str:
    return f"plan-{uuid.uuid4().hex[:10]}"


def _first(text: str) -> str:
    return text.strip().splitlines()[0]


def _not_yes_or_no(line: str) -> bool:
    return not line.startswith(("Yes", "No:", "No."))


# --- the member's plan is an input of every decision ---------------------------------------------
def test_a_program_known_only_from_one_plans_notice_is_not_stated_for_another_plan(assistant):
    reply = assistant.say(
        _sender(), "is prior authorization required for advanced diagnostic imaging for an Anthem Maine member?"
    )
    assert _first(reply).startswith("The sources don't say for Anthem Maine members"), reply
    assert ABC_PHONE not in reply and ABC_RULE not in reply


def test_plan_unknown_and_the_plans_differ_answers_per_plan_asks_and_uses_the_plan_given(assistant):
    sender = _sender()
    replies = assistant.ask(sender, "does advanced diagnostic imaging need prior auth through AIM?")
    text = "\n".join(m["text"] for m in replies if m.get("text"))
    first = _first(text)
    assert first.startswith("For Anthem Blue Cross members, yes"), text
    assert "the sources don't say for Anthem Blue Cross and Blue Shield or Anthem Maine" in first
    assert "Which plan: Anthem Blue Cross (California), Anthem Blue Cross and Blue Shield, Anthem Maine?" in text
    buttons = [b for m in replies for b in m.get("buttons") or []]
    assert [b["title"] for b in buttons if b["title"] != "More"] == [
        "Anthem Blue Cross (California)",
        "Anthem Blue Cross and Blue Shield",
        "Anthem Maine",
    ]
    maine = next(b["payload"] for b in buttons if b["title"] == "Anthem Maine")
    assert json.loads(maine.removeprefix("/inform")) == {"plan": "anthem_maine"}
    again = assistant.say(sender, maine)
    assert _first(again).startswith("The sources don't say for Anthem Maine members"), again
    assert ABC_PHONE not in again


def test_plan_unknown_but_the_faq_settles_it_says_yes_with_one_caveat(assistant):
    reply = assistant.say(_sender(), "is a total hip replacement reviewed by AIM before surgery?")
    assert _first(reply).startswith("Yes"), reply
    assert "may vary by health plan" in reply
    assert "Which plan" not in reply


def test_anthem_blue_cross_line_of_business_exclusions_decide_only_for_anthem_blue_cross(assistant):
    reply = assistant.say(_sender(), "does a total knee replacement need AIM review for an HMO member?")
    first = _first(reply)
    assert _not_yes_or_no(first) and first.startswith("For Anthem Blue Cross members, no"), reply
    assert "the sources don't say for Anthem Blue Cross and Blue Shield or Anthem Maine" in first
    maine = assistant.say(_sender(), "total knee replacement, HMO member of Anthem Maine: does it need AIM review?")
    assert _first(maine).startswith("The sources don't say for HMO members of Anthem Maine"), maine
    assert ABC_PHONE not in maine and "does not apply to HMO" not in maine


# --- two sources disagree for the same scope --------------------------------------------------------
def test_a_conflict_shows_both_sources_and_routes_to_the_id_card(assistant):
    reply = assistant.say(
        _sender(), "Anthem Blue Cross member having a total knee replacement as an inpatient: is AIM review required?"
    )
    first = _first(reply)
    assert first.startswith("The sources disagree for Anthem Blue Cross") and "ID card" in first, reply
    assert ABC_RULE in reply and "inpatient or outpatient basis" in reply
    source = next(line for line in reply.splitlines() if line.startswith("Source:"))
    assert "000" in source and "002" in source  # the Source line names both
    assert MAINE_PHONE not in reply and BCBS_PHONE not in reply


# --- emergency is a presentation ----------------------------------------------------------------------
def test_an_emergency_presentation_needs_no_preauthorization_whatever_the_setting(assistant):
    reply = assistant.say(
        _sender(), "does a lumbar fusion need prior auth for a trauma patient who came through the ER?"
    )
    assert _first(reply).startswith("No"), reply
    assert "present in the emergency room" in reply


def test_when_presentation_is_unknown_it_is_one_of_the_cases(assistant):
    reply = assistant.say(_sender(), "Anthem Maine: does a laminectomy done as an inpatient need AIM review?")
    assert "If the patient presented in the emergency room" in reply, reply
    assert ABC_PHONE not in reply and ABC_RULE not in reply


# --- rehabilitation by plan, state and date (003) ------------------------------------------------------
def test_rehab_medicare_during_the_delay_outside_the_exception_states_is_not_required(assistant):
    reply = assistant.say(_sender(), "Medicare member in Ohio, outpatient physical therapy on 2/10/2020: AIM review?")
    assert _first(reply).startswith("No"), reply
    assert "FL, NJ and NY" in reply


def test_rehab_commercial_in_a_state_the_page_does_not_list_is_not_stated(assistant):
    reply = assistant.say(_sender(), "does physical therapy need AIM review for a commercial member in Texas?")
    first = _first(reply)
    assert _not_yes_or_no(first) and first.startswith("The sources don't say for commercial members in TX"), reply


def test_rehab_without_a_line_of_business_depends(assistant):
    reply = assistant.say(_sender(), "does speech therapy need AIM review?")
    assert _not_yes_or_no(_first(reply)), reply
    assert "may vary by health plan" in reply and "FL, NJ and NY" in reply


# --- site of care as the sources scope it ----------------------------------------------------------------
def test_site_of_care_review_is_for_certain_procedures(assistant):
    reply = assistant.say(_sender(), "shoulder arthroscopy in a hospital outpatient department, Anthem Maine member")
    assert "Certain musculoskeletal procedures" in reply and "Resources" in reply, reply
    assert ABC_PHONE not in reply


def test_small_joint_setting_is_reviewed_for_anthem_bcbs(assistant):
    reply = assistant.say(
        _sender(), "does a total ankle replacement at an ASC need prior auth for an Anthem BCBS member?"
    )
    assert "level of care" in reply, reply
    assert ABC_PHONE not in reply and MAINE_PHONE not in reply


# --- yes and no only where the sources settle it; codes ---------------------------------------------------
def test_a_code_the_sources_do_not_name_is_never_a_bare_yes(assistant):
    reply = assistant.say(_sender(), "does 27130 need AIM review for an Anthem Maine member?")
    first = _first(reply)
    assert first.startswith("The sources name the procedure, not the code: 27130"), reply
    assert ABC_PHONE not in reply


def test_a_code_no_longer_mapped_beyond_the_named_procedure_is_not_known(assistant):
    reply = assistant.say(_sender(), "does 20974 need prior auth?")
    assert _not_yes_or_no(_first(reply)) and "not in my knowledge base" in reply, reply


# --- matching: a bare body part never decides a procedure ------------------------------------------------
def test_a_bare_body_part_does_not_decide_a_procedure(assistant):
    reply = assistant.say(_sender(), "does hip surgery need prior auth?")
    assert _not_yes_or_no(_first(reply)), reply
    assert "Total hip replacement needs" not in reply
