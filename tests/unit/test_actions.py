"""The thin actions, run with a real Tracker and CollectingDispatcher over an in-memory knowledge base."""

from __future__ import annotations

import asyncio

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import OperationalError

from actions import backend
from actions.answer import ActionAnswer
from actions.fallback import ActionFallback, ActionOutOfScope
from priorauth.db import make_engine, make_session_factory
from priorauth.kb.loader import load_kb
from priorauth.schema import upgrade
from tests.conftest import KB_DIR, SOURCES_DIR


@pytest.fixture(autouse=True)
def kb(monkeypatch):
    engine = make_engine("sqlite://")
    upgrade(engine)
    load_kb(engine, KB_DIR, SOURCES_DIR)
    monkeypatch.setattr(backend, "_factory", make_session_factory(engine))
    yield
    backend.reset()


def tracker(intent, text="", entities=(), slots=None, channel="rest", events=None):
    return Tracker.from_dict(
        {
            "sender_id": "test",
            "slots": slots or {},
            "latest_message": {
                "intent": {"name": intent, "confidence": 0.99},
                "text": text,
                "entities": [{"entity": e, "value": v} for e, v in entities],
            },
            "events": events
            or [{"event": "user", "text": text, "input_channel": channel, "parse_data": {"intent": {"name": intent}}}],
            "latest_input_channel": channel,
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        }
    )


def run(action, t):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, {}))
    # The slots after the turn: the tracker's, with the turn's SlotSet events applied (it sets only what changed).
    return dispatcher.messages, {**t.slots, **{e["name"]: e["value"] for e in events if e["event"] == "slot"}}


def test_validity_of_pain_management_from_the_knowledge_base():
    messages, slots = run(
        ActionAnswer(),
        tracker("ask_validity", "how long is a pain management approval valid?", [("program", "interventional_pain")]),
    )
    assert "10 business days" in messages[0]["text"]
    assert "unless otherwise required by state law" in messages[0]["text"].lower()
    assert "\nSource: AIM Musculoskeletal Program FAQ (002_7692799ea26ffc45.txt)" in messages[0]["text"]
    assert messages[0]["custom"]["sources"] == ["002"]
    assert slots["last_topic"] == "validity"


def test_a_follow_up_reuses_the_last_topic_with_the_new_procedure():
    messages, slots = run(
        ActionAnswer(),
        tracker(
            "inform",
            "and for a hip?",
            [("procedure", "total_hip_replacement")],
            slots={"last_topic": "validity", "program": "interventional_pain"},
        ),
    )
    assert "60 calendar days" in messages[0]["text"] and "10 business days" not in messages[0]["text"]
    assert slots["program"] is None and slots["procedure"] == "total_hip_replacement"


def test_a_new_setting_keeps_the_procedure():
    messages, slots = run(
        ActionAnswer(),
        tracker(
            "inform",
            "what about in the ER?",
            [("setting", "emergency")],
            slots={"last_topic": "review_requirement", "cpt_code": "27447"},
        ),
    )
    assert messages[0]["text"].startswith("No:")
    assert slots["cpt_code"] == "27447" and slots["setting"] == "emergency"


def test_review_question_without_a_procedure_asks_for_one():
    messages, slots = run(ActionAnswer(), tracker("ask_review_required", "does it need prior auth?"))
    assert messages[0]["response"] == "utter_ask_which_procedure"
    assert slots["last_topic"] == "review_requirement"


def test_the_widget_gets_text_only_and_the_rest_channel_the_payload_too():
    rest, _ = run(ActionAnswer(), tracker("ask_contact", "phone?", channel="rest"))
    assert rest[0]["custom"]["topic"] == "contact"
    messages, _ = run(
        ActionAnswer(), tracker("ask_contact", "what are the phone numbers and hours?", channel="socketio")
    )
    assert not messages[0].get("custom")
    assert "1-877-291-0360" in messages[0]["text"] and "PT" in messages[0]["text"]
    # Markdown for the widget: a hard line break before the Source line, no blank line, no list marker.
    assert "  \nSource: " in messages[0]["text"] and "\n\n" not in messages[0]["text"]
    assert "\n- " not in messages[0]["text"]


