"""The central decision: does a service need AIM pre-service review, given what is known?

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
    MSK,
    citations_for,
    cite,
    contact_routes,
    fact_for,
    lob_text,
    plan_for_region,
    program_chain,
    rehab_fact,
    resolve,
    rules,
    scope_of,
    set_program,
)
from priorauth.kb.results import Answer, Fact, Status

SETTING_DECIDES = "setting"


@dataclass
class Request:
    procedure: str | None = None
    code: str | None = None
    program: str | None = None
    diagnoses: list[str] = field(default_factory=list)
    setting: str | None = None
    line_of_business: str | None = None
    plan: str | None = None
    state: str | None = None
    date_of_service: dt.date | None = None


def review_requirement(session: Session, request: Request | None = None, **known) -> Answer:
    """Decide review required / notification only / not required / outside the program / unknown."""
    req = request or Request(**known)
    answer = Answer(topic="review_requirement", status=Status.REVIEW_REQUIRED)
    proc, code_row = _identify(session, req, answer)
    if answer.status is Status.UNKNOWN:
        return _finish(session, answer, None, req)
    program_id = proc.program_id if proc else resolve(session, "program", req.program)
    if program_id is None:
        answer.status = Status.UNKNOWN
        answer.info_needed.append("procedure")
        return _finish(session, answer, None, req)
    chain = [p.id for p in program_chain(session, program_id)]
    set_program(session, answer, program_id)
    _listing_facts(session, answer, proc, code_row, program_id)
    setting = resolve(session, "setting", req.setting) if req.setting else None
    _apply_dates(session, answer, chain, req.date_of_service)
    _apply_settings(session, answer, chain, setting)
    _apply_notification(session, answer, chain, proc, code_row, req.diagnoses)
    _apply_site_of_care(session, answer, chain, setting)
    _apply_lines_of_business(session, answer, chain, req)
    _apply_rehab_schedule(session, answer, chain, req)
    return _finish(session, answer, program_id, req)


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
        if proc is None and not req.program:
            answer.status = Status.UNKNOWN
            answer.data["unknown_procedure"] = req.procedure
            answer.facts.append(Fact(text=f"“{req.procedure}” is not a procedure my sources list."))
    if proc is not None:
        answer.procedure, answer.procedure_name = proc.id, proc.name
    return proc, code_row


def _listing_facts(session, answer, proc, code_row, program_id) -> None:
    program = session.get(m.Program, program_id)
    if proc is not None:
        answer.facts.append(
            fact_for(
                session,
                f"{proc.name} is on the list of the {program.name} services AIM reviews.",
                "procedures",
                proc.id,
                scope_of(session, "any_plan", [program_id]),
                kind="reason",
            )
        )
    else:
        answer.facts.append(fact_for(session, f"AIM reviews {program.name}.", "programs", program_id, kind="reason"))
    if code_row is not None:
        origin = (
            "named in the source" if code_row.provenance == "source" else "the standard code for the named procedure"
        )
        answer.data["code"] = {"code": code_row.code, "system": code_row.system, "provenance": code_row.provenance}
        answer.facts.append(
            Fact(
                text=f"{code_row.system} {code_row.code} is {origin} ({proc.name}); the plan's billing code list "
                "governs, and the procedures reviewed may vary by health plan.",
                citations=cite(session, "002", "See the billing codes for the procedures we review")
                + cite(session, "002", "Note: procedures reviewed may vary by health plan."),
                kind="caveat",
            )
        )


def _apply_dates(session, answer, chain, date_of_service) -> None:
    for r in rules(session, "effective_date", chain):
        scope = scope_of(session, r.plan, r.programs)
        answer.facts.append(fact_for(session, r.text, "rules", r.id, scope, kind="date"))
        if date_of_service and r.effective_from and date_of_service < r.effective_from:
            answer.status = Status.OUTSIDE_PROGRAM
            answer.data["before_effective_date"] = r.effective_from.isoformat()


def _apply_settings(session, answer, chain, setting) -> None:
    excl = [r for r in rules(session, "exclusion", chain) if r.settings]
    incl = rules(session, "inclusion", chain)
    if setting is None:
        if excl:
            answer.info_needed.append(SETTING_DECIDES)
            for r in excl:
                answer.cases.append(
                    {
                        "when": {"setting": r.settings},
                        "status": _excluded_status(chain).value,
                        "text": r.text,
                        "rule": r.id,
                    }
                )
        return
    answer.data["setting"] = setting
    for r in incl:
        if setting in r.settings:
            answer.facts.append(
                fact_for(session, r.text, "rules", r.id, scope_of(session, r.plan, r.programs), kind="reason")
            )
    for r in excl:
        if setting in r.settings:
            answer.status = _excluded_status(chain)
            answer.facts.append(
                fact_for(session, r.text, "rules", r.id, scope_of(session, r.plan, r.programs), kind="reason")
            )


def _excluded_status(chain) -> Status:
    # The musculoskeletal FAQ says such cases "do not require preauthorization"; the general notice
    # says they are "excluded from AIM programs" (the plan's own rules may still apply).
    return Status.NOT_REQUIRED if MSK in chain else Status.OUTSIDE_PROGRAM


def _apply_notification(session, answer, chain, proc, code_row, diagnoses) -> None:
    if answer.status is not Status.REVIEW_REQUIRED:
        return
    dx = {d.strip().upper() for d in diagnoses or []}
    for r in rules(session, "notification_only", chain):
        scope = scope_of(session, r.plan, r.programs)
        code_matches = code_row is not None and code_row.code in r.codes
        could_match = code_row is None and proc is not None and _proc_has_codes(session, proc.id, r.codes)
        if not (code_matches or could_match):
            continue
        answer.facts.append(fact_for(session, r.text, "rules", r.id, scope, kind="rule"))
        if code_matches and dx & set(r.diagnoses):
            answer.status = Status.NOTIFICATION_ONLY
        elif code_matches and not dx:
            answer.status = Status.CONDITIONAL
            answer.info_needed.append("diagnosis")
            answer.cases.append(
                {"when": {"diagnosis": r.diagnoses}, "status": Status.NOTIFICATION_ONLY.value, "rule": r.id}
            )
        elif could_match and dx & set(r.diagnoses):
            answer.status = Status.CONDITIONAL
            answer.info_needed.append("code")
            answer.cases.append({"when": {"code": r.codes}, "status": Status.NOTIFICATION_ONLY.value, "rule": r.id})


def _proc_has_codes(session, procedure_id, codes) -> bool:
    return bool(
        session.execute(
            select(m.ProcedureCode.code).where(
                m.ProcedureCode.procedure_id == procedure_id, m.ProcedureCode.code.in_(codes)
            )
        ).first()
    )


def _apply_site_of_care(session, answer, chain, setting) -> None:
    if answer.status not in (Status.REVIEW_REQUIRED, Status.CONDITIONAL):
        return
    for r in rules(session, "site_of_care", chain):
        scope = scope_of(session, r.plan, r.programs)
        if setting is None:
            if SETTING_DECIDES not in answer.info_needed:
                answer.info_needed.append(SETTING_DECIDES)
            answer.cases.append(
                {
                    "when": {"setting": r.settings},
                    "status": answer.status.value,
                    "site_of_care_review": True,
                    "rule": r.id,
                }
            )
            answer.facts.append(fact_for(session, r.text, "rules", r.id, scope, kind="rule"))
        elif setting in r.settings:
            answer.data["site_of_care_review"] = True
            answer.facts.append(fact_for(session, r.text, "rules", r.id, scope, kind="reason"))
        else:
            answer.data["site_of_care_review"] = False
            answer.facts.append(
                Fact(
                    text="A facility other than an outpatient hospital needs no additional site-of-care review.",
                    citations=cite(
                        session,
                        "002",
                        "If the prescribing physician selects a facility other than an "
                        "outpatient hospital, additional clinical review for site of care will not be "
                        "required.",
                    ),
                    kind="reason",
                )
            )


def _apply_lines_of_business(session, answer, chain, req: Request) -> None:
    scopes = [
        s
        for s in session.execute(select(m.LineOfBusinessScope).order_by(m.LineOfBusinessScope.id)).scalars()
        if set(s.programs) & set(chain)
    ]
    if not scopes:
        return
    lob = resolve(session, "line_of_business", req.line_of_business) if req.line_of_business else None
    if lob is None:
        answer.info_needed.append("line_of_business")
    # The most specific notice first (a sub-program's own notice over the general one).
    scopes.sort(key=lambda s: min((chain.index(p) for p in s.programs if p in chain), default=99))
    for s in scopes[:1] if lob else scopes:
        scope = scope_of(session, s.plan, s.programs, lobs=s.included)
        if lob in s.excluded and answer.status is not Status.NOT_REQUIRED:
            answer.status = Status.OUTSIDE_PROGRAM
        if lob and lob not in s.included + s.excluded + s.offered:
            answer.info_needed.append("line_of_business")
            answer.facts.append(
                Fact(
                    text=f"The {s.plan and scope.plan_name} notice does not say whether "
                    f"{session.get(m.LineOfBusiness, lob).name} members are included.",
                    kind="caveat",
                )
            )
            continue
        answer.facts.append(
            fact_for(session, lob_text(session, s, lob), "line_of_business_scope", s.id, scope, kind="scope")
        )
    answer.data["line_of_business"] = lob


def _apply_rehab_schedule(session, answer, chain, req: Request) -> None:
    """Rehabilitation dates by line of business and state (003): the Medicare delay and its exceptions."""
    if "rehabilitation" not in chain:
        return
    lob = resolve(session, "line_of_business", req.line_of_business) if req.line_of_business else None
    state = resolve(session, "state", req.state) if req.state else None
    for r in session.execute(select(m.RehabSchedule).order_by(m.RehabSchedule.id)).scalars():
        if lob and r.line_of_business != lob:
            continue
        if state and r.states and state not in r.states:
            continue
        answer.facts.append(rehab_fact(session, r, kind="date"))
        delayed = r.not_required_until and req.date_of_service and req.date_of_service <= r.not_required_until
        if lob == r.line_of_business and delayed and state and state not in r.except_states:
            answer.status = Status.NOT_REQUIRED
    if lob is None:
        answer.info_needed.append("line_of_business")
    if state is None:
        answer.info_needed.append("state")


def _finish(session: Session, answer: Answer, program_id: str | None, req: Request) -> Answer:
    plan = resolve(session, "plan", req.plan) if req.plan else None
    if plan is None and req.state:
        plan = plan_for_region(session, req.state)
    answer.contacts = contact_routes(session, program=program_id, plan=plan, kinds=("portal", "phone", "id_card"))
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
    Status.UNKNOWN: "conditional",
}
CRD_INFO_NEEDED = {
    "setting": "location",
    "line_of_business": "contract",
    "diagnosis": "detail-code",
    "code": "detail-code",
    "procedure": "detail-code",
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
