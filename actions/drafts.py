"""Thin actions for draft review requests: start, show, change, cancel, list and export a draft.

Each translates between the tracker and the draft conversation's core (`priorauth.drafts.conversation`): the
latest message, the slots and the bot's last words in; what to say (`utter_draft_*` responses) and the slots that
mirror the saved draft, with identifying values masked, out. Nothing here logs a field value or a message text.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from actions import backend
from actions.answer import with_slots
from actions.replies import send_payload, service_unavailable, shows_payload
from priorauth.drafts.conversation import Conversation, Say, Turn, refusal
from priorauth.drafts.messages import Message, bot_texts_since_previous_message, earlier_from, owner_of
from priorauth.drafts.models import Draft, utc_now
from priorauth.drafts.repository import DraftError, summary_of
from priorauth.drafts.texts import shown_fields
from priorauth.drafts.validators import FIELDS
from priorauth.turns import context_of

logger = logging.getLogger(__name__)

# Slot names: the core's field names with a prefix (the question slots already use "setting").
FIELD_SLOTS = {name: f"draft_{name}" for name in FIELDS}
SLOT_FIELDS = {slot: name for name, slot in FIELD_SLOTS.items()}


# ---------------------------------------------------------------- the tracker, read
def message_of(tracker: Tracker) -> Message:
    latest = tracker.latest_message or {}
    intent = (latest.get("intent") or {}).get("name")
    return Message(latest.get("text") or "", intent, tuple(latest.get("entities") or ()))


def owner(tracker: Tracker) -> str:
    latest = tracker.latest_message or {}
    return owner_of(tracker.sender_id, latest.get("metadata") or {}, latest.get("message_id"))


# ---------------------------------------------------------------- the turn, said
def draft_slots(draft: Draft | None) -> list[EventType]:
    """Slots mirroring the draft (masked values); none found: `draft_open` false; cancelled: all cleared."""
    if draft is None:
        return [SlotSet("draft_open", False)]
    if draft.status == "cancelled":
        events = [SlotSet("draft_reference", None), SlotSet("draft_open", False), SlotSet("draft_outlook", None)]
        return events + [SlotSet(slot, None) for slot in FIELD_SLOTS.values()]
    shown = shown_fields(summary_of(draft)["fields"])
    events = [SlotSet("draft_reference", draft.reference), SlotSet("draft_open", draft.status == "open")]
    return events + [SlotSet(FIELD_SLOTS[name], value) for name, value in shown.items()]


def outlook_slot(turn: Turn) -> list[EventType]:
    return [SlotSet("draft_outlook", turn.outlook)] if turn.outlook else []


class DraftAction(Action, ABC):
    """Runs ``act`` on the owner's `Conversation` and says its turn; a missing, foreign or closed draft and a
    database outage each get a clear reply that names no field value."""

    refuses = True  # a missing, foreign or closed draft gets its own refusal (else: "say that again")

    def __init_subclass__(cls, action: str = "", opens_form: bool = False, **kwargs: Any) -> None:
        """``action``: the action's name; ``opens_form``: a rule continues with the form when it leaves `draft_open`
        true."""
        super().__init_subclass__(**kwargs)
        cls.action_name, cls.opens_form = action, opens_form

    def __init__(self, factory: sessionmaker | None = None, clock: Callable[[], datetime] = utc_now) -> None:
        self.factory = factory  # None: the action server's own (`actions.backend`), made on first use
        self.clock = clock

    def name(self) -> str:
        return self.action_name

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        try:
            conversation = Conversation(self.factory or backend.session_factory(), self.clock, owner(tracker))
            turn, events = self.act(conversation, tracker)
        except DraftError as error:
            refused = refusal(error) if self.refuses else None
            if refused is None:  # e.g. a concurrent change: the next message reads it again
                logger.warning("draft action %s: %s", self.name(), type(error).__name__)
                refused = Say("utter_draft_try_again")
            dispatcher.utter_message(response=refused.response, **refused.values)
        except SQLAlchemyError as error:
            service_unavailable(dispatcher, error, "draft storage")
        else:
            channel = tracker.get_latest_input_channel()
            for say in turn.says:
                send_payload(dispatcher, channel, say.text, say.payload, response=say.response, **say.values)
            return events
        return self.refused(tracker)

    def refused(self, tracker: Tracker) -> list[EventType]:
        # Mid-form, the form goes on (with the conversation's own draft) after the refusal.
        return [SlotSet("draft_open", tracker.active_loop_name == "draft_form")] if self.opens_form else []

    @abstractmethod
    def act(self, conversation: Conversation, tracker: Tracker) -> tuple[Turn, list[EventType]]:
        """The turn, and the events that record it."""


# ---------------------------------------------------------------- the actions
class ActionStartDraft(DraftAction, action="action_start_draft", opens_form=True):
    """Opens a draft, pre-filled from the request's words and entities, or from the question just answered."""

    def act(self, conversation, tracker):
        slot = tracker.get_slot
        earlier = earlier_from(tracker.events, slot("cpt_code"), slot("diagnosis_code"), slot("procedure"))
        turn = conversation.start(message_of(tracker), slot("draft_reference"), earlier)
        context = with_slots(context_of(tracker.slots, tracker.latest_message))
        return turn, [*context, *draft_slots(turn.draft), SlotSet("draft_outlook", turn.outlook)]


