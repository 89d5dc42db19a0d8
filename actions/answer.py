"""One action answers every question: it reads what is known, asks the core, and renders the short reply; a
second one shows the whole last answer ("More")."""

from __future__ import annotations

import json
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from actions import backend
from actions.clarify import ask_for_subject, ask_which_procedure
from actions.context import context_from
from priorauth.answering import answer_for, needs_choice, needs_subject, topic_for
from priorauth.drafts.intake import start_draft_buttons
from priorauth.nlu.cues import outside_sources, service_asked_about
from priorauth.render import asker_of, for_widget, render, render_full

logger = logging.getLogger(__name__)
# Channels whose clients render the structured payload (the widget shows only text).
PAYLOAD_CHANNELS = {"rest", "agent", "cmdline", None}
# Channels whose clients render markdown (the web widget over socket.io).
MARKDOWN_CHANNELS = {"socketio"}
MORE_BUTTON = {"title": "More", "payload": "/ask_more"}
# Topics a "does AIM review X?" about an unnamed kind of service is mistaken for.
SERVICE_QUESTION_TOPICS = {"review_process", "program_services", "programs", "guidelines", "exclusions"}
PLAN_BUTTON_TITLES = {"anthem_blue_cross": "Anthem Blue Cross (California)"}


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
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
        intent: str | None,
        second_opinion: bool = True,
        subject: dict | None = None,
    ) -> list[dict[str, Any]]:
        """``subject``: what the message names that the matcher could not (a procedure the sources don't list)."""
        from actions.fallback import ActionFallback

        context = context_from(tracker)
        last_topic = tracker.get_slot("last_topic")
        known = dict(context.values, diagnosis_code=context.diagnoses, **(subject or {}))
        message = tracker.latest_message.get("text") or ""
        if outside_sources(message):
            # "does Cigna require …", "what does Anthem reimburse for 27447": never a review answer for it.
            dispatcher.utter_message(response="utter_out_of_scope")
            return []
        topic = topic_for(intent, last_topic, known, message, context.new)
        asked = service_asked_about(message) if topic in SERVICE_QUESTION_TOPICS and not context.new else None
        if asked and not subject:
            # "does AIM review power wheelchairs or other DME?": a kind of service the sources don't name is
            # answered as such ("my sources don't list …" and the ID card), not with the review process.
            return await self.answer(dispatcher, tracker, domain, "ask_review_required", subject={"procedure": asked})
        if intent == "inform" and not context.new:
            topic = None  # a "follow-up" that adds nothing is not understood
        if topic is None:
            if second_opinion:
                return await ActionFallback().second_opinion_or_rephrase(dispatcher, tracker, domain)
            return await ActionFallback().ask_to_rephrase(dispatcher, tracker)
        if needs_choice(topic, known, context.families):
            events = ask_which_procedure(dispatcher, context, topic, known)
            if events is not None:
                return events
        if needs_subject(topic, known):
            return ask_for_subject(dispatcher, tracker, context, topic)
        try:
            with backend.session_factory()() as session:
                answer = answer_for(session, topic, known, message)
        except SQLAlchemyError as exc:
            logger.error("knowledge base unavailable: %s", type(exc).__name__)
            backend.reset()
            dispatcher.utter_message(response="utter_service_unavailable")
            return context.slot_events()
        channel = tracker.get_latest_input_channel()
        text, payload = render(answer, message, asker_of(channel, message), backend.fact_index(), context.new)
        send(
            dispatcher,
            channel,
            text,
            payload,
            more=payload["shortened"],
            choices=[*plan_buttons(answer), *start_draft_buttons(answer)],
        )
        return [*context.slot_events(), SlotSet("last_topic", topic)]


class ActionAnswerMore(Action):
    """ "More": the whole answer of the last topic, with what is known now."""

    def name(self) -> str:
        return "action_answer_more"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        topic = tracker.get_slot("last_topic")
        context = context_from(tracker)
        known = dict(context.values, diagnosis_code=context.diagnoses)
        if not topic or needs_subject(topic, known):
            dispatcher.utter_message(response="utter_more_nothing")
            return []
        try:
            with backend.session_factory()() as session:
                answer = answer_for(session, topic, known, "")
        except SQLAlchemyError as exc:
            logger.error("knowledge base unavailable: %s", type(exc).__name__)
            backend.reset()
            dispatcher.utter_message(response="utter_service_unavailable")
            return []
        text, payload = render_full(answer)
        send(dispatcher, tracker.get_latest_input_channel(), text, payload, more=False)
        return []


def send(
    dispatcher: CollectingDispatcher,
    channel: str | None,
    text: str,
    payload: dict,
    more: bool,
    choices: list[dict] | None = None,
) -> None:
    """One message: the text (markdown for the widget), the payload where the client renders it, and the "More"
    quick reply when the reply left part of the topic out (the agent panel has its "Full answer" instead)."""
    buttons = [*(choices or []), *([MORE_BUTTON] if more and channel != "agent" else [])]
    if channel in MARKDOWN_CHANNELS:
        text = for_widget(text)
    if channel in PAYLOAD_CHANNELS:
        dispatcher.utter_message(text=text, buttons=buttons, json_message=payload)
    else:
        dispatcher.utter_message(text=text, buttons=buttons)


def plan_buttons(answer) -> list[dict]:
    """One button per plan the answer differs by; a click informs the plan and the question is answered again."""
    return [
        {
            "title": PLAN_BUTTON_TITLES.get(plan) or answer.data.get("plan_names", {}).get(plan, plan),
            "payload": "/inform" + json.dumps({"plan": plan}),
        }
        for plan in answer.data.get("plan_choices") or []
    ]
