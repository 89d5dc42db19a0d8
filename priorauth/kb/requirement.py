"""The central decision: does a service need AIM pre-service review, given what is known?

Every rule carries the plan scope its source gives it (a plan's own notice, every Anthem plan, or AIM's
plan-neutral FAQ), so the member's plan is an input of each decision: the question is decided once per plan
the sources name (or once, for the plan given), and when the plans' answers differ the answer says so per plan
and asks which plan. Two sources that disagree for the same scope are both shown, never settled here.

Shaped after the Da Vinci CRD coverage-information extension: a status (pa-needed), reasons,
what else is needed to be sure (info-needed) and the contact route for the program and scope.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from priorauth.kb import models as m
from priorauth.kb.queries import (
    NAMED_PLANS,
    ambiguous_candidates,
    citations_for,
    cite,
    contact_routes,
    fact_for,
    lob_text,
    plan_applies,
    plan_for_region,
    plan_names,
    program_chain,
    rehab_fact,
    resolve,
    rules,
    scope_of,
    set_program,
)
from priorauth.kb.results import Answer, Fact, Status

SETTING_DECIDES = "setting"
EMERGENCY = "emergency"
COMMERCIAL = {"commercial", "fully_insured", "aso"}
PLAN_QUESTION = "Which plan: Anthem Blue Cross (California), Anthem Blue Cross and Blue Shield, Anthem Maine?"


@dataclass
class Request:
    procedure: str | None = None
    code: str | None = None
    program: str | None = None
    diagnoses: list[str] = field(default_factory=list)
    setting: str | None = None
    presentation: str | None = None
    line_of_business: str | None = None
    plan: str | None = None
    state: str | None = None
    date_of_service: dt.date | None = None


@dataclass
class _Known:
    """The request resolved to knowledge-base ids."""

    chain: list[str]
    proc: m.Procedure | None
    code_row: m.ProcedureCode | None
    diagnoses: set[str]
    setting: str | None
    presentation: str | None
    lob: str | None
    state: str | None
    date: dt.date | None


@dataclass
class _Outcome:
    """The decision for one plan."""

    plan: str
    status: Status = Status.REVIEW_REQUIRED
    facts: list[Fact] = field(default_factory=list)
    cases: list[dict] = field(default_factory=list)
    info_needed: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    why: str | None = None  # a short reason for a "no", for the per-plan sentence
    depends: list[str] = field(default_factory=list)  # what a CONDITIONAL status waits for

    def need(self, what: str) -> None:
        if what not in self.info_needed:
            self.info_needed.append(what)

    def depends_on(self, *what: str) -> None:
        self.status = Status.CONDITIONAL
        for w in what:
            self.need(w)
            if w not in self.depends:
                self.depends.append(w)


def review_requirement(session: Session, request: Request | None = None, **known) -> Answer:
    """Decide review required / notification only / not required / outside / not stated / conflict / unknown."""
    req = request or Request(**known)
    answer = Answer(topic="review_requirement", status=Status.REVIEW_REQUIRED)
    proc, code_row = _identify(session, req, answer)
    if answer.status is Status.UNKNOWN:
        return _finish(session, answer, None, req, None)
    program_id = proc.program_id if proc else resolve(session, "program", req.program)
    if program_id is None:
        _ask_which(session, answer, "program", req.program)
        answer.status = Status.UNKNOWN
        if "procedure" not in answer.info_needed:
            answer.info_needed.append("procedure")
        return _finish(session, answer, None, req, None)
    chain = [p.id for p in program_chain(session, program_id)]
    set_program(session, answer, program_id)
    _listing_facts(session, answer, proc, code_row, program_id)
    setting = resolve(session, "setting", req.setting) if req.setting else None
    if req.setting and setting is None:
        _ask_which(session, answer, "setting", req.setting)
    presentation = resolve(session, "presentation", req.presentation) if req.presentation else None
    if setting == EMERGENCY:
        presentation = EMERGENCY  # in the emergency room is an emergency presentation
    plan = resolve(session, "plan", req.plan) if req.plan else None
    if plan is None and req.state:
        plan = plan_for_region(session, req.state)
    known = _Known(
        chain=chain,
        proc=proc,
        code_row=code_row,
        diagnoses={d.strip().upper() for d in req.diagnoses or []},
        setting=setting,
        presentation=presentation,
        lob=resolve(session, "line_of_business", req.line_of_business) if req.line_of_business else None,
        state=resolve(session, "state", req.state) if req.state else None,
        date=req.date_of_service,
    )
    plans = [plan] if plan in NAMED_PLANS else list(NAMED_PLANS)
    if req.plan and plan is None:
        # "Blue Cross" alone names more than one plan: decide for each, and ask which where they differ.
        plans = [p for p in ambiguous_candidates(session, "plan", req.plan) if p in NAMED_PLANS] or plans
    outcomes = [_decide(session, known, p) for p in plans]
    _combine(session, answer, outcomes, known, given_plan=plan if plan in NAMED_PLANS else None)
    return _finish(session, answer, program_id, req, plan)


# ---------------------------------------------------------------- what is asked about
def _identify(session: Session, req: Request, answer: Answer):
    code_row = proc = None
    if req.code:
        code = req.code.strip().upper()
        code_row = session.get(m.ProcedureCode, code)
        if code_row is None:
            answer.status = Status.UNKNOWN
            answer.data["unknown_code"] = code
            answer.facts.append(
                Fact(
                    text=f"{code} is not in my knowledge base, so I can't say whether it needs review. "
                    "The plan's billing code list governs; check it on the AIM ProviderPortal or call the "
                    "number on the back of the member's ID card.",
                    citations=cite(session, "002", "See the billing codes for the procedures we review"),
                )
            )
            return None, None
        proc = session.get(m.Procedure, code_row.procedure_id)
    elif req.procedure:
        pid = resolve(session, "procedure", req.procedure)
        proc = session.get(m.Procedure, pid) if pid else None
        if proc is None and _ask_which(session, answer, "procedure", req.procedure):
            answer.status = Status.UNKNOWN
        elif proc is None and not req.program:
            answer.status = Status.UNKNOWN
            answer.data["unknown_procedure"] = req.procedure
            answer.facts.append(Fact(text=f"My sources don't list “{req.procedure}” among the services AIM reviews."))
    if proc is not None:
        answer.procedure, answer.procedure_name = proc.id, proc.name
    return proc, code_row


def _ask_which(session: Session, answer: Answer, kind: str, term: str | None) -> bool:
    """A word naming several records ("hip", "hospital", "Blue Cross"): list them and ask which, never pick."""
    candidates = ambiguous_candidates(session, kind, term)
    if not candidates:
        return False
    model = {"procedure": m.Procedure, "program": m.Program, "setting": m.Setting, "plan": m.Plan}[kind]
    names = [session.get(model, c).name for c in candidates]
    answer.data.setdefault("choices", {})[kind] = candidates
    need = "procedure" if kind in ("procedure", "program") else kind
    if need not in answer.info_needed:
        answer.info_needed.append(need)
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
    answer.data["headline"] = f"“{term}” alone doesn't say which {kind} it is: do you mean {listed}?"
    return True


def _listing_facts(session, answer, proc, code_row, program_id) -> None:
    program = session.get(m.Program, program_id)
    reading = session.get(m.ProcedureReading, proc.id) if proc is not None else None
    if reading is not None:
        # "MRI": the notice names the category only; the answer says it reads the test as one of it.
        answer.data["named_by_category"] = reading.category
        why = f"The notice names the category ({program.name}), not the test; {proc.name} is read as part of it."
    else:
        why = f"{proc.name} is on the list of the {program.name} services AIM reviews." if proc is not None else None
    if why:
        scope = scope_of(session, "any_plan", [program_id])
        answer.facts.append(fact_for(session, why, "procedures", proc.id, scope, kind="reason"))
    if code_row is not None:
        named = code_row.provenance == "source"
        answer.data["code"] = {"code": code_row.code, "system": code_row.system, "provenance": code_row.provenance}
        text = (
            f"{code_row.system} {code_row.code} is named in the source ({proc.name})."
            if named
            else f"The sources name the procedure, not the code: {code_row.system} {code_row.code} is the standard "
            f"code for {proc.name}."
        )
        answer.facts.append(
            Fact(
                text=text + " The plan's billing code list governs, and procedures reviewed may vary by health plan.",
                citations=cite(session, "002", "See the billing codes for the procedures we review")
                + cite(session, "002", "Note: procedures reviewed may vary by health plan."),
                kind="caveat",
            )
        )


# ---------------------------------------------------------------- the decision for one plan
def _decide(session: Session, k: _Known, plan: str) -> _Outcome:
    out = _Outcome(plan=plan)
    listing = [r for r in rules(session, "listing", k.chain) if plan_applies(r.plan, plan)]
    if not listing:
        out.status = Status.NOT_STATED
        program = session.get(m.Program, k.chain[0])
        out.facts.append(
            Fact(
                text=f"The sources don't say whether AIM reviews {program.name} for {plan_names(session, [plan])} "
                "members.",
                scope=scope_of(session, plan, k.chain[:1]),
                kind="caveat",  # a gap in the sources: said, with no passage to cite
            )
        )
        return out
    for r in listing:
        out.facts.append(fact_for(session, r.text, "rules", r.id, scope_of(session, r.plan, r.programs), kind="reason"))
    _apply_dates(session, out, k, plan)
    if "rehabilitation" in k.chain:
        _apply_rehab(session, out, k)
    _apply_presentation(session, out, k, plan)
    _apply_settings(session, out, k, plan)
    _apply_notification(session, out, k, plan)
    _apply_site_of_care(session, out, k, plan)
    if "rehabilitation" not in k.chain and out.status is not Status.NOT_REQUIRED:
        _apply_lines_of_business(session, out, k, plan)  # no preauthorization whatever the line of business
    return out


def _apply_dates(session, out: _Outcome, k: _Known, plan: str) -> None:
    for r in rules(session, "effective_date", k.chain):
        if not plan_applies(r.plan, plan):
            continue
        out.facts.append(fact_for(session, r.text, "rules", r.id, scope_of(session, r.plan, r.programs), kind="date"))
        if k.date and r.effective_from and k.date < r.effective_from:
            out.status = Status.OUTSIDE_PROGRAM
            out.data["before_effective_date"] = r.effective_from.isoformat()
            start = r.effective_from
            out.why = f"the program starts with dates of service on {start:%B} {start.day}, {start.year}"


def _apply_presentation(session, out: _Outcome, k: _Known, plan: str) -> None:
    for r in rules(session, "exclusion", k.chain):
        if not r.presentations or not plan_applies(r.plan, plan):
            continue
        scope = scope_of(session, r.plan, r.programs)
        if k.presentation in r.presentations:
            if out.status in (Status.REVIEW_REQUIRED, Status.CONDITIONAL):
                out.status = Status.NOT_REQUIRED
                out.why = "emergency presentations (acute fracture, trauma, neurological condition) need none"
            out.facts.append(fact_for(session, r.text, "rules", r.id, scope, kind="reason"))
        elif k.presentation is None and out.status is Status.REVIEW_REQUIRED:
            out.cases.append(
                {
                    "when": {"presentation": r.presentations},
                    "status": Status.NOT_REQUIRED.value,
                    "rule": r.id,
                    "say": "If the patient presented in the emergency room (an acute fracture, trauma or a "
                    "neurological condition): no preauthorization, whatever the setting.",
                }
            )
            out.facts.append(fact_for(session, r.text, "rules", r.id, scope, kind="rule"))
            if k.setting == "inpatient":
                out.need("presentation")


def _apply_settings(session, out: _Outcome, k: _Known, plan: str) -> None:
    excl = [r for r in rules(session, "exclusion", k.chain) if r.settings and plan_applies(r.plan, plan)]
    incl = [r for r in rules(session, "inclusion", k.chain) if plan_applies(r.plan, plan)]
    if k.setting is None:
        if "rehabilitation" in k.chain:
            return  # the program is outpatient therapy; an inpatient setting is not a likely reading
        for r in excl:
            for setting in r.settings:
                if setting == EMERGENCY and any(c["when"].get("presentation") for c in out.cases):
                    continue  # said by the emergency-presentation case
                including = [i for i in incl if setting in i.settings]
                case = {"when": {"setting": [setting]}, "plan": plan, "rule": r.id}
                if including:
                    case |= {
                        "status": Status.CONFLICT.value,
                        "rules": [r.id, *(i.id for i in including)],
                        "say": f"{_setting_phrase(session, setting)}: the sources disagree. {r.text} "
                        + " ".join(i.text for i in including),
                    }
                else:
                    case |= {
                        "status": _excluded_status(k).value,
                        "say": f"{_setting_phrase(session, setting)}: {r.text}",
                    }
                out.cases.append(case)
                out.need(SETTING_DECIDES)
        return
    out.data["setting"] = k.setting
    hits_excl = [r for r in excl if k.setting in r.settings]
    hits_incl = [r for r in incl if k.setting in r.settings]
    for r in hits_incl:
        kind = "conflict" if hits_excl else "reason"
        out.facts.append(fact_for(session, r.text, "rules", r.id, scope_of(session, r.plan, r.programs), kind=kind))
    for r in hits_excl:
        kind = "conflict" if hits_incl else "reason"
        out.facts.append(fact_for(session, r.text, "rules", r.id, scope_of(session, r.plan, r.programs), kind=kind))
    if hits_excl and hits_incl and out.status is Status.REVIEW_REQUIRED:
        out.status = Status.CONFLICT
        out.data["conflict"] = [r.id for r in hits_excl + hits_incl]
    elif hits_excl and out.status in (Status.REVIEW_REQUIRED, Status.CONDITIONAL):
        out.status = _excluded_status(k)
        out.why = f"{'its notice' if hits_excl[0].plan in NAMED_PLANS else 'the program'} excludes the " + (
            "inpatient setting" if k.setting == "inpatient" else f"{session.get(m.Setting, k.setting).name.lower()}"
        )


def _setting_phrase(session, setting: str) -> str:
    return {"inpatient": "As an inpatient", EMERGENCY: "In the emergency room"}.get(
        setting, f"In an {session.get(m.Setting, setting).name.lower()}"
    )


def _excluded_status(k: _Known) -> Status:
    # The musculoskeletal FAQ says such cases "do not require preauthorization"; the general notice
    # says they are "excluded from AIM programs" (the plan's own rules may still apply).
    return Status.OUTSIDE_PROGRAM


def _apply_notification(session, out: _Outcome, k: _Known, plan: str) -> None:
    if out.status is not Status.REVIEW_REQUIRED:
        return
    for r in rules(session, "notification_only", k.chain):
        if not plan_applies(r.plan, plan):
            continue
        scope = scope_of(session, r.plan, r.programs)
        code_matches = k.code_row is not None and k.code_row.code in r.codes
        procedure_has_rule_codes = k.proc is not None and _proc_has_codes(session, k.proc.id, r.codes)
        could_match = k.code_row is None and procedure_has_rule_codes
        if k.code_row is not None and not code_matches and procedure_has_rule_codes:
            # "62321 w/ G89.18 notif?": another code of the same procedure; the rule names its codes only.
            out.facts.append(
                fact_for(
                    session,
                    f"Not notification only: the notification-only rule names CPT {' and '.join(r.codes)} (with "
                    f"{', '.join(r.diagnoses[:-1])} or {r.diagnoses[-1]}), not {k.code_row.code}, so "
                    f"{k.code_row.code} gets the full medical-necessity review.",
                    "rules",
                    r.id,
                    scope,
                    kind="rule",
                )
            )
            continue
        if not (code_matches or could_match):
            continue
        out.facts.append(fact_for(session, r.text, "rules", r.id, scope, kind="rule"))
        if code_matches and k.diagnoses & set(r.diagnoses):
            out.status = Status.NOTIFICATION_ONLY
        elif code_matches and k.diagnoses:
            # A diagnosis was given and is not one of the rule's: say so, the asker wants to know which it is.
            given = ", ".join(sorted(k.diagnoses))
            out.facts.insert(
                len(out.facts) - 1,
                fact_for(
                    session,
                    f"Not notification only: the diagnosis {given} is not {', '.join(r.diagnoses[:-1])} or "
                    f"{r.diagnoses[-1]}, so {k.code_row.code} gets the full medical-necessity review.",
                    "rules",
                    r.id,
                    scope,
                    kind="rule",
                ),
            )
        elif code_matches and not k.diagnoses:
            out.depends_on("diagnosis")
            out.cases.append(
                {"when": {"diagnosis": r.diagnoses}, "status": Status.NOTIFICATION_ONLY.value, "rule": r.id}
            )
        elif could_match and k.diagnoses & set(r.diagnoses):
            out.depends_on("code")
            out.cases.append({"when": {"code": r.codes}, "status": Status.NOTIFICATION_ONLY.value, "rule": r.id})
        elif could_match and not k.diagnoses:
            # An epidural with neither code nor diagnosis: review, or notification only for one code/diagnosis pair.
            out.depends_on("code", "diagnosis")
            out.cases.append(
                {
                    "when": {"code": r.codes, "diagnosis": r.diagnoses},
                    "status": Status.NOTIFICATION_ONLY.value,
                    "rule": r.id,
                    "say": f"Billed as CPT {' or '.join(r.codes)} for post-procedural pain with "
                    f"{', '.join(r.diagnoses)}: notification only (no medical-necessity review).",
                }
            )


def _proc_has_codes(session, procedure_id, codes) -> bool:
    return bool(
        session.execute(
            select(m.ProcedureCode.code).where(
                m.ProcedureCode.procedure_id == procedure_id, m.ProcedureCode.code.in_(codes)
            )
        ).first()
    )


def _apply_site_of_care(session, out: _Outcome, k: _Known, plan: str) -> None:
    if out.status not in (Status.REVIEW_REQUIRED, Status.CONDITIONAL, Status.NOTIFICATION_ONLY):
        return
    for r in rules(session, "level_of_care", k.chain):
        if plan_applies(r.plan, plan):
            out.data["level_of_care_review"] = True
            out.facts.append(
                fact_for(session, r.text, "rules", r.id, scope_of(session, r.plan, r.programs), kind="rule")
            )
    for r in rules(session, "site_of_care", k.chain):
        if not plan_applies(r.plan, plan):
            continue
        scope = scope_of(session, r.plan, r.programs)
        none_needed = "no_additional_review" in (r.conditions or [])
        if k.setting is None and not none_needed:
            out.need(SETTING_DECIDES)
            # "Certain" procedures (002, listed in Resources): it may apply, not that it does.
            out.cases.append(
                {"when": {"setting": r.settings}, "status": out.status.value, "site_of_care_review": None, "rule": r.id}
            )
            out.facts.append(fact_for(session, r.text, "rules", r.id, scope, kind="rule"))
        elif k.setting in r.settings:
            # 002: "certain" procedures (listed in Resources, not in the sources): it may apply, not that it does.
            out.data["site_of_care_review"] = False if none_needed else "certain"
            out.facts.append(fact_for(session, r.text, "rules", r.id, scope, kind="reason"))


def _lob_scopes(session, k: _Known, plan: str) -> list[m.LineOfBusinessScope]:
    scopes = [
        s
        for s in session.execute(select(m.LineOfBusinessScope).order_by(m.LineOfBusinessScope.id)).scalars()
        if set(s.programs) & set(k.chain) and plan_applies(s.plan, plan)
    ]
    # The most specific notice first (a sub-program's own notice over the general one).
    scopes.sort(key=lambda s: min((k.chain.index(p) for p in s.programs if p in k.chain), default=99))
    return scopes


def _excluded_somewhere(session) -> set[str]:
    """Lines of business some notice excludes (and the ones that may mean them)."""
    excluded = set()
    for s in session.execute(select(m.LineOfBusinessScope)).scalars():
        excluded |= set(s.excluded)
    for lob in session.execute(select(m.LineOfBusiness)).scalars():
        if set(lob.may_mean or []) & excluded:
            excluded.add(lob.id)
    return excluded


def _apply_lines_of_business(session, out: _Outcome, k: _Known, plan: str) -> None:
    scopes = _lob_scopes(session, k, plan)
    out.data["line_of_business"] = k.lob
    if k.lob is None:
        for s in scopes:
            if s.excluded:
                out.need("line_of_business")
                out.cases.append(
                    {
                        "when": {"line_of_business": s.excluded},
                        "plan": plan,
                        "status": Status.OUTSIDE_PROGRAM.value,
                        "rule": s.id,
                        "say": f"{plan_names(session, [plan])}'s notice does not apply to "
                        f"{_lob_names(session, s.excluded)} members.",
                    }
                )
            out.facts.append(
                fact_for(
                    session, lob_text(session, s, None), "line_of_business_scope", s.id, _lob_scope(session, s), "scope"
                )
            )
        return
    lob_name = session.get(m.LineOfBusiness, k.lob).name
    maybe = set(session.get(m.LineOfBusiness, k.lob).may_mean or [])
    for s in scopes[:1]:
        scope = _lob_scope(session, s)
        if k.lob in s.excluded:
            if out.status is not Status.NOT_REQUIRED:
                out.status = Status.OUTSIDE_PROGRAM
                out.why = f"its notice does not apply to {lob_name} members"
            out.facts.append(
                fact_for(session, lob_text(session, s, k.lob), "line_of_business_scope", s.id, scope, "reason")
            )
        elif k.lob in s.included + s.offered:
            out.facts.append(
                fact_for(session, lob_text(session, s, k.lob), "line_of_business_scope", s.id, scope, "scope")
            )
        else:
            excluded = maybe & set(s.excluded)
            out.facts.append(
                fact_for(session, lob_text(session, s, None), "line_of_business_scope", s.id, scope, "scope")
            )
            if excluded and out.status is Status.REVIEW_REQUIRED:
                out.status = Status.NOT_STATED
                out.data["not_stated"] = f"{lob_name} members of {plan_names(session, [plan])}"
                out.facts.append(
                    Fact(
                        text=f"“{lob_name}” may mean {_lob_names(session, sorted(excluded))}, which the notice "
                        f"excludes; it does not say for other {lob_name} members.",
                        scope=scope,
                        kind="caveat",
                    )
                )
    if not scopes and k.lob in _excluded_somewhere(session) and out.status is Status.REVIEW_REQUIRED:
        out.status = Status.NOT_STATED
        out.data["not_stated"] = f"{lob_name} members of {plan_names(session, [plan])}"
        out.facts.append(
            Fact(
                text=f"The sources don't say whether {plan_names(session, [plan])}'s {lob_name} members are in "
                "the program (only Anthem Blue Cross's notice lists lines of business).",
                scope=scope_of(session, plan, k.chain[:1]),
                kind="caveat",  # a gap in the sources: said, with no passage to cite
            )
        )


def _lob_scope(session, s: m.LineOfBusinessScope):
    return scope_of(session, s.plan, s.programs, lobs=s.included)


def _lob_names(session, ids) -> str:
    names = [session.get(m.LineOfBusiness, i).name for i in ids]
    return ", ".join(names[:-1]) + (" or " if len(names) > 1 else "") + names[-1] if names else ""


# ---------------------------------------------------------------- rehabilitation (003)
def _apply_rehab(session, out: _Outcome, k: _Known) -> None:
    """Rehabilitation by line of business, state and date, as 003 states them."""
    schedule = list(session.execute(select(m.RehabSchedule).order_by(m.RehabSchedule.id)).scalars())
    commercial = [r for r in schedule if r.line_of_business == "commercial"]
    medicare = [r for r in schedule if r.line_of_business == "medicare"]
    lob = k.lob
    if lob is None:
        out.depends_on("line_of_business", "state")
        for r in schedule:
            out.facts.append(rehab_fact(session, r, kind="date"))
        out.cases += _rehab_cases(commercial, medicare)
        return
    if lob in COMMERCIAL:
        _rehab_commercial(session, out, k, commercial)
    elif lob == "medicare":
        _rehab_medicare(session, out, k, medicare)
    elif lob in ("medicare_advantage", "medicare_supplement"):
        name = session.get(m.LineOfBusiness, lob).name
        for r in medicare:
            out.facts.append(rehab_fact(session, r, kind="date"))
        out.status = Status.NOT_STATED
        out.data["not_stated"] = f"{name} members"
        out.facts.append(
            Fact(
                text=f"The rehabilitation page speaks of “Anthem Medicare membership” and does not say whether that "
                f"includes {name}.",
                citations=cite(
                    session,
                    "003",
                    "The AIM Rehabilitative program for Anthem Medicare membership is delayed until April 2020.",
                ),
                kind="caveat",
            )
        )
    else:
        name = session.get(m.LineOfBusiness, lob).name
        out.status = Status.NOT_STATED
        out.data["not_stated"] = f"{name} members"
        out.facts.append(
            Fact(
                text=f"The rehabilitation page names Anthem's commercial and Medicare membership only; it says nothing "
                f"about {name} members.",
                kind="caveat",  # a gap in the sources: said, with no passage to cite
            )
        )


def _rehab_cases(commercial, medicare) -> list[dict]:
    """The line-of-business cases of 003 in one line each (what the schedule's records say, shortened)."""
    cases = []
    relaunch = [r for r in commercial if not r.id.endswith("west")]
    west = [r for r in commercial if r.id.endswith("west")]
    if relaunch:
        say = "Commercial members: relaunch scheduled for November 1st (no year given) in " + ", ".join(
            s for r in relaunch for s in r.states
        )
        if west:
            say += "; " + ", ".join(s for r in west for s in r.states) + " targeted for the first quarter of 2020"
        cases.append({"when": {"line_of_business": ["commercial"]}, "status": "see_text", "say": say + "."})
    for r in medicare:
        if r.not_required_until and r.starts:
            cases.append(
                {
                    "when": {"line_of_business": ["medicare"]},
                    "status": "see_text",
                    "rule": r.id,
                    "say": f"Medicare members: delayed until {r.starts:%B %Y}, not required through "
                    f"{r.not_required_until:%B %Y} except in {_or_and(r.except_states)}.",
                }
            )
    return cases


def _or_and(items) -> str:
    items = list(items)
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def _rehab_commercial(session, out: _Outcome, k: _Known, entries) -> None:
    if k.state is None:
        out.depends_on("state")
        for r in entries:
            out.facts.append(rehab_fact(session, r, kind="date"))
            out.cases.append({"when": {"state": r.states}, "status": "see_text", "say": r.text, "rule": r.id})
        return
    entry = next((r for r in entries if k.state in r.states), None)
    if entry is None:
        out.status = Status.NOT_STATED
        out.data["not_stated"] = f"commercial members in {k.state}"
        out.facts.append(
            Fact(
                text=f"The rehabilitation page lists no relaunch date for commercial members in {k.state}.",
                kind="caveat",  # a gap in the sources: said, with no passage to cite
            )
        )
        for r in entries:
            out.facts.append(rehab_fact(session, r, kind="date"))
        return
    out.facts.append(rehab_fact(session, entry, kind="reason"))
    if entry.starts is None and entry.id.endswith("west"):
        # "targeting first quarter 2020" is a target, not a date the program started.
        out.status = Status.NOT_STATED
        out.data["not_stated"] = f"commercial members in {k.state} (the relaunch was only targeted for Q1 2020)"
        return
    # "November 1st" has no year (the page is of 2019-2020): only dates before or after both readings decide.
    if k.date and k.date < dt.date(2019, 11, 1):
        out.status = Status.OUTSIDE_PROGRAM
    elif k.date and k.date < dt.date(2020, 11, 1):
        out.status = Status.NOT_STATED
        out.data["not_stated"] = (
            f"a date of service of {k.date.isoformat()} (the relaunch date “November 1st” has no year)"
        )


def _rehab_medicare(session, out: _Outcome, k: _Known, entries) -> None:
    for r in entries:
        out.facts.append(rehab_fact(session, r, kind="reason"))
        in_delay = r.not_required_until and (k.date is None or k.date <= r.not_required_until)
        if k.date is None:
            out.cases.append(
                {
                    "when": {"date_of_service": f"through {r.not_required_until.isoformat()}"},
                    "status": Status.NOT_REQUIRED.value,
                    "rule": r.id,
                    "say": f"For dates of service through March 2020: not required, except in "
                    f"{', '.join(r.except_states)}.",
                }
            )
            continue
        if not in_delay:
            continue
        if k.state is None:
            out.depends_on("state")
            out.cases.append(
                {
                    "when": {"state": r.except_states},
                    "status": Status.REVIEW_REQUIRED.value,
                    "rule": r.id,
                    "say": f"In {', '.join(r.except_states)}: prior authorization still required.",
                }
            )
            out.cases.append(
                {
                    "when": {"state": "other"},
                    "status": Status.NOT_REQUIRED.value,
                    "rule": r.id,
                    "say": "In other states: not required through March 2020.",
                }
            )
        elif k.state not in r.except_states:
            out.status = Status.NOT_REQUIRED


# ---------------------------------------------------------------- several plans into one answer
PHRASES = {
    Status.REVIEW_REQUIRED: "yes, it needs AIM pre-service review",
    Status.NOTIFICATION_ONLY: "notification only",
    Status.NOT_REQUIRED: "no preauthorization is needed",
    Status.OUTSIDE_PROGRAM: "it is not under AIM review",
    Status.CONDITIONAL: "it depends on more details",
    Status.NOT_STATED: "the sources don't say",
    Status.CONFLICT: "the sources disagree",
}


KEEP = ("conflict", "date")  # kept from one plan's notice even when every plan agrees


def _combine(session, answer: Answer, outcomes: list[_Outcome], k: _Known, given_plan: str | None) -> None:
    seen: set[tuple] = set()
    agree = len({out.status for out in outcomes}) == 1
    for out in outcomes:
        for f in out.facts:
            if agree and not given_plan and f.scope and f.scope.plan in NAMED_PLANS and f.kind not in KEEP:
                continue  # every plan has the same answer: one plan's own reason for it is not needed
            key = (f.text, f.scope.plan if f.scope else None)
            if key not in seen:
                seen.add(key)
                answer.facts.append(f)
        for case in out.cases:
            if case not in answer.cases and not any(_same_case(case, c) for c in answer.cases):
                answer.cases.append(case)
        for need in out.info_needed:
            if need not in answer.info_needed:
                answer.info_needed.append(need)
        for key, value in out.data.items():
            answer.data.setdefault(key, value)
    depends = list(dict.fromkeys(d for out in outcomes for d in out.depends))
    answer.info_needed[:] = depends + [n for n in answer.info_needed if n not in depends]
    statuses = {out.status for out in outcomes}
    answer.data["by_plan"] = {out.plan: out.status.value for out in outcomes}
    if given_plan:
        answer.data["plan"] = given_plan
    if len(statuses) == 1:
        answer.status = outcomes[0].status
        if answer.status is Status.NOT_STATED:
            scope = outcomes[0].data.get("not_stated") or (
                f"{plan_names(session, [given_plan])} members" if given_plan else "this case"
            )
            answer.data["headline"] = (
                f"The sources don't say for {scope}; call the number on the back of the member's ID card."
            )
        elif answer.status is Status.CONFLICT:
            answer.data["headline"] = _conflict_headline(session, outcomes, given_plan)
        elif answer.status is Status.CONDITIONAL:
            subject = answer.procedure_name or answer.program_name
            if answer.program_name and len(answer.program_name) <= SHORT_PROGRAM and subject != answer.program_name:
                subject += f" ({answer.program_name})"
            answer.data["headline"] = f"It depends on {_needs_phrase(depends)}: {subject}."
        if not given_plan and answer.status in (Status.REVIEW_REQUIRED, Status.NOTIFICATION_ONLY, Status.CONDITIONAL):
            answer.data["plan_caveat"] = True
            answer.facts.append(
                Fact(
                    text="Programs and the procedures reviewed may vary by health plan; the number on the back of "
                    "the member's ID card confirms it for a particular member.",
                    citations=cite(session, "002", "Note: procedures reviewed may vary by health plan."),
                    kind="caveat",
                )
            )
        code = answer.data.get("code") or {}
        if answer.status is Status.REVIEW_REQUIRED and code.get("provenance") == "named_procedure":
            program = session.get(m.Program, k.chain[0]).name
            answer.data["headline"] = (
                f"The sources name the procedure, not the code: {code['code']} is the standard code for "
                f"{answer.procedure_name}, which is on AIM's {program} review list."
            )
        return
    # The plans' answers differ: say it per plan, and ask which plan.
    answer.status = Status.CONDITIONAL
    answer.info_needed[:0] = ["plan"] if "plan" not in answer.info_needed else []
    answer.data["plan_choices"] = [out.plan for out in outcomes]
    groups: dict[Status, list[str]] = {}
    for out in outcomes:
        groups.setdefault(out.status, []).append(out.plan)
    for status, plans in groups.items():
        answer.cases.insert(
            0,
            {
                "when": {"plan": plans},
                "status": status.value,
                "say": f"For {plan_names(session, plans)}: {PHRASES[status]}.",
            },
        )
    whys = {out.status: out.why for out in outcomes if out.why}
    answer.data["headline"] = _plan_headline(session, answer, groups, whys)


SHORT_PROGRAM = 60  # a longer program name (rehabilitation's) is left to the facts below the headline
NEED_NAMES = {
    "line_of_business": "the member's line of business",
    "state": "the state",
    "diagnosis": "the diagnosis",
    "code": "the CPT code",
    "setting": "the setting",
    "presentation": "how the patient presented",
    "date_of_service": "the date of service",
}


def _needs_phrase(needs: list[str]) -> str:
    names = [NEED_NAMES.get(n, n) for n in needs] or ["details I don't have"]
    return ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1]


