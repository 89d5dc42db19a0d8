"""What one message asks, read from plain values: the conversation's context (slots updated by the message's
entities) and, when the classifier doubts, which question the message is after all.

No Rasa here. A message is the parse result Rasa gives every turn (``text``, ``intent``, ``intent_ranking``,
``entities``), slots are a plain mapping, and the fact ranking comes in as ``best_topic`` (text → topic or
None). The actions pass the tracker's values in and turn what comes back into events and replies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from priorauth.answering import INTENT_TOPICS
from priorauth.nlu.cues import (
    asks_for_fax,
    asks_if_reviewed,
    facet_after_fusion,
    in_back_story,
    says_elective,
    unlisted_subject,
)

logger = logging.getLogger(__name__)

Message = Mapping[str, Any]
BestTopic = Callable[[str], "str | None"]

# The slots a question reads; a new subject replaces the old one (and its diagnoses).
SINGLE = ("procedure", "cpt_code", "program", "setting", "line_of_business", "plan", "state")
SUBJECTS = ("procedure", "cpt_code", "program")

ANSWERABLE = set(INTENT_TOPICS) | {"inform"}
# Below this, even a question intent is too unsure to answer.
MIN_CONFIDENCE = 0.3
# An "out of scope" message whose runner-up question intent is at least this sure is checked against the facts.
RUNNER_UP_CONFIDENCE = 0.15
TOPIC_INTENTS = {topic: intent for intent, topic in INTENT_TOPICS.items()}
# Intents whose message is not a question about the knowledge base: the second opinion stays out.
CHIT_CHAT = {"greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "help"}
# ... when the classifier was this sure of it; a weaker "affirm" on a terse query is often a question.
CHIT_CHAT_SURE = 0.8
# Topics a named procedure can be asked about besides whether it is reviewed.
PROCEDURE_TOPICS = {"validity", "site_of_care", "notification_only", "exclusions", "effective_dates", "contact"}
REVIEW_INTENT = "ask_review_required"


# ---------------------------------------------------------------- what the conversation knows
@dataclass
class Context:
    values: dict = field(default_factory=dict)
    diagnoses: list[str] = field(default_factory=list)
    new: set[str] = field(default_factory=set)  # what the latest message said
    families: list[str] = field(default_factory=list)  # generic words of the latest message ("hip", "fusion")
    before: dict | None = None  # the slot values it was made from (`slots()`'s form); None: not known

    def get(self, name: str):
        return self.values.get(name)

    def slots(self) -> dict[str, Any]:
        """The slot values to set after the turn (``diagnosis_code`` a list or None)."""
        return {**{name: self.values.get(name) for name in SINGLE}, "diagnosis_code": self.diagnoses or None}

    def changed_slots(self) -> dict[str, Any]:
        """`slots()` less those that already hold that value: a turn stores, sends and replays only what changed
        (all of them when the values it was made from are not known)."""
        slots = self.slots()
        if self.before is None:
            return slots
        return {name: value for name, value in slots.items() if self.before.get(name) != value}


def context_of(slots: Mapping[str, Any], message: Message) -> Context:
    """Latest entities win; a new procedure, code, program or generic procedure word replaces the subject."""
    values = {name: slots.get(name) for name in SINGLE}
    diagnoses = list(slots.get("diagnosis_code") or [])
    text = message.get("text") or ""
    latest: dict[str, list[str]] = {}
    for entity in _subject_first(message.get("entities") or [], text):
        latest.setdefault(entity["entity"], []).append(str(entity["value"]))
    new = set(latest)
    families = list(dict.fromkeys(latest.pop("procedure_family", [])))
    if new & {*SUBJECTS, "procedure_family"}:
        for name in SUBJECTS:
            values[name] = None
        if "diagnosis_code" not in new:
            diagnoses = []
    for name in SINGLE:
        if name in latest:
            values[name] = latest[name][0]
    if "diagnosis_code" in latest:
        diagnoses = list(dict.fromkeys(latest["diagnosis_code"]))
    if values.get("setting") == "emergency" and "setting" not in new and says_elective(text):
        values["setting"] = None  # "same surgery but elective": no longer an emergency
        new.add("setting")
    before = {name: slots.get(name) for name in SINGLE}
    before["diagnosis_code"] = list(slots.get("diagnosis_code") or []) or None
    return Context(values=values, diagnoses=diagnoses, new=new, families=families, before=before)


def _subject_first(entities: list[dict], text: str) -> list[dict]:
    """The procedure asked about before those told as the patient's history ("already had a fusion")."""

    def told_as_history(e: dict) -> bool:
        return e.get("entity") == "procedure" and "start" in e and in_back_story(text, e["start"])

    return sorted(entities, key=told_as_history)


# ---------------------------------------------------------------- which question, when the classifier doubts
@dataclass(frozen=True)
class Reading:
    """The question a doubted message is answered as: an intent, and a subject the matcher could not name."""

    intent: str
    subject: dict | None = None


