"""Plain, typed answers of the query layer: what the assistant knows, its scope, and its sources."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum


class Status(str, Enum):
    REVIEW_REQUIRED = "review_required"
    NOTIFICATION_ONLY = "notification_only"
    NOT_REQUIRED = "not_required"
    OUTSIDE_PROGRAM = "outside_program"
    CONDITIONAL = "conditional"  # depends on something still unknown (listed in `info_needed`)
    NOT_STATED = "not_stated"  # the sources say nothing for this scope (plan, line of business, state, date)
    CONFLICT = "conflict"  # two sources disagree for the same scope: both are shown
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Citation:
    source_id: str
    file: str
    title: str
    quote: str
    short_title: str = ""  # the source's name on an answer's Source line


@dataclass(frozen=True)
class Scope:
    plan: str | None = None  # plan id
    plan_name: str | None = None
    region: str | None = None
    programs: tuple[str, ...] = ()
    lines_of_business: tuple[str, ...] = ()
    covers: tuple[str, ...] = ()  # the plans a scope over plans covers ("all": any plan); () for one plan

    def label(self) -> str:
        parts = [self.plan_name or ""]
        if self.region:
            parts.append(f"region {self.region}")
        return ", ".join(p for p in parts if p)


@dataclass(frozen=True)
class Fact:
    text: str
    citations: tuple[Citation, ...] = ()
    scope: Scope | None = None
    kind: str = "fact"


@dataclass(frozen=True)
class ContactRoute:
    id: str
    kind: str
    name: str
    value: str
    availability: str | None
    days: str | None
    hours: str | None
    time_zone: str | None
    time_zone_note: str | None
    note: str | None
    scope: Scope
    citations: tuple[Citation, ...]


@dataclass
class Answer:
    """One answer of the query layer. `facts` are stated; `info_needed` says what would settle it."""

    topic: str
    facts: list[Fact] = field(default_factory=list)
    status: Status | None = None
    program: str | None = None
    program_name: str | None = None
    procedure: str | None = None
    procedure_name: str | None = None
    contacts: list[ContactRoute] = field(default_factory=list)
    info_needed: list[str] = field(default_factory=list)
    cases: list[dict] = field(default_factory=list)  # per-case answers when an unknown decides
    # data["headline"]: the decision's own first sentence, when the status alone cannot say it (per plan,
    # not stated for a scope, a conflict, a code the sources do not name).
    data: dict = field(default_factory=dict)

    @property
    def citations(self) -> list[Citation]:
        seen, out = set(), []
        for item in [*self.facts, *self.contacts]:
            for cite in item.citations:
                key = (cite.source_id, cite.quote)
                if key not in seen:
                    seen.add(key)
                    out.append(cite)
        return out

    @property
    def source_ids(self) -> list[str]:
        return sorted({c.source_id for c in self.citations})

    def to_dict(self) -> dict:
        out = asdict(self)
        out["status"] = self.status.value if self.status else None
        out["citations"] = [asdict(c) for c in self.citations]
        return out