def _same_case(a: dict, b: dict) -> bool:
    return a.get("say") is not None and a.get("say") == b.get("say")


def _plan_headline(session, answer: Answer, groups: dict[Status, list[str]], whys: dict[Status, str]) -> str:
    subject = answer.procedure_name or answer.program_name or "it"
    silent = groups.get(Status.NOT_STATED, [])
    speaking = {s: p for s, p in groups.items() if s is not Status.NOT_STATED}
    if len(speaking) == 1 and silent:
        status, plans = next(iter(speaking.items()))
        if status is Status.REVIEW_REQUIRED:
            first = f"For {plan_names(session, plans)} members, yes: AIM reviews {_lower(subject)}"
        else:
            first = f"For {plan_names(session, plans)} members, {_phrase(status, subject, whys.get(status))}"
        return f"{first}; the sources don't say for {plan_names(session, silent, 'or')}."
    parts = [
        f"for {plan_names(session, plans)}, {_phrase(status, subject, whys.get(status))}"
        for status, plans in speaking.items()
    ]
    if silent:
        parts.append(f"the sources don't say for {plan_names(session, silent, 'or')}")
    return "It depends on the plan: " + "; ".join(parts) + "."


def _lower(name: str) -> str:
    return name[:1].lower() + name[1:] if name[1:2].islower() else name


