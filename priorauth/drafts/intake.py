"""One message of a draft conversation, without Rasa: which fields it gives, what is saved, what to say.

`take_answer` reads a message's fields (labelled, or the answer to the field the form asked), saves
the valid ones, and returns an `Intake`: fields saved, corrections to confirm, errors, warnings, notes
and the next field to ask. The repository carries the clock and the session factory; the sentences
about a draft are in `priorauth.drafts.texts`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import sessionmaker

from priorauth.dates import read_service_date
from priorauth.drafts.models import Draft, has_value, missing_fields
from priorauth.drafts.parsing import extract_fields
from priorauth.drafts.repository import DraftRepository
from priorauth.drafts.texts import HOSPITAL_SETTING_NOTE, SETTING_FROM_NAME_NOTE, confirmation_line
from priorauth.drafts.validators import (
    FIELDS,
    FieldError,
    FieldResults,
    normalize_setting,
    validate_field,
    validate_fields,
    validate_procedure_codes,
)
from priorauth.kb import models as kb
from priorauth.kb.queries import known_code, program_chain
from priorauth.kb.results import Answer, Status

# ---------------------------------------------------------------- the repository a message needs


def draft_repository(
    factory: sessionmaker, clock: Callable[[], datetime], codes: Iterable[str] = ()
) -> DraftRepository:
    """A repository whose validation knows the KB's codes and the programs' first dates of service."""

    def known(code: str) -> bool:
        with factory() as session:
            return known_code(session, code)

    return DraftRepository(
        factory, clock, known_code=known, earliest_service_date=earliest_service_date(factory, codes)
    )


def earliest_service_date(factory: sessionmaker, codes: Iterable[str]) -> date | None:
    """The latest program start date among the programs that review these procedure codes."""
    codes = [str(code).strip().upper() for code in codes]
    if not codes:
        return None
    starts = []
    with factory() as session:
        for code in codes:
            row = session.get(kb.ProcedureCode, code)
            procedure = session.get(kb.Procedure, row.procedure_id) if row else None
            if procedure is not None:
                chain = program_chain(session, procedure.program_id)
                starts += [program.effective_from for program in chain if program.effective_from]
    return max(starts, default=None)


def codes_in(raw: Mapping[str, Any], draft: Draft | None = None) -> list[str]:
    """Procedure codes already on the draft and those the message gives (if well formed)."""
    codes = list(draft.procedure_codes or []) if draft is not None else []
    if raw.get("procedure_codes"):
        try:
            codes += validate_procedure_codes(raw["procedure_codes"]).value
        except FieldError:
            pass
    return codes


# ---------------------------------------------------------------- reading a message
_VALUE_CUE = re.compile(r"\s+(?:to|into|as|should\s+be|is\s+now)\s+(?=\S)", re.IGNORECASE)
# "I meant …", "make that …": the value corrects the answer given last, not the question now asked.
_STRONG_CORRECTION = re.compile(
    r"^\W*(?:(?:no|oh|oops|sorry|wait)\W+)*(?:i\s+meant?|i\s+mean|meant|make\s+(?:that|it)|correction"
    r"|(?:it\s+|that\s+)?should\s+(?:have\s+)?(?:been|be)|typo)\b\W*",
    re.IGNORECASE,
)
# "actually …", "sorry, …": a correction only when the value does not fit the question asked.
_WEAK_CORRECTION = re.compile(r"^\W*(?:(?:no|oh|oops|sorry|wait|actually|correction)\b\W*)+", re.IGNORECASE)
# Words of a facility's name that say its setting; a hospital alone leaves outpatient or inpatient open.
_ASC_NAME = re.compile(r"\b(?:ambulatory|surgery\s+cent(?:er|re)|surgical\s+cent(?:er|re)|surgicenter|asc)\b", re.I)
_BARE_OUTPATIENT = re.compile(
    r"^\W*(?:the\s+|an?\s+|it'?s\s+)?(?:outpatient|out-patient|op)(?:\s+(?:side|one|please))?\W*$", re.I
)
_HOSPITAL_NAME = re.compile(r"\b(?:hospital|medical\s+cent(?:er|re))\b", re.I)


def read_fields(text: str, today: date, expected: str | None = None) -> dict[str, str]:
    """The raw draft fields of a message, with "change X to Y" and yearless service dates understood."""
    if expected != "site_of_care_reason":  # a reason is free text: keep its words
        text = _VALUE_CUE.sub(" ", text or "")
    raw = extract_fields(text, expected=expected)
    if "date_of_service" in raw:
        raw["date_of_service"] = complete_service_date(raw["date_of_service"], today)
    return raw


def complete_service_date(raw: str, today: date) -> str:
    """Write a date of service out in full: "3/4" or "Dec 2nd" gets the year of its next occurrence, "3/4/27" its
    century (the rule of priorauth.dates.read_service_date). Anything unreadable is returned unchanged for the
    validator to judge.
    """
    day = read_service_date(raw, today)
    return f"{day.month}/{day.day}/{day.year}" if day is not None else raw


def setting_in_name(name: str) -> str | None:
    """The setting a facility's name says: "…Surgery Center" an ASC, "…Hospital" just "hospital"."""
    if _ASC_NAME.search(name):
        return "ambulatory_surgery_center"
    if _HOSPITAL_NAME.search(name):
        return "hospital"
    return None


