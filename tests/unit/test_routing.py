"""Routing: which topic and which subject a message gets — validity vs review, denial deadlines, the subject
asked about before the back-story, a generic word that asks which procedure, and a procedure not on the lists."""

from __future__ import annotations

import asyncio

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import backend
from actions.answer import ActionAnswer
from priorauth.answering import family_candidates, needs_choice, topic_for
from priorauth.db import make_engine, make_session_factory
from priorauth.kb.loader import load_kb
from priorauth.nlu.cues import asks_validity, in_back_story, names_something
from priorauth.schema import upgrade
from priorauth.turns import context_of
from tests.conftest import KB_DIR, SOURCES_DIR


@pytest.fixture(autouse=True)
def kb(monkeypatch):
    engine = make_engine("sqlite://")
    upgrade(engine)
    load_kb(engine, KB_DIR, SOURCES_DIR)
    monkeypatch.setattr(backend, "_factory", make_session_factory(engine))
    yield
    backend.reset()


def tracker(intent, text="", entities=(), slots=None):
    return Tracker.from_dict(
        {
            "sender_id": "test",
            "slots": slots or {},
            "latest_message": {
                "intent": {"name": intent, "confidence": 0.99},
                "text": text,
                "entities": list(entities),
            },
            "events": [{"event": "user", "text": text, "input_channel": "rest", "parse_data": {"intent": {}}}],
            "latest_input_channel": "rest",
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        }
    )


def entity(kind, value, text="", message=""):
    start = message.find(text) if text and message else None
    e = {"entity": kind, "value": value}
    if start is not None and start >= 0:
        e.update(start=start, end=start + len(text))
    return e


def run(t):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionAnswer().run(dispatcher, t, {}))
    # The slots after the turn: the tracker's, with the turn's SlotSet events applied (it sets only what changed).
    return dispatcher.messages, {**t.slots, **{e["name"]: e["value"] for e in events if e["event"] == "slot"}}


P, NEW_P, CODE, REVIEW = {"procedure": "p"}, {"procedure"}, {"cpt_code": "62320"}, "ask_review_required"


