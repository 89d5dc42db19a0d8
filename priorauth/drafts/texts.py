"""The sentences about a draft, kept together: its fields as shown (identifying values masked), its summary and
list lines, what it still needs, and what the rules say it will face. Fixed texts are `utter_draft_*` responses
in the Rasa domain; these are the ones that depend on data, as `priorauth.render` holds those of answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from priorauth.drafts.models import Draft, has_value, missing_fields, required_fields
from priorauth.drafts.validators import FIELD_LABELS
from priorauth.kb.results import Answer, Status
from priorauth.render import HEADLINES, source_line

NOT_GIVEN = "—"
REASON_GIVEN = "given"
STATUS_LABELS = {"open": "in progress", "ready": "ready to export", "cancelled": "cancelled"}
HOSPITAL_SETTING_NOTE = "{name} is a hospital, so the setting is either outpatient hospital or inpatient."
SETTING_FROM_NAME_NOTE = "{name} is an {setting}, so I've saved that as the setting."
OUTLOOK_INTRO = "What this request will face: "
# 002 applies the site-of-care review to "certain" musculoskeletal procedures (its Resources list which).
SITE_OF_CARE_NOTES = {
    "certain": "In an outpatient hospital, certain musculoskeletal procedures also get a site-of-care review "
    "(AIM's Resources list which): the request must say why a hospital setting is medically necessary.",
    False: "Outside an outpatient hospital it needs no additional site-of-care review.",
    None: "If it is done in an outpatient hospital, certain musculoskeletal procedures also get a site-of-care review.",
}
LIST_MOST = 10


# ---------------------------------------------------------------- fields as shown
def shown_value(name: str, value: Any) -> str:
    """A value of the draft's masked summary as the user reads it (a reason is never shown)."""
    if value in (None, "", []):
        return NOT_GIVEN
    if name == "site_of_care_reason":
        return REASON_GIVEN
    if name == "setting":
        return str(value).replace("_", " ")
    if isinstance(value, list):
        return ", ".join(value)
    return str(value)


def shown_fields(masked: Mapping[str, Any]) -> dict[str, str | None]:
    """Each field of a masked summary as shown, None where nothing is saved (what the slots mirror)."""
    return {name: None if value in (None, "", []) else shown_value(name, value) for name, value in masked.items()}


def changes_text(masked: Mapping[str, Any], names: Iterable[str]) -> str:
    """ "Setting outpatient hospital; Procedure codes 63030": fields of a masked summary, labelled."""
    return "; ".join(f"{FIELD_LABELS[name]} {shown_value(name, masked[name])}" for name in names)


def confirmation_value(name: str, value: Any) -> str:
    """A field's value as a confirmation shows it: the member ID and birth month masked, a reason not shown."""
    if value in (None, "", []):
        return NOT_GIVEN
    if name == "member_id":
        text = str(value)
        return "****" + (text[-4:] if len(text) > 4 else "")
    if name == "member_dob":
        return f"**/{value.day:02d}/{value.year}"
    if name == "site_of_care_reason":
        return f"{len(str(value))} characters"
    if isinstance(value, date):
        return value.strftime("%m/%d/%Y")
    return shown_value(name, value)


def confirmation_line(before: Draft, after: Draft, names: Iterable[str]) -> str:
    """One line confirming fields: "Date of birth updated (**/05/1961); Ordering provider NPI saved (…)."""
    parts = []
    for name in names:
        verb = "updated" if has_value(before, name) else "saved"
        parts.append(f"{FIELD_LABELS[name]} {verb} ({confirmation_value(name, getattr(after, name))})")
    return "; ".join(parts) + "." if parts else ""


# ---------------------------------------------------------------- a draft as a whole
def summary_details(draft: Draft, summary: Mapping[str, Any]) -> str:
    """The summary's lines: each field the draft needs (masked), what is still needed, the notes."""
    fields = summary["fields"]
    lines = [f"- {FIELD_LABELS[name]}: {shown_value(name, fields[name])}" for name in required_fields(draft)]
    if summary["missing"]:
        lines.append("Still needed: " + ", ".join(FIELD_LABELS[name] for name in summary["missing"]) + ".")
    lines += [f"Note: {warning}." for warning in summary["warnings"]]
    return "\n".join(lines)


def list_lines(drafts: list[Draft]) -> str:
    """The owner's drafts, one line each, the most recent ten."""
    lines = [list_line(draft) for draft in drafts[:LIST_MOST]]
    if len(drafts) > LIST_MOST:
        lines.append(f"… and {len(drafts) - LIST_MOST} older ones.")
    return "\n".join(lines)


def list_line(draft: Draft) -> str:
    codes = ", ".join(draft.procedure_codes or []) or "no procedure yet"
    missing = missing_fields(draft)
    line = f"- {draft.reference}: {STATUS_LABELS[draft.status]}, {codes}, changed {draft.updated_at.date().isoformat()}"
    if draft.status == "open" and missing:
        line += f" ({len(missing)} {plural(len(missing), 'field')} to go)"
    return line


def missing_line(draft: Draft) -> str:
    """What a draft still needs, in the order the form asks."""
    missing = missing_fields(draft)
    if not missing:
        return f"Draft request {draft.reference} has everything it needs."
    count = f"{len(missing)} {plural(len(missing), 'field')}"
    return f"Draft request {draft.reference} still needs {count}: " + ", ".join(FIELD_LABELS[n] for n in missing) + "."


def plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


def procedure_line(name: str, codes: Iterable[str]) -> str:
    """What a draft started for a procedure named in words says about its codes."""
    codes = ", ".join(codes)
    if not codes:
        return f"This draft is for {name}: I'll ask for its procedure codes."
    return (
        f"This draft is for {name}; the codes for it are {codes} (the plan's code list governs). "
        "I'll ask which one when we get to the procedure codes."
    )


# ---------------------------------------------------------------- what the request will face
def outlook_text(answer: Answer) -> str:
    """The rules' answer as the request's outlook: its headline, the site-of-care note, one Source line."""
    text = OUTLOOK_INTRO + _headline(answer)
    if "site_of_care_review" in answer.data or any("site_of_care_review" in case for case in answer.cases):
        text += " " + SITE_OF_CARE_NOTES[answer.data.get("site_of_care_review")]
    source = source_line(answer)
    return text + ("\n" + source if source else "")


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
