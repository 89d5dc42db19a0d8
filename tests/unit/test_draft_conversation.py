"""The draft conversation's turns as plain Python (no Rasa): a message in, the draft, what to say and the next
field out. The session factory (SQLite in memory, or in a file) and the clock are passed in; tables go over the
draft's fields.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

import pytest

from priorauth.db import make_engine, make_session_factory
from priorauth.drafts.conversation import Conversation, Say, refusal, report
from priorauth.drafts.intake import Intake
from priorauth.drafts.messages import (
    Earlier,
    Message,
    action_before_message,
    action_since_message,
    bot_texts_since_previous_message,
    earlier_from,
    is_interruption,
    owner_of,
)
from priorauth.drafts.repository import (
    ConcurrentUpdate,
    DraftAccessDenied,
    DraftClosed,
    DraftNotFound,
    summary_of,
)
from priorauth.drafts.texts import changes_text, list_line, shown_fields
from priorauth.drafts.validators import FIELD_LABELS, FieldError
from priorauth.kb.loader import load_kb
from priorauth.schema import upgrade
from tests.conftest import KB_DIR, SOURCES_DIR

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)  # a Monday, 10:00 in New York
FIRST_SIX = (
    "member id ABC123456789, dob 3/4/1960, ordering NPI 1234567893, tax id 12-3456789, servicing NPI 1245319599, "
    "facility Mercy"
)


def clock():
    return NOW


@pytest.fixture(scope="module")
def factory():
    engine = make_engine("sqlite://")
    upgrade(engine)
    load_kb(engine, KB_DIR, SOURCES_DIR)
    return make_session_factory(engine)


def conversation(factory, at=clock) -> Conversation:
    return Conversation(factory, at, f"owner-{uuid.uuid4().hex[:8]}")  # one owner a test: no draft of another


def responses(turn) -> list[str | None]:
    return [say.response for say in turn.says]


def texts(turn) -> str:
    return "\n".join(say.text or "" for say in turn.says)


# ---------------------------------------------------------------- one field at a time, each type
ANSWERS = [
    # (field asked, the answer alone, the value saved)
    ("member_id", "ABC123456789", "ABC123456789"),
    ("member_dob", "3/4/1960", date(1960, 3, 4)),
    ("ordering_npi", "1234567893", "1234567893"),
    ("ordering_tax_id", "12-3456789", "123456789"),
    ("servicing_npi", "1245319599", "1245319599"),
    ("facility_name", "Lakeview Ortho", "Lakeview Ortho"),
    ("setting", "office", "office"),
    ("procedure_codes", "27447", ["27447"]),
    ("diagnosis_codes", "M17.11", ["M17.11"]),
    ("date_of_service", "12/1", date(2026, 12, 1)),  # a yearless date of service: its next occurrence from NOW
    ("site_of_care_reason", "needs overnight monitoring after surgery", "needs overnight monitoring after surgery"),
]


@pytest.mark.parametrize("name, text, value", ANSWERS)
def test_an_answer_to_the_field_asked_is_saved_unconfirmed_and_the_next_missing_field_is_asked(
    factory, name, text, value
):
    talk = conversation(factory)
    turn = talk.answer(Message(text, "inform"), name, None)
    assert getattr(turn.draft, name) == value
    assert getattr(talk.repo.get(turn.draft.reference, talk.owner), name) == value  # saved, not only returned
    assert "utter_draft_updated" not in responses(turn)  # the field asked is not confirmed
    assert turn.next_field == ("member_dob" if name == "member_id" else "member_id")


INVALID = [
    # (field asked, a wrong answer, the start of its own message)
    ("member_id", "12", "Member ID must be 5–20 letters and digits"),
    ("member_dob", "3/4/2999", "Date of birth must be a date that is not in the future"),
    ("ordering_npi", "1234567890", "Ordering provider NPI must be 10 digits with a valid check digit"),
    ("ordering_tax_id", "00-1234567", "Ordering provider tax ID must be 9 digits like 12-3456789"),
    ("servicing_npi", "1245319598", "Servicing provider NPI must be 10 digits with a valid check digit"),
    ("setting", "on the moon", "Setting must be one of outpatient hospital"),
    ("procedure_codes", "2744", "Procedure codes must be CPT codes"),
    ("diagnosis_codes", "17.11", "Diagnosis codes must be ICD-10-CM codes like M17.11"),
    ("date_of_service", "1/2/2020", "Date of service must be today (2026-11-23) or later"),
    ("site_of_care_reason", "too short", "Site-of-care reason must be a reason of 10–1000 characters"),
]


@pytest.mark.parametrize("name, text, message", INVALID)
def test_a_wrong_answer_gets_its_own_message_once_then_a_shorter_one_and_is_never_stored(factory, name, text, message):
    talk = conversation(factory)
    first = talk.answer(Message(text, "inform"), name, None)
    assert responses(first) == ["utter_draft_field_invalid"]
    error = first.says[0].values["error"]
    assert error.startswith(message) and first.next_field == name
    assert getattr(talk.repo.get(first.draft.reference, talk.owner), name) in (None, [])
    # The same message again: the bot said that error last turn, so it is not sent twice in a row.
    again = talk.answer(Message(text, "inform"), name, first.draft.reference, said_last=[f"{error}."])
    assert responses(again) == ["utter_draft_still_invalid"]
    assert again.says[0].values == {"field": FIELD_LABELS[name].lower()} and again.next_field == name


def test_several_fields_in_one_message_are_saved_together_and_the_unasked_ones_confirmed(factory):
    talk = conversation(factory)
    turn = talk.answer(Message("member id ABC123456789, dob 3/4/1960, NPI 1234567890", "inform"), "member_id", None)
    assert (turn.draft.member_id, turn.draft.member_dob, turn.draft.ordering_npi) == (
        "ABC123456789",
        date(1960, 3, 4),
        None,
    )
    assert turn.says[0] == Say("utter_draft_updated", values={"confirmation": "Date of birth saved (**/04/1960)."})
    assert responses(turn)[1:] == ["utter_draft_field_invalid"] and turn.next_field == "ordering_npi"


# ---------------------------------------------------------------- a facility's name where the setting is asked
SETTING_ANSWERS = [
    # (answer where the setting is asked, setting saved, facility kept, what is said, next field)
    ("Springfield Orthopedic Surgery Center", "ambulatory_surgery_center", "Springfield Orthopedic Surgery Center",
     "Springfield Orthopedic Surgery Center is an ambulatory surgery center, so I've saved that as the setting.",
     "procedure_codes"),
    ("it's at Riverside Community Hospital", None, "Riverside Community Hospital",
     "Riverside Community Hospital is a hospital, so the setting is either outpatient hospital or inpatient.",
     "setting"),  # asked again: the form's question offers outpatient hospital and inpatient as buttons
    ("St. Luke's Medical Center", None, "St. Luke's Medical Center",
     "St. Luke's Medical Center is a hospital, so the setting is either outpatient hospital or inpatient.",
     "setting"),
    ("ambulatory surgery center", "ambulatory_surgery_center", "Mercy", "", "procedure_codes"),
    ("office", "office", "Mercy", "", "procedure_codes"),
]  # fmt: skip


@pytest.mark.parametrize("text, setting, facility, note, following", SETTING_ANSWERS)
def test_a_facility_name_given_where_the_setting_is_asked(factory, text, setting, facility, note, following):
    talk = conversation(factory)
    draft = talk.answer(Message(FIRST_SIX, "inform"), "member_id", None).draft
    turn = talk.answer(Message(text, "inform"), "setting", draft.reference)
    assert (turn.draft.setting, turn.draft.facility_name) == (setting, facility)
    assert [say.text for say in turn.says if say.text] == ([note] if note else [])
    assert "utter_draft_field_invalid" not in responses(turn)
    assert turn.next_field == following


def test_after_a_hospital_outpatient_alone_is_the_outpatient_hospital_and_asks_for_the_reason(factory):
    talk = conversation(factory)
    draft = talk.answer(Message(FIRST_SIX, "inform"), "member_id", None).draft
    draft = talk.answer(Message("Riverside Community Hospital", "inform"), "setting", draft.reference).draft
    turn = talk.answer(Message("outpatient", "inform"), "setting", draft.reference)
    assert turn.draft.setting == "outpatient_hospital" and turn.next_field == "procedure_codes"
    turn = talk.answer(Message("CPT 27447, dx M17.11, DOS 12/1", "inform"), "procedure_codes", draft.reference)
    assert turn.next_field == "site_of_care_reason"
    assert "In an outpatient hospital, certain musculoskeletal procedures also get a site-of-care review" in texts(turn)


# ---------------------------------------------------------------- the clock and the database are passed in
@pytest.mark.parametrize(
    "now, saved",
    [
        (datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc), date(2027, 3, 4)),
        (datetime(2027, 1, 10, 15, 0, tzinfo=timezone.utc), date(2027, 3, 4)),
        (datetime(2027, 3, 5, 15, 0, tzinfo=timezone.utc), date(2028, 3, 4)),
        (datetime(2027, 3, 5, 3, 0, tzinfo=timezone.utc), date(2027, 3, 4)),  # still March 4 in New York
    ],
)
def test_a_yearless_date_of_service_follows_the_clock_given(factory, now, saved):
    talk = conversation(factory, at=lambda: now)
    assert talk.answer(Message("3/4", "inform"), "date_of_service", None).draft.date_of_service == saved


def test_a_draft_in_a_database_file_resumes_in_a_new_conversation_where_it_stopped(tmp_path):
    url = f"sqlite:///{tmp_path / 'drafts.db'}"
    engine = make_engine(url)
    upgrade(engine)
    load_kb(engine, KB_DIR, SOURCES_DIR)
    first = Conversation(make_session_factory(engine), clock, "conversation-1")
    reference = first.answer(Message(FIRST_SIX, "inform"), "member_id", None).draft.reference
    engine.dispose()

    later = Conversation(make_session_factory(make_engine(url)), clock, "conversation-1")
    turn = later.answer(Message("", "show_draft"), None, None, resuming=True)  # no slots: a new session
    assert turn.draft.reference == reference and turn.next_field == "setting" and turn.says == []
    stranger = Conversation(make_session_factory(make_engine(url)), clock, "someone-else")
    assert stranger.form_draft(None).reference != reference


# ---------------------------------------------------------------- questions and commands leave the form
@pytest.mark.parametrize(
    "intent, text, expected, interrupts",
    [
        ("ask_validity", "wait, how long is the approval good for?", "member_dob", True),
        ("cancel_draft", "cancel it", "facility_name", True),
        ("ask_contact", "ABC123456789", "member_id", False),  # an ID classified as anything
        ("ask_site_of_care", "Mercy Hospital", "facility_name", False),
        ("ask_contact", "00-1234567", "ordering_tax_id", False),  # mistyped: told what is wrong
        ("ask_more", "on the moon", "setting", False),
        ("ask_more", "tell me more", "setting", True),
        ("inform", "what's the phone number?", "member_id", False),  # only question or command intents leave
    ],
)
def test_what_leaves_the_form_and_what_answers_it(factory, intent, text, expected, interrupts):
    talk = conversation(factory)
    raw = {expected: text}
    assert is_interruption(intent, text, expected, raw, talk.repo.validation_context()) is interrupts


def test_a_question_mid_form_is_handed_back_with_nothing_saved_or_said(factory):
    talk = conversation(factory)
    turn = talk.answer(Message("wait, how long is the approval good for?", "ask_validity"), "member_dob", None)
    assert turn.handed_back and turn.says == [] and turn.draft.member_dob is None


def test_what_is_left_is_answered_inside_the_form(factory):
    talk = conversation(factory)
    draft = talk.answer(Message(FIRST_SIX, "inform"), "member_id", None).draft
    turn = talk.answer(Message("what's left", "help"), "setting", draft.reference)
    assert texts(turn) == (
        f"Draft request {draft.reference} still needs 4 fields: Setting, Procedure codes, Diagnosis codes, "
        "Date of service."
    )
    assert turn.next_field == "setting" and not turn.handed_back


# ---------------------------------------------------------------- starting a draft
def test_a_request_is_prefilled_from_its_code_and_setting_and_says_what_it_will_face(factory):
    talk = conversation(factory)
    entities = (
        {"entity": "cpt_code", "value": "63030", "start": 18, "end": 23},
        {"entity": "setting", "value": "outpatient_hospital", "start": 31, "end": 39},
    )
    turn = talk.start(Message("start a draft for 63030 at the hospital", "request_draft", entities))
    assert turn.draft.procedure_codes == ["63030"] and turn.draft.setting == "outpatient_hospital"
    assert responses(turn)[:2] == ["utter_draft_started", "utter_draft_prefilled"]
    assert turn.says[1].values == {"fields": "Setting outpatient hospital; Procedure codes 63030"}
    assert turn.says[-1].payload["type"] == "priorauth.answer" and turn.outlook.startswith("review_required|")
    assert "needs AIM pre-service review" in turn.says[-1].text


def test_a_hospital_named_as_the_facility_in_a_request_is_not_a_setting(factory):
    talk = conversation(factory)
    entities = ({"entity": "setting", "value": "outpatient_hospital", "start": 28, "end": 36},)
    turn = talk.start(Message("new request, facility Mercy Hospital", "request_draft", entities))
    assert turn.draft.facility_name == "Mercy Hospital" and turn.draft.setting is None


@pytest.mark.parametrize(
    "earlier, code",
    [
        (Earlier("27447", ("M17.11",), "total_knee_replacement"), ["27447"]),  # just after the answer
        (None, []),  # no answer just before: nothing is remembered
    ],
)
def test_the_question_just_answered_fills_in_its_code(factory, earlier, code):
    turn = conversation(factory).start(Message("ok let's start one", "request_draft"), None, earlier)
    assert (turn.draft.procedure_codes or []) == code
    assert ("utter_draft_recalled" in responses(turn)) is bool(code)


def test_starting_twice_keeps_one_empty_draft_and_a_started_one_is_kept(factory):
    talk = conversation(factory)
    first = talk.start(Message("new request", "request_draft")).draft
    again = talk.start(Message("new request", "request_draft"), first.reference)
    assert again.draft.reference == first.reference and "utter_draft_previous_kept" not in responses(again)
    talk.answer(Message("ABC123456789", "inform"), "member_id", first.reference)
    other = talk.start(Message("new request", "request_draft"), first.reference)
    assert other.draft.reference != first.reference
    assert other.says[1] == Say("utter_draft_previous_kept", values={"reference": first.reference})


# ---------------------------------------------------------------- the rules' outlook, said when it changes
def test_the_outlook_is_said_only_when_it_changed(factory):
    talk = conversation(factory)
    draft = talk.start(Message("new request, CPT 27447", "request_draft")).draft
    said = talk.change(Message("change the setting to outpatient hospital", "change_draft"), draft.reference)
    assert said.outlook and "site-of-care review" in texts(said)
    same = talk.change(Message("change the dx to M17.11", "change_draft"), draft.reference, outlook_said=said.outlook)
    assert same.outlook is None and "What this request will face" not in texts(same)


# ---------------------------------------------------------------- export, list, show
def test_export_gives_the_bundle_only_where_it_can_be_shown_and_otherwise_what_is_missing(factory):
    talk = conversation(factory)
    draft = talk.start(Message("new request", "request_draft")).draft
    turn = talk.export(Message("export"), draft.reference, payload_shown=True)
    assert responses(turn) == ["utter_draft_not_ready"]
    assert turn.says[0].values["missing"].startswith("Member ID, Date of birth")
    complete = FIRST_SIX + ", setting ASC, CPT 27447, dx M17.11, DOS 12/1/2026"
    talk.answer(Message(complete, "inform"), "member_id", draft.reference)
    shown = talk.export(Message("export"), draft.reference, payload_shown=True)
    assert responses(shown) == ["utter_draft_exported"] and shown.says[0].payload["bundle"]["resourceType"] == "Bundle"
    widget = talk.export(Message("export"), draft.reference, payload_shown=False)
    assert responses(widget) == ["utter_draft_export_elsewhere"] and widget.says[0].payload is None


def test_the_summary_and_the_slots_mask_the_member(factory):
    talk = conversation(factory)
    draft = talk.answer(Message(FIRST_SIX, "inform"), "member_id", None).draft
    summary = talk.show(Message("what's my draft?"), draft.reference).says[0]
    assert summary.response == "utter_draft_summary" and summary.values["status"] == "in progress"
    assert "Member ID: ****6789" in summary.values["details"] and "ABC123456789" not in str(summary)
    shown = shown_fields(talk.show(Message("x"), draft.reference).masked_fields())
    assert shown["member_id"] == "****6789" and shown["member_dob"] == "**/**/1960" and shown["setting"] is None
    assert changes_text(summary_of(draft)["fields"], ["ordering_tax_id"]) == "Ordering provider tax ID 123456789"
    assert list_line(draft).endswith("(4 fields to go)")


# ---------------------------------------------------------------- what to say about one message
def test_a_report_confirms_then_notes_then_errors_then_warnings(factory):
    draft = conversation(factory).start(Message("new request", "request_draft")).draft
    error = FieldError("ordering_npi", "Ordering provider NPI must be 10 digits; got 12")
    intake = Intake(draft, draft, errors=[error], warnings=["a warning"], notes=["a note"])
    assert [say.response or say.text for say in report(intake)] == [
        "a note",
        "utter_draft_field_invalid",
        "utter_draft_warning",
    ]
    assert report(intake, [f"{error.message}."])[1].response == "utter_draft_still_invalid"


# ---------------------------------------------------------------- the conversation so far, and whose message
def user(text="hi"):
    return {"event": "user", "text": text}


def bot(text):
    return {"event": "bot", "text": text}


def action(name):
    return {"event": "action", "name": name}


EVENTS = [
    # (events, bot texts since the previous message, action before the message, another action since it)
    ([user(), action("action_answer"), bot("a"), action("action_listen"), user()], ["a"], "action_answer", False),
    ([user(), bot("a"), bot("b"), action("action_listen"), user(), action("draft_form")], ["b", "a"], None, False),
    ([user(), action("action_listen"), user(), action("action_answer")], [], None, True),
    ([user()], [], None, False),
]


@pytest.mark.parametrize("events, said, before, since", EVENTS)
def test_what_the_events_say_about_the_turn(events, said, before, since):
    assert bot_texts_since_previous_message(events) == said
    assert action_before_message(events) == before
    assert action_since_message(events, frozenset({"draft_form", "action_listen"})) is since


def test_only_an_answer_just_before_is_remembered():
    answered_first = [user(), action("action_answer"), user()]
    assert earlier_from(answered_first, "27447", ["M17.11"], None) == Earlier("27447", ("M17.11",), None)
    assert earlier_from([user(), action("utter_greet"), user()], "27447", None, None) is None


@pytest.mark.parametrize(
    "sender, metadata, owner",
    [
        ("conversation-1", {}, "conversation-1"),
        ("conversation-1", {"agent_id": "7"}, "conversation-1"),  # any REST client can send metadata
        ("agent:7:panel-1", {"agent_id": "7", "agent_proof": "forged"}, "unverified:agent:7:panel-1"),
        ("agent:7", {}, "unverified:agent:7"),
    ],
)
def test_an_unproved_agent_owns_nothing_of_any_agent(sender, metadata, owner):
    assert owner_of(sender, metadata, "m-1") == owner


@pytest.mark.parametrize(
    "error, reply",
    [
        (DraftAccessDenied("DR-7K3Q9P"), Say("utter_draft_not_yours", values={"reference": "DR-7K3Q9P"})),
        (DraftNotFound("DR-7K3Q9P"), Say("utter_draft_not_found", values={"reference": "DR-7K3Q9P"})),
        (DraftClosed("DR-7K3Q9P", "cancelled"), Say("utter_draft_closed", values={"reference": "DR-7K3Q9P"})),
        (ConcurrentUpdate("DR-7K3Q9P", 2, 3), None),  # not a refusal: the action asks to say it again
    ],
)
def test_a_draft_a_message_may_not_touch_is_refused_by_its_reference(error, reply):
    assert refusal(error) == reply


def test_someone_elses_draft_named_in_a_message_is_refused_not_shown(factory):
    owner = conversation(factory)
    reference = owner.answer(Message(FIRST_SIX, "inform"), "member_id", None).draft.reference
    with pytest.raises(DraftAccessDenied):
        conversation(factory).show(Message(f"show {reference.lower()}", "show_draft"), None)
