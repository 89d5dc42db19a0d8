"""The buttons a reply offers, built from the knowledge base: which procedure a generic word means, and which
plan an answer differs by. A button's payload informs the choice; the pending question is then answered."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from priorauth.answering import family_candidates
from priorauth.kb import models as m
from priorauth.kb.results import Answer

PLAN_BUTTON_TITLES = {"anthem_blue_cross": "Anthem Blue Cross (California)"}


@dataclass
class ProcedureChoice:
    """The procedures a generic word ("hip", "fusion") may mean; ``program`` instead when the choice does not
    matter for the question (how long an approval lasts is a program's rule)."""

    candidates: list[tuple[str, str]] = field(default_factory=list)  # (procedure id, name)
    program: str | None = None

    @property
    def options(self) -> str:
        """ "A, B or C"."""
        names = [name for _, name in self.candidates]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]

    @property
    def buttons(self) -> list[dict[str, str]]:
        return [inform_button(name, {"procedure": pid}) for pid, name in self.candidates]


def procedure_choice(session: Session, families: list[str], topic: str) -> ProcedureChoice:
    candidates = family_candidates(session, families)
    programs = {session.get(m.Procedure, pid).program_id for pid, _ in candidates}
    if topic == "validity" and len(programs) == 1:
        return ProcedureChoice(program=programs.pop())
    return ProcedureChoice(candidates=candidates)


def plan_buttons(answer: Answer) -> list[dict[str, str]]:
    """One button per plan the answer differs by, named as the knowledge base names it."""
    names = answer.data.get("plan_names") or {}
    return [
        inform_button(PLAN_BUTTON_TITLES.get(plan) or names.get(plan, plan), {"plan": plan})
        for plan in answer.data.get("plan_choices") or []
    ]


def inform_button(title: str, values: dict[str, str]) -> dict[str, str]:
    return {"title": title, "payload": "/inform" + json.dumps(values, separators=(",", ":"))}
