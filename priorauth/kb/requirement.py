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
    ambiguous_candidates,
    caveat,
    citations_for,
    contact_routes,
    fact_for,
    lob_scopes,
    lob_text,
    named_plans,
    once_per_session,
    plan_applies,
    plan_for_region,
    plan_names,
    program_chain,
    read_once,
    rehab_fact,
    rehab_schedule,
    resolve,
    rules,
    scope_of,
    set_program,
)
from priorauth.kb.results import Answer, Fact, Status

SETTING_DECIDES = "setting"
EMERGENCY = "emergency"


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
    # The program's schedule by line of business and state (rehabilitation, 003); [] for other programs.
    schedule: list[m.RehabSchedule] = field(default_factory=list)


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
        schedule=rehab_schedule(session, chain),
    )
    named = named_plans(session)
    plans = [plan] if plan in named else list(named)
    if req.plan and plan is None:
        # "Blue Cross" alone names more than one plan: decide for each, and ask which where they differ.
        plans = [p for p in ambiguous_candidates(session, "plan", req.plan) if p in named] or plans
    outcomes = [_decide(session, known, p) for p in plans]
    _combine(session, answer, outcomes, known, given_plan=plan if plan in named else None)
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
            answer.facts.append(caveat(session, "unknown_code", kind="fact", code=code))
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
    reading = (
        once_per_session(session, ("reading", proc.id), lambda: session.get(m.ProcedureReading, proc.id))
        if proc is not None
        else None
    )
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
        governs = caveat(session, "billing_code_list")
        answer.facts.append(Fact(text=f"{text} {governs.text}", citations=governs.citations, kind="caveat"))


# ---------------------------------------------------------------- the decision for one plan
def _not_stated(out: _Outcome, members: str | None, text: str, scope=None) -> None:
    """The sources leave the decision open: said as a gap (a caveat with no passage to cite), naming whose."""
    out.status = Status.NOT_STATED
    if members:
        out.data["not_stated"] = members
    out.facts.append(Fact(text=text, scope=scope, kind="caveat"))


def _decide(session: Session, k: _Known, plan: str) -> _Outcome:
    out = _Outcome(plan=plan)
    listing = [r for r in rules(session, "listing", k.chain) if plan_applies(session, r.plan, plan)]
    if not listing:
        program = session.get(m.Program, k.chain[0])
        text = f"The sources don't say whether AIM reviews {program.name} for {plan_names(session, [plan])} members."
        _not_stated(out, None, text, scope_of(session, plan, k.chain[:1]))
        return out
    for r in listing:
        out.facts.append(fact_for(session, r.text, "rules", r.id, scope_of(session, r.plan, r.programs), kind="reason"))
    _apply_dates(session, out, k, plan)
    if k.schedule:
        _apply_rehab(session, out, k)
    _apply_presentation(session, out, k, plan)
    _apply_settings(session, out, k, plan)
    _apply_notification(session, out, k, plan)
    _apply_site_of_care(session, out, k, plan)
    if not k.schedule and out.status is not Status.NOT_REQUIRED:
        # A schedule decides by line of business itself; "not required" holds whatever the line of business.
        _apply_lines_of_business(session, out, k, plan)
    return out


def _apply_dates(session, out: _Outcome, k: _Known, plan: str) -> None:
    for r in rules(session, "effective_date", k.chain):
        if not plan_applies(session, r.plan, plan):
            continue
        out.facts.append(fact_for(session, r.text, "rules", r.id, scope_of(session, r.plan, r.programs), kind="date"))
        if k.date and r.effective_from and k.date < r.effective_from:
            out.status = Status.OUTSIDE_PROGRAM
            out.data["before_effective_date"] = r.effective_from.isoformat()
            start = r.effective_from
            out.why = f"the program starts with dates of service on {start:%B} {start.day}, {start.year}"


