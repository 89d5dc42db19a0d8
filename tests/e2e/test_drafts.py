"""Draft review requests end to end over the REST channel, with the real Rasa and action servers."""

from __future__ import annotations

import re
import uuid

import pytest
import requests

from priorauth.agent_auth import AgentAuth
from tests.dates import service_date, us_date

MEMBER_ID = "ABC123456789"
ASKS = {
    "member_id": "What is the member ID",
    "member_dob": "What is the member's date of birth",
    "ordering_npi": "What is the ordering provider's NPI",
    "ordering_tax_id": "What is the ordering provider's tax ID",
    "servicing_npi": "What is the NPI of the servicing provider or facility",
    "facility_name": "What is the name of the servicing provider or facility",
    "setting": "Where will it be done",
    "procedure_codes": "Which procedure codes",
    "diagnosis_codes": "Which diagnosis codes",
    "date_of_service": "What is the planned date of service",
    "site_of_care_reason": "why is a hospital-based site of care medically necessary",
}
DOS = service_date()  # two weeks ahead of today: a valid date of service on any day the tests run
REASON = "The patient has severe sleep apnea and needs overnight monitoring after surgery"


def sender() -> str:
    return f"e2e-draft-{uuid.uuid4().hex[:8]}"


def reference_in(text: str) -> str:
    match = re.search(r"DR-[0-9A-Z]{6}", text)
    assert match, f"no draft reference in {text!r}"
    return match.group(0)


def asks_for(text: str, field: str) -> bool:
    return text.rstrip().endswith("?") and ASKS[field] in text.splitlines()[-1]


def start_draft(assistant, who: str, text: str = "open a new review request") -> str:
    reply = assistant.say(who, text)
    assert "I've started draft request" in reply, reply
    return reference_in(reply)


def test_happy_path_to_a_ready_draft_and_its_pas_export(assistant):
    who = sender()
    reply = assistant.say(who, "start a draft for 63030 at the hospital outpatient department")
    reference = reference_in(reply)
    assert "From your message I already have: Setting outpatient hospital; Procedure codes 63030." in reply
    assert "63030 (Cervical/lumbar spinal discectomy) needs AIM pre-service review (Spine surgery)" in reply
    assert "In an outpatient hospital, certain musculoskeletal procedures also get a site-of-care review" in reply
    assert "\nSource: " in reply and "AIM Musculoskeletal Program FAQ (002_" in reply
    assert asks_for(reply, "member_id")
    reply = assistant.say(who, f"member id {MEMBER_ID}, dob 3/4/1960, ordering NPI 1234567893, tax id 12-3456789")
    assert asks_for(reply, "servicing_npi")
    assert asks_for(assistant.say(who, "1245319599"), "facility_name")
    assert asks_for(assistant.say(who, "Mercy Hospital"), "diagnosis_codes")
    assert asks_for(assistant.say(who, "M17.11"), "date_of_service")
    assert asks_for(assistant.say(who, f"DOS {us_date(DOS)}"), "site_of_care_reason")
    reply = assistant.say(who, REASON)
    assert f"Draft request {reference} is complete" in reply
    text, custom = assistant.payload(who, "export the draft")
    assert f"Here is draft request {reference} as JSON" in text
    assert custom["type"] == "priorauth.pas_bundle" and custom["reference"] == reference
    claim = custom["bundle"]["entry"][0]["resource"]
    assert claim["resourceType"] == "Claim" and claim["use"] == "preauthorization"
    assert claim["item"][0]["productOrService"]["coding"][0]["code"] == "63030"
    assert claim["supportingInfo"][0]["valueString"] == REASON


