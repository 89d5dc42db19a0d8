"""The draft form's validation: reads every field a message gives, saves the valid ones at once and
chooses the next field to ask, from what the saved draft still lacks.

It replaces a `FormValidationAction`'s per-slot methods on purpose: one message may answer several
fields, and the draft in the database, not the slots, decides what is missing. A message that
carries no answer but a question or a command is handed back (the form is rejected), so that the
rules answer it and return to the form.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from actions import backend
from actions.drafts import (
    FIELD_SLOTS,
    SLOT_FIELDS,
    draft_slots,
    last_answered,
    owner_of,
    previous_bot_texts,
    report,
    repository,
    utter_outlook,
)
from priorauth.drafts.intake import asks_whats_left, codes_in, missing_line, read_fields, take_answer
from priorauth.drafts.models import Draft
from priorauth.drafts.repository import DraftError, DraftRepository
from priorauth.drafts.validators import FIELDS, validate_fields

logger = logging.getLogger(__name__)

FORM = "draft_form"
# Intents that leave the form for a moment; each has a rule that answers and returns to the form
# (data/rules/drafts.yml). Other intents (inform, change_draft, affirm, deny, nlu_fallback) answer it.
COMMAND_INTENTS = frozenset(
    {
        "show_draft",
        "cancel_draft",
        "list_drafts",
        "export_draft",
        "request_draft",
        "greet",
        "goodbye",
        "thank",
        "help",
        "bot_challenge",
        "out_of_scope",
    }
)
QUESTION_PREFIX = "ask_"
# Actions of the form itself: any other action since the user spoke means the form is resuming.
FORM_ACTIONS = frozenset({FORM, f"validate_{FORM}", "action_listen"})
_QUESTION = re.compile(
    r"^\W*(?:(?:wait|hold on|sorry|oh|ok(?:ay)?|so|and|but|hey|quick question)\W+)*"
    r"(?:how|what|what's|whats|when|where|which|who|why|does|do|is|are|can|could|should|will|would)\b",
    re.IGNORECASE,
)
SHORT_ANSWER_WORDS = 3
FREE_TEXT_FIELDS = ("site_of_care_reason",)
# The form asks for each field with its `utter_ask_<slot>` response, which Rasa finds by name;
# named here so that scripts/validate_data.py counts them as used (a unit test checks the domain).
ASK_RESPONSES = {
    "member_id": "utter_ask_draft_member_id",
    "member_dob": "utter_ask_draft_member_dob",
    "ordering_npi": "utter_ask_draft_ordering_npi",
    "ordering_tax_id": "utter_ask_draft_ordering_tax_id",
    "servicing_npi": "utter_ask_draft_servicing_npi",
    "facility_name": "utter_ask_draft_facility_name",
    "setting": "utter_ask_draft_setting",
    "procedure_codes": "utter_ask_draft_procedure_codes",
    "diagnosis_codes": "utter_ask_draft_diagnosis_codes",
    "date_of_service": "utter_ask_draft_date_of_service",
    "site_of_care_reason": "utter_ask_draft_site_of_care_reason",
}


class ValidateDraftForm(Action):
    def name(self) -> str:
        return f"validate_{FORM}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        requested = SLOT_FIELDS.get(tracker.get_slot("requested_slot"))
        try:
            return self._run(dispatcher, tracker, requested)
        except DraftError as error:  # e.g. changed meanwhile from another window
            logger.warning("draft form: %s", type(error).__name__)
            dispatcher.utter_message(response="utter_draft_try_again")
        except SQLAlchemyError as error:
            logger.error("draft storage unavailable: %s", type(error).__name__)
            backend.reset()
            dispatcher.utter_message(response="utter_service_unavailable")
        # Keep the form where it was: the same field is asked again.
        slot = FIELD_SLOTS.get(requested or "", FIELD_SLOTS[FIELDS[0]])
        return [SlotSet(slot, tracker.get_slot(slot)), SlotSet("requested_slot", slot)]

    def _run(self, dispatcher: CollectingDispatcher, tracker: Tracker, requested: str | None) -> list[EventType]:
        factory = backend.session_factory()
        owner = owner_of(tracker)
        repo = repository(factory)
        draft = form_draft(repo, tracker, owner)
        if resuming(tracker):  # back from a question, a summary, or just (re)activated
            return next_step(repo, draft, errors=())
        text = tracker.latest_message.get("text") or ""
        if asks_whats_left(text):  # answered here, whatever the intent ("what more do you need?" reads as help)
            dispatcher.utter_message(text=missing_line(draft))
            return next_step(repo, draft, errors=())
        raw = read_fields(text, repo.today(), expected=requested)
        checker = repository(factory, codes_in(raw, draft))
        if is_interruption(tracker, text, requested, raw, checker):
            return []  # the form is rejected: a rule answers, then the form resumes
        if not raw:
            dispatcher.utter_message(response="utter_draft_not_understood")
            return next_step(repo, draft, errors=())
        intake = take_answer(checker, draft, owner, text, requested, last_answered(repo, draft, owner))
        report(dispatcher, intake, previous_bot_texts(tracker))
        draft = intake.draft
        events = next_step(repo, draft, errors=[error.field for error in intake.errors])
        if {"procedure_codes", "setting", "diagnosis_codes", "date_of_service"} & set(intake.saved):
            events += utter_outlook(dispatcher, tracker, factory, draft, last_said=tracker.get_slot("draft_outlook"))
        return events


def form_draft(repo: DraftRepository, tracker: Tracker, owner: str) -> Draft:
    """The conversation's draft; the owner's latest open one, or a new one, if it has none."""
    reference = tracker.get_slot("draft_reference")
    if reference:
        draft = repo.get(reference, owner)
        if draft.status != "cancelled":
            return draft
    return repo.latest_open_for_owner(owner) or repo.open(owner)


def resuming(tracker: Tracker) -> bool:
    """True when another action ran since the user's message: that message is not the form's."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "action" and event.get("name") not in FORM_ACTIONS:
            return True
    return False