@pytest.mark.parametrize(
    ("intent", "last", "known", "text", "new", "topic"),
    [
        # a procedure named with "redo the auth / got pushed / still valid": how long the approval lasts
        (REVIEW, None, P, "approved in May, surgery got pushed, redo it?", NEW_P, "validity"),
        (REVIEW, None, P, "is the TKR auth still good after 6 weeks", NEW_P, "validity"),
        (REVIEW, None, P, "does a TKR need prior auth?", NEW_P, "review_requirement"),
        # after a denial, "how long do we have?" is that topic's deadline
        ("ask_validity", "reconsideration", {}, "how long do we have?", set(), "reconsideration"),
        ("ask_validity", "peer_to_peer", P, "how long do we have?", set(), "peer_to_peer"),
        ("ask_validity", "reconsideration", P, "and a TKR approval?", NEW_P, "validity"),
        ("ask_validity", None, {}, "recon deadline: calendar or business days?", set(), "reconsideration"),
        # "so we don't have to contact AIM?" after a review answer asks the review question again
        ("ask_contact", "review_requirement", CODE, "so no need to contact AIM at all?", set(), "review_requirement"),
        ("ask_contact", "review_requirement", CODE, "what's their phone number?", set(), "contact"),
        # a procedure named in this message and "do we go thru AIM?" asks whether it is reviewed, not how to call
        ("ask_contact", None, P, "CT abdomen for a PPO member, do we go thru AIM?", NEW_P, "review_requirement"),
        ("ask_contact", None, P, "what number do I call for a knee replacement auth?", NEW_P, "contact"),
        ("ask_contact", None, P, "do we go through AIM or Availity for the knee?", NEW_P, "contact"),
        ("ask_contact", "review_requirement", P, "do we go thru AIM for it?", set(), "contact"),
        # what can be done when a peer-to-peer ends in a denial: the options after a denial
        ("ask_peer_to_peer", None, {}, "if the p2p doesn't go our way what are our options", set(), "reconsideration"),
        ("ask_peer_to_peer", None, {}, "what are the options for scheduling a p2p?", set(), "peer_to_peer"),
        ("ask_review_process", None, {}, "p2p on a denied RFA, how does that work?", set(), "peer_to_peer"),
        ("ask_review_process", None, {}, "missed the p2p call, what happens to the request?", set(), "review_process"),
        ("ask_review_process", None, {}, "what options are there after an adverse decision?", set(), "reconsideration"),
        # "do those need approval?" with a procedure named asks whether it is reviewed, not how long approval lasts
        ("ask_validity", None, P, "a cheilectomy, does it need approval?", NEW_P, "review_requirement"),
        ("ask_validity", None, P, "is the hallux rigidus approval still valid?", NEW_P, "validity"),
        ("ask_program_services", None, {"program": "small_joint_surgery"}, "ASO small jt - in?",
         {"program", "line_of_business"}, "lines_of_business"),
        ("inform", None, {"program": "small_joint_surgery"}, "ASO small jt - in?",
         {"program", "line_of_business"}, "lines_of_business"),
        ("inform", None, {"program": "small_joint_surgery"}, "small jt", {"program"}, "program_services"),
        # what to have ready for a request is the review process's interview, not a phone number
        ("ask_contact", None, {}, "what info should we have ready before calling AIM?", set(), "review_process"),
        ("ask_contact", None, {}, "what information do I need to register on the portal?", set(), "contact"),
        # a detail keeps the site-of-care or guideline question
        ("inform", "site_of_care", P, "at the ASC instead?", {"setting"}, "site_of_care"),
        ("inform", "guideline_changes", P, "and an RFA?", NEW_P, "guideline_changes"),
        # a named procedure and a "does it need review?" shape is a review question whatever the classifier said
        ("ask_guideline_changes", None, P, "is a separate review needed for the graft?", NEW_P, "review_requirement"),
        ("ask_exclusions", None, P, "does AIM review an epidural adhesiolysis?", NEW_P, "review_requirement"),
        ("ask_rehab", None, P, "is review required for an echo in an HMO pt?", NEW_P, "review_requirement"),
        ("ask_guideline_changes", None, P, "will AIM approve an RFA after a fusion?", NEW_P, "guideline_changes"),
        ("ask_guideline_changes", None, {}, "does the new criteria need review?", set(), "guideline_changes"),
        # "who can we talk to about ...?" is a contact question whatever the subject of the talk
        ("ask_site_of_care", None, {}, "who do we call with questions about the SOC program?", set(), "contact"),
        ("ask_site_of_care", None, {}, "who reviews site of care?", set(), "site_of_care"),
        # "how early can we send it?" with a procedure named: the program's dates
        (REVIEW, None, P, "booked for 11/2/2020, how soon can we submit?", NEW_P, "effective_dates"),
    ],
)  # fmt: skip
def test_topic_for_real_phrasing(intent, last, known, text, new, topic):
    assert topic_for(intent, last, known, text, new) == topic


def test_needs_choice_only_without_a_named_subject():
    assert needs_choice("review_requirement", {}, ["hip"])
    assert needs_choice("validity", {}, ["fusion"])
    assert not needs_choice("review_requirement", {"procedure": "total_hip_replacement"}, ["hip"])
    assert not needs_choice("contact", {}, ["hip"])


def test_family_candidates_from_the_knowledge_base():
    with backend.session_factory()() as session:
        assert [pid for pid, _ in family_candidates(session, ["hip"])] == ["hip_arthroscopy", "total_hip_replacement"]
        assert {pid for pid, _ in family_candidates(session, ["scope"])} == {
            "hip_arthroscopy",
            "knee_arthroscopy",
            "shoulder_arthroscopy",
        }


@pytest.mark.parametrize(
    ("text", "mention", "history"),
    [
        ("RFA for a pt who already had a lumbar fusion", "lumbar fusion", True),
        ("RFA for a pt who already had a lumbar fusion", "RFA", False),
        ("they tried everything, injections, PT, the whole thing, now he wants a total hip", "PT", True),
        ("they tried everything, injections, PT, the whole thing, now he wants a total hip", "total hip", False),
        ("does a prior auth apply to a TKA", "TKA", False),
    ],
)
def test_back_story_mentions(text, mention, history):
    assert in_back_story(text, text.index(mention)) is history


