"""Thin actions for draft review requests: start, show, change, cancel, list and export a draft.

Each reads the owner and the draft from the tracker, asks the drafts core (`priorauth.drafts`)
and answers with `utter_draft_*` responses. Slots mirror the saved draft with identifying values
masked: the database holds the draft, the tracker only what the form needs to know. Nothing here
logs a field value or a message text.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from datetime import date
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from actions import backend
from actions.answer import PAYLOAD_CHANNELS, with_slots
from priorauth.agent_proof import agent_vouched
from priorauth.drafts.export import DraftNotReady, to_pas_bundle
from priorauth.drafts.intake import (
    Intake,
    codes_in,
    draft_repository,
    missing_line,
    named_procedure,
    plural,
    procedure_line,
    read_fields,
    take_answer,
)
from priorauth.drafts.models import Draft, required_fields, utc_now
from priorauth.drafts.references import reference_in
from priorauth.drafts.repository import (
    DraftAccessDenied,
    DraftClosed,
    DraftError,
    DraftNotFound,
    DraftRepository,
)
from priorauth.drafts.validators import FIELD_LABELS, FIELDS, SETTINGS, validate_fields
from priorauth.kb.requirement import review_requirement
from priorauth.kb.results import Answer, Status
from priorauth.render import HEADLINES, payload, source_line
from priorauth.turns import context_of

logger = logging.getLogger(__name__)

# Slot names: the core's field names with a prefix (the question slots already use "setting").
FIELD_SLOTS = {name: f"draft_{name}" for name in FIELDS}
SLOT_FIELDS = {slot: name for name, slot in FIELD_SLOTS.items()}
STATUS_LABELS = {"open": "in progress", "ready": "ready to export", "cancelled": "cancelled"}
# "what's left", "what do you still need": only the missing fields, not the whole summary.
WHATS_LEFT = re.compile(r"\b(?:left|still\s+need|still\s+missing|missing|remaining|to\s+go|else)\b", re.IGNORECASE)

# Data-dependent texts of this module, kept together; fixed texts are utter_draft_* responses.
OUTLOOK_INTRO = "What this request will face: "
# 002 applies the site-of-care review to "certain" musculoskeletal procedures (its Resources list which).
SITE_OF_CARE_NOTES = {
    "certain": "In an outpatient hospital, certain musculoskeletal procedures also get a site-of-care review "
    "(AIM's Resources list which): the request must say why a hospital setting is medically necessary.",
    False: "Outside an outpatient hospital it needs no additional site-of-care review.",
    None: "If it is done in an outpatient hospital, certain musculoskeletal procedures also get a site-of-care review.",
}
NOT_GIVEN = "—"
REASON_GIVEN = "given"

clock = utc_now  # tests replace it with a fixed clock


# ---------------------------------------------------------------- who and which draft
def owner_of(tracker: Tracker) -> str:
    """The conversation's sender id, or ``agent:<id>`` for a message the agent channel proved an agent's.

    A sender in the agent namespace without the channel's proof (a socket.io client can choose its session id)
    owns nothing of any agent: it gets a name no agent's draft can have.
    """
    latest = tracker.latest_message or {}
    metadata = latest.get("metadata") or {}
    agent_id = metadata.get("agent_id")
    sender = tracker.sender_id
    if agent_id and agent_vouched(sender, str(agent_id), latest.get("message_id"), metadata.get("agent_proof")):
        return f"agent:{agent_id}"
    if agent_id:
        logger.warning("a message claimed an agent id without the agent channel's proof: no agent rights given")
    if sender.startswith("agent:"):
        return f"unverified:{sender}"
    return sender


def repository(factory: sessionmaker, codes: Iterable[str] = ()) -> DraftRepository:
    """A repository on this module's clock whose validation knows the KB's codes and programs' start dates."""
    return draft_repository(factory, clock, codes)


def current_draft(repo: DraftRepository, tracker: Tracker, owner: str) -> Draft | None:
    """The draft a message is about: one it names, else the conversation's, else the owner's latest.

    A named draft that is missing or someone else's raises DraftNotFound / DraftAccessDenied.
    """
    named = reference_in(tracker.latest_message.get("text"))
    if named:
        return repo.get(named, owner)
    reference = tracker.get_slot("draft_reference")
    if reference:
        try:
            draft = repo.get(reference, owner)
            if draft.status != "cancelled":
                return draft
        except (DraftNotFound, DraftAccessDenied):
            pass  # e.g. the same conversation now speaks for an agent
    draft = repo.latest_open_for_owner(owner)
    if draft is not None:
        return draft
    return next(iter(repo.list_for_owner(owner, status="ready")), None)


