"""The query layer: the domain's questions as plain functions over a SQLAlchemy session.

Nothing here knows of Rasa. Each function returns an `Answer` with its facts, scope and citations.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from priorauth.dates import last_business_day
from priorauth.kb import models as m
from priorauth.kb.results import Answer, Citation, ContactRoute, Fact, Scope, Status
from priorauth.kb.terms import normalize_term

EVERY = "all"  # in a plan scope's `covers` or a record's `programs`: every one


# ---------------------------------------------------------------- lookups
def resolve(session: Session, kind: str, text: str | None) -> str | None:
    """Canonical id of a procedure/program/setting/line_of_business/plan/state named by id or alias."""
    if not text:
        return None
    model = {
        "procedure": m.Procedure,
        "program": m.Program,
        "setting": m.Setting,
        "plan": m.Plan,
        "line_of_business": m.LineOfBusiness,
        "state": m.State,
        "presentation": m.Presentation,
    }[kind]
    key = text.upper() if kind == "state" else text

    def read() -> str | None:
        if session.get(model, key) is not None:
            return key
        term = normalize_term(text)
        return session.execute(select(m.Alias.target_id).where(m.Alias.kind == kind, m.Alias.term == term)).scalar()

    return once_per_content(session, ("resolve", kind, key), read)


def named_plans(session: Session) -> tuple[str, ...]:
    """The plans whose own notices are among the sources, in the order of their notices (a plan that covers
    other plans, "any Anthem plan" or "not specific to a plan", is a scope, not one of them)."""

    def read() -> tuple[str, ...]:
        rows = session.execute(select(m.Source.plan).order_by(m.Source.id)).scalars()
        return tuple(dict.fromkeys(p for p in rows if not covered_plans(session, p)))

    return once_per_content(session, ("named_plans",), read)


def covered_plans(session: Session, plan: str | None) -> tuple[str, ...]:
    """The plans a plan scope covers (("all",) for every plan); () for a plan of its own."""

    def read() -> dict[str, tuple[str, ...]]:
        return {pid: tuple(covers or ()) for pid, covers in session.execute(select(m.Plan.id, m.Plan.covers)).all()}

    return once_per_content(session, ("plan_covers",), read).get(plan, ())


def plan_applies(session: Session, rule_plan: str, plan: str | None) -> bool:
    """Whether a rule of scope ``rule_plan`` decides for members of ``plan`` (a named plan)."""
    covers = covered_plans(session, rule_plan)
    return EVERY in covers or plan == rule_plan or plan in covers


def plan_names(session: Session, plans, conjunction: str = "and") -> str:
    rows = [session.get(m.Plan, p) for p in plans]
    names = [row.short_name or row.name for row in rows]
    return ", ".join(names[:-1]) + (f" {conjunction} " if len(names) > 1 else "") + names[-1] if names else ""


def ambiguous_candidates(session: Session, kind: str, text: str | None) -> list[str]:
    """The records a word may name when it names more than one ("hip", "Blue Cross"); [] otherwise."""
    if not text:
        return []
    row = session.get(m.AmbiguousTerm, (normalize_term(text), kind))
    return list(row.candidates) if row else []


def presentation_in(session: Session, text: str | None) -> str | None:
    """How the patient presented, when a message says it in the data's words ("came through the ER", "elective")."""
    words = f" {normalize_term(text or '')} "

    def read() -> tuple[tuple[str, str], ...]:
        query = select(m.Alias.term, m.Alias.target_id).where(m.Alias.kind == "presentation")
        return tuple((term, target) for term, target in session.execute(query).all())

    found = {target for term, target in once_per_content(session, ("presentations",), read) if f" {term} " in words}
    return found.pop() if len(found) == 1 else None


def once_per_session(session: Session, key: tuple, read):
    """``read()``, made once per session: a turn's session decides for several plans and topics, which read the
    same rules, citations and plans; the knowledge base does not change while a turn reads it."""
    reads = session.info.setdefault("kb_reads", {})
    if key not in reads:
        reads[key] = read()
    return reads[key]


# Plain values read from the knowledge base (never ORM objects), by its content hash and the read's key. The
# knowledge base changes only by a load, which changes the hash; a database loaded otherwise (no hash) is
# read afresh in every session.
_CONTENT_READS: dict[tuple, object] = {}
CONTENT_READS_MAX = 50_000