# ---------------------------------------------------------------- one message, taken in
@dataclass
class Intake:
    """What one message did to a draft."""

    draft: Draft
    before: Draft | None = None  # the draft as it was before the message
    saved: list[str] = field(default_factory=list)  # fields saved, in form order
    confirm: list[str] = field(default_factory=list)  # of them, those to confirm (corrections, unasked)
    errors: list[FieldError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    read: bool = False  # the message held anything meant as a field

    @property
    def missing(self) -> list[str]:
        return missing_fields(self.draft)

    def confirmation(self) -> str:
        """One line confirming the corrections and the fields given unasked ("" when none)."""
        return confirmation_line(self.before or self.draft, self.draft, self.confirm)

    def next_field(self) -> str | None:
        """The first refused field, else the first missing one."""
        refused = {error.field for error in self.errors}
        return next((name for name in FIELDS if name in refused), None) or next(iter(self.missing), None)


def take_answer(
    repo: DraftRepository,
    draft: Draft,
    owner: str,
    text: str,
    expected: str | None = None,
    last_answered: str | None = None,
) -> Intake:
    """Read and save the fields of one message; ``last_answered`` is the field a correction may mean."""
    today = repo.today()
    raw = read_fields(text, today, expected=expected)
    raw = _redirect_correction(text, raw, expected, last_answered, repo)
    notes: list[str] = []
    raw = _facility_out_of_turn(raw, draft, expected, repo)
    if expected == "setting" and "setting" not in raw and setting_in_name(raw.get("facility_name") or ""):
        raw = {**raw, "setting": raw["facility_name"]}  # "it's at Mercy Hospital": the name answers where
    if expected == "setting" or "setting" in raw:
        raw, notes = _setting_from_name(raw, draft)
    intake = save(repo, draft, owner, raw)
    intake.notes = notes + intake.notes
    intake.read = bool(raw)
    intake.confirm = [name for name in intake.saved if name != expected or has_value(draft, name)]
    return intake


def save(repo: DraftRepository, draft: Draft, owner: str, raw: Mapping[str, Any]) -> Intake:
    """Save every valid field of ``raw`` at once; invalid ones are returned, never stored."""
    results: FieldResults = validate_fields(raw, repo.validation_context())
    saved = draft
    if results.valid:
        saved = repo.set_fields(draft.reference, owner, {name: raw[name] for name in results.valid})
    warnings = [w for name in results.valid for w in (saved.warnings or {}).get(name, [])]
    return Intake(saved, draft, saved=list(results.valid), errors=list(results.errors), warnings=warnings)


def _fits(repo: DraftRepository, name: str, value: str) -> bool:
    try:
        validate_field(name, value, repo.validation_context())
    except FieldError:
        return False
    return True


def _redirect_correction(text, raw, expected, last_answered, repo) -> dict[str, str]:
    """An unlabelled "I meant …" corrects the last answer; "actually …" only when it doesn't fit the question."""
    if not (expected and last_answered and last_answered != expected and list(raw) == [expected]):
        return raw
    strong = _STRONG_CORRECTION.match(text)
    weak = strong or _WEAK_CORRECTION.match(text)
    if not weak:
        return raw
    value = read_fields(text[weak.end() :], repo.today(), expected=last_answered).get(last_answered)
    if not value or not _fits(repo, last_answered, value):
        return raw
    if strong or not _fits(repo, expected, raw[expected]):
        return {last_answered: value}
    return raw


def _facility_out_of_turn(raw: dict[str, str], draft: Draft, expected: str | None, repo) -> dict[str, str]:
    """ "Springfield Orthopedic Surgery Center" where a tax ID was asked: the facility (and the setting its name
    says), not a wrong tax ID; the question asked is asked again after it is saved."""
    if not expected or expected in ("facility_name", "setting", "site_of_care_reason") or list(raw) != [expected]:
        return raw
    value = raw[expected]
    if draft.facility_name or not setting_in_name(value) or _fits(repo, expected, value):
        return raw
    return {"facility_name": value, "setting": value}


def _setting_from_name(raw: dict[str, str], draft: Draft) -> tuple[dict[str, str], list[str]]:
    """A facility's name given where a setting is asked: its setting when the name says it, and the name kept."""
    given = raw.get("setting")
    if not given or normalize_setting(given):
        return raw, []
    if _BARE_OUTPATIENT.match(given) and setting_in_name(draft.facility_name or "") == "hospital":
        # "outpatient" alone may be an ASC or an office; at a hospital (the form just said so) it is the outpatient
        # hospital.
        return {**raw, "setting": "outpatient_hospital"}, []
    kind = setting_in_name(given)
    if kind is None:
        return raw, []
    raw = dict(raw)
    if "facility_name" not in raw and draft.facility_name != given:
        raw["facility_name"] = given  # the name is the facility's, whether or not one was given before
    if kind == "hospital":
        raw.pop("setting")
        return raw, [HOSPITAL_SETTING_NOTE.format(name=given)]
    raw["setting"] = kind
    return raw, [SETTING_FROM_NAME_NOTE.format(name=given, setting=kind.replace("_", " "))]


# "what more do you need (from me)?", "anything left?": the whole message asks what the draft still lacks.
_WHATS_LEFT = re.compile(
    r"^\W*(?:(?:ok(?:ay)?|so|and|alright|right)\W+)*(?:"
    r"what\s+(?:else\s+|more\s+|other\s+(?:info(?:rmation)?|fields?)\s+)?(?:do\s+)?you\s+(?:still\s+)?need"
    r"(?:\s+(?:from\s+me|for\s+(?:this(?:\s+one)?|it|the\s+(?:draft|request))))?"
    r"|(?:what'?s|what\s+is|is\s+there\s+anything|anything|how\s+much\s+is|what\s+else\s+is)\s+(?:still\s+)?"
    r"(?:left|missing|remaining)(?:\s+to\s+(?:fill(?:\s+in)?|answer|do))?"
    r")\W*$",
    re.IGNORECASE,
)


def asks_whats_left(text: str) -> bool:
    """Whether a message only asks what the draft still needs."""
    return bool(_WHATS_LEFT.match(text or ""))


# ---------------------------------------------------------------- starting with what the conversation said
@dataclass(frozen=True)
class NamedProcedure:
    """A procedure named in words: its name and the codes the knowledge base gives it."""

    name: str
    codes: tuple[str, ...]


def named_procedure(factory: sessionmaker, procedure_id: str | None) -> NamedProcedure | None:
    if not procedure_id:
        return None
    with factory() as session:
        procedure = session.get(kb.Procedure, procedure_id)
        if procedure is None:
            return None
        rows = session.query(kb.ProcedureCode).filter(kb.ProcedureCode.procedure_id == procedure_id)
        return NamedProcedure(procedure.name, tuple(sorted(row.code for row in rows)))


def start_draft_buttons(answer: Answer) -> list[dict[str, str]]:
    """After an answer that says review is required: a button that starts a draft for that subject.

    The payload carries no value: the draft takes the code or procedure from the question just answered.
    """
    if answer.topic != "review_requirement" or answer.status is not Status.REVIEW_REQUIRED:
        return []
    code = answer.data.get("code", {}).get("code")
    subject = code or answer.procedure_name
    if not subject:
        return []
    return [{"title": f"Start a draft request for {subject}", "payload": "/request_draft"}]