def test_several_fields_in_one_message_are_all_kept_and_shown_masked(assistant):
    who = sender()
    start_draft(assistant, who)
    reply = assistant.say(
        who,
        f"member id {MEMBER_ID}, dob 3/4/1960, ordering NPI 1234567893, tax id 12-3456789, "
        "servicing NPI 1245319599, facility Mercy Surgery Center, setting ASC",
    )
    assert asks_for(reply, "procedure_codes")
    text, custom = assistant.payload(who, "what's my draft?")
    assert "Member ID: ****6789" in text and "Date of birth: **/**/1960" in text
    assert "Facility name: Mercy Surgery Center" in text and "Setting: ambulatory surgery center" in text
    assert "Still needed: Procedure codes, Diagnosis codes, Date of service." in text
    assert MEMBER_ID not in text and MEMBER_ID not in str(custom)
    assert custom["type"] == "priorauth.draft" and custom["fields"]["member_id"] == "****6789"
    assert asks_for(text, "procedure_codes")  # the form goes on after the summary


INVALID = [
    ("member_id", "12", "Member ID must be 5–20 letters and digits", MEMBER_ID),
    ("member_dob", "3/4/2999", "Date of birth must be a date that is not in the future; got 3/4/2999", "3/4/1960"),
    ("ordering_npi", "1234567890", "Ordering provider NPI must be 10 digits with a valid check digit", "1234567893"),
    ("ordering_tax_id", "00-1234567", "Ordering provider tax ID must be 9 digits like 12-3456789", "12-3456789"),
    ("servicing_npi", "1245319590", "Servicing provider NPI must be 10 digits with a valid check digit", "1245319599"),
    ("facility_name", "x", "Facility name must be 2–120 printable characters; got x", "Mercy Surgery Center"),
    ("setting", "on the moon", "Setting must be one of outpatient hospital (HOPD)", "office"),
    ("procedure_codes", "2744", "Procedure codes must be CPT codes", "27447"),
    ("diagnosis_codes", "17.11", "Diagnosis codes must be ICD-10-CM codes like M17.11", "M17.11"),
    ("date_of_service", "1/2/2020", "Date of service must be today", us_date(DOS)),
]


def test_each_invalid_field_gets_its_own_message_and_the_earlier_answers_stay(assistant):
    who = sender()
    start_draft(assistant, who)
    for field, bad, message, good in INVALID:
        reply = assistant.say(who, bad)
        assert message in reply, (field, reply)
        assert asks_for(reply, field), (field, reply)  # asked again: the same field only
        assistant.say(who, good)
    text = assistant.say(who, "what's my draft?")
    assert "Member ID: ****6789" in text and "Ordering provider NPI: 1234567893" in text
    assert f"Date of service: {DOS.isoformat()}" in text and "Still needed" not in text
    assert "(ready to export)" in text


def test_a_correction_mid_form_replaces_the_earlier_answer(assistant):
    who = sender()
    start_draft(assistant, who)
    assistant.say(who, f"member id {MEMBER_ID}, dob 3/4/1960")
    reply = assistant.say(who, "actually the member id is XYZ55555")
    assert asks_for(reply, "ordering_npi")
    text = assistant.say(who, "what's my draft?")
    assert "Member ID: ****5555" in text and "****6789" not in text


def test_a_question_mid_form_is_answered_and_the_form_comes_back(assistant):
    who = sender()
    start_draft(assistant, who, "I want to request auth for a total knee")
    assistant.say(who, f"member id {MEMBER_ID}")
    reply = assistant.say(who, "wait, how long is the approval good for?")
    assert "60 calendar days" in reply  # the answer, for the knee the draft is about
    assert asks_for(reply, "member_dob")  # and the same field again
    reply = assistant.say(who, "3/4/1960")
    assert asks_for(reply, "ordering_npi")


def test_the_form_continues_after_the_rasa_server_restarts(assistant):
    who = sender()
    reference = start_draft(assistant, who)
    assistant.say(who, f"member id {MEMBER_ID}, dob 3/4/1960")
    assistant.restart_rasa()
    reply = assistant.say(who, "1234567893")  # the tracker store still knows the NPI was asked for
    assert asks_for(reply, "ordering_tax_id")
    text = assistant.say(who, "what's my draft?")
    assert f"Draft request {reference}" in text and "Member ID: ****6789" in text
    assert "Ordering provider NPI: 1234567893" in text