def stored_content_hash(session: Session) -> str | None:
    """The loaded knowledge base's content hash (priorauth.kb.loader) as the database holds it now: a query, not
    Session.get, whose identity map would answer with the row a long-lived session loaded first."""
    return session.execute(select(m.Meta.value).where(m.Meta.key == m.CONTENT_HASH_KEY)).scalar_one_or_none()


def content_version(session: Session) -> str | None:
    """The loaded knowledge base's content hash, read once per session."""
    return once_per_session(session, ("content_version",), lambda: stored_content_hash(session))


def read_once(session: Session, key: tuple, statement, scalars: bool = True) -> list:
    """The rows of ``statement()`` (a query of the knowledge base's fixed content), read once per session; a new
    list each call, so a caller may change its list but never the rows."""

    def read() -> list:
        result = session.execute(statement())
        return list(result.scalars() if scalars else result.all())

    return list(once_per_session(session, key, read))


def once_per_content(session: Session, key: tuple, read):
    """``read()``, made once per process for the knowledge base's content: for reads whose value is plain data
    (strings, tuples, frozen dataclasses, a dict no caller changes) and depends only on the knowledge base.
    Each turn's session then costs one read of the content hash instead of a query per citation, plan or
    alias. Above ``CONTENT_READS_MAX`` entries (a reload, or many distinct aliases looked up) it starts over."""
    version = content_version(session)
    if version is None:
        return once_per_session(session, key, read)
    full = (version, *key)
    try:
        return _CONTENT_READS[full]
    except KeyError:
        value = read()
        if len(_CONTENT_READS) >= CONTENT_READS_MAX:
            _CONTENT_READS.clear()
        _CONTENT_READS[full] = value
        return value


def citations_for(session: Session, record_type: str, record_id: str) -> tuple[Citation, ...]:
    def read() -> tuple[Citation, ...]:
        rows = session.execute(
            select(m.Citation, m.Source)
            .join(m.Source, m.Source.id == m.Citation.source_id)
            .where(m.Citation.record_type == record_type, m.Citation.record_id == record_id)
            .order_by(m.Citation.position)
        ).all()
        return tuple(Citation(s.id, s.file, s.title, c.quote, s.short_title or "") for c, s in rows)

    return once_per_content(session, ("citations", record_type, record_id), read)


def program_chain(session: Session, program_id: str) -> list[m.Program]:
    """The program and its parents, innermost first."""
    chain, program = [], session.get(m.Program, program_id)
    while program is not None:
        chain.append(program)
        program = session.get(m.Program, program.parent_id) if program.parent_id else None
    return chain


def scope_of(session: Session, plan: str | None, programs=(), region=None, lobs=()) -> Scope:
    plan_row = once_per_session(session, ("plan", plan), lambda: session.get(m.Plan, plan)) if plan else None
    return Scope(
        plan=plan,
        plan_name=plan_row.name if plan_row else None,
        region=region or (plan_row.region if plan_row else None),
        programs=tuple(programs),
        lines_of_business=tuple(lobs),
        covers=tuple(plan_row.covers or []) if plan_row else (),
    )


def fact_for(
    session: Session, text: str, record_type: str, record_id: str, scope: Scope | None = None, kind: str = "fact"
) -> Fact:
    return Fact(text=text, citations=citations_for(session, record_type, record_id), scope=scope, kind=kind)


def known_code(session: Session, code: str) -> bool:
    code = code.strip().upper()
    return session.get(m.ProcedureCode, code) is not None or session.get(m.Diagnosis, code) is not None