def _apply_presentation(session, out: _Outcome, k: _Known, plan: str) -> None:
    for r in rules(session, "exclusion", k.chain):
        if not r.presentations or not plan_applies(session, r.plan, plan):
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
    excl = [r for r in rules(session, "exclusion", k.chain) if r.settings and plan_applies(session, r.plan, plan)]
    incl = [r for r in rules(session, "inclusion", k.chain) if plan_applies(session, r.plan, plan)]
    if k.setting is None:
        if session.get(m.Program, k.chain[0]).inpatient == "not_in_scope":
            return  # an outpatient program (therapy): an inpatient setting is not a likely reading
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
        out.why = f"{'its notice' if hits_excl[0].plan in named_plans(session) else 'the program'} excludes the " + (
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
        if not plan_applies(session, r.plan, plan):
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
    own = read_once(
        session,
        ("procedure_codes", procedure_id),
        lambda: select(m.ProcedureCode.code).where(m.ProcedureCode.procedure_id == procedure_id),
    )
    return not set(own).isdisjoint(codes)


def _apply_site_of_care(session, out: _Outcome, k: _Known, plan: str) -> None:
    if out.status not in (Status.REVIEW_REQUIRED, Status.CONDITIONAL, Status.NOTIFICATION_ONLY):
        return
    for r in rules(session, "level_of_care", k.chain):
        if plan_applies(session, r.plan, plan):
            out.data["level_of_care_review"] = True
            out.facts.append(
                fact_for(session, r.text, "rules", r.id, scope_of(session, r.plan, r.programs), kind="rule")
            )
    for r in rules(session, "site_of_care", k.chain):
        if not plan_applies(session, r.plan, plan):
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
    scopes = [s for s in lob_scopes(session) if set(s.programs) & set(k.chain) and plan_applies(session, s.plan, plan)]
    # The most specific notice first (a sub-program's own notice over the general one).
    scopes.sort(key=lambda s: min((k.chain.index(p) for p in s.programs if p in k.chain), default=99))
    return scopes


def _excluded_somewhere(session) -> set[str]:
    """Lines of business some notice excludes (and the ones that may mean them)."""
    excluded = set()
    for s in lob_scopes(session):
        excluded |= set(s.excluded)
    for lob in read_once(session, ("lines_of_business",), lambda: select(m.LineOfBusiness)):
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
        text = (
            f"The sources don't say whether {plan_names(session, [plan])}'s {lob_name} members are in "
            "the program (only Anthem Blue Cross's notice lists lines of business)."
        )
        members = f"{lob_name} members of {plan_names(session, [plan])}"
        _not_stated(out, members, text, scope_of(session, plan, k.chain[:1]))


def _lob_scope(session, s: m.LineOfBusinessScope):
    return scope_of(session, s.plan, s.programs, lobs=s.included)


def _lob_names(session, ids) -> str:
    names = [session.get(m.LineOfBusiness, i).name for i in ids]
    return ", ".join(names[:-1]) + (" or " if len(names) > 1 else "") + names[-1] if names else ""


# ---------------------------------------------------------------- rehabilitation (003)
def _apply_rehab(session, out: _Outcome, k: _Known) -> None:
    """Rehabilitation by line of business, state and date, as 003 states them."""
    lob = k.lob
    if lob is None:
        out.depends_on("line_of_business", "state")
        for r in k.schedule:
            out.facts.append(rehab_fact(session, r, kind="date"))
        out.cases += _rehab_cases(session, k.schedule)
        return
    entries = rehab_schedule(session, k.chain, lob)
    name = session.get(m.LineOfBusiness, lob).name
    # "Medicare Advantage": a line of business the schedule's "Medicare" may mean, or not.
    meant_by = [r for r in k.schedule if lob in (session.get(m.LineOfBusiness, r.line_of_business).may_mean or [])]
    if any(r.not_required_until for r in entries):
        _rehab_delay(session, out, k, entries)
    elif entries:
        _rehab_relaunch(session, out, k, entries)
    elif meant_by:
        for r in meant_by:
            out.facts.append(rehab_fact(session, r, kind="date"))
        out.status = Status.NOT_STATED
        out.data["not_stated"] = f"{name} members"
        out.facts.append(caveat(session, "medicare_membership_undefined", line_of_business=name))
    else:
        text = (
            f"The rehabilitation page names Anthem's commercial and Medicare membership only; it says nothing "
            f"about {name} members."
        )
        _not_stated(out, f"{name} members", text)


def _lob_name(session, lob: str) -> str:
    return session.get(m.LineOfBusiness, lob).name


def _rehab_cases(session, schedule) -> list[dict]:
    """The line-of-business cases of 003 in one line each (what the schedule's records say, shortened)."""
    cases = []
    relaunch = [r for r in schedule if r.possible_starts]
    targeted = [r for r in schedule if r.targeted]
    if relaunch:
        lob = relaunch[0].line_of_business
        say = f"{_lob_name(session, lob)} members: relaunch scheduled for {_month_day(relaunch[0].possible_starts)} "
        say += "(no year given) in " + ", ".join(s for r in relaunch for s in r.states)
        for r in targeted:
            say += "; " + ", ".join(r.states) + f" targeted for the {r.targeted}"
        cases.append({"when": {"line_of_business": [lob]}, "status": "see_text", "say": say + "."})
    for r in schedule:
        if r.not_required_until and r.starts:
            cases.append(
                {
                    "when": {"line_of_business": [r.line_of_business]},
                    "status": "see_text",
                    "rule": r.id,
                    "say": f"{_lob_name(session, r.line_of_business)} members: delayed until {r.starts:%B %Y}, not "
                    f"required through {r.not_required_until:%B %Y} except in {_or_and(r.except_states)}.",
                }
            )
    return cases


def _month_day(readings: list[str]) -> str:
    """The month and day that the readings of a date given without a year share: "November 1st"."""
    day = dt.date.fromisoformat(readings[0])
    suffix = "th" if 10 <= day.day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day.day % 10, "th")
    return f"{day:%B} {day.day}{suffix}"