def test_a_database_failure_gives_a_clear_reply(monkeypatch):
    def broken():
        raise OperationalError("select 1", {}, Exception("database is down"))

    monkeypatch.setattr(backend, "session_factory", broken)
    messages, _ = run(
        ActionAnswer(), tracker("ask_validity", "validity for TKA", [("procedure", "total_knee_replacement")])
    )
    assert messages[0]["response"] == "utter_service_unavailable"


def test_fallback_asks_to_rephrase_then_offers_a_person():
    messages, _ = run(ActionFallback(), tracker("nlu_fallback", "blorp"))
    assert messages[0]["response"] == "utter_ask_rephrase"
    events = [
        {"event": "user", "text": "blorp"},
        {"event": "bot", "text": "Sorry", "metadata": {"utter_action": "utter_ask_rephrase"}},
        {"event": "rewind"},
        {"event": "user", "text": "blorp again"},
    ]
    messages, _ = run(ActionFallback(), tracker("nlu_fallback", "blorp again", events=events))
    assert messages[0]["response"] == "utter_offer_human"


def test_doubt_between_two_questions_is_answered_not_refused():
    t = tracker(
        "nlu_fallback",
        "for Medicare in NJ",
        [("line_of_business", "medicare"), ("state", "NJ")],
        slots={"last_topic": "rehabilitation"},
    )
    t.latest_message["intent_ranking"] = [
        {"name": "nlu_fallback", "confidence": 0.4},
        {"name": "inform", "confidence": 0.48},
        {"name": "ask_rehab", "confidence": 0.46},
    ]
    messages, _ = run(ActionFallback(), t)
    assert "FL, NJ and NY" in messages[0]["text"]


def test_a_program_with_a_review_question_shape_is_answered_as_a_review_question():
    t = tracker("nlu_fallback", "rad onc - AIM?", [("program", "radiation_oncology")])
    t.latest_message["intent_ranking"] = [
        {"name": "nlu_fallback", "confidence": 0.4},
        {"name": "ask_review_required", "confidence": 0.24},
        {"name": "ask_contact", "confidence": 0.2},
    ]
    messages, _ = run(ActionFallback(), t)
    first = messages[0]["text"].split("\n")[0]
    assert "Anthem Blue Cross" in first and "radiation oncology" in first and "register" not in messages[0]["text"]


def test_doubt_between_a_question_and_chit_chat_asks_to_rephrase():
    t = tracker("nlu_fallback", "cool")
    t.latest_message["intent_ranking"] = [
        {"name": "nlu_fallback", "confidence": 0.4},
        {"name": "affirm", "confidence": 0.38},
        {"name": "ask_validity", "confidence": 0.35},
    ]
    messages, _ = run(ActionFallback(), t)
    assert messages[0]["response"] == "utter_ask_rephrase"


def test_an_answer_has_no_blank_line_so_rasa_keeps_it_one_message_with_its_payload():
    messages, _ = run(ActionAnswer(), tracker("ask_peer_to_peer", "p2p window"))
    assert "\n\n" not in messages[0]["text"]
    assert "\nSource: AIM Musculoskeletal Program FAQ (002_" in messages[0]["text"]


def test_a_short_answer_offers_more_and_more_gives_the_whole_topic():
    messages, _ = run(ActionAnswer(), tracker("ask_review_process", "can a nurse deny the request?"))
    short = messages[0]
    assert short["buttons"] == [{"title": "More", "payload": "/ask_more"}]
    assert short["text"].startswith("If the physician reviewer cannot approve the case")
    assert len(short["text"]) < len(short["custom"]["full_text"])
    from actions.answer import ActionAnswerMore

    more, _ = run(ActionAnswerMore(), tracker("ask_more", "/ask_more", slots={"last_topic": "review_process"}))
    assert more[0]["text"] == short["custom"]["full_text"] and not more[0]["buttons"]
    assert "registered nurse (RN)" in more[0]["text"] and "order number" in more[0]["text"]