def next_step(repo: DraftRepository, draft: Draft, errors) -> list[EventType]:
    """Slots mirroring the draft, and the field to ask next: the first refused, else the first missing."""
    missing = repo.missing_fields(draft)
    following = next((name for name in FIELDS if name in errors), None) or (missing[0] if missing else None)
    return [*draft_slots(repo, draft), SlotSet("requested_slot", FIELD_SLOTS[following] if following else None)]


_MORE = re.compile(r"\b(more|full|whole|rest|everything|all of it|details?)\b", re.I)


def is_interruption(tracker: Tracker, text: str, expected: str | None, raw: dict, checker: DraftRepository) -> bool:
    """Whether a message is a question or a command rather than an answer.

    The intent alone is not trusted: an ID, a mistyped number or a facility name may be classified
    as anything. A question's shape, a command without digits, or no attempt at an answer decides.
    """
    intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
    if not (intent.startswith(QUESTION_PREFIX) or intent in COMMAND_INTENTS):
        return False
    if intent == "ask_more" and not _MORE.search(text):
        return False  # "on the moon" is a (wrong) setting, not "More": the form says what it expects
    if intent == "out_of_scope" and expected in FREE_TEXT_FIELDS and not _QUESTION.match(text):
        return False  # a clinical reason in the user's words reads like anything; it is the answer asked for
    if text.rstrip().endswith("?") or _QUESTION.match(text):
        return True
    context = checker.validation_context()
    has_digit = bool(re.search(r"\d", text))
    labelled = read_fields(text, context.today)
    if (labelled and has_digit) or validate_fields(labelled, context).valid:
        return False  # "dob 3/4/1960", "NPI 1234567890": answers (right or wrong) whatever the intent
    if intent in COMMAND_INTENTS and not has_digit:
        return True  # "cancel it", "show my drafts", "thanks"
    answer = raw.get(expected) if expected else None
    if answer is None:
        return True
    short = len(text.split()) <= SHORT_ANSWER_WORDS
    if validate_fields({expected: answer}, context).errors:
        return not (has_digit and short)  # "00-1234567": a mistyped value, to be told what is wrong
    if expected in FREE_TEXT_FIELDS or short:
        return False
    return not (expected == "facility_name" and looks_like_a_name(text))


def looks_like_a_name(text: str) -> bool:
    """A facility's proper name: a later word capitalized or holding a digit ("St. Mary's East 2")."""
    return any(word[:1].isupper() or any(c.isdigit() for c in word) for word in text.split()[1:])