def _phrase(status: Status, subject: str, why: str | None = None) -> str:
    if status is Status.REVIEW_REQUIRED:
        return f"yes, {_lower(subject)} needs AIM pre-service review"
    if why and status in (Status.NOT_REQUIRED, Status.OUTSIDE_PROGRAM):
        return f"no: {why}"
    if status is Status.CONFLICT:
        return "the sources disagree (both are shown below)"
    return PHRASES[status]


def _conflict_headline(session, outcomes: list[_Outcome], given_plan: str | None) -> str:
    ids = outcomes[0].data.get("conflict") or []
    sources = sorted(
        {c.source_id for r in ids for c in citations_for(session, "rules", r)},
    )
    scope = f"for {plan_names(session, [given_plan])}" if given_plan else "here"
    return (
        f"The sources disagree {scope} ({' vs '.join(sources)}): both are shown below; the number on the back of "
        "the member's ID card settles it."
    )


# ---------------------------------------------------------------- the answer's routes
def _finish(session: Session, answer: Answer, program_id: str | None, req: Request, plan: str | None) -> Answer:
    # Nothing to request when no preauthorization is needed: only the member's ID-card number, to confirm.
    no_request = answer.status in (Status.NOT_REQUIRED, Status.OUTSIDE_PROGRAM)
    kinds = ("id_card",) if no_request else ("portal", "phone", "id_card")
    answer.contacts = contact_routes(
        session, program=program_id, plan=plan if plan in NAMED_PLANS else None, kinds=kinds
    )
    answer.facts.append(
        Fact(
            text="To confirm for a particular member, call the prior authorization number on the back of the "
            "member's ID card.",
            citations=citations_for(session, "contacts", "member_id_card")[1:2],
            kind="route",
        )
    )
    answer.data["crd"] = crd_coverage_information(answer)
    return answer


