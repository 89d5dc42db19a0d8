"""Turns query-layer answers into the user's text and the side panel's structured payload, in one place.

Texts that depend on data are built here from the templates below; fixed texts are `utter_*`
responses in the Rasa domain.
"""

from __future__ import annotations

from dataclasses import asdict

from priorauth.kb.results import Answer, ContactRoute, Fact, Status

SHORT_TITLES = {
    "000": "Anthem Blue Cross, Post service reviews using AIM (Nov 1, 2020)",
    "001": "Anthem BCBS, Expansion of AIM Musculoskeletal Program (Aug 1, 2020)",
    "002": "AIM Musculoskeletal Program FAQ",
    "003": "AIM Rehabilitation Program",
    "004": "Anthem Maine Provider News, May 2020",
}

HEADLINES = {
    Status.REVIEW_REQUIRED: "Yes: {subject} needs AIM pre-service review ({program}).",
    Status.NOTIFICATION_ONLY: "Notification only: {subject} needs preauthorization for notification purposes "
    "only; no medical-necessity review ({program}).",
    Status.NOT_REQUIRED: "No: {subject} does not need preauthorization in this case ({program}).",
    Status.OUTSIDE_PROGRAM: "Not under AIM review in this case: {subject} falls outside the program as "
    "described ({program}).",
    Status.CONDITIONAL: "It depends: {subject} ({program}).",
    Status.NOT_STATED: "The sources don't say for this case; call the number on the back of the member's ID card.",
    Status.CONFLICT: "The sources disagree here ({program}): both are shown below; the number on the back of the "
    "member's ID card settles it.",
    Status.UNKNOWN: "I don't know that from my sources.",
}

INFO_QUESTIONS = {
    "setting": "Where will it be done: office, ambulatory surgery center, outpatient hospital or inpatient?",
    "line_of_business": "Is the member fully insured, ASO (self-insured), or another line of business?",
    "diagnosis": "What is the diagnosis code (G89.11, G89.12 or G89.18 makes it notification only)?",
    "plan": "Which plan: Anthem Blue Cross (California), Anthem Blue Cross and Blue Shield, Anthem Maine?",
    "presentation": "Did the patient present in the emergency room (acute fracture, trauma or a neurological "
    "condition), or is it scheduled?",
    "state": "In which state is the member?",
    "code": "Which CPT code will be billed?",
    "procedure": "Which procedure or CPT code is it?",
}

TOPIC_INTROS = {
    "peer_to_peer": "Peer-to-peer discussion:",
    "reconsideration": "After a denial:",
    "document_upload": "Uploading documentation:",
    "review_process": "How AIM decides a review request:",
    "site_of_care": "Musculoskeletal site-of-care review:",
    "registration": "Registering for the AIM ProviderPortal:",
    "portal_features": "What the AIM ProviderPortal does:",
    "post_service": "Post-service review:",
    "guidelines": "Clinical guidelines:",
    "guideline_changes": "Interventional Pain Management guideline updates, for dates of service on and after "
    "August 16, 2020:",
    "rehabilitation": "AIM Rehabilitation Program (outpatient PT, OT, speech therapy):",
    "exclusions": "What is excluded from review, by program:",
    "notification_only": "Notification-only rule:",
    "effective_dates": "Effective dates:",
    "lines_of_business": "Which members it applies to:",
    "validity": "How long an approval lasts:",
    "programs": "AIM reviews these services for clinical appropriateness:",
    "program_services": "{program} — what AIM reviews:",
    "contact": "How to reach AIM:",
}


def render(answer: Answer) -> tuple[str, dict]:
    """The user's text and the structured payload of one answer."""
    if answer.topic == "review_requirement":
        lines = _review_lines(answer)
    elif answer.topic == "contact":
        lines = _contact_lines(answer)
    else:
        lines = _topic_lines(answer)
    text = "\n".join(line for line in lines if line is not None)
    source = source_line(answer)
    if source:
        # One newline: Rasa splits a text at a blank line into separate messages, parting text and payload.
        text += "\n" + source
    return text, payload(answer)


def source_line(answer: Answer) -> str:
    ids = answer.source_ids
    return "Source: " + "; ".join(f"{i} {SHORT_TITLES.get(i, '')}".strip() for i in ids) if ids else ""


def _subject(answer: Answer) -> str:
    code = answer.data.get("code", {}).get("code")
    if answer.procedure_name and code:
        return f"{code} ({answer.procedure_name})"
    return answer.procedure_name or answer.program_name or "it"


def _review_lines(answer: Answer) -> list[str]:
    program = answer.program_name or "AIM"
    lines = [answer.data.get("headline") or HEADLINES[answer.status].format(subject=_subject(answer), program=program)]
    lines += [f"- {f.text}{_scope_suffix(f)}" for f in answer.facts if f.kind != "route"]
    if answer.cases and answer.status is not Status.UNKNOWN:
        lines.append("It depends on what I don't know yet:")
        lines += [f"- {_case_text(c)}" for c in answer.cases]
    lines += _route_lines(answer)
    return lines