class ActionShowDraft(DraftAction, action="action_show_draft", opens_form=True):
    """The draft's summary (masked), or only what it still needs; an open draft then continues with the form."""

    def act(self, conversation, tracker):
        turn = conversation.show(message_of(tracker), tracker.get_slot("draft_reference"))
        return turn, draft_slots(turn.draft)


class ActionChangeDraft(DraftAction, action="action_change_draft", opens_form=True):
    """Changes the fields a message names ("change the date of service to 3/4"), each validated and confirmed."""

    def act(self, conversation, tracker):
        slot = tracker.get_slot
        said = bot_texts_since_previous_message(tracker.events)
        turn = conversation.change(message_of(tracker), slot("draft_reference"), said, slot("draft_outlook"))
        return turn, draft_slots(turn.draft) + outlook_slot(turn)


class ActionAskCancelDraft(DraftAction, action="action_ask_cancel_draft"):
    """Asks to confirm before cancelling; remembers which draft the question is about."""

    def act(self, conversation, tracker):
        turn = conversation.ask_cancel(message_of(tracker), tracker.get_slot("draft_reference"))
        return turn, [SlotSet("draft_cancel_candidate", turn.draft.reference if turn.draft else None)]


class ActionCancelDraft(DraftAction, action="action_cancel_draft"):
    """Cancels the draft the confirmation was about."""

    def act(self, conversation, tracker):
        turn = conversation.cancel(tracker.get_slot("draft_cancel_candidate"))
        if turn.draft is None:
            return turn, draft_slots(None)
        events = [SlotSet("draft_cancel_candidate", None)]
        mirrored = tracker.get_slot("draft_reference") in (None, turn.draft.reference)
        return turn, events + (draft_slots(turn.draft) if mirrored else [])


class ActionKeepDraft(DraftAction, action="action_keep_draft", opens_form=True):
    """The user did not confirm the cancellation: keep the draft and, if open, go on filling it in."""

    def act(self, conversation, tracker):
        turn = conversation.keep(message_of(tracker), tracker.get_slot("draft_cancel_candidate"))
        if turn.draft is None:
            return turn, draft_slots(None)
        return turn, [SlotSet("draft_cancel_candidate", None), *draft_slots(turn.draft)]


class ActionListDrafts(DraftAction, action="action_list_drafts"):
    """The owner's drafts, most recently changed first."""

    def act(self, conversation, tracker):
        return conversation.list_drafts(message_of(tracker)), []


class ActionExportDraft(DraftAction, action="action_export_draft"):
    """A ready draft as a FHIR PAS-shaped Bundle in the custom payload; else what is missing."""

    def act(self, conversation, tracker):
        shown = shows_payload(tracker.get_latest_input_channel())
        return conversation.export(message_of(tracker), tracker.get_slot("draft_reference"), shown), []


class ActionDraftComplete(DraftAction, action="action_draft_complete"):
    """The form has nothing left to ask: say the draft is ready and how to use it."""

    def act(self, conversation, tracker):
        turn = conversation.complete(message_of(tracker), tracker.get_slot("draft_reference"))
        return turn, [*draft_slots(turn.draft), SlotSet("draft_open", False)]
