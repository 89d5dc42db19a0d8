"""Draft conversations in providers' own words over REST (issue 18), each checked against the saved draft.

Every test talks to the real Rasa and action servers and then reads the draft back from the servers'
SQLite database: what the reply says must be what was saved. The phrasings are not the training
examples. Dates of service are computed from today, so that time cannot overtake them.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from datetime import date, timedelta

import pytest

MEMBER_ID = "JQX90021455"
FIRST_FIVE = (
    f"member id {MEMBER_ID}, dob 3/4/1960, ordering NPI 1234567893, tax id 12-3456789, servicing NPI 1245319599"
)
REASON = "Morbid obesity and sleep apnea: she needs overnight monitoring that the surgery center cannot provide"


def us_date(day: date) -> str:
    return f"{day.month}/{day.day}/{day.year}"


SOON = date.today() + timedelta(days=45)
LATER = date.today() + timedelta(days=75)


def sender() -> str:
    return f"e2e-conv-{uuid.uuid4().hex[:8]}"


def reference_in(text: str) -> str:
    match = re.search(r"DR-[0-9A-Z]{6}", text)
    assert match, f"no draft reference in {text!r}"
    return match.group(0)


def last_line(text: str) -> str:
    return text.rstrip().splitlines()[-1]


# ---------------------------------------------------------------- the database behind the servers
def rows(assistant, where: str, *args) -> list[dict]:
    with sqlite3.connect(assistant.workdir / "priorauth.db") as db:
        db.row_factory = sqlite3.Row
        found = [dict(row) for row in db.execute(f"SELECT * FROM drafts WHERE {where} ORDER BY id", args)]
    for row in found:
        for name in ("procedure_codes", "diagnosis_codes"):
            row[name] = json.loads(row[name]) if row[name] else None
    return found


def saved(assistant, reference: str) -> dict:
    found = rows(assistant, "reference = ?", reference)
    assert found, f"{reference} is not in the database"
    return found[0]


def drafts_of(assistant, owner: str) -> list[dict]:
    return rows(assistant, "owner = ?", owner)


def only_draft(assistant, owner: str) -> dict:
    found = drafts_of(assistant, owner)
    assert len(found) == 1, f"{len(found)} drafts for {owner}"
    return found[0]


def started(assistant, who: str, text: str = "could you open a draft for me") -> str:
    reply = assistant.say(who, text)
    assert "I've started draft request" in reply, reply
    return reference_in(reply)


# ---------------------------------------------------------------- starting, in many words
@pytest.mark.parametrize(
    "message",
    [
        "start a draft request",  # the assistant's own hint, word for word
        "Start a draft request.",
        "please open a draft",
        "can we begin a draft now",
        "new draft for a patient of mine",
        "I have to put in a prior auth",
    ],
)
def test_each_way_of_asking_starts_one_draft_for_this_sender(assistant, message):
    who = sender()
    reply = assistant.say(who, message)
    reference = reference_in(reply)
    assert "I've started draft request" in reply and "Cancel draft request" not in reply
    assert last_line(reply) == "What is the member ID, as on the member's ID card?"
    draft = only_draft(assistant, who)
    assert draft["reference"] == reference and draft["status"] == "open" and draft["member_id"] is None


def test_the_hint_after_no_draft_found_starts_one(assistant):
    who = sender()
    reply = assistant.say(who, "pull up my draft")
    assert 'Say "start a draft request" to begin one.' in reply
    assert drafts_of(assistant, who) == []
    reference = started(assistant, who, "start a draft request")
    assert only_draft(assistant, who)["reference"] == reference


def test_putting_in_a_prior_auth_for_a_procedure_names_its_codes(assistant):
    who = sender()
    reply = assistant.say(who, "hey, gotta put in a prior auth for a lumbar fusion")
    reference = reference_in(reply)
    assert "This draft is for Cervical/lumbar spinal fusion; the codes for it are" in reply and "22612" in reply
    assert "needs AIM pre-service review" in reply
    assert saved(assistant, reference)["procedure_codes"] is None  # several codes: the form asks which


def test_submitting_a_request_for_a_code_at_a_setting_prefills_both(assistant):
    who = sender()
    reply = assistant.say(who, "I need to submit a request for 27130 at the ASC")
    assert "From your message I already have: Setting ambulatory surgery center; Procedure codes 27130." in reply
    draft = only_draft(assistant, who)
    assert draft["procedure_codes"] == ["27130"] and draft["setting"] == "ambulatory_surgery_center"


def test_lets_start_one_after_an_answer_prefills_its_code_and_says_so(assistant):
    who = sender()
    assert "27447 is the standard code for Total knee replacement" in assistant.say(
        who, "is a precert needed for 27447?"
    )
    reply = assistant.say(who, "perfect, can you start one for it")
    assert "From our conversation I've filled in: Procedure codes 27447." in reply
    assert only_draft(assistant, who)["procedure_codes"] == ["27447"]


def test_the_review_answer_offers_a_button_that_starts_a_draft_for_its_code(assistant):
    who = sender()
    replies = assistant.ask(who, "does 29881 need review?")
    buttons = [b for m in replies for b in m.get("buttons") or []]
    assert {"title": "Start a draft request for 29881", "payload": "/request_draft"} in buttons, replies
    reply = assistant.say(who, buttons[0]["payload"])
    assert "From our conversation I've filled in: Procedure codes 29881." in reply
    assert only_draft(assistant, who)["procedure_codes"] == ["29881"]


def test_a_procedure_with_one_code_is_prefilled_from_the_answer_before(assistant):
    who = sender()
    assistant.say(who, "does hammer toe surgery need a precert?")
    reply = assistant.say(who, "alright then, open one up for me")
    assert "From our conversation I've filled in: Procedure codes 28285." in reply
    assert only_draft(assistant, who)["procedure_codes"] == ["28285"]


def test_the_hint_typed_inside_a_draft_starts_another_and_keeps_the_first(assistant):
    who = sender()
    first = started(assistant, who)
    assistant.say(who, f"member id {MEMBER_ID}")
    reply = assistant.say(who, "start a draft request")
    assert "Cancel draft request" not in reply
    second = reference_in(reply.split("I've started draft request", 1)[1])
    assert second != first and f"Draft request {first} stays saved" in reply
    assert saved(assistant, first)["member_id"] == MEMBER_ID and saved(assistant, first)["status"] == "open"
    assert saved(assistant, second)["member_id"] is None
    listing = assistant.say(who, "show my drafts")  # the phrase that reply suggests
    assert first in listing and second in listing


def test_asking_again_right_after_starting_keeps_one_draft(assistant):
    who = sender()
    first = started(assistant, who, "start a draft request")
    reply = assistant.say(who, "ok lets start one")
    assert reference_in(reply) == first
    assert len(drafts_of(assistant, who)) == 1


# ---------------------------------------------------------------- corrections of every field
def filled(assistant, who: str) -> str:
    """A draft with the first five fields saved; the form asks for the facility next."""
    reference = started(assistant, who)
    reply = assistant.say(who, FIRST_FIVE)
    assert last_line(reply) == "What is the name of the servicing provider or facility?", reply
    return reference


CORRECTIONS = [
    ("oops, the member number should be XYZ77777", "Member ID updated (****7777).", "member_id", "XYZ77777"),
    ("can you fix the birth date, it's 7/9/1962", "Date of birth updated (**/09/1962).", "member_dob", "1962-07-09"),
    (
        "the ordering NPI is actually 1245319599",
        "Ordering provider NPI updated (1245319599).",
        "ordering_npi",
        "1245319599",
    ),
    ("TIN should read 98-7654321", "Ordering provider tax ID updated (987654321).", "ordering_tax_id", "987654321"),
    (
        "servicing npi is wrong, use 1234567893",
        "Servicing provider NPI updated (1234567893).",
        "servicing_npi",
        "1234567893",
    ),
]


@pytest.mark.parametrize("message, confirmation, field, value", CORRECTIONS)
def test_a_correction_of_an_answered_field_is_saved_and_confirmed_in_one_line(
    assistant, message, confirmation, field, value
):
    who = sender()
    reference = filled(assistant, who)
    reply = assistant.say(who, message)
    assert confirmation in reply.splitlines(), reply
    assert last_line(reply) == "What is the name of the servicing provider or facility?"  # the form goes on
    draft = saved(assistant, reference)
    assert str(draft[field]) == value
    assert draft["member_dob"] in ("1960-03-04", "1962-07-09")


def test_corrections_of_the_later_fields_and_a_reason_for_a_hospital(assistant):
    who = sender()
    reference = filled(assistant, who)
    assistant.say(who, "Mercy West")
    assistant.say(who, "outpatient hospital")
    assistant.say(who, "27447")
    assistant.say(who, "M17.11")
    assistant.say(who, us_date(SOON))
    assistant.say(who, REASON)
    assert saved(assistant, reference)["status"] == "ready"
    steps = [
        ("facility name is Lakeview Ortho Pavilion", "Facility name updated (Lakeview Ortho Pavilion).",
         "facility_name", "Lakeview Ortho Pavilion"),
        ("switch the setting to inpatient", "Setting updated (inpatient).", "setting", "inpatient"),
        ("make the CPT 27486 instead", "Procedure codes updated (27486).", "procedure_codes", ["27486"]),
        ("the dx should be M17.12", "Diagnosis codes updated (M17.12).", "diagnosis_codes", ["M17.12"]),
        (f"actually surgery date is {us_date(LATER)}", f"Date of service updated ({LATER:%m/%d/%Y}).",
         "date_of_service", LATER.isoformat()),
    ]  # fmt: skip
    for message, confirmation, field, value in steps:
        reply = assistant.say(who, message)
        assert confirmation in reply.splitlines(), (message, reply)
        assert saved(assistant, reference)[field] == value, message
    assistant.say(who, "switch the setting to outpatient hospital")
    reply = assistant.say(who, "please change the reason to the member needs a monitored overnight bed after surgery")
    assert "Site-of-care reason updated (" in reply
    assert saved(assistant, reference)["site_of_care_reason"].startswith("the member needs a monitored overnight")


def test_a_field_given_before_it_is_asked_is_saved_and_confirmed(assistant):
    who = sender()
    reference = started(assistant, who)
    reply = assistant.say(who, f"the surgery is on {us_date(SOON)}")
    assert f"Date of service saved ({SOON:%m/%d/%Y})." in reply
    assert last_line(reply) == "What is the member ID, as on the member's ID card?"
    assert saved(assistant, reference)["date_of_service"] == SOON.isoformat()


def test_i_meant_corrects_the_answer_just_given(assistant):
    who = sender()
    reference = started(assistant, who)
    assistant.say(who, MEMBER_ID)
    assistant.say(who, "5/6/1971")
    reply = assistant.say(who, "sorry I meant 5/16/1971")
    assert "Date of birth updated (**/16/1971)." in reply
    assert last_line(reply) == "What is the ordering provider's NPI (10 digits)?"
    draft = saved(assistant, reference)
    assert draft["member_dob"] == "1971-05-16" and draft["ordering_npi"] is None


# ---------------------------------------------------------------- what's left
def test_what_is_left_lists_the_missing_fields_in_order_and_asks_the_next(assistant):
    who = sender()
    reference = filled(assistant, who)
    reply = assistant.say(who, "ok, what more do you need for this one?")
    assert (
        f"Draft request {reference} still needs 5 fields: Facility name, Setting, Procedure codes, "
        "Diagnosis codes, Date of service." in reply
    )
    assert last_line(reply) == "What is the name of the servicing provider or facility?"
    assert saved(assistant, reference)["facility_name"] is None


def test_anything_left_with_one_field_to_go_says_one_field(assistant):
    who = sender()
    reference = filled(assistant, who)
    assistant.say(who, "facility Harbor Surgery Center, setting office, CPT 64483, dx M54.16")
    reply = assistant.say(who, "is there anything left?")
    assert f"Draft request {reference} still needs 1 field: Date of service." in reply
    listing = assistant.say(who, "list my drafts")
    assert f"{reference}: in progress, 64483" in listing and "(1 field to go)" in listing


# ---------------------------------------------------------------- cancel, or not
def test_cancel_then_yes_cancels_in_the_database(assistant):
    who = sender()
    reference = started(assistant, who)
    assert f"Cancel draft request {reference}?" in assistant.say(who, "scrap this one please")
    assert f"Draft request {reference} is cancelled" in assistant.say(who, "yes do it")
    assert saved(assistant, reference)["status"] == "cancelled"


def test_cancel_then_no_keeps_the_draft_and_its_fields(assistant):
    who = sender()
    reference = filled(assistant, who)
    assistant.say(who, "cancel the draft")
    reply = assistant.say(who, "no, keep it")
    assert f"I'm keeping draft request {reference}" in reply
    assert last_line(reply) == "What is the name of the servicing provider or facility?"
    draft = saved(assistant, reference)
    assert draft["status"] == "open" and draft["member_id"] == MEMBER_ID


def test_a_value_at_the_cancel_question_is_the_forms_answer_and_nothing_is_cancelled(assistant):
    who = sender()
    reference = filled(assistant, who)
    assistant.say(who, "cancel it")
    reply = assistant.say(who, "facility is Lakeside Surgery Center")
    assert f"I'm keeping draft request {reference}" in reply
    draft = saved(assistant, reference)
    assert draft["status"] == "open" and draft["facility_name"] == "Lakeside Surgery Center"
    assert last_line(reply).startswith("Where will it be done")


# ---------------------------------------------------------------- diagnoses
def test_a_diagnosis_is_checked_as_icd10_not_against_the_procedure_list(assistant):
    who = sender()
    reference = started(assistant, who, "start a draft request for 27447")
    reply = assistant.say(who, "dx m1711")
    assert "not in the knowledge base" not in reply and "Diagnosis codes saved (M17.11)." in reply
    assert saved(assistant, reference)["diagnosis_codes"] == ["M17.11"]
    reply = assistant.say(who, "dx 17.11")
    assert "Diagnosis codes must be ICD-10-CM codes like M17.11" in reply
    assert saved(assistant, reference)["diagnosis_codes"] == ["M17.11"]


def test_a_post_procedural_pain_diagnosis_makes_an_epidural_notification_only(assistant):
    who = sender()
    reference = started(assistant, who, "start a draft request for 62322")
    reply = assistant.say(who, "diagnosis G89.18")
    assert "Notification only: 62322" in reply and "no medical-necessity review" in reply
    draft = saved(assistant, reference)
    assert draft["diagnosis_codes"] == ["G89.18"] and draft["procedure_codes"] == ["62322"]


# ---------------------------------------------------------------- a facility's name where the setting is asked
def test_a_surgery_center_named_where_the_setting_is_asked_is_an_asc(assistant):
    who = sender()
    reference = filled(assistant, who)
    assistant.say(who, "Springfield Ortho")
    reply = assistant.say(who, "Springfield Orthopedic Surgery Center")
    assert "Setting must be one of" not in reply
    assert "Springfield Orthopedic Surgery Center is an ambulatory surgery center" in reply
    draft = saved(assistant, reference)
    assert draft["setting"] == "ambulatory_surgery_center"
    assert draft["facility_name"] == "Springfield Orthopedic Surgery Center"


def test_a_hospital_named_where_the_setting_is_asked_asks_outpatient_or_inpatient(assistant):
    who = sender()
    reference = filled(assistant, who)
    assistant.say(who, "Riverside Community Hospital")
    replies = assistant.ask(who, "it's at Riverside Community Hospital")
    text = "\n".join(m.get("text", "") for m in replies)
    assert "is a hospital, so the setting is either outpatient hospital or inpatient" in text
    assert any(b["title"] == "Inpatient" for m in replies for b in m.get("buttons") or [])
    assert saved(assistant, reference)["setting"] is None
    assistant.say(who, "outpatient")
    assert saved(assistant, reference)["setting"] == "outpatient_hospital"


def test_the_same_error_is_not_sent_twice_in_a_row(assistant):
    who = sender()
    reference = filled(assistant, who)
    assistant.say(who, "Northgate Clinic")
    first = assistant.say(who, "the back building")
    second = assistant.say(who, "the back building")
    assert "Setting must be one of" in first and "Setting must be one of" not in second
    assert "I still can't use that as the setting" in second
    assert saved(assistant, reference)["setting"] is None
    reply = assistant.say(who, "what's left")  # the phrase that message suggests
    assert f"Draft request {reference} still needs 4 fields: Setting, Procedure codes" in reply


# ---------------------------------------------------------------- resuming, and other people's drafts
def test_after_a_restart_the_form_goes_on_and_where_was_i_shows_the_saved_draft(assistant):
    who = sender()
    reference = filled(assistant, who)
    assistant.restart_rasa()
    reply = assistant.say(who, "Brookside Surgery Center")
    assert saved(assistant, reference)["facility_name"] == "Brookside Surgery Center"
    # A surgery center named as the facility leaves the setting to its own question (tests/unit/test_draft_intake).
    assert last_line(reply).startswith("Where will it be done"), reply
    summary = assistant.say(who, "where was I?")  # the phrase the start message suggests
    assert f"Draft request {reference} (in progress)" in summary and "Member ID: ****1455" in summary


def test_another_sender_can_neither_see_nor_change_the_draft(assistant):
    owner = sender()
    reference = filled(assistant, owner)
    stranger = sender()
    assert f"Draft request {reference} belongs to another conversation" in assistant.say(
        stranger, f"show me {reference}"
    )
    reply = assistant.say(stranger, f"change the dob on {reference} to 1/2/1950")
    assert f"Draft request {reference} belongs to another conversation" in reply and "1960" not in reply
    draft = saved(assistant, reference)
    assert draft["member_dob"] == "1960-03-04" and draft["owner"] == owner
    assert drafts_of(assistant, stranger) == []


def test_export_when_complete_is_the_phrase_the_assistant_suggests(assistant):
    who = sender()
    reference = filled(assistant, who)
    reply = assistant.say(
        who, f"facility Harbor Surgery Center, setting office, CPT 64483, dx M54.16, DOS {us_date(SOON)}"
    )
    assert f"Draft request {reference} is complete" in reply and 'Say "export the draft"' in reply
    text, custom = assistant.payload(who, "export the draft")
    assert custom["type"] == "priorauth.pas_bundle" and custom["reference"] == reference
    assert saved(assistant, reference)["status"] == "ready"


def next_march_4() -> date:
    today = date.today()
    this_year = date(today.year, 3, 4)
    return this_year if this_year >= today else date(today.year + 1, 3, 4)


def test_the_change_example_the_assistant_gives_works_on_a_complete_draft(assistant):
    who = sender()
    reference = filled(assistant, who)
    assistant.say(who, f"facility Harbor Surgery Center, setting office, CPT 64483, dx M54.16, DOS {us_date(SOON)}")
    assert "Tell me the field and its new value" in assistant.say(who, "I need to change something")
    reply = assistant.say(who, "change the date of service to 3/4")
    march = next_march_4()
    assert f"Date of service updated ({march:%m/%d/%Y})." in reply
    assert saved(assistant, reference)["date_of_service"] == march.isoformat()
