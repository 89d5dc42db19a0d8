"""One action answers every question: it reads what is known, asks the core, and renders the short reply; a
second one shows the whole last answer ("More"). A message no question intent was sure of is read again by the
core (`priorauth.turns.after_doubt`) before it is asked to be rephrased."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import FollowupAction, SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from actions import backend
from actions.replies import send_payload, service_unavailable
from priorauth.answering import answer_for, needs_choice, needs_subject, topic_for
from priorauth.choices import plan_buttons, procedure_choice
from priorauth.drafts.intake import start_draft_buttons
from priorauth.nlu.cues import names_something, outside_sources, service_asked_about
from priorauth.render import asker_of, for_widget, render, render_full
from priorauth.turns import Context, after_doubt, context_of, previous_response

logger = logging.getLogger(__name__)
# Channels whose clients render markdown (the web widget over socket.io).
MARKDOWN_CHANNELS = {"socketio"}
MORE_BUTTON = {"title": "More", "payload": "/ask_more"}
# Topics a "does AIM review X?" about an unnamed kind of service is mistaken for.
SERVICE_QUESTION_TOPICS = {"review_process", "program_services", "programs", "guidelines", "exclusions"}
Events = list[dict[str, Any]]


class ActionAnswer(Action):
    """Answers every question intent (and follow-ups) from the knowledge base."""

    def name(self) -> str:
        return "action_answer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        events = answer(dispatcher, tracker, (tracker.latest_message.get("intent") or {}).get("name"))
        # An answer ends the turn. Outside the draft form the rules and stories always listen next, so Rasa need
        # not run its policies once more to find that out (a prediction is about a quarter of the Rasa server's
        # CPU a turn, bench/README.md); inside the form they decide (back to the form's question).
        return events if tracker.active_loop_name else then_listen(events)


class ActionAnswerMore(Action):
    """ "More": the whole answer of the last topic, with what is known now."""

    def name(self) -> str:
        return "action_answer_more"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> Events:
        topic = tracker.get_slot("last_topic")
        context = context_of(tracker.slots, tracker.latest_message)
        known = dict(context.values, diagnosis_code=context.diagnoses)
        if not topic or needs_subject(topic, known):
            dispatcher.utter_message(response="utter_more_nothing")
            return []
        try:
            with backend.kb_session() as session:
                found = answer_for(session, topic, known, "")
        except SQLAlchemyError as error:
            service_unavailable(dispatcher, error, "knowledge base")
            return []
        text, payload = render_full(found)
        send(dispatcher, tracker.get_latest_input_channel(), text, payload, more=False)
        return []


def answer(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    intent: str | None,
    second_opinion: bool = True,
    subject: dict | None = None,
) -> Events:
    """The reply to the message read as ``intent``. ``subject``: what the message names that the matcher could
    not (a service the sources don't list)."""
    message = tracker.latest_message.get("text") or ""
    if outside_sources(message):
        # "does Cigna require …", "what does Anthem reimburse for 27447": never a review answer for it.
        dispatcher.utter_message(response="utter_out_of_scope")
        return []
    context = context_of(tracker.slots, tracker.latest_message)
    known = dict(context.values, diagnosis_code=context.diagnoses, **(subject or {}))
    topic = topic_for(intent, tracker.get_slot("last_topic"), known, message, context.new)
    asked = service_asked_about(message) if topic in SERVICE_QUESTION_TOPICS and not context.new else None
    if asked and not subject:
        # "does AIM review power wheelchairs or other DME?": a kind of service the sources don't name is
        # answered as such ("my sources don't list …" and the ID card), not with the review process.
        return answer(dispatcher, tracker, "ask_review_required", subject={"procedure": asked})
    if topic is None or (intent == "inform" and not context.new):  # a "follow-up" that adds nothing
        return read_again_or_rephrase(dispatcher, tracker) if second_opinion else rephrase(dispatcher, tracker)
    try:
        with backend.kb_session() as session:
            if needs_choice(topic, known, context.families):
                choice = procedure_choice(session, context.families, topic)
                if choice.program is None:
                    return ask_which_procedure(dispatcher, context, topic, choice)
                known["program"] = choice.program  # the answer is the same whichever is meant
            if needs_subject(topic, known):
                named = names_something(message, tracker.latest_message.get("entities") or [])
                dispatcher.utter_message(
                    response="utter_procedure_not_listed" if named else "utter_ask_which_procedure"
                )
                return with_slots(context, topic)
            found = answer_for(session, topic, known, message)
    except SQLAlchemyError as error:
        service_unavailable(dispatcher, error, "knowledge base")
        return with_slots(context)
    channel = tracker.get_latest_input_channel()
    text, payload = render(found, message, asker_of(channel, message), backend.fact_index(), context.new)
    choices = [*plan_buttons(found), *start_draft_buttons(found)]
    send(dispatcher, channel, text, payload, more=payload["shortened"], choices=choices)
    return with_slots(context, topic)


def ask_which_procedure(dispatcher: CollectingDispatcher, context: Context, topic: str, choice) -> Events:
    """ "Did you mean A or B?" with a button each; a button informs the procedure and the pending question (kept
    as the last topic) is answered."""
    if choice.candidates:
        dispatcher.utter_message(response="utter_ask_which_of", options=choice.options, buttons=choice.buttons)
    else:
        dispatcher.utter_message(response="utter_ask_which_procedure")
    return with_slots(context, topic)


def read_again_or_rephrase(dispatcher: CollectingDispatcher, tracker: Tracker) -> Events:
    """The core's second reading of a doubted message answers it (ending the turn), else "please rephrase"."""
    reading = after_doubt(tracker.latest_message, tracker.slots, best_topic)
    if reading is None:
        return rephrase(dispatcher, tracker)
    return then_listen(answer(dispatcher, tracker, reading.intent, second_opinion=False, subject=reading.subject))


def rephrase(dispatcher: CollectingDispatcher, tracker: Tracker) -> Events:
    """ "Please rephrase", and a person offered when that was already asked."""
    if previous_response(tracker.events) in ("utter_ask_rephrase", "utter_offer_human"):
        dispatcher.utter_message(response="utter_offer_human")
        return []
    dispatcher.utter_message(response="utter_ask_rephrase")
    return [UserUtteranceReverted()]


def then_listen(events: Events) -> Events:
    """An answer given in the fallback ends the turn: without this, the policies, still unsure, would predict the
    fallback again (Rasa's core fallback reverts the user's message instead, which an answer must not)."""
    if any(e.get("event") in ("rewind", "followup") for e in events):
        return events
    return [*events, FollowupAction("action_listen")]


def best_topic(text: str) -> str | None:
    return backend.fact_index().best_topic(text)


def with_slots(context: Context, topic: str | None = None) -> Events:
    events = [SlotSet(name, value) for name, value in context.changed_slots().items()]
    return [*events, SlotSet("last_topic", topic)] if topic else events


def send(dispatcher: CollectingDispatcher, channel: str | None, text: str, payload: dict, more: bool, choices=()):
    """One message: the text (markdown for the widget), the payload where the client renders it, and the "More"
    quick reply when the reply left part of the topic out (the agent panel has its "Full answer" instead)."""
    buttons = [*choices, *([MORE_BUTTON] if more and channel != "agent" else [])]
    send_payload(dispatcher, channel, for_widget(text) if channel in MARKDOWN_CHANNELS else text, payload, buttons)