# ---------------------------------------------------------------- saying what a message did
def report(dispatcher: CollectingDispatcher, intake: Intake, said: Iterable[str] = ()) -> None:
    """The corrections confirmed in one line, notes, each invalid field's own message, then warnings.

    ``said`` holds the bot's texts of the previous turn: an error is never sent twice in a row.
    """
    if intake.confirm:
        dispatcher.utter_message(response="utter_draft_updated", confirmation=intake.confirmation())
    for note in intake.notes:
        dispatcher.utter_message(text=note)
    said = set(said)
    for error in intake.errors:
        if f"{error.message}." in said:
            dispatcher.utter_message(response="utter_draft_still_invalid", field=FIELD_LABELS[error.field].lower())
        else:
            dispatcher.utter_message(response="utter_draft_field_invalid", error=error.message)
    for warning in intake.warnings:
        dispatcher.utter_message(response="utter_draft_warning", warning=warning)


def previous_bot_texts(tracker: Tracker) -> list[str]:
    """What the bot said between the user's previous message and the latest one."""
    texts: list[str] = []
    users = 0
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            users += 1
            if users == 2:
                break
        elif event.get("event") == "bot" and users == 1 and event.get("text"):
            texts.append(event["text"])
    return texts


def last_answered(repo: DraftRepository, draft: Draft, owner: str) -> str | None:
    """The field the owner gave last: what an unlabelled "I meant …" corrects."""
    events = [e for e in repo.events(draft.reference, owner) if e.action in ("field_set", "field_changed")]
    return events[-1].field if events else None


# ---------------------------------------------------------------- showing a draft
def shown_value(name: str, value: Any) -> str:
    if value in (None, "", []):
        return NOT_GIVEN
    if name == "site_of_care_reason":
        return REASON_GIVEN
    if name == "setting":
        return str(value).replace("_", " ")
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)


def masked_fields(repo: DraftRepository, draft: Draft) -> dict[str, Any]:
    """The draft's fields as the summary shows them: member id and birth date masked."""
    return repo.summary(draft)["fields"]


def draft_slots(repo: DraftRepository, draft: Draft | None) -> list[EventType]:
    """Slots mirroring the draft (masked values; None where nothing is saved)."""
    if draft is None or draft.status == "cancelled":
        events = [SlotSet("draft_reference", None), SlotSet("draft_open", False), SlotSet("draft_outlook", None)]
        return events + [SlotSet(slot, None) for slot in FIELD_SLOTS.values()]
    fields = masked_fields(repo, draft)
    events = [SlotSet("draft_reference", draft.reference), SlotSet("draft_open", draft.status == "open")]
    for name, slot in FIELD_SLOTS.items():
        value = fields[name]
        events.append(SlotSet(slot, None if value in (None, "", []) else shown_value(name, value)))
    return events


def summary_details(repo: DraftRepository, draft: Draft) -> str:
    summary = repo.summary(draft)
    lines = [f"- {FIELD_LABELS[name]}: {shown_value(name, summary['fields'][name])}" for name in required_fields(draft)]
    if summary["missing"]:
        lines.append("Still needed: " + ", ".join(FIELD_LABELS[name] for name in summary["missing"]) + ".")
    lines += [f"Note: {warning}." for warning in summary["warnings"]]
    return "\n".join(lines)


def utter_summary(dispatcher: CollectingDispatcher, tracker: Tracker, repo: DraftRepository, draft: Draft) -> None:
    details = summary_details(repo, draft)
    custom = {"type": "priorauth.draft", **repo.summary(draft)}
    status = STATUS_LABELS[draft.status]
    utter(dispatcher, tracker, "utter_draft_summary", custom, reference=draft.reference, status=status, details=details)


def utter(dispatcher: CollectingDispatcher, tracker: Tracker, response: str | None, custom: dict, **values) -> None:
    """A response (or plain ``text``) with its structured payload for the channels that render one."""
    if tracker.get_latest_input_channel() in PAYLOAD_CHANNELS:
        values["json_message"] = custom
    dispatcher.utter_message(response=response, **values)