def test_a_new_session_finds_the_open_draft_and_continues(assistant):
    who = sender()
    reference = start_draft(assistant, who)
    assistant.say(who, f"member id {MEMBER_ID}")
    assistant.ask(who, "/session_start")
    reply = assistant.say(who, "where was I")
    assert f"Draft request {reference} (in progress)" in reply and asks_for(reply, "member_dob")
    assert asks_for(assistant.say(who, "3/4/1960"), "ordering_npi")


def test_cancel_asks_for_confirmation_and_no_keeps_the_draft(assistant):
    who = sender()
    reference = start_draft(assistant, who)
    assistant.say(who, f"member id {MEMBER_ID}")
    replies = assistant.ask(who, "cancel it")
    assert f"Cancel draft request {reference}?" in replies[0]["text"]
    assert {b["payload"] for b in replies[0]["buttons"]} == {"/affirm", "/deny"}
    reply = assistant.say(who, "no")
    assert f"I'm keeping draft request {reference}" in reply and asks_for(reply, "member_dob")
    assistant.say(who, "cancel it")
    assert f"Draft request {reference} is cancelled" in assistant.say(who, "yes")
    assert "You have no draft request in progress" in assistant.say(who, "what's my draft?")
    assert f"{reference}: cancelled" in assistant.say(who, "show my drafts")


def test_export_of_an_incomplete_draft_names_what_is_missing_and_the_form_goes_on(assistant):
    who = sender()
    reference = start_draft(assistant, who)
    reply = assistant.say(who, "export the draft")
    assert f"Draft request {reference} isn't ready to export yet. Still missing: Member ID, Date of birth" in reply
    assert asks_for(reply, "member_id")


@pytest.mark.parametrize(
    "message",
    ["show draft {ref}", "export {ref}", "change the date of service of {ref} to 3/4", "cancel {ref}"],
)
def test_another_conversation_is_refused_without_seeing_the_draft(assistant, message):
    owner = sender()
    reference = start_draft(assistant, owner)
    assistant.say(owner, f"member id {MEMBER_ID}, CPT 27447, DOS {us_date(DOS)}")
    reply = assistant.say(sender(), message.format(ref=reference))
    assert f"Draft request {reference} belongs to another conversation" in reply
    assert "6789" not in reply and "27447" not in reply and DOS.isoformat() not in reply
    text = assistant.say(owner, "what's my draft?")
    assert f"Date of service: {DOS.isoformat()}" in text and "(in progress)" in text


def agent_say(assistant, agent_id: str, session: str, message: str) -> str:
    """One message from the agent side panel, with a token for the agent signed with the local run's key."""
    token = AgentAuth.from_env({"PRIORAUTH_RUN_DIR": str(assistant.workdir)}).mint(agent_id)
    body = {"session": session, "message": message}
    reply = requests.post(
        f"{assistant.url}/webhooks/agent/webhook", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    reply.raise_for_status()
    return "\n".join(turn["text"] for turn in reply.json()["turns"] if turn.get("text"))


def test_an_agents_draft_is_the_agents_in_every_panel_session_and_no_one_elses(assistant):
    agent = f"agent-{uuid.uuid4().hex[:6]}"
    reference = reference_in(agent_say(assistant, agent, "s1", "open a new review request"))
    agent_say(assistant, agent, "s1", f"member id {MEMBER_ID}")
    text = agent_say(assistant, agent, "s2", f"show draft {reference}")  # a new panel session
    assert f"Draft request {reference} (in progress)" in text and "Member ID: ****6789" in text
    forged = requests.post(
        f"{assistant.url}/webhooks/rest/webhook",
        json={"sender": sender(), "message": f"show draft {reference}", "metadata": {"agent_id": agent}},
        timeout=60,
    ).json()
    assert f"Draft request {reference} belongs to another conversation" in forged[0]["text"]