CRD_PA_NEEDED = {
    Status.REVIEW_REQUIRED: "auth-needed",
    Status.NOTIFICATION_ONLY: "auth-needed",
    Status.NOT_REQUIRED: "no-auth",
    Status.OUTSIDE_PROGRAM: "no-auth",
    Status.CONDITIONAL: "conditional",
    Status.NOT_STATED: "conditional",
    Status.CONFLICT: "conditional",
    Status.UNKNOWN: "conditional",
}
CRD_INFO_NEEDED = {
    "setting": "location",
    "line_of_business": "contract",
    "plan": "contract",
    "state": "contract",
    "diagnosis": "detail-code",
    "code": "detail-code",
    "procedure": "detail-code",
    "presentation": "detail-code",
    "date_of_service": "timeframe",
}


def crd_coverage_information(answer: Answer) -> dict:
    """The answer as a Da Vinci CRD coverage-information extension (plain dict)."""
    return {
        "coverage": "covered" if answer.status is not Status.OUTSIDE_PROGRAM else "not-covered",
        "pa-needed": CRD_PA_NEEDED.get(answer.status, "conditional"),
        "doc-purpose": ["notification"] if answer.status is Status.NOTIFICATION_ONLY else [],
        "info-needed": sorted({CRD_INFO_NEEDED[i] for i in answer.info_needed if i in CRD_INFO_NEEDED}),
        "reason": [f.text for f in answer.facts if f.kind == "reason"],
        "contact": [{"name": c.name, "value": c.value, "kind": c.kind} for c in answer.contacts],
    }
