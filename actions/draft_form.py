"""The draft form's validation: every field a message gives is saved at once and the next field to ask is chosen
from what the saved draft still lacks (`Conversation.answer`).

It replaces a `FormValidationAction`'s per-slot methods on purpose: one message may answer several fields, and
the draft in the database, not the slots, decides what is missing. A message that carries no answer but a
question or a command is handed back (the form is rejected), so that the rules answer it and return to the form.
"""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from actions.drafts import (
    FIELD_SLOTS,
    SLOT_FIELDS,
    DraftAction,
    draft_slots,
    message_of,
    outlook_slot,
)
from priorauth.drafts.messages import action_since_message, bot_texts_since_previous_message
from priorauth.drafts.validators import FIELDS

FORM = "draft_form"
# Actions of the form itself: any other action since the user spoke means the form is resuming.
FORM_ACTIONS = frozenset({FORM, f"validate_{FORM}", "action_listen"})
# The form asks each field with the domain's `utter_ask_draft_<field>` response, which Rasa finds by name.


class ValidateDraftForm(DraftAction, action=f"validate_{FORM}"):
    refuses = False  # any draft error mid-form (e.g. changed meanwhile from another window): "say that again"

    def act(self, conversation, tracker):
        slot = tracker.get_slot
        expected = SLOT_FIELDS.get(slot("requested_slot"))
        said = bot_texts_since_previous_message(tracker.events)
        resuming = action_since_message(tracker.events, FORM_ACTIONS)  # back from a question, a summary, or (re)started
        turn = conversation.answer(
            message_of(tracker), expected, slot("draft_reference"), said, slot("draft_outlook"), resuming
        )
        if turn.handed_back:
            return turn, []  # the form is rejected: a rule answers, then the form resumes
        asked = FIELD_SLOTS[turn.next_field] if turn.next_field else None
        return turn, [*draft_slots(turn.draft), SlotSet("requested_slot", asked), *outlook_slot(turn)]

    def refused(self, tracker: Tracker):
        # Keep the form where it was: the same field is asked again.
        requested = SLOT_FIELDS.get(tracker.get_slot("requested_slot"))
        slot = FIELD_SLOTS.get(requested or "", FIELD_SLOTS[FIELDS[0]])
        return [SlotSet(slot, tracker.get_slot(slot)), SlotSet("requested_slot", slot)]