# ---------------------------------------------------------------- contacts
def contact_routes(
    session: Session,
    program: str | None = None,
    plan: str | None = None,
    kinds: tuple[str, ...] | None = None,
    region: str | None = None,
) -> list[ContactRoute]:
    """Contact routes for a scope. Phone numbers are only returned within their own plan/program scope."""
    chain = {p.id for p in program_chain(session, program)} if program else set()
    routes = []
    order = {"portal": 0, "phone": 1, "email": 2, "id_card": 3, "person": 4}
    rows = sorted(
        read_once(session, ("contacts",), lambda: select(m.Contact)),
        key=lambda c: (order[c.kind], c.id != "providerportal", c.id),
    )
    for c in rows:
        if kinds and c.kind not in kinds:
            continue
        if chain and "all" not in c.programs and not chain & set(c.programs):
            continue
        if not covered_plans(session, c.plan):
            if plan and c.plan != plan and not (covered_plans(session, plan) and c.kind != "phone"):
                continue
            if region and c.region and c.region != region:
                continue
        routes.append(
            ContactRoute(
                id=c.id,
                kind=c.kind,
                name=c.name,
                value=c.value,
                availability=c.availability,
                days=c.days,
                hours=c.hours,
                time_zone=c.time_zone,
                time_zone_note=c.time_zone_note,
                note=c.note,
                scope=scope_of(session, c.plan, c.programs, c.region),
                citations=citations_for(session, "contacts", c.id),
            )
        )
    return routes


def contacts(
    session: Session,
    program: str | None = None,
    plan: str | None = None,
    kind: str | None = None,
    state: str | None = None,
) -> Answer:
    """How to reach AIM. With no plan given, each phone number is shown with the plan it belongs to."""
    region = state if state and session.get(m.Plan, plan or "") is None else None
    if state and not plan:
        plan = plan_for_region(session, state)
    kinds = {"phone": ("phone",), "portal": ("portal",), "email": ("email",)}.get(
        kind or "", ("portal", "phone", "id_card", "person")
    )
    routes = contact_routes(session, program=program, plan=plan, kinds=kinds, region=region)
    answer = Answer(topic="contact", contacts=routes, program=program)
    phones = [r for r in routes if r.kind == "phone"]
    if len({r.scope.plan for r in phones}) > 1:
        answer.info_needed.append("plan")
    if kind == "phone" and not phones:
        answer.facts.append(Fact(text="The sources give no AIM phone number for that plan or program."))
    answer.data = {"plan": plan, "state": state, "kind": kind}
    return answer


def plan_for_region(session: Session, state: str) -> str | None:
    plans = read_once(
        session, ("plan_for_region", state.upper()), lambda: select(m.Plan.id).where(m.Plan.region == state.upper())
    )
    return plans[0] if plans else None


# ---------------------------------------------------------------- validity
def validity(
    session: Session,
    program: str | None = None,
    procedure: str | None = None,
    code: str | None = None,
    approval_date: dt.date | None = None,
) -> Answer:
    """How long an approval lasts, for a program, procedure or code; optionally the estimated last day."""
    proc = find_procedure(session, procedure, code)
    program = proc.program_id if proc else resolve(session, "program", program) or program
    answer = Answer(topic="validity", procedure=proc.id if proc else None, procedure_name=proc.name if proc else None)
    rows = read_once(session, ("validity",), lambda: select(m.Validity).order_by(m.Validity.id))
    chain = [p.id for p in program_chain(session, program)] if program else []
    matching = [v for v in rows if set(v.programs) & set(chain)] if chain else rows
    if chain and not matching:
        answer.status = Status.UNKNOWN
        answer.facts.append(
            Fact(text="The sources state approval periods only for spine and joint surgery and for pain management.")
        )
    for v in matching:
        answer.facts.append(fact_for(session, v.text, "validity", v.id, scope_of(session, "any_plan", v.programs)))
        if approval_date:
            last = last_valid_day(approval_date, v.days, v.unit)
            answer.data.setdefault("estimates", []).append(
                {
                    "validity": v.id,
                    "approval_date": approval_date.isoformat(),
                    "last_day": last.isoformat(),
                    "days": v.days,
                    "unit": v.unit,
                }
            )
    # The state-law caveat is part of each period's text; the expiry-date caveat is added once.
    answer.facts.append(keyed_fact(session, "validity_caveats", "expiration_date", kind="caveat"))
    set_program(session, answer, program)
    return answer


def last_valid_day(start: dt.date, days: int, unit: str) -> dt.date:
    """Estimated last valid day: calendar days, or business days (Monday-Friday, US federal holidays skipped)."""
    if unit == "calendar_days":
        return start + dt.timedelta(days=days - 1)
    return last_business_day(start, days)