def changes_text(repo: DraftRepository, draft: Draft, names: Iterable[str]) -> str:
    fields = masked_fields(repo, draft)
    return "; ".join(f"{FIELD_LABELS[name]} {shown_value(name, fields[name])}" for name in names)


# ---------------------------------------------------------------- the rules' outlook
def outlook(factory: sessionmaker, draft: Draft, procedure: str | None = None) -> tuple[str, str, dict] | None:
    """What the rules say the request will face: (key, text, payload), or None without a procedure."""
    codes = list(draft.procedure_codes or [])
    if not codes and not procedure:
        return None
    with factory() as session:
        answer = review_requirement(
            session,
            code=codes[0] if codes else None,
            procedure=None if codes else procedure,
            diagnoses=list(draft.diagnosis_codes or []),
            setting=draft.setting,
            date_of_service=draft.date_of_service,
        )
    text = OUTLOOK_INTRO + _headline(answer)
    site_of_care = answer.data.get("site_of_care_review")
    if "site_of_care_review" in answer.data or any("site_of_care_review" in case for case in answer.cases):
        text += " " + SITE_OF_CARE_NOTES[site_of_care]
    source = source_line(answer)
    key = f"{answer.status.value}|{answer.program}|{site_of_care}|{answer.data.get('code', {}).get('code')}"
    return key, text + ("\n" + source if source else ""), payload(answer)


def _headline(answer: Answer) -> str:
    if answer.status is Status.UNKNOWN:
        return answer.facts[0].text if answer.facts else HEADLINES[Status.UNKNOWN]
    code = answer.data.get("code", {}).get("code")
    subject = f"{code} ({answer.procedure_name})" if code and answer.procedure_name else answer.procedure_name
    # A decided status reads as the request's outlook; the others keep the decision's own sentence.
    decided = answer.status in (Status.REVIEW_REQUIRED, Status.NOTIFICATION_ONLY, Status.NOT_REQUIRED)
    headline = (None if decided else answer.data.get("headline")) or HEADLINES[answer.status].format(
        subject=subject or "it", program=answer.program_name or "AIM"
    )
    return headline.removeprefix("Yes: ").removeprefix("No: ")  # the intro already frames it


def utter_outlook(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    factory: sessionmaker,
    draft: Draft,
    procedure: str | None = None,
    last_said: str | None = None,
) -> list[EventType]:
    """Say what the request will face when that changed since it was last said (``last_said``)."""
    found = outlook(factory, draft, procedure)
    if found is None or found[0] == last_said:
        return []
    key, text, answer_payload = found
    utter(dispatcher, tracker, None, answer_payload, text=text)
    return [SlotSet("draft_outlook", key)]


# ---------------------------------------------------------------- a safe frame for every action
class DraftAction(Action, ABC):
    """Runs ``act`` with a repository; a missing, foreign or closed draft and a database outage
    each get a clear reply that names no field value."""

    opens_form = False  # a rule continues with the form when this action leaves `draft_open` true

    @abstractmethod
    def name(self) -> str: ...

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        try:
            factory = backend.session_factory()
            return self.act(dispatcher, tracker, factory, owner_of(tracker))
        except DraftAccessDenied as error:
            dispatcher.utter_message(response="utter_draft_not_yours", reference=error.reference)
        except DraftNotFound as error:
            dispatcher.utter_message(response="utter_draft_not_found", reference=error.reference)
        except DraftClosed as error:
            dispatcher.utter_message(response="utter_draft_closed", reference=error.reference)
        except DraftError as error:  # a concurrent change: the next message reads it again
            logger.warning("draft action %s: %s", self.name(), type(error).__name__)
            dispatcher.utter_message(response="utter_draft_try_again")
        except SQLAlchemyError as error:
            logger.error("draft storage unavailable: %s", type(error).__name__)
            backend.reset()
            dispatcher.utter_message(response="utter_service_unavailable")
        # Mid-form, the form goes on (with the conversation's own draft) after the refusal.
        return [SlotSet("draft_open", tracker.active_loop_name == "draft_form")] if self.opens_form else []

    @abstractmethod
    def act(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, factory: sessionmaker, owner: str
    ) -> list[EventType]: ...


def none_found(dispatcher: CollectingDispatcher) -> list[EventType]:
    dispatcher.utter_message(response="utter_draft_none")
    return [SlotSet("draft_open", False)]


