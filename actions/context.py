"""What the user has told us so far: slots updated by the latest message's entities."""

from __future__ import annotations

from dataclasses import dataclass, field

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

from priorauth.nlu.cues import in_back_story, says_elective

SINGLE = ("procedure", "cpt_code", "program", "setting", "line_of_business", "plan", "state")
SUBJECTS = ("procedure", "cpt_code", "program")


@dataclass
class Context:
    values: dict = field(default_factory=dict)
    diagnoses: list[str] = field(default_factory=list)
    new: set[str] = field(default_factory=set)  # what the latest message said
    families: list[str] = field(default_factory=list)  # generic words of the latest message ("hip", "fusion")

    def get(self, name: str):
        return self.values.get(name)

    def slot_events(self) -> list[SlotSet]:
        events = [SlotSet(name, self.values.get(name)) for name in SINGLE]
        events.append(SlotSet("diagnosis_code", self.diagnoses or None))
        return events


def context_from(tracker: Tracker) -> Context:
    """Latest entities win; a new procedure, code, program or generic procedure word replaces the subject."""
    values = {name: tracker.get_slot(name) for name in SINGLE}
    diagnoses = list(tracker.get_slot("diagnosis_code") or [])
    text = tracker.latest_message.get("text") or ""
    latest: dict[str, list[str]] = {}
    for entity in _subject_first(tracker.latest_message.get("entities", []) or [], text):
        latest.setdefault(entity["entity"], []).append(str(entity["value"]))
    new = set(latest)
    families = list(dict.fromkeys(latest.pop("procedure_family", [])))
    if new & {*SUBJECTS, "procedure_family"}:
        for name in SUBJECTS:
            values[name] = None
        if "diagnosis_code" not in new:
            diagnoses = []
    for name in SINGLE:
        if name in latest:
            values[name] = latest[name][0]
    if "diagnosis_code" in latest:
        diagnoses = list(dict.fromkeys(latest["diagnosis_code"]))
    if values.get("setting") == "emergency" and "setting" not in new and says_elective(text):
        values["setting"] = None  # "same surgery but elective": no longer an emergency
        new.add("setting")
    return Context(values=values, diagnoses=diagnoses, new=new, families=families)


def _subject_first(entities: list[dict], text: str) -> list[dict]:
    """The procedure asked about before those told as the patient's history ("already had a fusion")."""

    def told_as_history(e: dict) -> bool:
        return e.get("entity") == "procedure" and "start" in e and in_back_story(text, e["start"])

    return sorted(entities, key=told_as_history)