# ---------------------------------------------------------------- topics
def topic(session: Session, topic_id: str) -> Answer:
    """An explanatory topic (peer_to_peer, reconsideration, review_process, registration, ...)."""
    row = session.get(m.Topic, topic_id)
    if row is None:
        return Answer(topic=topic_id, status=Status.UNKNOWN)
    scope = scope_of(session, row.plan, row.programs)
    facts = [
        fact_for(session, f.text, "topic_fact", f"{topic_id}#{f.position}", scope)
        for f in read_once(
            session,
            ("topic_facts", topic_id),
            lambda: select(m.TopicFact).where(m.TopicFact.topic_id == topic_id).order_by(m.TopicFact.position),
        )
    ]
    return Answer(topic=topic_id, facts=facts, data={"title": row.title, "plan": row.plan})


def keyed_fact(
    session: Session, topic_id: str, key: str, scope: Scope | None = None, kind: str = "fact", **fill: str
) -> Fact:
    """The fact of a topic that says ``key``, with its citations; ``fill`` completes a text with "{name}" in it."""
    row = once_per_session(
        session,
        ("keyed_fact", topic_id, key),
        lambda: session.execute(
            select(m.TopicFact).where(m.TopicFact.topic_id == topic_id, m.TopicFact.key == key)
        ).scalar_one(),
    )
    text = row.text.format(**fill) if fill else row.text
    return fact_for(session, text, "topic_fact", f"{topic_id}#{row.position}", scope, kind)


def caveat(session: Session, key: str, kind: str = "caveat", **fill: str) -> Fact:
    """One of the review decision's caveats (data/authorization/caveats.yml), with its citation."""
    return keyed_fact(session, m.CAVEATS_TOPIC, key, kind=kind, **fill)


def facts_saying(session: Session, key: str, programs=None) -> list[tuple[m.Topic, m.TopicFact]]:
    """The topic facts that say ``key``, in topics about any of ``programs`` (None: any topic)."""
    rows = read_once(
        session,
        ("facts_saying", key),
        lambda: (
            select(m.Topic, m.TopicFact)
            .join(m.TopicFact, m.TopicFact.topic_id == m.Topic.id)
            .where(m.TopicFact.key == key)
            .order_by(m.Topic.id, m.TopicFact.position)
        ),
        scalars=False,
    )
    wanted = None if programs is None else set(programs) | {EVERY}
    return [(t, f) for t, f in rows if wanted is None or wanted & set(t.programs or [])]


# ---------------------------------------------------------------- programs and services
def program_services(session: Session, program: str | None = None) -> Answer:
    """What AIM reviews: the programs, or the procedures of one program (with its sub-programs)."""
    program = resolve(session, "program", program) or program
    if not program:
        answer = Answer(topic="programs")
        for p in _top_programs(session):
            answer.facts.append(fact_for(session, p.name, "programs", p.id, kind="program"))
        return answer
    answer = Answer(topic="program_services")
    set_program(session, answer, program)
    for p in _descendants(session, program):
        answer.facts.append(fact_for(session, p.name, "programs", p.id, kind="program"))
        for proc in read_once(
            session,
            ("procedures_of", p.id),
            lambda: select(m.Procedure).where(m.Procedure.program_id == p.id).order_by(m.Procedure.name),  # noqa: B023
        ):
            answer.facts.append(fact_for(session, proc.name, "procedures", proc.id, kind="procedure"))
    row = session.get(m.Program, program)
    if row is not None:
        answer.data["examples"] = list(row.examples or [])
        if row.effective_from:
            answer.data["effective_from"] = row.effective_from.isoformat()
    # What the sources say of the whole program (the musculoskeletal FAQ: procedures vary by plan).
    root = program_chain(session, program)[-1].id
    for t, f in facts_saying(session, "procedures_vary_by_plan", [root]):
        answer.facts.append(fact_for(session, f.text, "topic_fact", f"{t.id}#{f.position}", kind="caveat"))
    return answer


def _top_programs(session: Session) -> list[m.Program]:
    return read_once(session, ("top_programs",), lambda: select(m.Program).where(m.Program.parent_id.is_(None)))


def _descendants(session: Session, program: str) -> list[m.Program]:
    out, queue = [], [program]
    while queue:
        pid = queue.pop(0)
        row = session.get(m.Program, pid)
        if row is None:
            continue
        out.append(row)
        queue.extend(
            read_once(
                session,
                ("child_programs", pid),
                lambda: select(m.Program.id).where(m.Program.parent_id == pid).order_by(m.Program.id),  # noqa: B023
            )
        )
    return out


