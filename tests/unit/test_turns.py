"""The core's reading of a turn, as plain Python: context from slots and entities, and which question a doubted
message is after all (with the fact ranking passed in)."""

from __future__ import annotations

import pytest

from priorauth.turns import (
    Context,
    Reading,
    after_doubt,
    answerable_intent,
    context_of,
    in_scope_after_all,
    previous_response,
    second_opinion,
)


def message(text, ranking=(), entities=()):
    ranking = [{"name": name, "confidence": confidence} for name, confidence in ranking]
    return {
        "text": text,
        "intent": ranking[0] if ranking else {},
        "intent_ranking": ranking,
        "entities": [{"entity": e, "value": v} for e, v in entities],
    }


def ranks(topic):
    return lambda text: topic


def broken(text):
    raise RuntimeError("index gone")


@pytest.mark.parametrize(
    "ranking, entities, expected",
    [
        ([("ask_validity", 0.5), ("ask_review_required", 0.4)], (), "ask_validity"),
        ([("ask_validity", 0.2), ("ask_review_required", 0.19)], (), None),  # too unsure
        ([("ask_validity", 0.5), ("greet", 0.4)], (), None),  # a question against chit-chat
        ([("inform", 0.5), ("ask_validity", 0.4)], (), None),  # an inform that names nothing
        ([("inform", 0.5), ("ask_validity", 0.4)], [("procedure", "spinal_fusion")], "inform"),
        ([("nlu_fallback", 0.7), ("ask_contact", 0.5), ("ask_validity", 0.4)], (), "ask_contact"),
    ],
)
def test_answerable_intent_only_between_two_questions(ranking, entities, expected):
    assert answerable_intent(message("x", ranking, entities)) == expected


@pytest.mark.parametrize(
    "text, ranking, entities, topic, expected",
    [
        ("how long is it good for", [("nlu_fallback", 0.4)], (), "validity", "ask_validity"),
        ("hello there", [("greet", 0.95)], (), "validity", None),  # sure chit-chat stays chit-chat
        ("ok so how long", [("affirm", 0.5)], (), "validity", "ask_validity"),  # unsure chit-chat is read again
        ("/restart", [("nlu_fallback", 0.4)], (), "validity", None),
        ("AIM fax?", [("nlu_fallback", 0.4)], (), None, "ask_contact"),
        ("27447 hmm", [("nlu_fallback", 0.4)], [("cpt_code", "27447")], "programs", "ask_review_required"),
        ("27447 how long", [("nlu_fallback", 0.4)], [("cpt_code", "27447")], "validity", "ask_validity"),
        ("rad onc - AIM?", [("nlu_fallback", 0.4)], [("program", "radiation_oncology")], None, "ask_review_required"),
        ("what now", [("nlu_fallback", 0.4)], (), None, None),
    ],
)
def test_second_opinion(text, ranking, entities, topic, expected):
    assert second_opinion(message(text, ranking, entities), ranks(topic)) == expected


def test_a_broken_fact_index_is_no_answer_and_no_crash():
    assert second_opinion(message("how long is it good for", [("nlu_fallback", 0.4)]), broken) is None
    doubted = message("what now", [("out_of_scope", 0.5), ("ask_validity", 0.4)])
    assert in_scope_after_all(doubted, broken) is None


def test_after_doubt_names_a_service_the_sources_do_not_list():
    reading = after_doubt(message("trigger pt inj - AIM?", [("nlu_fallback", 0.4)]), {}, ranks(None))
    assert reading == Reading("ask_review_required", {"procedure": "trigger pt inj"})


def test_after_doubt_asks_about_the_procedure_already_named():
    text = "does AIM review it in the hospital too?"
    assert after_doubt(message(text, [("nlu_fallback", 0.4)]), {}, ranks(None)) is None
    reading = after_doubt(message(text, [("nlu_fallback", 0.4)]), {"procedure": "spinal_fusion"}, ranks(None))
    assert reading == Reading("ask_review_required")


@pytest.mark.parametrize(
    "text, ranking, entities, topic, expected",
    [
        (
            "does AIM review knee scopes?",
            [("out_of_scope", 0.6)],
            [("procedure", "knee_arthroscopy")],
            None,
            "ask_review_required",
        ),
        (
            "knee scope in the HOPD",
            [("out_of_scope", 0.6)],
            [("procedure", "k"), ("setting", "hopd")],
            None,
            "ask_review_required",
        ),
        ("how long", [("out_of_scope", 0.6), ("ask_validity", 0.3)], (), "validity", "ask_validity"),
        ("how long", [("out_of_scope", 0.6), ("ask_validity", 0.1)], (), "validity", None),  # runner-up too weak
        ("how long", [("out_of_scope", 0.6), ("ask_validity", 0.3)], (), "contact", None),  # facts disagree
        ("best pizza", [("out_of_scope", 0.9)], (), None, None),
        ("knee scope recovery time", [("out_of_scope", 0.9)], [("procedure", "knee_arthroscopy")], None, None),
    ],
)
def test_out_of_scope_is_checked_before_it_is_said(text, ranking, entities, topic, expected):
    assert in_scope_after_all(message(text, ranking, entities), ranks(topic)) == expected


def test_a_new_subject_replaces_the_old_one_and_its_diagnoses():
    slots = {"procedure": "spinal_fusion", "diagnosis_code": ["M48.06"], "plan": "anthem_maine"}
    context = context_of(slots, message("and 27447?", entities=[("cpt_code", "27447")]))
    assert context.get("procedure") is None and context.get("cpt_code") == "27447"
    assert context.diagnoses == [] and context.get("plan") == "anthem_maine"
    assert context.new == {"cpt_code"}
    assert context.slots()["diagnosis_code"] is None


def test_a_turn_sets_only_the_slots_it_changes():
    slots = {"procedure": None, "cpt_code": "27447", "plan": "anthem_maine", "diagnosis_code": ["M48.06"]}
    same = context_of(slots, message("how long is it valid?"))
    assert same.changed_slots() == {}
    er = context_of(slots, message("and in the ER?", entities=[("setting", "emergency")]))
    assert er.changed_slots() == {"setting": "emergency"}
    other = context_of(slots, message("and 27130?", entities=[("cpt_code", "27130")]))
    assert other.changed_slots() == {"cpt_code": "27130", "diagnosis_code": None}
    # Made without the slots it came from: every value is set, as before.
    assert Context(values={"plan": "anthem_maine"}).changed_slots() == Context(values={"plan": "anthem_maine"}).slots()


def test_a_generic_word_is_a_family_not_a_slot():
    context = context_of({"procedure": "spinal_fusion"}, message("hip?", entities=[("procedure_family", "hip")]))
    assert context.families == ["hip"] and context.get("procedure") is None


def test_previous_response_is_the_bot_message_before_this_turn():
    events = [
        {"event": "user", "text": "a"},
        {"event": "bot", "metadata": {"utter_action": "utter_ask_rephrase"}},
        {"event": "user", "text": "b"},
    ]
    assert previous_response(events) == "utter_ask_rephrase"
    assert (
        previous_response([*events, {"event": "bot", "metadata": {"utter_action": "utter_x"}}]) == "utter_ask_rephrase"
    )
    assert previous_response(events[-1:]) is None