def test_more_with_nothing_asked_yet_says_so():
    from actions.answer import ActionAnswerMore

    messages, _ = run(ActionAnswerMore(), tracker("ask_more", "/ask_more"))
    assert messages[0]["response"] == "utter_more_nothing"


def test_an_unsure_classifier_gets_an_answer_from_the_facts_and_the_turn_ends():
    t = tracker("nlu_fallback", "privileges at a surgery center — grace period?")
    t.latest_message["intent_ranking"] = [
        {"name": "nlu_fallback", "confidence": 0.4},
        {"name": "affirm", "confidence": 0.3},
        {"name": "ask_validity", "confidence": 0.1},
    ]
    messages, events = run_events(ActionFallback(), t)
    assert "grace period" in messages[0]["text"]
    assert events[-1] == {"event": "followup", "timestamp": None, "name": "action_listen"}


def run_events(action, t):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, {}))
    return dispatcher.messages, events


def _out_of_scope(text, entities=(), runner_up=("ask_contact", 0.05), slots=None):
    t = tracker("out_of_scope", text, entities, slots=slots)
    t.latest_message["intent_ranking"] = [
        {"name": "out_of_scope", "confidence": 0.7},
        {"name": runner_up[0], "confidence": runner_up[1]},
    ]
    return run(ActionOutOfScope(), t)


def test_out_of_scope_is_said_when_nothing_in_the_message_is_in_scope():
    messages, _ = _out_of_scope("how much does Anthem pay for a knee replacement?", runner_up=("ask_validity", 0.1))
    assert [m.get("response") for m in messages] == ["utter_out_of_scope"]


def test_a_named_procedure_asked_about_is_never_out_of_scope():
    messages, slots = _out_of_scope("is a lumbar laminectomy subject to AIM review?", [("procedure", "laminectomy")])
    assert messages[0]["text"].startswith("Yes: Cervical/lumbar spinal laminectomy"), messages[0]["text"]
    assert slots["last_topic"] == "review_requirement"


def test_a_facet_procedure_after_a_fusion_gets_the_guideline_then_keeps_it():
    text = "can we do a medial branch block on someone already fused at L4-5?"
    messages, slots = _out_of_scope(text, [("procedure", "facet_joint_injection")])
    assert "not medically necessary after spinal fusion" in messages[0]["text"], messages[0]["text"]
    follow_up = run(
        ActionAnswer(),
        tracker("inform", "what about an RFA then", [("procedure", "facet_radiofrequency_ablation")], slots=slots),
    )[0]
    assert "not medically necessary after spinal fusion" in follow_up[0]["text"]
    assert not follow_up[0]["text"].startswith("Yes")


def test_an_out_of_scope_runner_up_question_confirmed_by_the_facts_is_answered():
    text = "where can we look up network surgery centers for this member?"
    messages, _ = _out_of_scope(text, [("setting", "ambulatory_surgery_center")], runner_up=("ask_site_of_care", 0.2))
    assert "health plan website" in messages[0]["text"], messages[0]["text"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("trigger pt inj - AIM?", "My sources don't list “trigger pt inj” among the services AIM reviews."),
        ("does acupuncture need prior auth?", "My sources don't list “acupuncture” among the services AIM reviews."),
    ],
)
def test_a_review_question_about_something_unlisted_is_answered_so_not_refused(text, said):
    t = tracker("nlu_fallback", text)
    t.latest_message["intent_ranking"] = [{"name": "nlu_fallback", "confidence": 0.5}]
    messages, _ = run(ActionFallback(), t)
    assert messages[0]["text"].startswith(said) and "ID card" in messages[0]["text"], messages[0]["text"]


def test_a_message_that_is_not_a_review_question_is_still_asked_to_rephrase():
    t = tracker("nlu_fallback", "what is AIM?")
    t.latest_message["intent_ranking"] = [{"name": "nlu_fallback", "confidence": 0.5}]
    messages, _ = run(ActionFallback(), t)
    assert messages[0]["response"] == "utter_ask_rephrase"


def test_a_procedure_in_a_setting_read_as_out_of_scope_is_decided():
    entities = [("procedure", "shoulder_arthroscopy"), ("setting", "outpatient_hospital")]
    messages, _ = _out_of_scope("shoulder scope at the HOPD, anything else we should know?", entities)
    assert "site-of-care review" in messages[0]["text"], messages[0]["text"]