@pytest.mark.parametrize(
    ("text", "validity"),
    [
        ("surgery got pushed to next month, do we redo the auth", True),
        ("is the approval still valid", True),
        ("SI jt fusion auth length", True),
        ("does the fusion need auth", False),
        ("do we go through AIM for the authorization", False),
    ],
)
def test_validity_cue(text, validity):
    assert asks_validity(text) is validity


def test_names_something_beyond_the_question_words():
    assert names_something("trigger pt inj - AIM?", [])
    assert not names_something("does it need prior auth?", [])
    assert not names_something("TKA PA req?", [{"entity": "procedure", "start": 0, "end": 3}])


def test_the_procedure_asked_about_wins_over_the_back_story():
    message = "RFA for facet pain in a pt who already had a lumbar fusion - will AIM approve that?"
    ents = [
        entity("procedure", "facet_radiofrequency_ablation", "RFA", message),
        entity("procedure", "spinal_fusion", "lumbar fusion", message),
    ]
    message2 = "tried injections, PT, all of it, and now the doc wants a total hip arthroplasty"
    ents2 = [
        entity("procedure", "physical_therapy", "PT", message2),
        entity("procedure", "total_hip_replacement", "total hip arthroplasty", message2),
    ]
    assert context_of({}, message_of(message, ents)).get("procedure") == ents[0]["value"]
    assert context_of({}, message_of(message2, ents2)).get("procedure") == "total_hip_replacement"


def message_of(text, entities=()):
    return {"text": text, "intent": {"name": "inform"}, "entities": list(entities)}


def test_elective_after_an_emergency_drops_the_emergency_setting():
    context = context_of(
        {"procedure": "spinal_fusion", "setting": "emergency"}, message_of("same case, but a planned one")
    )
    assert context.get("setting") is None and context.get("procedure") == "spinal_fusion"


def test_a_generic_word_asks_which_procedure_with_buttons_that_answer_the_pending_question():
    messages, slots = run(tracker("ask_review_required", "hip PA?", [entity("procedure_family", "hip")]))
    assert messages[0]["response"] == "utter_ask_which_of"
    assert messages[0]["options"] == "Hip arthroscopy or Total hip replacement"
    assert [b["payload"] for b in messages[0]["buttons"]] == [
        '/inform{"procedure":"hip_arthroscopy"}',
        '/inform{"procedure":"total_hip_replacement"}',
    ]
    assert slots["last_topic"] == "review_requirement" and slots.get("procedure") is None
    # the button: an inform with the chosen procedure answers the pending question for it
    chosen = tracker("inform", "", [entity("procedure", "hip_arthroscopy")], slots={"last_topic": "review_requirement"})
    messages, slots = run(chosen)
    assert "Hip arthroscopy" in messages[0]["text"] and "Total hip replacement" not in messages[0]["text"]
    assert slots["procedure"] == "hip_arthroscopy"


def test_a_generic_word_replaces_the_previous_procedure():
    t = tracker(
        "ask_validity",
        "fusion auth length",
        [entity("procedure_family", "fusion")],
        slots={"procedure": "total_knee_replacement"},
    )
    messages, slots = run(t)
    assert messages[0]["response"] == "utter_ask_which_of"
    assert (
        "Sacroiliac joint fusion" in messages[0]["options"]
        and "Cervical/lumbar spinal fusion" in messages[0]["options"]
    )
    assert slots.get("procedure") is None


def test_a_procedure_not_on_the_lists_is_said_to_be_not_listed():
    messages, _ = run(tracker("ask_review_required", "trigger pt inj - AIM?"))
    assert messages[0]["response"] == "utter_procedure_not_listed"
    messages, _ = run(tracker("ask_review_required", "does it need prior auth?"))
    assert messages[0]["response"] == "utter_ask_which_procedure"


def test_validity_needs_no_choice_when_every_candidate_has_the_same_program():
    messages, _ = run(tracker("ask_validity", "hip auth validity", [entity("procedure_family", "hip")]))
    assert "60 calendar days" in messages[0]["text"] and "10 business days" not in messages[0]["text"]