def _case_text(case: dict) -> str:
    when = case["when"]
    if case.get("say"):
        return case["say"]
    if "setting" in when:
        where = " or ".join(s.replace("_", " ") for s in when["setting"])
        if "site_of_care_review" in case:
            return f"in an {where}: certain musculoskeletal procedures also get a site-of-care review."
        return f"in an {where} setting: {case['status'].replace('_', ' ')}."
    if "diagnosis" in when:
        return f"with diagnosis {', '.join(when['diagnosis'])} (post-procedural pain): notification only."
    if "code" in when:
        return f"billed as CPT {' or '.join(when['code'])}: notification only."
    return str(case)


def _route_lines(answer: Answer) -> list[str]:
    portal = [c for c in answer.contacts if c.id == "providerportal"]
    phones = [c for c in answer.contacts if c.kind == "phone"]
    lines = []
    if portal:
        lines.append(
            f"Request it on the AIM ProviderPortal ({portal[0].value}, 24/7) or through Availity"
            + (", or call:" if phones else ".")
        )
    lines += [f"  {_phone_text(p)}" for p in phones]
    lines += [f"- {f.text}" for f in answer.facts if f.kind == "route"]
    return lines


def _scope_suffix(fact: Fact) -> str:
    if (
        fact.scope
        and fact.scope.plan not in (None, "any_plan", "anthem")
        and fact.kind in ("scope", "reason", "date", "rule", "exclusion", "inclusion")
    ):
        return f" [scope: {fact.scope.label()}]"
    return ""


def _phone_text(route: ContactRoute) -> str:
    hours = f"{route.days}, {route.hours}" + (f" {route.time_zone}" if route.time_zone else "")
    if not route.time_zone and route.time_zone_note:
        hours += f" ({route.time_zone_note})"
    return f"{route.value}, {hours} — for {route.scope.label()} ({route.name})"


def _contact_lines(answer: Answer) -> list[str]:
    lines = [TOPIC_INTROS["contact"]]
    for route in answer.contacts:
        if route.kind == "portal":
            extra = f", {route.availability}" if route.availability else ""
            lines.append(f"- {route.name}: {route.value}{extra}")
        elif route.kind == "phone":
            lines.append(f"- Phone {_phone_text(route)}")
        elif route.kind == "email":
            lines.append(f"- E-mail {route.value} ({route.note or route.name}; {route.scope.label()})")
        elif route.kind == "id_card":
            lines.append("- For a particular member's plan: the phone number on the back of the member's ID card.")
        else:
            lines.append(f"- {route.value}")
    lines += [f"- {f.text}" for f in answer.facts]
    if "plan" in answer.info_needed:
        lines.append(
            "The phone number depends on the member's plan; each number above is for its own plan. "
            + INFO_QUESTIONS["plan"]
        )
    return lines


def _topic_lines(answer: Answer) -> list[str]:
    if answer.status is Status.UNKNOWN and not answer.facts:
        return [HEADLINES[Status.UNKNOWN]]
    intro = TOPIC_INTROS.get(answer.topic, answer.data.get("title", "")).format(program=answer.program_name or "")
    lines = [intro]
    if answer.topic == "validity" and answer.procedure_name:
        lines[0] = f"How long an approval lasts ({answer.procedure_name}, {answer.program_name}):"
    lines += [f"- {f.text}{_scope_suffix(f)}" for f in answer.facts]
    for est in answer.data.get("estimates", []):
        unit = est["unit"].replace("_", " ")
        lines.append(
            f"- Approved on {est['approval_date']}: about {est['days']} {unit} means through "
            f"{est['last_day']} (an estimate; the approval notification's date governs)."
        )
    if answer.status is Status.UNKNOWN:
        lines.insert(0, HEADLINES[Status.UNKNOWN])
    return lines


def payload(answer: Answer) -> dict:
    """The structured answer for the agent side panel: facts with scope and citations."""

    def cites(item):
        return [{"source": c.source_id, "file": c.file, "title": c.title, "quote": c.quote} for c in item.citations]

    return {
        "type": "priorauth.answer",
        "topic": answer.topic,
        "status": answer.status.value if answer.status else None,
        "program": answer.program,
        "procedure": answer.procedure,
        "facts": [
            {"text": f.text, "kind": f.kind, "scope": asdict(f.scope) if f.scope else None, "citations": cites(f)}
            for f in answer.facts
        ],
        "contacts": [
            {
                "name": c.name,
                "kind": c.kind,
                "value": c.value,
                "days": c.days,
                "hours": c.hours,
                "time_zone": c.time_zone,
                "scope": asdict(c.scope),
                "citations": cites(c),
            }
            for c in answer.contacts
        ],
        "info_needed": answer.info_needed,
        "cases": answer.cases,
        "data": {k: v for k, v in answer.data.items() if k != "crd"},
        "crd": answer.data.get("crd"),
        "sources": answer.source_ids,
    }


def follow_up_question(answer: Answer) -> str | None:
    for need in answer.info_needed:
        # The plan is asked only where the plans' answers differ (then it comes first).
        if need in INFO_QUESTIONS and (need != "plan" or answer.data.get("plan_choices")):
            return INFO_QUESTIONS[need]
    return None
