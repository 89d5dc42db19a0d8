"""The draft conversation's turns without Rasa: start, show, change, keep, cancel, list, export, complete, and
one message to the form.

A `Conversation` holds one owner, a session factory and a clock, all passed in. Each turn takes plain values (the
`Message`, the field asked, the draft the conversation is on, what the bot said last) and returns a `Turn`: the
draft, what to say (each `Say` a domain response with its values, or a data-dependent text, and a payload for
the clients that show one), the field to ask next and the rules' outlook said. The actions only translate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import sessionmaker

from priorauth.drafts.export import DraftNotReady, to_pas_bundle
from priorauth.drafts.intake import (
    Intake,
    asks_whats_left,
    codes_in,
    draft_repository,
    named_procedure,
    read_fields,
    take_answer,
)
from priorauth.drafts.messages import (
    WHATS_LEFT,
    Earlier,
    Message,
    is_interruption,
    prefill,
    procedure_named,
    remembered_fields,
)
from priorauth.drafts.models import Draft, has_value, missing_fields
from priorauth.drafts.references import reference_in
from priorauth.drafts.repository import (
    DraftAccessDenied,
    DraftClosed,
    DraftError,
    DraftNotFound,
    DraftRepository,
    summary_of,
)
from priorauth.drafts.texts import (
    STATUS_LABELS,
    changes_text,
    list_lines,
    missing_line,
    outlook_text,
    procedure_line,
    summary_details,
)
from priorauth.drafts.validators import FIELD_LABELS, FIELDS, validate_fields
from priorauth.kb.requirement import review_requirement
from priorauth.render import payload

# Fields whose change may change what the rules say.
OUTLOOK_FIELDS = frozenset({"procedure_codes", "setting", "diagnosis_codes", "date_of_service"})


@dataclass(frozen=True)
class Say:
    """One message to send: a domain response with its values, or a text; ``payload`` for clients that show it."""

    response: str | None = None
    text: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    payload: dict | None = None


@dataclass
class Turn:
    """What one turn did: the draft it is about (None: none found), what to say, and where the form goes."""

    draft: Draft | None = None
    says: list[Say] = field(default_factory=list)
    next_field: str | None = None  # the form's next question (None: nothing left)
    outlook: str | None = None  # the key of the outlook said in this turn, if one was
    handed_back: bool = False  # the message is a question or a command for the rules, not an answer

    def masked_fields(self) -> dict[str, Any]:
        """The draft's fields as its masked summary holds them."""
        return summary_of(self.draft)["fields"]


@dataclass(frozen=True)
class Outlook:
    """What the rules say the request will face: a key (to say it only when it changes), the text, the payload."""

    key: str
    text: str
    payload: dict


def outlook(factory: sessionmaker, draft: Draft, procedure: str | None = None) -> Outlook | None:
    """The review requirement of the draft's first code (or the procedure named), or None without either."""
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
    site_of_care = answer.data.get("site_of_care_review")
    key = f"{answer.status.value}|{answer.program}|{site_of_care}|{answer.data.get('code', {}).get('code')}"
    return Outlook(key, outlook_text(answer), payload(answer))


def say(response: str, **values: Any) -> Say:
    return Say(response, values=values)


NONE_FOUND = Say("utter_draft_none")
# The drafts a message may not touch, each refused by its reference (never by a value).
REFUSALS = {
    DraftAccessDenied: "utter_draft_not_yours",
    DraftNotFound: "utter_draft_not_found",
    DraftClosed: "utter_draft_closed",
}


def refusal(error: DraftError) -> Say | None:
    """The reply to a draft that is missing, someone else's or closed; None for another error (a concurrent change)."""
    response = REFUSALS.get(type(error))
    return say(response, reference=error.reference) if response else None


def report(intake: Intake, said: Iterable[str] = ()) -> list[Say]:
    """The corrections confirmed in one line, notes, each invalid field's own message, then warnings.

    ``said`` holds the bot's texts of the previous turn: an error is never sent twice in a row.
    """
    says = [say("utter_draft_updated", confirmation=intake.confirmation())] if intake.confirm else []
    says += [Say(text=note) for note in intake.notes]
    said = set(said)
    for error in intake.errors:
        if f"{error.message}." in said:
            says.append(say("utter_draft_still_invalid", field=FIELD_LABELS[error.field].lower()))
        else:
            says.append(say("utter_draft_field_invalid", error=error.message))
    return says + [say("utter_draft_warning", warning=warning) for warning in intake.warnings]


