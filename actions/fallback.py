"""Low NLU confidence: answer when the doubt is only between two questions; else a second opinion ranks the
knowledge base's facts across all topics and answers the topic that clearly wins; only a message that matches
nothing is asked to rephrase, then offered a person."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from actions import backend
from actions.drafts import ActionListDrafts
from priorauth.answering import INTENT_TOPICS
from priorauth.drafts.references import reference_in
from priorauth.nlu.cues import asks_for_fax, asks_if_reviewed, facet_after_fusion, unlisted_subject

logger = logging.getLogger(__name__)
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
PROCEDURE_TOPICS = {"validity", "site_of_care", "notification_only", "exclusions", "effective_dates", "contact"}


class ActionFallback(Action):
    def name(self) -> str:
        return "action_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if reference_in(tracker.latest_message.get("text")):
            # "show me DR-53QAZF", however the classifier read it: a message naming a draft is about that draft
            # (its owner gets the summary, anyone else the refusal), never "please rephrase".
            return await ActionListDrafts().run(dispatcher, tracker, domain)
        intent = answerable_intent(tracker)
        if intent:
            return await answer_as(dispatcher, tracker, domain, intent, second_opinion=True)
        return await self.second_opinion_or_rephrase(dispatcher, tracker, domain)

    async def second_opinion_or_rephrase(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        intent = second_opinion(tracker)
        phrase = None if intent else unlisted_subject(tracker.latest_message.get("text") or "")
        if intent:
            return await answer_as(dispatcher, tracker, domain, intent)
        if phrase:
            # "trigger pt inj - AIM?": a review question about something the sources don't list is answered so.
            return await answer_as(dispatcher, tracker, domain, "ask_review_required", subject={"procedure": phrase})
        if asks_if_reviewed(tracker.latest_message.get("text")) and (
            tracker.get_slot("procedure") or tracker.get_slot("cpt_code")
        ):
            # "does AIM review it in the hospital too?" after a procedure: the review question, about that one.
            return await answer_as(dispatcher, tracker, domain, "ask_review_required")
        return await self.ask_to_rephrase(dispatcher, tracker)

    async def ask_to_rephrase(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict[str, Any]]:
        if _previous_bot_response(tracker) in ("utter_ask_rephrase", "utter_offer_human"):
            dispatcher.utter_message(response="utter_offer_human")
            return []
        dispatcher.utter_message(response="utter_ask_rephrase")
        return [UserUtteranceReverted()]


class ActionOutOfScope(Action):
    """ "Out of scope" is checked before it is said: a message that names a procedure, code or program and asks
    whether it is reviewed is a review question (or, for a facet procedure after a fusion, the guideline's); one
    where the classifier's runner-up is a question that the fact ranking confirms is that question. Anything else
    gets the out-of-scope reply."""

    def name(self) -> str:
        return "action_out_of_scope"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        intent = in_scope_after_all(tracker)
        if intent:
            return await answer_as(dispatcher, tracker, domain, intent)
        dispatcher.utter_message(response="utter_out_of_scope")
        return []


def in_scope_after_all(tracker: Tracker) -> str | None:
    """The question intent an "out of scope" message really has, or None when it is out of scope."""
    message = tracker.latest_message.get("text") or ""
    if asks_for_fax(message):
        return "ask_contact"  # "AIM fax?": the contact answer says there is none in the sources
    named = {e.get("entity") for e in tracker.latest_message.get("entities") or []}
    if named & {"procedure", "cpt_code", "program"} and (asks_if_reviewed(message) or facet_after_fusion(message)):
        return "ask_review_required"
    if named & {"procedure", "cpt_code"} and "setting" in named:
        # A procedure in a setting ("…in the hospital outpatient department, anything else?") is a decision.
        return "ask_review_required"
    ranking = [i for i in tracker.latest_message.get("intent_ranking") or [] if i.get("name") != "nlu_fallback"]
    runner_up = ranking[1] if len(ranking) > 1 else {}
    if runner_up.get("name") not in INTENT_TOPICS or runner_up.get("confidence", 0) < RUNNER_UP_CONFIDENCE:
        return None
    try:
        topic = backend.fact_index().best_topic(message)
    except Exception as exc:  # a broken index must not break the reply
        logger.error("answer selection unavailable: %s", type(exc).__name__)
        return None
    return runner_up["name"] if topic and INTENT_TOPICS[runner_up["name"]] == topic else None


async def answer_as(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    domain: dict[str, Any],
    intent: str,
    second_opinion: bool = False,
    subject: dict | None = None,
) -> list[dict[str, Any]]:
    """The answer to the message read as ``intent``, ending the turn (see `_then_listen`)."""
    from actions.answer import ActionAnswer  # answer.py falls back to this module: imported when used

    return _then_listen(await ActionAnswer().answer(dispatcher, tracker, domain, intent, second_opinion, subject))


def _then_listen(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An answer given in the fallback ends the turn: without this, the policies, still unsure, would predict the
    fallback again (Rasa's core fallback reverts the user's message instead, which an answer must not)."""
    if any(e.get("event") == "rewind" for e in events):
        return events
    return [*events, FollowupAction("action_listen")]


def answerable_intent(tracker: Tracker) -> str | None:
    """The best intent when the two top candidates are both questions (the answer is the same kind)."""
    ranking = [i for i in tracker.latest_message.get("intent_ranking") or [] if i.get("name") != "nlu_fallback"]
    if len(ranking) < 2 or ranking[0].get("confidence", 0) < MIN_CONFIDENCE:
        return None
    first, second = ranking[0]["name"], ranking[1]["name"]
    if first in ANSWERABLE and second in ANSWERABLE and (first != "inform" or tracker.latest_message.get("entities")):
        return first
    return None


def second_opinion(tracker: Tracker) -> str | None:
    """The question intent of the topic whose facts clearly answer the message (`FactIndex.best_topic`), or None.

    Chit-chat the classifier was sure of stays chit-chat; a message naming nothing the knowledge base knows and
    matching no fact clearly is left to the fallback."""
    message = tracker.latest_message.get("text") or ""
    if not message or message.startswith("/"):
        return None
    ranking = tracker.latest_message.get("intent_ranking") or []
    top = ranking[0] if ranking else tracker.latest_message.get("intent") or {}
    if top.get("name") in CHIT_CHAT and top.get("confidence", 0) >= CHIT_CHAT_SURE:
        return None
    if asks_for_fax(message):
        return "ask_contact"  # "AIM fax?": the contact answer says there is none in the sources
    try:
        topic = backend.fact_index().best_topic(message)
    except Exception as exc:  # a broken index must not break the fallback (nor answer as if nothing matched)
        logger.error("answer selection unavailable: %s", type(exc).__name__)
        return None
    # A named procedure or code asks whether it needs review, unless the facts say it asks about one of the
    # topics a procedure can have (how long its approval lasts, its site of care, ...).
    named = {e.get("entity") for e in tracker.latest_message.get("entities") or []}
    if named & {"procedure", "cpt_code"} and topic not in PROCEDURE_TOPICS:
        return "ask_review_required"
    if "program" in named and (asks_if_reviewed(message) or "setting" in named) and topic not in PROCEDURE_TOPICS:
        # "rad onc - AIM?", "small joint surgery during an inpatient stay - still in the program?"
        return "ask_review_required"
    return TOPIC_INTENTS.get(topic) if topic else None


def _previous_bot_response(tracker: Tracker) -> str | None:
    """The response template of the bot's last message before the current user turn."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                return None
            seen_user = True
        elif event.get("event") == "bot" and seen_user:
            return (event.get("metadata") or {}).get("utter_action")
    return None
