"""One action answers every question: it reads what is known, asks the core, and renders."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from actions import backend
from actions.context import context_from
from actions.fallback import ActionFallback
from priorauth.answering import answer_for, needs_subject, topic_for
from priorauth.render import follow_up_question, render

logger = logging.getLogger(__name__)
# Channels whose clients render the structured payload (the widget shows only text).
PAYLOAD_CHANNELS = {"rest", "agent", "cmdline", None}


class ActionAnswer(Action):
    """Answers every question intent (and follow-ups) from the knowledge base."""

    def name(self) -> str:
        return "action_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        return await self.answer(dispatcher, tracker, domain, intent)

    async def answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], intent: str | None
    ) -> list[dict[str, Any]]:
        context = context_from(tracker)
        last_topic = tracker.get_slot("last_topic")
        known = dict(context.values, diagnosis_code=context.diagnoses)
        topic = topic_for(intent, last_topic, known, tracker.latest_message.get("text") or "", context.new)
        if intent == "inform" and not context.new:
            topic = None  # a "follow-up" that adds nothing is not understood
        if topic is None:
            return await ActionFallback().ask_to_rephrase(dispatcher, tracker)
        if needs_subject(topic, known):
            dispatcher.utter_message(response="utter_ask_which_procedure")
            return [*context.slot_events(), SlotSet("last_topic", topic)]
        try:
            with backend.session_factory()() as session:
                answer = answer_for(session, topic, known, tracker.latest_message.get("text") or "")
        except SQLAlchemyError as exc:
            logger.error("knowledge base unavailable: %s", type(exc).__name__)
            backend.reset()
            dispatcher.utter_message(response="utter_service_unavailable")
            return context.slot_events()
        text, payload = render(answer)
        question = follow_up_question(answer) if topic == "review_requirement" else None
        if question:
            text += "\n" + question
        if tracker.get_latest_input_channel() in PAYLOAD_CHANNELS:
            dispatcher.utter_message(text=text, json_message=payload)
        else:
            dispatcher.utter_message(text=text)
        return [*context.slot_events(), SlotSet("last_topic", topic)]
