"""What a message to the draft conversation is, without Rasa: whose it is, which fields a request for a draft
names (in words, codes and setting entities, or by the question just answered), and whether a message in the
form is an answer or a question or command that leaves the form for a moment.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from priorauth.agent_proof import agent_vouched
from priorauth.drafts.intake import read_fields
from priorauth.drafts.validators import FIELDS, SETTINGS, ValidationContext, validate_fields
from priorauth.turns import before_latest_message

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    """The user's message: its text, the intent the classifier gave it and its entities (as Rasa's dicts)."""

    text: str = ""
    intent: str | None = None
    entities: Sequence[Mapping[str, Any]] = field(default_factory=tuple)

    def found(self, kind: str) -> list[Mapping[str, Any]]:
        return [entity for entity in self.entities if entity.get("entity") == kind]

    def names_a_subject(self) -> bool:
        return any(entity.get("entity") in ("procedure", "cpt_code", "program") for entity in self.entities)


@dataclass(frozen=True)
class Earlier:
    """What the question answered just before a request for a draft named ("ok, let's start one")."""

    code: str | None = None
    diagnoses: Sequence[str] = ()
    procedure: str | None = None


# ---------------------------------------------------------------- the conversation so far
# Events are the tracker's, as plain dicts ({"event": "user" | "bot" | "action", "text"/"name": ...}), newest last.
ANSWER_ACTIONS = frozenset({"action_answer", "action_fallback"})


def bot_texts_since_previous_message(events: Sequence[Mapping[str, Any]]) -> list[str]:
    """What the bot said between the user's previous message and the latest one (newest first)."""
    return [e["text"] for e in before_latest_message(events) if e.get("event") == "bot" and e.get("text")]


def action_before_message(events: Sequence[Mapping[str, Any]]) -> str | None:
    """The bot's last action (not listening) before the user's latest message, if one ran since the one before."""
    ran = (e for e in before_latest_message(events) if e.get("event") == "action")
    return next((e.get("name") for e in ran if e.get("name") != "action_listen"), None)


def earlier_from(
    events: Sequence[Mapping[str, Any]], code: str | None, diagnoses: Sequence[str] | None, procedure: str | None
) -> Earlier | None:
    """What the question answered just before the latest message named (its code, diagnoses, procedure: the
    conversation's slots), or None when the bot's last action before the message was no answer."""
    if action_before_message(events) not in ANSWER_ACTIONS:
        return None
    return Earlier(code, tuple(diagnoses or ()), procedure)


def action_since_message(events: Sequence[Mapping[str, Any]], ignored: frozenset[str]) -> bool:
    """Whether an action other than ``ignored`` ran since the user's latest message."""
    for event in reversed(events):
        if event.get("event") == "user":
            return False
        if event.get("event") == "action" and event.get("name") not in ignored:
            return True
    return False


# ---------------------------------------------------------------- whose message
def owner_of(sender: str, metadata: Mapping[str, Any], message_id: str | None) -> str:
    """The conversation's sender id, or ``agent:<id>`` for a message the agent channel proved an agent's.

    A sender in the agent namespace without the channel's proof (a socket.io client can choose its session id)
    owns nothing of any agent: it gets a name no agent's draft can have.
    """
    agent_id = metadata.get("agent_id")
    if agent_id and agent_vouched(sender, str(agent_id), message_id, metadata.get("agent_proof")):
        return f"agent:{agent_id}"
    if agent_id:
        logger.warning("a message claimed an agent id without the agent channel's proof: no agent rights given")
    if sender.startswith("agent:"):
        return f"unverified:{sender}"
    return sender


# ---------------------------------------------------------------- what a request for a draft names
def prefill(message: Message, today) -> dict[str, str]:
    """Labelled fields of the request message, completed by its codes and setting entities."""
    raw = read_fields(message.text, today)
    codes = {"procedure_codes": message.found("cpt_code"), "diagnosis_codes": message.found("diagnosis_code")}
    for name, entities in codes.items():
        if name not in raw and entities:
            raw[name] = ", ".join(str(entity["value"]) for entity in entities)
    facility = (raw.get("facility_name") or "").lower()
    for entity in message.found("setting"):
        words = message.text[entity["start"] : entity["end"]].lower() if "start" in entity else ""
        if "setting" not in raw and entity["value"] in SETTINGS and not (words and words in facility):
            raw["setting"] = entity["value"]  # "at Mercy Hospital" names a facility, not a setting
    return {name: raw[name] for name in FIELDS if raw.get(name)}


def remembered_fields(message: Message, raw: Mapping[str, str], earlier: Earlier | None) -> dict[str, str]:
    """The code and diagnoses of the question just answered, for a request that names none itself."""
    if earlier is None or message.names_a_subject() or "procedure_codes" in raw:
        return {}
    remembered = {}
    if earlier.code:
        remembered["procedure_codes"] = str(earlier.code)
    if earlier.diagnoses and "diagnosis_codes" not in raw:
        remembered["diagnosis_codes"] = ", ".join(earlier.diagnoses)
    return remembered


def procedure_named(message: Message, earlier: Earlier | None) -> str | None:
    """The procedure named in words, by the request or, after an answer, by the question."""
    latest = message.found("procedure")
    if latest:
        return str(latest[0]["value"])
    if earlier is None or message.names_a_subject():
        return None
    return earlier.procedure


# ---------------------------------------------------------------- an answer, or a question or command?
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
_QUESTION = re.compile(
    r"^\W*(?:(?:wait|hold on|sorry|oh|ok(?:ay)?|so|and|but|hey|quick question)\W+)*"
    r"(?:how|what|what's|whats|when|where|which|who|why|does|do|is|are|can|could|should|will|would)\b",
    re.IGNORECASE,
)
_MORE = re.compile(r"\b(more|full|whole|rest|everything|all of it|details?)\b", re.I)
SHORT_ANSWER_WORDS = 3
FREE_TEXT_FIELDS = ("site_of_care_reason",)
# "what's left", "what do you still need": only the missing fields, not the whole summary.
WHATS_LEFT = re.compile(r"\b(?:left|still\s+need|still\s+missing|missing|remaining|to\s+go|else)\b", re.IGNORECASE)


def is_interruption(
    intent: str | None, text: str, expected: str | None, raw: Mapping[str, str], context: ValidationContext
) -> bool:
    """Whether a message is a question or a command rather than an answer to the field ``expected``.

    The intent alone is not trusted: an ID, a mistyped number or a facility name may be classified
    as anything. A question's shape, a command without digits, or no attempt at an answer decides.
    """
    intent = intent or ""
    if not (intent.startswith(QUESTION_PREFIX) or intent in COMMAND_INTENTS):
        return False
    if intent == "ask_more" and not _MORE.search(text):
        return False  # "on the moon" is a (wrong) setting, not "More": the form says what it expects
    if intent == "out_of_scope" and expected in FREE_TEXT_FIELDS and not _QUESTION.match(text):
        return False  # a clinical reason in the user's words reads like anything; it is the answer asked for
    if text.rstrip().endswith("?") or _QUESTION.match(text):
        return True
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