def answerable_intent(message: Message) -> str | None:
    """The best intent when the two top candidates are both questions (the answer is the same kind)."""
    ranking = _ranking(message)
    if len(ranking) < 2 or ranking[0].get("confidence", 0) < MIN_CONFIDENCE:
        return None
    first, second = ranking[0]["name"], ranking[1]["name"]
    if first in ANSWERABLE and second in ANSWERABLE and (first != "inform" or message.get("entities")):
        return first
    return None


def second_opinion(message: Message, best_topic: BestTopic) -> str | None:
    """The question intent of the topic whose facts clearly answer the message (``best_topic``), or None.

    Chit-chat the classifier was sure of stays chit-chat; a message naming nothing the knowledge base knows and
    matching no fact clearly is left to the fallback."""
    text = message.get("text") or ""
    if not text or text.startswith("/"):
        return None
    ranking = message.get("intent_ranking") or []
    top = ranking[0] if ranking else message.get("intent") or {}
    if top.get("name") in CHIT_CHAT and top.get("confidence", 0) >= CHIT_CHAT_SURE:
        return None
    if asks_for_fax(text):
        return "ask_contact"  # "AIM fax?": the contact answer says there is none in the sources
    topic = _topic_of(best_topic, text)
    if topic is False:
        return None
    # A named procedure or code asks whether it needs review, unless the facts say it asks about one of the
    # topics a procedure can have (how long its approval lasts, its site of care, ...).
    named = _named(message)
    if named & {"procedure", "cpt_code"} and topic not in PROCEDURE_TOPICS:
        return REVIEW_INTENT
    if "program" in named and (asks_if_reviewed(text) or "setting" in named) and topic not in PROCEDURE_TOPICS:
        # "rad onc - AIM?", "small joint surgery during an inpatient stay - still in the program?"
        return REVIEW_INTENT
    return TOPIC_INTENTS.get(topic) if topic else None


def after_doubt(message: Message, slots: Mapping[str, Any], best_topic: BestTopic) -> Reading | None:
    """What a message no question intent was sure of is answered as, or None (ask to rephrase)."""
    intent = second_opinion(message, best_topic)
    if intent:
        return Reading(intent)
    text = message.get("text") or ""
    phrase = unlisted_subject(text)
    if phrase:
        # "trigger pt inj - AIM?": a review question about something the sources don't list is answered so.
        return Reading(REVIEW_INTENT, {"procedure": phrase})
    if asks_if_reviewed(text) and (slots.get("procedure") or slots.get("cpt_code")):
        # "does AIM review it in the hospital too?" after a procedure: the review question, about that one.
        return Reading(REVIEW_INTENT)
    return None


def in_scope_after_all(message: Message, best_topic: BestTopic) -> str | None:
    """The question intent an "out of scope" message really has, or None when it is out of scope."""
    text = message.get("text") or ""
    if asks_for_fax(text):
        return "ask_contact"  # "AIM fax?": the contact answer says there is none in the sources
    named = _named(message)
    if named & {"procedure", "cpt_code", "program"} and (asks_if_reviewed(text) or facet_after_fusion(text)):
        return REVIEW_INTENT
    if named & {"procedure", "cpt_code"} and "setting" in named:
        # A procedure in a setting ("…in the hospital outpatient department, anything else?") is a decision.
        return REVIEW_INTENT
    ranking = _ranking(message)
    runner_up = ranking[1] if len(ranking) > 1 else {}
    if runner_up.get("name") not in INTENT_TOPICS or runner_up.get("confidence", 0) < RUNNER_UP_CONFIDENCE:
        return None
    topic = _topic_of(best_topic, text)
    return runner_up["name"] if topic and INTENT_TOPICS[runner_up["name"]] == topic else None


def previous_response(events: list[dict]) -> str | None:
    """The response template of the bot's last message before the current user turn (tracker events)."""
    said = (e for e in before_latest_message(events) if e.get("event") == "bot")
    return next(((e.get("metadata") or {}).get("utter_action") for e in said), None)


def before_latest_message(events: list[dict]):
    """The events between the user's two latest messages, newest first."""
    seen_user = False
    for event in reversed(events):
        if event.get("event") == "user":
            if seen_user:
                return
            seen_user = True
        elif seen_user:
            yield event


def _ranking(message: Message) -> list[dict]:
    return [i for i in message.get("intent_ranking") or [] if i.get("name") != "nlu_fallback"]


def _named(message: Message) -> set[str]:
    return {e.get("entity") for e in message.get("entities") or []}


def _topic_of(best_topic: BestTopic, text: str) -> str | None | bool:
    """The fact ranking's topic; False when the ranking failed (a broken index must not break the reply, nor be
    read as "nothing matched")."""
    try:
        return best_topic(text)
    except Exception as exc:
        logger.error("answer selection unavailable: %s", type(exc).__name__)
        return False