def set_program(session: Session, answer: Answer, program: str | None) -> None:
    row = session.get(m.Program, program) if program else None
    if row is not None:
        answer.program, answer.program_name = row.id, row.name


def find_procedure(session: Session, procedure: str | None, code: str | None) -> m.Procedure | None:
    if code:
        row = session.get(m.ProcedureCode, code.strip().upper())
        return session.get(m.Procedure, row.procedure_id) if row else None
    pid = resolve(session, "procedure", procedure)
    return session.get(m.Procedure, pid) if pid else None


# ---------------------------------------------------------------- rules by topic
def rules(session: Session, kind: str, programs: list[str] | None = None) -> list[m.Rule]:
    stmt = select(m.Rule).where(m.Rule.kind == kind).order_by(m.Rule.id)
    found = list(once_per_session(session, ("rules", kind), lambda: list(session.execute(stmt).scalars())))
    if programs:
        found = [r for r in found if set(r.programs) & set(programs)]
    return found


def exclusions(
    session: Session, program: str | None = None, setting: str | None = None, plan: str | None = None
) -> Answer:
    """What is excluded from review, each rule in its plan's scope (Anthem Blue Cross's notice vs. AIM's FAQ)."""
    program = resolve(session, "program", program) or program
    chain = [p.id for p in program_chain(session, program)] if program else None
    setting = resolve(session, "setting", setting) or setting
    plan = resolve(session, "plan", plan) if plan else None
    answer = Answer(topic="exclusions")
    set_program(session, answer, program)
    for kind in ("exclusion", "inclusion"):
        for r in rules(session, kind, chain):
            if plan in named_plans(session) and not plan_applies(session, r.plan, plan):
                continue
            # An emergency-room setting is an emergency presentation too.
            if setting and setting not in r.settings and not (setting == "emergency" and r.presentations):
                continue
            answer.facts.append(
                fact_for(session, r.text, "rules", r.id, scope_of(session, r.plan, r.programs), kind=kind)
            )
    return answer


def notification_only(session: Session) -> Answer:
    answer = Answer(topic="notification_only")
    for r in rules(session, "notification_only"):
        answer.facts.append(fact_for(session, r.text, "rules", r.id, scope_of(session, r.plan, r.programs)))
        answer.data = {"codes": r.codes, "diagnoses": r.diagnoses}
    return answer


def effective_dates(session: Session, program: str | None = None) -> Answer:
    """The dates the sources give for a program (and the programs it is part of); for a program with no date of
    its own, "I don't know" and the dates of the programs inside it ("when did the MSK program start?")."""
    program = resolve(session, "program", program) or program
    answer = Answer(topic="effective_dates")
    set_program(session, answer, program)
    if not program:
        answer.facts = _date_facts(session, None)
        return answer
    answer.facts = _date_facts(session, [p.id for p in program_chain(session, program)])
    if not answer.facts:
        answer.status = Status.UNKNOWN
        answer.facts = _date_facts(session, [p.id for p in _descendants(session, program)[1:]])
    return answer


def _date_facts(session: Session, chain: list[str] | None) -> list[Fact]:
    """Effective dates of these programs (all with None): rules, the pain guideline's updates, rehabilitation's
    schedule."""
    if chain == []:
        return []
    facts = [
        fact_for(session, r.text, "rules", r.id, scope_of(session, r.plan, r.programs), kind="date")
        for r in rules(session, "effective_date", chain)
    ]
    for t, f in facts_saying(session, "effective_date", chain):
        facts.append(
            fact_for(session, f.text, "topic_fact", f"{t.id}#{f.position}", scope_of(session, t.plan, t.programs))
        )
    facts += [rehab_fact(session, r) for r in rehab_schedule(session, chain)]
    return facts


def rehab_schedule(
    session: Session, programs=None, line_of_business: str | None = None, state: str | None = None
) -> list[m.RehabSchedule]:
    """The schedule entries (003) of these programs (None: all), for a line of business (its own entries or the
    broader one's it is part of: ASO members are commercial members) and a state (entries naming it or no state)."""
    lobs = {line_of_business}
    row = session.get(m.LineOfBusiness, line_of_business) if line_of_business else None
    if row is not None and row.part_of:
        lobs.add(row.part_of)
    out = []
    for r in read_once(session, ("rehab_schedule",), lambda: select(m.RehabSchedule).order_by(m.RehabSchedule.id)):
        if programs is not None and r.program_id not in programs:
            continue
        if line_of_business and r.line_of_business not in lobs:
            continue
        if state and r.states and state not in r.states and state not in r.except_states:
            continue
        out.append(r)
    return out