# ---------------------------------------------------------------- the actions
class ActionStartDraft(DraftAction):
    """Opens a draft, pre-filled from the request's words and entities, or from the question just
    answered ("let's start one"), says what it took from where, and what the request will face."""

    opens_form = True

    def name(self) -> str:
        return "action_start_draft"

    def act(self, dispatcher, tracker, factory, owner):
        repo = repository(factory)
        raw = prefill(tracker, repo.today())
        remembered = remembered_fields(tracker, raw)
        procedure = named_procedure(factory, procedure_in(tracker))
        if procedure and len(procedure.codes) == 1 and "procedure_codes" not in raw:
            remembered["procedure_codes"] = procedure.codes[0]
        repo = repository(factory, codes_in({**remembered, **raw}))
        results = validate_fields({**remembered, **raw}, repo.validation_context())
        values = {name: {**remembered, **raw}[name] for name in results.valid}
        previous = conversation_draft(repo, tracker, owner)
        if previous is not None and is_empty(previous):  # "let's start one" just after starting one
            draft = repo.set_fields(previous.reference, owner, values) if values else previous
        else:
            draft = repo.open(owner, values)
        dispatcher.utter_message(response="utter_draft_started", reference=draft.reference)
        if previous is not None and previous.reference != draft.reference:
            dispatcher.utter_message(response="utter_draft_previous_kept", reference=previous.reference)
        given = [name for name in results.valid if name in raw]
        if given:
            dispatcher.utter_message(response="utter_draft_prefilled", fields=changes_text(repo, draft, given))
        recalled = [name for name in results.valid if name not in raw]
        if recalled:
            dispatcher.utter_message(response="utter_draft_recalled", fields=changes_text(repo, draft, recalled))
        elif procedure and "procedure_codes" not in results.valid:
            dispatcher.utter_message(text=procedure_line(procedure))
        warnings = [w for name in results.valid for w in (draft.warnings or {}).get(name, [])]
        report(dispatcher, Intake(draft, draft, errors=list(results.errors), warnings=warnings))
        context = context_of(tracker.slots, tracker.latest_message)
        events = [*with_slots(context), *draft_slots(repo, draft), SlotSet("draft_outlook", None)]
        return events + utter_outlook(dispatcher, tracker, factory, draft, procedure_in(tracker))


def conversation_draft(repo: DraftRepository, tracker: Tracker, owner: str) -> Draft | None:
    """The open draft this conversation is working on, if any."""
    reference = tracker.get_slot("draft_reference")
    if not reference:
        return None
    try:
        draft = repo.get(reference, owner)
    except (DraftNotFound, DraftAccessDenied):
        return None
    return draft if draft.status == "open" else None


def is_empty(draft: Draft) -> bool:
    return all(getattr(draft, name) in (None, "", []) for name in FIELDS)


def prefill(tracker: Tracker, today: date) -> dict[str, str]:
    """Labelled fields of the request message, completed by its codes and setting entities."""
    text = tracker.latest_message.get("text") or ""
    raw = read_fields(text, today)
    found: dict[str, list[dict]] = {}
    for entity in tracker.latest_message.get("entities") or []:
        found.setdefault(entity.get("entity"), []).append(entity)
    if "procedure_codes" not in raw and found.get("cpt_code"):
        raw["procedure_codes"] = ", ".join(str(e["value"]) for e in found["cpt_code"])
    if "diagnosis_codes" not in raw and found.get("diagnosis_code"):
        raw["diagnosis_codes"] = ", ".join(str(e["value"]) for e in found["diagnosis_code"])
    facility = (raw.get("facility_name") or "").lower()
    for entity in found.get("setting", []):
        words = text[entity["start"] : entity["end"]].lower() if "start" in entity else ""
        if "setting" not in raw and entity["value"] in SETTINGS and not (words and words in facility):
            raw["setting"] = entity["value"]  # "at Mercy Hospital" names a facility, not a setting
    return {name: raw[name] for name in FIELDS if raw.get(name)}


def after_an_answer(tracker: Tracker) -> bool:
    """Whether the bot's last action before this message answered a question ("ok let's start one")."""
    seen_user = False
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            if seen_user:
                return False
            seen_user = True
        elif seen_user and event.get("event") == "action" and event.get("name") != "action_listen":
            return event.get("name") in ("action_answer", "action_fallback")
    return False