class Conversation:
    """One owner's draft conversation over a database (``factory``) on a clock; nothing else is global."""

    def __init__(self, factory: sessionmaker, clock: Callable[[], datetime], owner: str) -> None:
        self.factory = factory
        self.clock = clock
        self.owner = owner
        self.repo = draft_repository(factory, clock)

    def checker(self, raw: Mapping[str, Any], draft: Draft | None = None) -> DraftRepository:
        """A repository whose validation also knows when the programs of the codes in play began."""
        return draft_repository(self.factory, self.clock, codes_in(raw, draft))

    # ---------------------------------------------------------------- which draft
    def current(self, text: str, reference: str | None) -> Draft | None:
        """The draft a message is about: one it names, else the conversation's, else the owner's latest.

        A named draft that is missing or someone else's raises DraftNotFound / DraftAccessDenied.
        """
        named = reference_in(text)
        if named:
            return self.repo.get(named, self.owner)
        if reference:
            try:
                draft = self.repo.get(reference, self.owner)
                if draft.status != "cancelled":
                    return draft
            except (DraftNotFound, DraftAccessDenied):
                pass  # e.g. the same conversation now speaks for an agent
        draft = self.repo.latest_open_for_owner(self.owner)
        if draft is not None:
            return draft
        return next(iter(self.repo.list_for_owner(self.owner, status="ready")), None)

    def open_draft(self, reference: str | None) -> Draft | None:
        """The open draft this conversation is working on, if any."""
        if not reference:
            return None
        try:
            draft = self.repo.get(reference, self.owner)
        except (DraftNotFound, DraftAccessDenied):
            return None
        return draft if draft.status == "open" else None

    def form_draft(self, reference: str | None) -> Draft:
        """The conversation's draft; the owner's latest open one, or a new one, if it has none."""
        if reference:
            draft = self.repo.get(reference, self.owner)
            if draft.status != "cancelled":
                return draft
        return self.repo.latest_open_for_owner(self.owner) or self.repo.open(self.owner)

    def last_answered(self, draft: Draft) -> str | None:
        """The field the owner gave last: what an unlabelled "I meant …" corrects."""
        events = self.repo.events(draft.reference, self.owner)
        changes = [event for event in events if event.action in ("field_set", "field_changed")]
        return changes[-1].field if changes else None

    # ---------------------------------------------------------------- the turns
    def start(self, message: Message, reference: str | None = None, earlier: Earlier | None = None) -> Turn:
        """A new draft, pre-filled from the request (or the question just answered), and its outlook."""
        raw = prefill(message, self.repo.today())
        given = remembered_fields(message, raw, earlier)
        procedure_id = procedure_named(message, earlier)
        procedure = named_procedure(self.factory, procedure_id)
        if procedure and len(procedure.codes) == 1 and "procedure_codes" not in raw:
            given["procedure_codes"] = procedure.codes[0]
        given.update(raw)
        repo = self.checker(given)
        results = validate_fields(given, repo.validation_context())
        values = {name: given[name] for name in results.valid}
        previous = self.open_draft(reference)
        if previous is not None and not any(has_value(previous, name) for name in FIELDS):
            draft = repo.set_fields(previous.reference, self.owner, values) if values else previous  # started twice
        else:
            draft = repo.open(self.owner, values)
        turn = Turn(draft, [say("utter_draft_started", reference=draft.reference)])
        if previous is not None and previous.reference != draft.reference:
            turn.says.append(say("utter_draft_previous_kept", reference=previous.reference))
        masked = turn.masked_fields()
        if prefilled := [name for name in results.valid if name in raw]:
            turn.says.append(say("utter_draft_prefilled", fields=changes_text(masked, prefilled)))
        if recalled := [name for name in results.valid if name not in raw]:
            turn.says.append(say("utter_draft_recalled", fields=changes_text(masked, recalled)))
        elif procedure and "procedure_codes" not in results.valid:
            turn.says.append(Say(text=procedure_line(procedure.name, procedure.codes)))
        warnings = [w for name in results.valid for w in (draft.warnings or {}).get(name, [])]
        turn.says += report(Intake(draft, draft, errors=list(results.errors), warnings=warnings))
        return self._with_outlook(turn, procedure_id)

    def show(self, message: Message, reference: str | None) -> Turn:
        """The draft's summary, or only what it still needs when that is asked."""
        draft = self.current(message.text, reference)
        if draft is None:
            return Turn(None, [NONE_FOUND])
        if draft.status == "open" and WHATS_LEFT.search(message.text):
            return Turn(draft, [Say(text=missing_line(draft))])
        return Turn(draft, [self.summary(draft)])

    def summary(self, draft: Draft) -> Say:
        summary = summary_of(draft)
        return Say(
            "utter_draft_summary",
            values={
                "reference": draft.reference,
                "status": STATUS_LABELS[draft.status],
                "details": summary_details(draft, summary),
            },
            payload={"type": "priorauth.draft", **summary},
        )

    def change(
        self, message: Message, reference: str | None, said_last: Iterable[str] = (), outlook_said: str | None = None
    ) -> Turn:
        """The fields a message names, each validated, saved and confirmed; the outlook if it changed."""
        draft = self.current(message.text, reference)
        if draft is None:
            return Turn(None, [NONE_FOUND])
        raw = read_fields(message.text, self.repo.today())
        if not raw:
            return Turn(draft, [say("utter_draft_change_how")])
        intake = take_answer(self.checker(raw, draft), draft, self.owner, message.text)
        return self._with_outlook(Turn(intake.draft, report(intake, said_last)), last_said=outlook_said)

    def ask_cancel(self, message: Message, reference: str | None) -> Turn:
        draft = self.current(message.text, reference)
        if draft is None:
            return Turn(None, [NONE_FOUND])
        return Turn(draft, [say("utter_draft_ask_cancel", reference=draft.reference)])

    def cancel(self, candidate: str | None) -> Turn:
        if not candidate:
            return Turn(None, [NONE_FOUND])
        draft = self.repo.cancel(candidate, self.owner)
        return Turn(draft, [say("utter_draft_cancelled", reference=draft.reference)])

    def keep(self, message: Message, candidate: str | None) -> Turn:
        """The cancellation not confirmed: the draft kept; a message that is not a no is the form's answer."""
        if not candidate:
            return Turn(None, [say("utter_draft_nothing_changed")])
        draft = self.repo.get(candidate, self.owner)
        turn = Turn(draft, [say("utter_draft_kept", reference=draft.reference)])
        if message.intent != "deny" and draft.status != "cancelled" and not message.text.startswith("/"):
            expected = next(iter(missing_fields(draft)), None)
            raw = read_fields(message.text, self.repo.today(), expected=expected)
            checker = self.checker(raw, draft)
            intake = take_answer(checker, draft, self.owner, message.text, expected, self.last_answered(draft))
            turn.draft, turn.says = intake.draft, turn.says + report(intake)
        return turn

    def list_drafts(self, message: Message) -> Turn:
        """The owner's drafts, most recent first; a draft the message names is shown instead."""
        named = reference_in(message.text)
        if named:
            # "show draft DR-7K3Q9P" read as a list request: the draft named is the one asked about (its owner
            # gets the summary; anyone else the refusal), whatever the classifier made of the reference.
            draft = self.repo.get(named, self.owner)
            return Turn(draft, [self.summary(draft)])
        drafts = self.repo.list_for_owner(self.owner)
        if not drafts:
            return Turn(None, [say("utter_draft_list_empty")])
        return Turn(None, [say("utter_draft_list", drafts=list_lines(drafts))])

    def export(self, message: Message, reference: str | None, payload_shown: bool) -> Turn:
        """A ready draft as a FHIR PAS-shaped Bundle (for a client that shows it); else what is missing."""
        draft = self.current(message.text, reference)
        if draft is None:
            return Turn(None, [NONE_FOUND])
        try:
            bundle = to_pas_bundle(draft)
        except DraftNotReady as error:
            missing = ", ".join(FIELD_LABELS[name] for name in error.missing) or "nothing"
            return Turn(draft, [say("utter_draft_not_ready", reference=draft.reference, missing=missing)])
        if not payload_shown:  # the widget shows text only
            return Turn(draft, [say("utter_draft_export_elsewhere", reference=draft.reference)])
        custom = {"type": "priorauth.pas_bundle", "reference": draft.reference, "bundle": bundle}
        return Turn(draft, [Say("utter_draft_exported", values={"reference": draft.reference}, payload=custom)])

    def complete(self, message: Message, reference: str | None) -> Turn:
        """The form has nothing left to ask: the draft is ready (or, if not, its summary)."""
        draft = self.current(message.text, reference)
        if draft is None:
            return Turn(None, [NONE_FOUND])
        if draft.status == "ready":
            return Turn(draft, [say("utter_draft_complete", reference=draft.reference)])
        return Turn(draft, [self.summary(draft)])

    def answer(
        self,
        message: Message,
        expected: str | None,
        reference: str | None,
        said_last: Iterable[str] = (),
        outlook_said: str | None = None,
        resuming: bool = False,
    ) -> Turn:
        """One message to the form: the fields it gives saved, the next field chosen from what the draft lacks.

        ``resuming``: the form comes back after another action, so the message is not its answer.
        """
        draft = self.form_draft(reference)
        if resuming:
            return self._next(Turn(draft))
        if asks_whats_left(message.text):  # answered here, whatever the intent ("what more do you need?")
            return self._next(Turn(draft, [Say(text=missing_line(draft))]))
        raw = read_fields(message.text, self.repo.today(), expected=expected)
        checker = self.checker(raw, draft)
        if is_interruption(message.intent, message.text, expected, raw, checker.validation_context()):
            return Turn(draft, handed_back=True)  # the rules answer it, then the form resumes
        if not raw:
            return self._next(Turn(draft, [say("utter_draft_not_understood")]))
        intake = take_answer(checker, draft, self.owner, message.text, expected, self.last_answered(draft))
        turn = Turn(intake.draft, report(intake, said_last), next_field=intake.next_field())
        return self._with_outlook(turn, last_said=outlook_said) if OUTLOOK_FIELDS & set(intake.saved) else turn

    # ---------------------------------------------------------------- helpers
    def _next(self, turn: Turn) -> Turn:
        turn.next_field = next(iter(missing_fields(turn.draft)), None)
        return turn

    def _with_outlook(self, turn: Turn, procedure: str | None = None, last_said: str | None = None) -> Turn:
        """Add what the request will face when that changed since it was last said."""
        found = outlook(self.factory, turn.draft, procedure)
        if found is not None and found.key != last_said:
            turn.says.append(Say(text=found.text, payload=found.payload))
            turn.outlook = found.key
        return turn
