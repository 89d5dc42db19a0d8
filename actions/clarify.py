"""Asks for the subject when a question can't be answered without it: which procedure a generic word
("hip", "fusion") means, with a button per candidate, or that the named procedure is not on the sources' lists."""

from __future__ import annotations

import json
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import backend
from actions.context import Context
from priorauth.answering import family_candidates
from priorauth.kb import models as m
from priorauth.nlu.cues import names_something


def ask_which_procedure(
    dispatcher: CollectingDispatcher, context: Context, topic: str, known: dict
) -> list[dict[str, Any]] | None:
    """ "Did you mean A or B?" with buttons; a button sets the procedure and answers the pending question.

    Returns None, with the program in ``known``, when the answer is the same whichever is meant: how long an
    approval lasts is a program's rule, so "hip" (replacement or arthroscopy, both joint surgery) needs no choice.
    """
    with backend.session_factory()() as session:
        candidates = family_candidates(session, context.families)
        programs = {session.get(m.Procedure, pid).program_id for pid, _ in candidates}
    if topic == "validity" and len(programs) == 1:
        known["program"] = programs.pop()
        return None
    if not candidates:
        dispatcher.utter_message(response="utter_ask_which_procedure")
    else:
        names = [name for _, name in candidates]
        options = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        buttons = [
            {"title": name, "payload": "/inform" + json.dumps({"procedure": pid}, separators=(",", ":"))}
            for pid, name in candidates
        ]
        dispatcher.utter_message(response="utter_ask_which_of", options=options, buttons=buttons)
    # The pending question stays the last topic: the chosen procedure (an `inform`) answers it.
    return [*context.slot_events(), SlotSet("last_topic", topic)]


def ask_for_subject(
    dispatcher: CollectingDispatcher, tracker: Tracker, context: Context, topic: str
) -> list[dict[str, Any]]:
    """No procedure, code or program: say that a named one is not listed, else ask which it is."""
    message = tracker.latest_message
    if names_something(message.get("text") or "", message.get("entities") or []):
        dispatcher.utter_message(response="utter_procedure_not_listed")
    else:
        dispatcher.utter_message(response="utter_ask_which_procedure")
    return [*context.slot_events(), SlotSet("last_topic", topic)]
