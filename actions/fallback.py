"""Low NLU confidence: answer when the doubt is only between two questions; else the core reads the message again
(a second opinion ranks the knowledge base's facts across all topics and answers the topic that clearly wins);
only a message that matches nothing is asked to rephrase, then offered a person."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import answer, best_topic, read_again_or_rephrase, then_listen
from actions.drafts import ActionListDrafts
from priorauth.drafts.references import reference_in
from priorauth.turns import answerable_intent, in_scope_after_all


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
        intent = answerable_intent(tracker.latest_message)
        if intent:
            return then_listen(answer(dispatcher, tracker, intent))
        return read_again_or_rephrase(dispatcher, tracker)


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
        intent = in_scope_after_all(tracker.latest_message, best_topic)
        if intent:
            return then_listen(answer(dispatcher, tracker, intent, second_opinion=False))
        dispatcher.utter_message(response="utter_out_of_scope")
        return []
