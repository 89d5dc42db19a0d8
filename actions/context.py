"""What the user has told us so far: slots updated by the latest message's entities."""

from __future__ import annotations

from dataclasses import dataclass, field

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet

SINGLE = ("procedure", "cpt_code", "program", "setting", "line_of_business", "plan", "state")


@dataclass
class Context:
    values: dict = field(default_factory=dict)
    diagnoses: list[str] = field(default_factory=list)
    new: set[str] = field(default_factory=set)  # what the latest message said

    def get(self, name: str):
        return self.values.get(name)

    def slot_events(self) -> list[SlotSet]:
        events = [SlotSet(name, self.values.get(name)) for name in SINGLE]
        events.append(SlotSet("diagnosis_code", self.diagnoses or None))
        return events


def context_from(tracker: Tracker) -> Context:
    """Latest entities win; a new procedure, code or program replaces the other two."""
    values = {name: tracker.get_slot(name) for name in SINGLE}
    diagnoses = list(tracker.get_slot("diagnosis_code") or [])
    latest: dict[str, list[str]] = {}
    for entity in tracker.latest_message.get("entities", []) or []:
        latest.setdefault(entity["entity"], []).append(str(entity["value"]))
    new = set(latest)
    if new & {"procedure", "cpt_code", "program"}:
        for name in ("procedure", "cpt_code", "program"):
            values[name] = None
        if "diagnosis_code" not in new:
            diagnoses = []
    for name in SINGLE:
        if name in latest:
            values[name] = latest[name][0]
    if "diagnosis_code" in latest:
        diagnoses = list(dict.fromkeys(latest["diagnosis_code"]))
    return Context(values=values, diagnoses=diagnoses, new=new)