@pytest.mark.parametrize(
    ("text", "entities"),
    [
        (
            "Aetna member with a spinal cord stimulator planned, precert needed?",
            [("procedure", "spinal_cord_stimulator")],
        ),
        ("how much is the reimbursement on CPT 27447 in a surgery center", [("cpt_code", "27447")]),
        ("is there a copay for a knee arthroscopy?", [("procedure", "knee_arthroscopy")]),
    ],
)
def test_another_payer_or_payment_is_out_of_scope_whatever_procedure_it_names(text, entities):
    messages, _ = run(ActionAnswer(), tracker("ask_review_required", text, entities))
    assert [m.get("response") for m in messages] == ["utter_out_of_scope"]


def test_a_review_question_about_the_same_procedure_is_still_answered():
    text = "does a spinal cord stimulator need prior auth"
    messages, _ = run(ActionAnswer(), tracker("ask_review_required", text, [("procedure", "spinal_cord_stimulator")]))
    assert messages[0]["text"].startswith("Yes: Implanted spinal cord stimulators"), messages[0]["text"]


@pytest.mark.parametrize(
    "intent, text, unlisted",
    [
        ("ask_review_process", "does AIM review power wheelchairs or other DME?", "power wheelchairs or other DME"),
        ("ask_program_services", "is chiropractic care reviewed by AIM?", "chiropractic care"),
        ("ask_review_process", "does AIM review requests in real time?", None),
        ("ask_review_process", "does AIM review medical necessity or just the codes?", None),
        ("ask_review_process", "does AIM review outpatient procedures?", None),
        ("ask_program_services", "does AIM review elective surgeries?", None),
    ],
)
def test_a_kind_of_service_the_sources_do_not_name_is_said_to_be_unlisted(intent, text, unlisted):
    messages, _ = run(ActionAnswer(), tracker(intent, text))
    first = messages[0]["text"].split("\n")[0]
    if unlisted:
        assert first == f"My sources don't list “{unlisted}” among the services AIM reviews."
        assert "ID card" in messages[0]["text"]
    else:
        assert "My sources don't list" not in messages[0]["text"]


def test_a_review_question_about_a_place_after_a_procedure_is_about_that_procedure():
    t = tracker("nlu_fallback", "does AIM review it in the hospital too?", slots={"procedure": "shoulder_arthroplasty"})
    t.latest_message["intent_ranking"] = [
        {"name": "nlu_fallback", "confidence": 0.4},
        {"name": "ask_review_process", "confidence": 0.24},
        {"name": "ask_review_required", "confidence": 0.18},
    ]
    messages, _ = run(ActionFallback(), t)
    assert "Shoulder arthroplasty" in messages[0]["text"] and "don't list" not in messages[0]["text"]


def test_a_terse_fax_question_gets_the_contact_answer_saying_there_is_no_fax_number():
    t = tracker("nlu_fallback", "AIM fax?")
    t.latest_message["intent_ranking"] = [{"name": "nlu_fallback", "confidence": 0.4}]
    messages, _ = run(ActionFallback(), t)
    assert messages[0]["text"].startswith("My sources give no fax number for AIM")


def test_an_answer_ends_the_turn_outside_the_form_and_leaves_the_form_to_the_policies():
    outside = tracker(
        "ask_validity", "how long is a pain management approval valid?", [("program", "interventional_pain")]
    )
    messages, events = run_events(ActionAnswer(), outside)
    assert "10 business days" in messages[0]["text"]
    assert events[-1] == {"event": "followup", "timestamp": None, "name": "action_listen"}
    assert sum(e["event"] == "followup" for e in events) == 1

    inside = tracker(
        "ask_validity", "how long is a pain management approval valid?", [("program", "interventional_pain")]
    )
    inside.active_loop = {"name": "draft_form"}
    messages, events = run_events(ActionAnswer(), inside)
    assert "10 business days" in messages[0]["text"]
    assert not any(e["event"] == "followup" for e in events)  # the rules go back to the form's question