def names_a_subject(tracker: Tracker) -> bool:
    entities = tracker.latest_message.get("entities") or []
    return any(e.get("entity") in ("procedure", "cpt_code", "program") for e in entities)


def remembered_fields(tracker: Tracker, raw: dict[str, str]) -> dict[str, str]:
    """The code and diagnoses of the question just answered, for a request that names none itself."""
    if names_a_subject(tracker) or "procedure_codes" in raw or not after_an_answer(tracker):
        return {}
    remembered = {}
    if tracker.get_slot("cpt_code"):
        remembered["procedure_codes"] = str(tracker.get_slot("cpt_code"))
    if tracker.get_slot("diagnosis_code") and "diagnosis_codes" not in raw:
        remembered["diagnosis_codes"] = ", ".join(tracker.get_slot("diagnosis_code"))
    return remembered


def procedure_in(tracker: Tracker) -> str | None:
    """The procedure named in words, by the request or, after an answer, by the question."""
    latest = [e for e in tracker.latest_message.get("entities") or [] if e.get("entity") == "procedure"]
    if latest:
        return str(latest[0]["value"])
    if names_a_subject(tracker) or not after_an_answer(tracker):
        return None
    return tracker.get_slot("procedure")


class ActionShowDraft(DraftAction):
    """The draft's summary (masked), or only what it still needs when that is asked; an open draft
    then continues with the form."""

    opens_form = True

    def name(self) -> str:
        return "action_show_draft"

    def act(self, dispatcher, tracker, factory, owner):
        repo = repository(factory)
        draft = current_draft(repo, tracker, owner)
        if draft is None:
            return none_found(dispatcher)
        if draft.status == "open" and WHATS_LEFT.search(tracker.latest_message.get("text") or ""):
            dispatcher.utter_message(text=missing_line(draft))
        else:
            utter_summary(dispatcher, tracker, repo, draft)
        return draft_slots(repo, draft)


class ActionChangeDraft(DraftAction):
    """Changes the fields a message names ("change the date of service to 3/4"), each validated and confirmed."""

    opens_form = True

    def name(self) -> str:
        return "action_change_draft"

    def act(self, dispatcher, tracker, factory, owner):
        repo = repository(factory)
        draft = current_draft(repo, tracker, owner)
        if draft is None:
            return none_found(dispatcher)
        text = tracker.latest_message.get("text") or ""
        raw = read_fields(text, repo.today())
        if not raw:
            dispatcher.utter_message(response="utter_draft_change_how")
            return draft_slots(repo, draft)
        intake = take_answer(repository(factory, codes_in(raw, draft)), draft, owner, text)
        report(dispatcher, intake, previous_bot_texts(tracker))
        last_said = tracker.get_slot("draft_outlook")
        return draft_slots(repo, intake.draft) + utter_outlook(
            dispatcher, tracker, factory, intake.draft, last_said=last_said
        )


class ActionAskCancelDraft(DraftAction):
    """Asks to confirm before cancelling; remembers which draft the question is about."""

    def name(self) -> str:
        return "action_ask_cancel_draft"

    def act(self, dispatcher, tracker, factory, owner):
        draft = current_draft(repository(factory), tracker, owner)
        if draft is None:
            dispatcher.utter_message(response="utter_draft_none")
            return [SlotSet("draft_cancel_candidate", None)]
        dispatcher.utter_message(response="utter_draft_ask_cancel", reference=draft.reference)
        return [SlotSet("draft_cancel_candidate", draft.reference)]


class ActionCancelDraft(DraftAction):
    """Cancels the draft the confirmation was about."""

    def name(self) -> str:
        return "action_cancel_draft"

    def act(self, dispatcher, tracker, factory, owner):
        reference = tracker.get_slot("draft_cancel_candidate")
        if not reference:
            return none_found(dispatcher)
        repo = repository(factory)
        draft = repo.cancel(reference, owner)
        dispatcher.utter_message(response="utter_draft_cancelled", reference=draft.reference)
        events: list[EventType] = [SlotSet("draft_cancel_candidate", None)]
        if tracker.get_slot("draft_reference") in (None, draft.reference):
            events += draft_slots(repo, None)
        return events