def lob_scopes(session: Session) -> list[m.LineOfBusinessScope]:
    """Every notice's line-of-business scope, by id."""
    return read_once(session, ("lob_scopes",), lambda: select(m.LineOfBusinessScope).order_by(m.LineOfBusinessScope.id))


def rehab_fact(session: Session, r: m.RehabSchedule, kind: str = "fact") -> Fact:
    """One rehabilitation schedule entry (003) as a fact, in its plan's and line of business's scope."""
    scope = scope_of(session, r.plan, [r.program_id], lobs=[r.line_of_business])
    return fact_for(session, r.text, "rehab_schedule", r.id, scope, kind=kind)


def lines_of_business(session: Session, line_of_business: str | None = None, program: str | None = None) -> Answer:
    """Which members a notice applies to, each statement in its notice's scope."""
    lob = resolve(session, "line_of_business", line_of_business) or line_of_business
    program = resolve(session, "program", program) or program
    chain = {p.id for p in program_chain(session, program)} if program else None
    row = session.get(m.LineOfBusiness, lob) if lob else None
    answer = Answer(
        topic="lines_of_business", data={"line_of_business": lob, "line_of_business_name": row.name if row else None}
    )
    for s in lob_scopes(session):
        if chain and not chain & set(s.programs):
            continue
        scope = scope_of(session, s.plan, s.programs)
        answer.facts.append(
            fact_for(session, lob_text(session, s, lob), "line_of_business_scope", s.id, scope, "scope")
        )
    if (
        lob
        and session.get(m.LineOfBusiness, lob) is not None
        and not any(lob in (s.included + s.excluded + s.offered) for s in lob_scopes(session))
    ):
        answer.status = Status.UNKNOWN
    if program:
        # The notice about the program asked ("ASO small jt"): 001's small-joint scope before 000's general one.
        answer.facts.sort(key=lambda f: program not in (f.scope.programs if f.scope else ()))
    set_program(session, answer, program)
    return answer


def _names(session: Session, ids) -> str:
    names = [session.get(m.LineOfBusiness, i).name for i in ids]
    return ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1] if names else ""


def lob_text(session: Session, s: m.LineOfBusinessScope, lob: str | None) -> str:
    programs = _program_phrase(session, s.programs)
    if lob and lob in s.excluded:
        return f"{_names(session, [lob])}: not included — the notice does not apply to {_names(session, s.excluded)}."
    if lob and lob in s.offered and lob in s.included:
        return f"{_names(session, [lob])}: {s.note}"
    if lob and lob in s.included:
        return f"{_names(session, [lob])}: included ({programs})."
    text = f"{programs}: applies to {_names(session, s.included)} members"
    if s.excluded:
        text += f"; not to {_names(session, s.excluded)}"
    if s.note:
        text += f". {s.note.rstrip('.')}"
    return text + "."


def _program_phrase(session: Session, program_ids) -> str:
    if len(program_ids) > 3:
        return "AIM's pre-service review programs"
    return ", ".join(session.get(m.Program, p).name for p in program_ids)


def rehabilitation(
    session: Session,
    state: str | None = None,
    line_of_business: str | None = None,
    date_of_service: dt.date | None = None,
) -> Answer:
    """The rehabilitation program, its relaunch states and the Medicare delay with its exceptions."""
    answer = topic(session, "rehabilitation")
    answer.topic = "rehabilitation"
    set_program(session, answer, "rehabilitation")
    lob = resolve(session, "line_of_business", line_of_business) or line_of_business
    state = resolve(session, "state", state) if state else None
    for r in rehab_schedule(session, None, lob, state):
        answer.facts.append(rehab_fact(session, r))
        if state and lob and r.not_required_until:
            # A delay with its state exceptions (003: Medicare): whether this state is one of them.
            answer.data["medicare_state_exception"] = state in r.except_states
    answer.data.update({"state": state, "line_of_business": lob})
    return answer
