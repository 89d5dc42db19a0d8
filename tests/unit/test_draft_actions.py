"""The draft actions and the form's validation, with a real Tracker and CollectingDispatcher over
an in-memory database holding the knowledge base and the draft tables."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import OperationalError

from actions import backend
from actions.draft_form import ValidateDraftForm
from actions.drafts import (
    ActionAskCancelDraft,
    ActionCancelDraft,
    ActionChangeDraft,
    ActionDraftComplete,
    ActionExportDraft,
    ActionKeepDraft,
    ActionListDrafts,
    ActionShowDraft,
    ActionStartDraft,
)
from priorauth.agent_proof import sign_proof
from priorauth.db import make_engine, make_session_factory
from priorauth.drafts.intake import complete_service_date, draft_repository, read_fields
from priorauth.drafts.messages import is_interruption
from priorauth.drafts.references import reference_in
from priorauth.drafts.validators import FIELDS
from priorauth.kb.loader import load_kb
from priorauth.schema import upgrade
from tests.conftest import KB_DIR, ROOT, SOURCES_DIR

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)  # a Monday, 10:00 in New York
SENDER = "conversation-1"
MEMBER_ID = "ABC123456789"
ALL_BUT_SITE_OF_CARE = (
    f"member id {MEMBER_ID}, dob 3/4/1960, ordering NPI 1234567893, tax id 12-3456789, "
    "servicing NPI 1245319599, facility Mercy Surgery Center, setting ASC, CPT 27447, dx M17.11, DOS 12/1/2026"
)


def fixed_clock():  # passed to each action: NOW, a Monday
    return NOW


@pytest.fixture
def database():
    engine = make_engine("sqlite://")
    upgrade(engine)
    load_kb(engine, KB_DIR, SOURCES_DIR)
    return make_session_factory(engine)


def tracker(
    intent: str,
    text: str = "",
    entities=(),
    slots: dict | None = None,
    sender: str = SENDER,
    channel: str = "rest",
    metadata: dict | None = None,
    message_id: str | None = None,
    after: tuple[str, ...] = (),
    confidence: float = 0.95,
) -> Tracker:
    """A tracker whose latest message is ``text``; ``after`` names actions run since it."""
    events = [{"event": "user", "text": text, "input_channel": channel, "parse_data": {"intent": {"name": intent}}}]
    events += [{"event": "action", "name": name} for name in after]
    return Tracker.from_dict(
        {
            "sender_id": sender,
            "slots": slots or {},
            "latest_message": {
                "intent": {"name": intent, "confidence": confidence},
                "text": text,
                "entities": [dict(e) for e in entities],
                "metadata": metadata or {},
                "message_id": message_id,
            },
            "events": events,
            "latest_input_channel": channel,
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": after[-1] if after else "action_listen",
        }
    )


def run(action, t: Tracker):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, {}))
    return dispatcher.messages, {e["name"]: e["value"] for e in events if e["event"] == "slot"}, events


def texts(messages) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def responses(messages) -> list[str]:
    return [m.get("response") for m in messages if m.get("response")]


def repo(database):
    return draft_repository(database, fixed_clock)


def start(database, text="open a new review request", entities=(), sender=SENDER, metadata=None, message_id=None):
    messages, slots, _ = run(
        ActionStartDraft(database, fixed_clock),
        tracker("request_draft", text, entities, sender=sender, metadata=metadata, message_id=message_id),
    )
    return messages, slots


def answer(database, slots: dict, text: str, intent: str = "inform", sender: str = SENDER, clock=fixed_clock, **kwargs):
    t = tracker(intent, text, slots=slots, sender=sender, **kwargs)
    messages, new, events = run(ValidateDraftForm(database, clock), t)
    return messages, {**slots, **new}, events


# ---------------------------------------------------------------- starting a draft
def test_a_request_opens_a_draft_prefilled_from_its_code_and_setting(database):
    entities = [
        {"entity": "cpt_code", "value": "63030", "start": 18, "end": 23},
        {"entity": "setting", "value": "outpatient_hospital", "start": 31, "end": 39},
    ]
    messages, slots = start(database, "start a draft for 63030 at the hospital", entities)
    draft = repo(database).get(slots["draft_reference"], SENDER)
    assert draft.procedure_codes == ["63030"] and draft.setting == "outpatient_hospital"
    assert responses(messages)[:2] == ["utter_draft_started", "utter_draft_prefilled"]
    outlook = texts(messages)
    assert "63030 (Cervical/lumbar spinal discectomy) needs AIM pre-service review (Spine surgery)" in outlook
    assert "site-of-care review" in outlook and "\nSource: " in outlook
    assert slots["draft_open"] is True and slots["draft_setting"] == "outpatient hospital"
    assert slots["cpt_code"] == "63030"  # a question asked next knows the procedure


def test_a_procedure_named_in_words_gives_the_outlook_before_any_code(database):
    messages, slots = start(
        database,
        "I want to request auth for a total knee",
        [{"entity": "procedure", "value": "total_knee_replacement"}],
    )
    outlook = texts(messages)
    assert "Total knee replacement needs AIM pre-service review" in outlook
    assert (
        "If it is done in an outpatient hospital, certain musculoskeletal procedures also get a site-of-care "
        "review." in outlook
    )
    assert slots["draft_procedure_codes"] is None  # a name is not a code: the form asks for it


def test_labelled_fields_of_the_request_are_saved_and_an_unknown_code_is_kept_with_a_note(database):
    messages, slots = start(
        database, "new request, member id XYZ98765, CPT 99999", [{"entity": "cpt_code", "value": "99999"}]
    )
    draft = repo(database).get(slots["draft_reference"], SENDER)
    assert draft.member_id == "XYZ98765" and draft.procedure_codes == ["99999"]
    assert "utter_draft_warning" in responses(messages)
    assert "99999 is not in my knowledge base" in texts(messages)


def test_a_request_with_nothing_known_says_nothing_about_the_rules(database):
    messages, slots = start(database)
    assert responses(messages) == ["utter_draft_started"] and not texts(messages)
    assert slots["draft_open"] is True


# ---------------------------------------------------------------- the form
def form_slots(slots: dict, requested: str = "draft_member_id") -> dict:
    return {**slots, "requested_slot": requested}


def test_several_fields_in_one_message_are_all_saved(database):
    _, slots = start(database)
    messages, slots, _ = answer(database, form_slots(slots), ALL_BUT_SITE_OF_CARE)
    draft = repo(database).get(slots["draft_reference"], SENDER)
    assert draft.status == "ready" and draft.date_of_service == date(2026, 12, 1)
    assert slots["requested_slot"] is None  # nothing left: the form ends
    assert slots["draft_member_id"] == "****6789" and MEMBER_ID not in str(slots)
    assert "27447 (Total knee replacement) needs AIM pre-service review" in texts(messages)


def test_an_unlabelled_answer_fills_the_requested_field_and_the_next_missing_is_asked(database):
    _, slots = start(database)
    _, slots, _ = answer(database, form_slots(slots), MEMBER_ID)
    assert repo(database).get(slots["draft_reference"], SENDER).member_id == MEMBER_ID
    assert slots["requested_slot"] == "draft_member_dob"


@pytest.mark.parametrize(
    "requested, text, message",
    [
        ("draft_member_id", "12", "Member ID must be 5–20 letters and digits"),
        ("draft_member_dob", "3/4/2999", "Date of birth must be a date that is not in the future"),
        ("draft_ordering_npi", "1234567890", "Ordering provider NPI must be 10 digits with a valid check digit"),
        ("draft_ordering_tax_id", "00-1234567", "Ordering provider tax ID must be 9 digits like 12-3456789"),
        ("draft_setting", "on the moon", "Setting must be one of outpatient hospital"),
        ("draft_procedure_codes", "2744", "Procedure codes must be CPT codes"),
        ("draft_diagnosis_codes", "17.11", "Diagnosis codes must be ICD-10-CM codes like M17.11"),
        ("draft_date_of_service", "1/2/2020", "Date of service must be today (2026-11-23) or later"),
    ],
)
def test_an_invalid_answer_gets_its_own_message_is_not_stored_and_is_asked_again(database, requested, text, message):
    _, slots = start(database)
    _, slots, _ = answer(
        database, form_slots(slots), "facility Mercy West"
    )  # an earlier answer (its name says no setting)
    messages, slots, events = answer(database, form_slots(slots, requested), text)
    assert responses(messages) == ["utter_draft_field_invalid"]
    assert messages[0]["error"].startswith(message)
    assert slots["requested_slot"] == requested and slots[requested] is None
    draft = repo(database).get(slots["draft_reference"], SENDER)
    assert draft.facility_name == "Mercy West"  # kept
    assert getattr(draft, requested.removeprefix("draft_")) in (None, [])  # the bad value is not stored
    # A slot other than requested_slot is set, or Rasa would reject the form instead of re-asking.
    assert any(e["name"] != "requested_slot" for e in events if e["event"] == "slot")


def test_with_several_fields_the_valid_ones_are_saved_and_only_the_invalid_one_asked_again(database):
    _, slots = start(database)
    messages, slots, _ = answer(database, form_slots(slots), f"member id {MEMBER_ID}, dob 3/4/1960, NPI 1234567890")
    draft = repo(database).get(slots["draft_reference"], SENDER)
    assert draft.member_id == MEMBER_ID and draft.member_dob == date(1960, 3, 4) and draft.ordering_npi is None
    assert "got 1234567890" in next(m for m in messages if m["response"] == "utter_draft_field_invalid")["error"]
    assert messages[0]["confirmation"] == "Date of birth saved (**/04/1960)."  # given before it was asked
    assert slots["requested_slot"] == "draft_ordering_npi"


def test_a_correction_mid_form_changes_the_saved_field(database):
    _, slots = start(database)
    _, slots, _ = answer(database, form_slots(slots), ALL_BUT_SITE_OF_CARE.replace(", DOS 12/1/2026", ""))
    assert slots["requested_slot"] == "draft_date_of_service"
    _, slots, _ = answer(
        database, form_slots(slots, "draft_date_of_service"), "actually the member id is XYZ55555", "change_draft"
    )
    draft = repo(database).get(slots["draft_reference"], SENDER)
    assert draft.member_id == "XYZ55555"
    assert slots["requested_slot"] == "draft_date_of_service"


def test_an_outpatient_hospital_asks_for_the_site_of_care_reason_and_other_settings_do_not(database):
    _, slots = start(database)
    hospital = ALL_BUT_SITE_OF_CARE.replace("setting ASC", "setting outpatient hospital")
    messages, slots, _ = answer(database, form_slots(slots), hospital)
    assert slots["requested_slot"] == "draft_site_of_care_reason"
    assert "In an outpatient hospital, certain musculoskeletal procedures also get a site-of-care review" in texts(
        messages
    )
    reason = "Severe sleep apnea: needs overnight monitoring after surgery"
    _, slots, _ = answer(database, form_slots(slots, "draft_site_of_care_reason"), reason, "ask_site_of_care")
    draft = repo(database).get(slots["draft_reference"], SENDER)
    assert draft.site_of_care_reason == reason and draft.status == "ready"
    assert slots["requested_slot"] is None and slots["draft_site_of_care_reason"] == "given"


def test_a_question_mid_form_rejects_the_form_and_the_form_resumes_afterwards(database):
    _, slots = start(database)
    _, slots, _ = answer(database, form_slots(slots), f"member id {MEMBER_ID}")
    messages, _, events = answer(
        database, form_slots(slots, "draft_member_dob"), "wait, how long is the approval good for?", "ask_validity"
    )
    assert events == [] and messages == []  # nothing saved, nothing said: the rules take over
    messages, resumed, _ = answer(
        database,
        form_slots(slots, "draft_member_dob"),
        "wait, how long is the approval good for?",
        "ask_validity",
        after=("action_answer", "draft_form"),
    )
    assert messages == [] and resumed["requested_slot"] == "draft_member_dob"
    assert repo(database).get(slots["draft_reference"], SENDER).member_dob is None


@pytest.mark.parametrize(
    "intent, text, expected, interrupts",
    [
        ("ask_validity", "wait, how long is the approval good for?", "draft_member_dob", True),
        ("ask_contact", "what's the phone number", "draft_facility_name", True),
        ("show_draft", "where was I", "draft_member_id", True),
        ("cancel_draft", "cancel it", "draft_facility_name", True),
        ("list_drafts", "show my drafts", "draft_setting", True),
        ("request_draft", "start a draft for 63030", "draft_member_id", True),
        ("ask_contact", MEMBER_ID, "draft_member_id", False),  # an ID classified as anything
        ("ask_site_of_care", "Mercy Hospital", "draft_facility_name", False),
        (
            "ask_site_of_care",
            "the patient needs overnight monitoring after surgery",
            "draft_site_of_care_reason",
            False,
        ),
        ("greet", "dob 3/4/1960", "draft_member_id", False),  # a labelled answer
        ("ask_contact", "00-1234567", "draft_ordering_tax_id", False),  # mistyped: told what is wrong
        ("ask_review_required", "ordering NPI 1234567890", "draft_member_id", False),
        ("ask_rehab", "tell me about therapy visits", "draft_facility_name", True),
        ("nlu_fallback", "blorp", "draft_member_id", False),  # an answer, invalid: asked again
        ("change_draft", "change the date of service to 3/4", "draft_member_id", False),
        (
            "out_of_scope",
            "BMI 45 and severe sleep apnea, needs overnight monitoring",
            "draft_site_of_care_reason",
            False,
        ),
        ("out_of_scope", "what's the copay for this?", "draft_site_of_care_reason", True),
        ("ask_more", "on the moon", "draft_setting", False),  # a wrong setting, not "More"
        ("ask_more", "tell me more", "draft_setting", True),
    ],
)
def test_questions_and_commands_interrupt_the_form_answers_do_not(database, intent, text, expected, interrupts):
    field = expected.removeprefix("draft_")
    raw = read_fields(text, NOW.date(), expected=field)
    assert is_interruption(intent, text, field, raw, repo(database).validation_context()) is interrupts


# ---------------------------------------------------------------- summary, change, resume
def filled(database, text=ALL_BUT_SITE_OF_CARE, sender=SENDER):
    _, slots = start(database, sender=sender)
    _, slots, _ = answer(database, form_slots(slots), text, sender=sender)
    return slots


def test_the_summary_masks_the_member_id_and_birth_date(database):
    slots = filled(database)
    messages, shown, _ = run(
        ActionShowDraft(database, fixed_clock), tracker("show_draft", "what's my draft?", slots=slots)
    )
    details = messages[0]["details"]
    assert messages[0]["response"] == "utter_draft_summary" and messages[0]["status"] == "ready to export"
    assert "Member ID: ****6789" in details and "Date of birth: **/**/1960" in details
    assert MEMBER_ID not in str(messages) and "03-04" not in str(messages)
    assert messages[0]["custom"]["type"] == "priorauth.draft" and shown["draft_open"] is False


def test_a_new_session_finds_the_latest_open_draft_and_continues_the_form(database):
    _, slots = start(database)
    answer(database, form_slots(slots), f"member id {MEMBER_ID}")
    messages, shown, _ = run(
        ActionShowDraft(database, fixed_clock), tracker("show_draft", "where was I")
    )  # no slots: a new session
    assert shown["draft_reference"] == slots["draft_reference"] and shown["draft_open"] is True
    assert "Still needed: Date of birth" in messages[0]["details"]


def test_change_the_date_of_service_without_a_year_takes_its_next_occurrence(database):
    slots = filled(database)
    messages, changed, _ = run(
        ActionChangeDraft(database, fixed_clock),
        tracker("change_draft", "change the date of service to 3/4", slots=slots),
    )
    assert repo(database).get(slots["draft_reference"], SENDER).date_of_service == date(2027, 3, 4)
    assert messages[0]["response"] == "utter_draft_updated"
    assert messages[0]["confirmation"] == "Date of service updated (03/04/2027)."
    assert changed["draft_open"] is False  # still complete: no form


def test_an_invalid_change_is_refused_and_the_old_value_kept(database):
    slots = filled(database)
    messages, _, _ = run(
        ActionChangeDraft(database, fixed_clock), tracker("change_draft", "update the NPI to 1234567890", slots=slots)
    )
    assert responses(messages) == ["utter_draft_field_invalid"]
    assert repo(database).get(slots["draft_reference"], SENDER).ordering_npi == "1234567893"


def test_changing_the_setting_to_a_hospital_reopens_the_form_for_the_reason(database):
    slots = filled(database)
    messages, changed, _ = run(
        ActionChangeDraft(database, fixed_clock),
        tracker("change_draft", "change the setting to outpatient hospital", slots=slots),
    )
    assert changed["draft_open"] is True and "also get a site-of-care review" in texts(messages)
    messages, changed, _ = run(
        ActionChangeDraft(database, fixed_clock), tracker("change_draft", "setting ASC", slots={**slots, **changed})
    )
    assert "Outside an outpatient hospital it needs no additional site-of-care review." in texts(messages)


# ---------------------------------------------------------------- cancel, list, export
def test_cancel_asks_first_then_cancels_only_when_confirmed(database):
    slots = filled(database)
    messages, asked, _ = run(
        ActionAskCancelDraft(database, fixed_clock), tracker("cancel_draft", "cancel it", slots=slots)
    )
    assert messages[0]["response"] == "utter_draft_ask_cancel"
    assert repo(database).get(slots["draft_reference"], SENDER).status == "ready"
    slots = {**slots, **asked}
    messages, kept, _ = run(ActionKeepDraft(database, fixed_clock), tracker("deny", "no", slots=slots))
    assert messages[0]["response"] == "utter_draft_kept" and kept["draft_reference"] == slots["draft_reference"]
    messages, cancelled, _ = run(ActionCancelDraft(database, fixed_clock), tracker("affirm", "yes", slots=slots))
    assert messages[0]["response"] == "utter_draft_cancelled"
    assert repo(database).get(slots["draft_reference"], SENDER).status == "cancelled"
    assert cancelled["draft_reference"] is None and cancelled["draft_member_id"] is None


def test_list_shows_the_owners_drafts_only(database):
    mine = filled(database)["draft_reference"]
    start(database, sender="someone-else")
    messages, _, _ = run(ActionListDrafts(database, fixed_clock), tracker("list_drafts", "show my drafts"))
    assert mine in messages[0]["drafts"] and "ready to export, 27447" in messages[0]["drafts"]
    assert messages[0]["drafts"].count("DR-") == 1


def test_a_reference_named_in_a_list_request_is_that_draft_for_its_owner_only(database):
    mine = filled(database)["draft_reference"]
    text = f"show draft {mine}"
    messages, _, _ = run(ActionListDrafts(database, fixed_clock), tracker("list_drafts", text, sender="someone-else"))
    assert responses(messages) == ["utter_draft_not_yours"] and messages[0]["reference"] == mine
    messages, _, _ = run(ActionListDrafts(database, fixed_clock), tracker("list_drafts", text))
    assert mine in json.dumps(messages) and "utter_draft_list" not in responses(messages)


@pytest.mark.parametrize("intent", ["nlu_fallback", "out_of_scope"])
def test_a_reference_the_classifier_did_not_read_still_shows_that_draft_to_its_owner_only(
    database, intent, monkeypatch
):
    # The fallback is where a misread "show me DR-…" ends; it must not ask to rephrase.
    from actions.fallback import ActionFallback

    monkeypatch.setattr(backend, "_factory", database)  # the fallback's draft lookup uses the action server's own
    mine = filled(database)["draft_reference"]
    text = f"show me {mine.lower()}"
    messages, _, _ = run(ActionFallback(), tracker(intent, text, sender="someone-else"))
    assert responses(messages) == ["utter_draft_not_yours"] and messages[0]["reference"] == mine
    messages, _, _ = run(ActionFallback(), tracker(intent, text))
    assert mine in json.dumps(messages) and "utter_ask_rephrase" not in responses(messages)


def test_export_of_a_ready_draft_returns_the_pas_bundle_in_the_payload(database):
    slots = filled(database)
    messages, _, _ = run(
        ActionExportDraft(database, fixed_clock), tracker("export_draft", "export the draft", slots=slots)
    )
    assert messages[0]["response"] == "utter_draft_exported"
    bundle = messages[0]["custom"]["bundle"]
    claim = bundle["entry"][0]["resource"]
    assert bundle["resourceType"] == "Bundle" and claim["use"] == "preauthorization"
    widget, _, _ = run(
        ActionExportDraft(database, fixed_clock), tracker("export_draft", "export", slots=slots, channel="socketio")
    )
    assert widget[0]["response"] == "utter_draft_export_elsewhere" and not widget[0].get("custom")


def test_export_of_an_incomplete_draft_says_what_is_missing(database):
    _, slots = start(database)
    messages, _, _ = run(
        ActionExportDraft(database, fixed_clock), tracker("export_draft", "export the draft", slots=slots)
    )
    assert messages[0]["response"] == "utter_draft_not_ready"
    assert messages[0]["missing"].startswith("Member ID, Date of birth, Ordering provider NPI")


def test_the_form_completing_says_the_draft_is_ready(database):
    slots = filled(database)
    messages, done, _ = run(ActionDraftComplete(database, fixed_clock), tracker("inform", "DOS 12/1/2026", slots=slots))
    assert messages[0]["response"] == "utter_draft_complete" and done["draft_open"] is False


# ---------------------------------------------------------------- owners
@pytest.mark.parametrize(
    "action, intent, text",
    [
        (ActionShowDraft, "show_draft", "show draft {ref}"),
        (ActionChangeDraft, "change_draft", "change the date of service of {ref} to 3/4"),
        (ActionExportDraft, "export_draft", "export {ref}"),
        (ActionAskCancelDraft, "cancel_draft", "cancel {ref}"),
    ],
)
def test_another_conversation_can_neither_read_nor_change_a_draft(database, action, intent, text):
    reference = filled(database)["draft_reference"]
    messages, _, _ = run(
        action(database, fixed_clock), tracker(intent, text.format(ref=reference.lower()), sender="intruder")
    )
    assert responses(messages) == ["utter_draft_not_yours"] and messages[0]["reference"] == reference
    assert "6789" not in str(messages) and "27447" not in str(messages)
    assert repo(database).get(reference, SENDER).date_of_service == date(2026, 12, 1)


CHANNEL_SECRET = "c" * 40
AGENT_SENDER = "agent:7:panel-1"


def proved(agent_id="7", sender=AGENT_SENDER, message_id="m-1", secret=CHANNEL_SECRET) -> dict:
    """Metadata as the agent channel sends it for one message."""
    return {"agent_id": agent_id, "agent_proof": sign_proof(secret, sender, agent_id, message_id)}


def test_a_message_the_agent_channel_proved_is_owned_by_the_agent(database, monkeypatch):
    monkeypatch.setenv("PRIORAUTH_AGENT_CHANNEL_SECRET", CHANNEL_SECRET)
    _, slots = start(database, sender=AGENT_SENDER, metadata=proved(), message_id="m-1")
    reference = slots["draft_reference"]
    assert repo(database).get(reference, "agent:7").owner == "agent:7"
    # The same agent in another panel session sees it; a provider's conversation does not.
    other_session = "agent:7:panel-2"
    messages, _, _ = run(
        ActionShowDraft(database, fixed_clock),
        tracker(
            "show_draft",
            f"show {reference}",
            sender=other_session,
            metadata=proved(sender=other_session, message_id="m-2"),
            message_id="m-2",
        ),
    )
    assert responses(messages) == ["utter_draft_summary"]
    messages, _, _ = run(ActionShowDraft(database, fixed_clock), tracker("show_draft", f"show {reference}"))
    assert responses(messages) == ["utter_draft_not_yours"]


@pytest.mark.parametrize(
    ("sender", "metadata", "owner"),
    [
        (SENDER, {"agent_id": "7"}, SENDER),  # any REST client can send metadata
        (SENDER, proved(sender=SENDER), SENDER),  # a proof for another conversation
        (AGENT_SENDER, {"agent_id": "7", "agent_proof": "forged"}, f"unverified:{AGENT_SENDER}"),
        (AGENT_SENDER, proved(secret="d" * 40), f"unverified:{AGENT_SENDER}"),
        (AGENT_SENDER, proved(message_id="an-earlier-message"), f"unverified:{AGENT_SENDER}"),  # replayed
        ("agent:8:panel-1", proved(sender="agent:8:panel-1"), "unverified:agent:8:panel-1"),  # another agent's
        ("agent:7", {}, "unverified:agent:7"),  # a socket.io session id in the agents' namespace
    ],
)
def test_an_agent_id_the_channel_did_not_prove_gives_no_agent_rights(database, monkeypatch, sender, metadata, owner):
    monkeypatch.setenv("PRIORAUTH_AGENT_CHANNEL_SECRET", CHANNEL_SECRET)
    _, slots = start(database, sender=sender, metadata=metadata, message_id="m-1")
    assert repo(database).get(slots["draft_reference"], owner).owner == owner


# ---------------------------------------------------------------- dates, storage failures, logs
@pytest.mark.parametrize(
    "raw, expected",
    [
        ("3/4", "3/4/2027"),
        ("12/1", "12/1/2026"),
        ("11/23", "11/23/2026"),
        ("Dec 2nd", "12/2/2026"),
        ("3/4/27", "3/4/2027"),
        ("2/30", "2/30"),
        ("12/1/2026", "12/1/2026"),
        ("next week", "next week"),
    ],
)
def test_a_date_of_service_without_a_year_is_its_next_occurrence(raw, expected):
    assert complete_service_date(raw, NOW.date()) == expected


def test_a_date_of_service_before_the_program_started_is_refused(database):
    _, slots = start(database)
    in_2020 = lambda: datetime(2020, 10, 1, 15, 0, tzinfo=timezone.utc)  # noqa: E731
    messages, slots, _ = answer(
        database, form_slots(slots, "draft_procedure_codes"), "CPT 28285, DOS 10/15/2020", clock=in_2020
    )
    assert "on or after 2020-11-01" in messages[0]["error"]  # small joint surgery began Nov 1, 2020
    assert slots["requested_slot"] == "draft_date_of_service"


class BrokenDatabase:
    """A session factory whose database is down: every session and transaction fails to connect."""

    def __init__(self, detail: str = "database is down") -> None:
        self.detail = detail

    def __call__(self):
        raise OperationalError("select 1", {}, Exception(self.detail))

    begin = __call__


def test_a_storage_failure_gets_a_clear_reply_and_keeps_the_form_on_its_field():
    broken = BrokenDatabase()
    messages, slots, events = answer(broken, {"requested_slot": "draft_member_dob"}, "3/4/1960")
    assert responses(messages) == ["utter_service_unavailable"] and slots["requested_slot"] == "draft_member_dob"
    messages, slots, _ = run(ActionStartDraft(broken, fixed_clock), tracker("request_draft", "new request"))
    assert responses(messages) == ["utter_service_unavailable"] and slots == {"draft_open": False}


def test_no_field_value_or_message_text_reaches_the_logs(database, caplog):
    caplog.set_level(logging.DEBUG)
    _, slots = start(database, f"new request, member id {MEMBER_ID}")
    answer(database, form_slots(slots, "draft_member_dob"), "dob 3/4/1960, NPI 1234567890")
    run(ActionShowDraft(database, fixed_clock), tracker("show_draft", "what's my draft?", slots=slots))

    answer(
        BrokenDatabase(f"member {MEMBER_ID}"), {"requested_slot": "draft_member_dob"}, f"dob 3/4/1960 for {MEMBER_ID}"
    )
    assert caplog.records  # the failure was logged …
    for needle in (MEMBER_ID, "1960", "1234567890"):
        assert needle not in caplog.text  # … without what the user typed


def test_every_field_has_a_slot_an_ask_response_and_a_place_in_the_form():
    domain = yaml.safe_load(Path(ROOT / "domain.yml").read_text())
    assert domain["forms"]["draft_form"]["required_slots"] == [f"draft_{name}" for name in FIELDS]
    for name in FIELDS:  # the form asks each with `utter_ask_<slot>`, which Rasa finds by name
        assert f"draft_{name}" in domain["slots"] and f"utter_ask_draft_{name}" in domain["responses"]
    assert domain["slots"]["draft_open"]["influence_conversation"] is True


@pytest.mark.parametrize(
    "text, reference",
    [
        ("show DR-7K3Q9P", "DR-7K3Q9P"),
        ("export dr 7k3q9p please", "DR-7K3Q9P"),
        ("cancel DR7K3Q9P", "DR-7K3Q9P"),
        ("show dr-hkmpqr", "DR-HKMPQR"),
        ("the draft for Dr Parker", None),  # a name, not a reference
        ("referring provider DR PARKER", None),
        ("show my draft", None),
    ],
)
def test_a_reference_typed_in_a_message_is_recognized(text, reference):
    assert reference_in(text) == reference


# ---------------------------------------------------------------- python -m priorauth export
def test_the_cli_exports_a_ready_draft_for_its_owner_only(tmp_path, capsys):
    from priorauth import cli

    url = f"sqlite:///{tmp_path / 'drafts.db'}"
    engine = make_engine(url)
    upgrade(engine)
    complete = read_fields(ALL_BUT_SITE_OF_CARE, NOW.date())
    draft = repo(make_session_factory(engine)).open(SENDER, complete)
    engine.dispose()

    assert cli.main(["export", draft.reference.lower(), "--owner", SENDER, "--database-url", url]) == 0
    bundle = json.loads(capsys.readouterr().out)
    assert bundle["entry"][0]["resource"]["use"] == "preauthorization"
    assert cli.main(["export", draft.reference, "--owner", "someone-else", "--database-url", url]) == 1
    assert f"draft request {draft.reference} belongs to someone else" in capsys.readouterr().err


def test_the_action_server_registers_every_draft_action_named_in_the_domain():
    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package("actions")
    domain = yaml.safe_load(Path(ROOT / "domain.yml").read_text())
    draft_actions = {name for name in domain["actions"] if "draft" in name}
    assert draft_actions <= set(executor.actions)