class ActionKeepDraft(DraftAction):
    """The user did not confirm the cancellation: keep the draft and, if open, go on filling it in.

    A message that is neither yes nor no (a field's value, a correction) is taken as the form's answer.
    """

    opens_form = True

    def name(self) -> str:
        return "action_keep_draft"

    def act(self, dispatcher, tracker, factory, owner):
        reference = tracker.get_slot("draft_cancel_candidate")
        if not reference:
            dispatcher.utter_message(response="utter_draft_nothing_changed")
            return [SlotSet("draft_open", False)]
        repo = repository(factory)
        draft = repo.get(reference, owner)
        dispatcher.utter_message(response="utter_draft_kept", reference=draft.reference)
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        text = tracker.latest_message.get("text") or ""
        if intent != "deny" and draft.status != "cancelled" and not text.startswith("/"):
            expected = next(iter(repo.missing_fields(draft)), None)
            raw = read_fields(text, repo.today(), expected=expected)
            checker = repository(factory, codes_in(raw, draft))
            intake = take_answer(checker, draft, owner, text, expected, last_answered(repo, draft, owner))
            report(dispatcher, intake)
            draft = intake.draft
        return [SlotSet("draft_cancel_candidate", None), *draft_slots(repo, draft)]


class ActionListDrafts(DraftAction):
    """The owner's drafts, most recently changed first."""

    def name(self) -> str:
        return "action_list_drafts"

    def act(self, dispatcher, tracker, factory, owner):
        repo = repository(factory)
        named = reference_in(tracker.latest_message.get("text"))
        if named:
            # "show draft DR-7K3Q9P" read as a list request: the draft named is the one asked about (its owner
            # gets the summary; anyone else the refusal), whatever the classifier made of the reference.
            utter_summary(dispatcher, tracker, repo, repo.get(named, owner))
            return []
        drafts = repo.list_for_owner(owner)
        if not drafts:
            dispatcher.utter_message(response="utter_draft_list_empty")
            return []
        lines = [list_line(repo, draft) for draft in drafts[:10]]
        if len(drafts) > 10:
            lines.append(f"… and {len(drafts) - 10} older ones.")
        dispatcher.utter_message(response="utter_draft_list", drafts="\n".join(lines))
        return []


def list_line(repo: DraftRepository, draft: Draft) -> str:
    codes = ", ".join(draft.procedure_codes or []) or "no procedure yet"
    missing = repo.missing_fields(draft)
    line = f"- {draft.reference}: {STATUS_LABELS[draft.status]}, {codes}, changed {draft.updated_at.date().isoformat()}"
    if draft.status == "open" and missing:
        line += f" ({len(missing)} {plural(len(missing), 'field')} to go)"
    return line


class ActionExportDraft(DraftAction):
    """A ready draft as a FHIR PAS-shaped Bundle in the custom payload; else what is missing."""

    def name(self) -> str:
        return "action_export_draft"

    def act(self, dispatcher, tracker, factory, owner):
        repo = repository(factory)
        draft = current_draft(repo, tracker, owner)
        if draft is None:
            dispatcher.utter_message(response="utter_draft_none")
            return []
        try:
            bundle = to_pas_bundle(draft)
        except DraftNotReady as error:
            missing = ", ".join(FIELD_LABELS[name] for name in error.missing) or "nothing"
            dispatcher.utter_message(response="utter_draft_not_ready", reference=draft.reference, missing=missing)
            return []
        custom = {"type": "priorauth.pas_bundle", "reference": draft.reference, "bundle": bundle}
        if tracker.get_latest_input_channel() in PAYLOAD_CHANNELS:
            dispatcher.utter_message(response="utter_draft_exported", reference=draft.reference, json_message=custom)
        else:  # the widget shows text only
            dispatcher.utter_message(response="utter_draft_export_elsewhere", reference=draft.reference)
        return []


class ActionDraftComplete(DraftAction):
    """The form has nothing left to ask: say the draft is ready and how to use it."""

    def name(self) -> str:
        return "action_draft_complete"

    def act(self, dispatcher, tracker, factory, owner):
        repo = repository(factory)
        draft = current_draft(repo, tracker, owner)
        if draft is None:
            return none_found(dispatcher)
        if draft.status == "ready":
            dispatcher.utter_message(response="utter_draft_complete", reference=draft.reference)
        else:
            utter_summary(dispatcher, tracker, repo, draft)
        return [*draft_slots(repo, draft), SlotSet("draft_open", False)]