def _or_and(items) -> str:
    items = list(items)
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def _rehab_relaunch(session, out: _Outcome, k: _Known, entries) -> None:
    """A (re)launch by state: the state decides, then the date of service against the launch date's readings."""
    if k.state is None:
        out.depends_on("state")
        for r in entries:
            out.facts.append(rehab_fact(session, r, kind="date"))
            out.cases.append({"when": {"state": r.states}, "status": "see_text", "say": r.text, "rule": r.id})
        return
    entry = next(iter(rehab_schedule(session, k.chain, k.lob, k.state)), None)
    members = f"{_lob_name(session, entries[0].line_of_business).lower()} members in {k.state}"
    if entry is None:
        _not_stated(out, members, f"The rehabilitation page lists no relaunch date for {members}.")
        for r in entries:
            out.facts.append(rehab_fact(session, r, kind="date"))
        return
    out.facts.append(rehab_fact(session, entry, kind="reason"))
    if entry.targeted:
        # "targeting first quarter 2020" is a target, not a date the program started.
        out.status = Status.NOT_STATED
        out.data["not_stated"] = f"{members} (the relaunch was only targeted for the {entry.targeted})"
        return
    # "November 1st" has no year (the page is of 2019-2020): only dates before or after every reading decide.
    readings = sorted(dt.date.fromisoformat(d) for d in entry.possible_starts or [])
    if k.date and readings and k.date < readings[0]:
        out.status = Status.OUTSIDE_PROGRAM
    elif k.date and readings and k.date < readings[-1]:
        out.status = Status.NOT_STATED
        out.data["not_stated"] = (
            f"a date of service of {k.date.isoformat()} (the relaunch date “{_month_day(entry.possible_starts)}” "
            "has no year)"
        )


def _rehab_delay(session, out: _Outcome, k: _Known, entries) -> None:
    """A delay with state exceptions: not required through its end date, except in the states it names."""
    for r in entries:
        out.facts.append(rehab_fact(session, r, kind="reason"))
        in_delay = r.not_required_until and (k.date is None or k.date <= r.not_required_until)
        if k.date is None:
            out.cases.append(
                {
                    "when": {"date_of_service": f"through {r.not_required_until.isoformat()}"},
                    "status": Status.NOT_REQUIRED.value,
                    "rule": r.id,
                    "say": f"For dates of service through {r.not_required_until:%B %Y}: not required, except in "
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
                    "say": f"In other states: not required through {r.not_required_until:%B %Y}.",
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
    named = named_plans(session)
    agree = len({out.status for out in outcomes}) == 1
    for out in outcomes:
        for f in out.facts:
            if agree and not given_plan and f.scope and f.scope.plan in named and f.kind not in KEEP:
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
            answer.facts.append(caveat(session, "plan_caveat"))
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
    answer.data["plan_names"] = {out.plan: plan_names(session, [out.plan]) for out in outcomes}
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
        session, program=program_id, plan=plan if plan in named_plans(session) else None, kinds=kinds
    )
    answer.facts.append(caveat(session, "confirm_with_id_card", kind="route"))
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
