"""Turns query-layer answers into the user's text and the side panel's structured payload, in one place.

A reply is short: the direct answer first, then at most three facts that bear on the message (chosen by
`priorauth.selection`), then one `Source:` line with the short title and file of each source shown. Length
budgets are product rules held here: a provider reply aims under 600 characters and never exceeds 900; an agent's
(the agent channel, or a terse query) stays under 400. The whole topic (`full_text`) stays one tap away and in
the payload, which keeps every fact, scope and citation. Texts that depend on data are built here from the
templates below; fixed texts are `utter_*` responses in the Rasa domain.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date

from priorauth.kb.results import Answer, ContactRoute, Fact, Status
from priorauth.nlu.cues import asks_for_fax, asks_if_reviewed, asks_who_to_contact, contact_kind
from priorauth.selection import FactIndex

HOURS_CUE = re.compile(r"\b(hours?|open|close[sd]?|closing|time|when|weekends?|days?)\b", re.I)
PROVIDER_BUDGET = 600
HARD_LIMIT = 900
AGENT_BUDGET = 400
# A terse query (agent shorthand: "p2p window", "TKA auth validity") gets the agent's budget on any channel.
TERSE_WORDS = 5
SUPPORTING_FACTS = 3
SOURCE_ROOM = 80  # a Source line with one source

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
# Topics about one program as a whole.
PROGRAM_TOPICS = {"rehabilitation"}
# Topics whose answer is a list of names: the short reply keeps the list, on one line.
LIST_TOPICS = {"programs", "program_services"}
LIST_MOST = 14
# Topics whose title is part of the answer (the guideline updates' title carries their effective date).
TITLED_TOPICS = {"guideline_changes"}
# Topics that describe a process step by step: a question about its start gets the steps in order.
SEQUENCE_TOPICS = {"registration", "review_process"}
EXTEND_CUE = re.compile(r"\b(extend\w*|extension|renew\w*)\b", re.I)
STEPS_CUE = re.compile(r"\b(steps?|walk me)\b", re.I)  # "registration steps": the steps in their order
HOW_CUE = re.compile(r"\b(how (do|does|to|can|is)|what happens|steps?|process|walk me)\b", re.I)
SITE_CUE = re.compile(r"\bsite[- ]of[- ](care|service)\b|\blevel[- ]of[- ]care\b|\bfacility review\b", re.I)
SETTING_TERMS = re.compile(
    r"\b(setting|facility|hospital|inpatient|outpatient|ambulatory|surgery center|office)\b", re.I
)
PRESENTATION_SETTINGS = {"inpatient", "emergency"}
FOLLOW_UP_KINDS = {"setting", "line_of_business", "plan", "state"}
SUBJECT_KINDS = {"procedure", "cpt_code", "program"}
NEED_ORDER = ["diagnosis", "code", "plan", "presentation", "line_of_business", "state", "date_of_service", "setting"]
NEED_NAMES = {"diagnosis": "diagnosis code", "code": "CPT code", "line_of_business": "line of business"}
ID_CARD_ROUTE = "For a particular member, call the number on the back of the member's ID card."


@dataclass(frozen=True)
class Shown:
    """One line of a short reply and the records it came from (for its Source line)."""

    text: str
    items: tuple = ()
    core: bool = False  # part of the direct answer: kept whatever the soft budget


def asker_of(channel: str | None, message: str) -> str:
    """The asker a reply is sized for: "agent" on the agent channel or for a terse query, else "provider"."""
    if channel == "agent" or len(re.findall(r"[A-Za-z0-9#]+", message or "")) <= TERSE_WORDS:
        return "agent"
    return "provider"


def budget_of(asker: str) -> int:
    return AGENT_BUDGET if asker == "agent" else PROVIDER_BUDGET


def render(
    answer: Answer,
    message: str = "",
    asker: str = "provider",
    index: FactIndex | None = None,
    named: frozenset[str] | set[str] = frozenset(),
) -> tuple[str, dict]:
    """The short reply to ``message`` and the complete payload (which carries the full answer as `full_text`).

    ``named``: the kinds of entity the message itself named (a follow-up that names only a setting or a line of
    business asks what that changes, and is answered with it first)."""
    full = render_full_text(answer)
    shown = _short_lines(answer, message, index, set(named), budget_of(asker))
    text = _fit(shown, lambda kept: source_line(answer, [i for s in kept for i in s.items]), budget_of(asker))
    data = payload(answer)
    data["full_text"] = full
    data["shortened"] = _plain(full) != _plain(text)
    return text, data


def render_full(answer: Answer) -> tuple[str, dict]:
    """The whole topic: every fact, case and contact of the answer (the "More" / "Full answer" view)."""
    data = payload(answer)
    data["full_text"] = text = render_full_text(answer)
    data["shortened"] = False
    return text, data


def render_full_text(answer: Answer) -> str:
    if answer.topic == "review_requirement":
        lines = _review_lines(answer)
    elif answer.topic == "contact":
        lines = _contact_lines(answer)
    else:
        lines = _topic_lines(answer)
    text = "\n".join(line for line in lines if line is not None)
    source = source_line(answer)
    # One newline: Rasa splits a text at a blank line into separate messages, parting text and payload.
    return text + ("\n" + source if source else "")


def for_widget(text: str) -> str:
    """Markdown for the web widget: each line its own line (a hard break, not a blank line, which Rasa would split
    into two messages) and no list markers, so the Source line never runs on into the last item."""
    lines = [re.sub(r"^\s*- ", "• ", line) for line in text.split("\n")]
    return "  \n".join(line.rstrip() for line in lines)


def source_line(answer: Answer, items=None) -> str:
    """`Source: <short title> (<file>)` for each source of ``items`` (facts or contacts; default: the answer's);
    the short title is the source record's (data/authorization/sources.yml)."""
    if items is None:
        cites = [c for item in [*answer.facts, *answer.contacts] for c in item.citations]
    else:
        # A short reply names each shown item's first (primary) source; the payload keeps every citation.
        cites = [item.citations[0] for item in items if item.citations] or answer.citations[:1]
    files: dict[str, str] = {}
    for c in sorted(cites, key=lambda c: c.source_id):
        files.setdefault(c.source_id, f"{c.short_title or c.title} ({c.file})")
    return "Source: " + "; ".join(files.values()) if files else ""


def _plain(text: str) -> str:
    return " ".join(text.split())


def _fit(shown: list[Shown], source_of, budget: int) -> str:
    """Drop supporting lines, last first, until the reply fits its budget; the direct answer (the first line and
    lines marked core) stays unless the reply passes the hard limit, where the answer is cut at a sentence end.
    The Source line names the sources of the lines kept."""
    lines = [s for s in shown if s.text]
    if lines:
        lines[0] = Shown(lines[0].text, lines[0].items, core=True)

    def joined(parts):
        texts = [s.text for s in parts]
        source = source_of(parts)
        return "\n".join([*texts, source] if source else texts)

    for i in range(len(lines) - 1, 0, -1):
        if len(joined(lines)) <= budget:
            break
        if not lines[i].core:
            del lines[i]
    while len(lines) > 1 and len(joined(lines)) > HARD_LIMIT:
        lines.pop()
    if len(joined(lines)) > HARD_LIMIT and lines:
        room = HARD_LIMIT - len(source_of(lines[:1])) - 2
        head = lines[0].text[:room]
        cut = max(head.rfind(". "), head.rfind("; "))
        lines = [Shown(head[: cut + 1] if cut > 0 else head.rstrip() + "…", lines[0].items)]
    return joined(lines)


# ---------------------------------------------------------------------- short replies
def _short_lines(
    answer: Answer, message: str, index: FactIndex | None, named: set[str], budget: int = PROVIDER_BUDGET
) -> list[Shown]:
    if answer.topic == "review_requirement":
        return _short_review(answer, message, index, named)
    if answer.topic == "contact":
        return _short_contact(answer, message, index)
    if answer.topic in LIST_TOPICS:
        return _short_list(answer)
    return _short_topic(answer, message, index, budget)


def _chosen(message: str, texts: list[str], index: FactIndex | None, keep: int, background=()) -> list[int]:
    """The texts that bear on the message, best first; none when the ranking finds no bearing."""
    if index is None or not message or not texts:
        return []
    return index.select(message, texts, keep=keep, background=background)


def _short_review(answer: Answer, message: str, index: FactIndex | None, named: set[str] = frozenset()) -> list[Shown]:
    if answer.status is Status.UNKNOWN:
        first = answer.facts[0] if answer.facts else None
        lines = [Shown(first.text if first else HEADLINES[Status.UNKNOWN], (first,) if first else ())]
        if "ID card" not in (first.text if first else ""):
            lines.append(Shown(ID_CARD_ROUTE, _id_card(answer)))
        return lines
    reasons = [f for f in answer.facts if f.kind == "reason"]
    listing = reasons[:1] if answer.procedure or answer.program else []
    head_text = _review_headline(answer)
    # What decided the headline: the rules the known setting or diagnosis met, and the line of business's scope
    # when it is known or excludes the member.
    # The decision applies general rules first and refines them (the setting's inclusion, then its site-of-care
    # consequence): the most specific reason comes first unless the message points at another.
    decisive = [f for f in reasons if f not in listing][::-1]
    if answer.data.get("line_of_business") or answer.status is Status.OUTSIDE_PROGRAM:
        decisive += [f for f in answer.facts if f.kind == "scope"]
    if answer.data.get("level_of_care_review"):
        # 001: the setting of a small-joint surgery is itself reviewed (level of care), whatever "no additional
        # site-of-care review" says of the facility: that goes first.
        pinned = [f for f in answer.facts if "level of care" in f.text]
    else:
        pinned = []
    if answer.status is Status.OUTSIDE_PROGRAM:
        # "… for an Anthem Blue Cross FEP member": the member's line of business is why, before anything else.
        pinned += [f for f in answer.facts if f.kind in ("reason", "scope") and ": not included —" in f.text][:1]
    # "62321 w/ G89.18 notif?": why it is not notification only is the answer to the question asked.
    pinned += [f for f in answer.facts if f.text.startswith("Not notification only")][:1]
    if answer.data.get("named_by_category") and listing:
        # "MRI": the sources name the category only; how the test was read is part of the answer.
        pinned = [*listing, *pinned]
    # A program that starts on a date: the date is part of "does it need review?" until a date of service is known.
    decisive += [f for f in answer.facts if f.kind == "date"][:1]
    if len(decisive) > 1:
        order = _chosen(message, [f.text for f in decisive], index, keep=2, background=[head_text])
        decisive = [decisive[i] for i in order] + [f for i, f in enumerate(decisive) if i not in order]
    decisive = pinned + [f for f in decisive if f not in pinned]
    head = Shown(head_text, tuple(listing))
    # Two sources that disagree for this scope: both are the answer, each with its source.
    conflicts = [Shown(f"{f.text}{_scope_suffix(f)}", (f,), core=True) for f in answer.facts if f.kind == "conflict"]
    if conflicts:
        decisive = decisive[:0]
    lines = [
        head,
        *conflicts,
        *(Shown(f"{f.text}{_scope_suffix(f)}", (f,), core=i == 0) for i, f in enumerate(decisive[:2])),
    ]
    follow_up = named & FOLLOW_UP_KINDS and not named & SUBJECT_KINDS
    if (
        decisive
        and (follow_up or SITE_CUE.search(message or ""))
        and answer.status is Status.REVIEW_REQUIRED
        and (decisive[0].kind == "scope" or SETTING_TERMS.search(decisive[0].text))
    ):
        # "What if we do it at the ASC?" / "does it need site-of-care review?": what the setting (or line of
        # business) changes comes first; the procedure's own review still applies.
        lines = [lines[1], Shown(_still_needs(answer), tuple(listing)), *lines[2:]]
    cases = [Shown(_upper_first(_case_text(c)), _rule_facts(answer, c)) for c in _cases_in_order(answer)]
    if answer.status is Status.CONDITIONAL:
        # What it depends on is the answer: the case of the first thing unknown comes right after the headline,
        # before the facts that put the procedure under review.
        if answer.data.get("plan_choices"):
            # The headline already answers per plan: the per-plan cases would repeat it.
            cases = [s for s, c in zip(cases, _cases_in_order(answer), strict=True) if "plan" not in c["when"]]
        if cases:
            # The cases are what it depends on; the facts below them (not the dates the cases already state).
            rest = [Shown(s.text, s.items) for s in lines[1 + len(conflicts) :]]
            rest = [s for s in rest if not any(f.kind == "date" for f in s.items if isinstance(f, Fact))]
            lines = [
                lines[0],
                *conflicts,
                Shown(cases[0].text, cases[0].items, core=not conflicts),
                *cases[1:SUPPORTING_FACTS],
                *rest,
            ]
        question = follow_up_question(answer)
        if question:
            # "Which plan?" goes with its buttons: kept whatever the soft budget.
            lines.append(Shown(question, core=question == INFO_QUESTIONS["plan"]))
    else:
        shown = {f for s in lines for f in s.items}
        if answer.data.get("setting") in PRESENTATION_SETTINGS:
            # An inpatient or emergency surgery: how the patient presented can still change the answer.
            lines += [
                case for case, c in zip(cases, _cases_in_order(answer), strict=True) if "presentation" in c["when"]
            ][:1]
        pool = [
            Shown(f"{f.text}{_scope_suffix(f)}", (f,))
            for f in answer.facts
            if f.kind not in ("route", "conflict") and f not in listing and f not in shown
        ] + [case for case in cases if case not in lines]
        lines += [pool[i] for i in _chosen(message, [s.text for s in pool], index, keep=2, background=[head_text])]
    if answer.status in (Status.NOT_REQUIRED, Status.OUTSIDE_PROGRAM):
        lines.append(Shown(ID_CARD_ROUTE, _id_card(answer)))
    else:
        lines.append(Shown(_review_route(answer, message)))
    return lines


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _needs_in_order(answer: Answer) -> list[str]:
    return sorted(answer.info_needed, key=lambda n: NEED_ORDER.index(n) if n in NEED_ORDER else len(NEED_ORDER))


def _cases_in_order(answer: Answer) -> list[dict]:
    """The cases of what decides the status first (a diagnosis or code), the setting's after."""
    needs = _needs_in_order(answer)

    def rank(case: dict) -> int:
        keys = [k for k in case.get("when", {})]
        return min((needs.index(k) for k in keys if k in needs), default=len(needs))

    return sorted(answer.cases, key=rank)


def _still_needs(answer: Answer) -> str:
    return (
        f"{_upper_first(_subject(answer))} itself still needs AIM pre-service review ({answer.program_name or 'AIM'})."
    )


def _review_headline(answer: Answer) -> str:
    if answer.data.get("headline"):
        return answer.data["headline"]  # the decision's own first sentence (per plan, conflict, code not named)
    program = answer.program_name or "AIM"
    subject = _subject(answer)
    if answer.status is Status.CONDITIONAL and answer.info_needed:
        first = _needs_in_order(answer)[0]
        need = NEED_NAMES.get(first, first.replace("_", " "))
        return f"It depends on the {need}: {subject} ({program})."
    headline = HEADLINES[answer.status].format(subject=subject, program=program)
    # "Yes: Rehabilitation Program needs AIM pre-service review (Rehabilitation Program)": the program once.
    return headline.replace(f" ({program}).", ".") if subject == program else headline


def _rule_facts(answer: Answer, case: dict) -> tuple:
    text = case.get("text")
    return tuple(f for f in answer.facts if text and f.text == text)


def _review_route(answer: Answer, message: str) -> str:
    phones = [c for c in answer.contacts if c.kind == "phone"]
    if contact_kind(message) == "phone" and len(phones) == 1:
        return f"Request it on the AIM ProviderPortal or Availity, or call {_phone_text(phones[0])}."
    return (
        "Request it through the AIM ProviderPortal (providerportal.com) or Availity; the member's plan can confirm "
        "at the number on the back of the member's ID card."
    )


def _id_card(answer: Answer) -> tuple:
    return tuple(c for c in answer.contacts if c.kind == "id_card")[:1]


def _short_contact(answer: Answer, message: str, index: FactIndex | None) -> list[Shown]:
    kind = answer.data.get("kind")
    portals = [r for r in answer.contacts if r.kind == "portal"]
    phones = [r for r in answer.contacts if r.kind == "phone"]
    emails = [r for r in answer.contacts if r.kind == "email"]
    id_card = [r for r in answer.contacts if r.kind == "id_card"]
    lines: list[Shown] = []
    if asks_for_fax(message) and not any("fax" in (r.kind or "") for r in answer.contacts):
        # No source gives AIM a fax number: say so before the routes they do give, never a made-up one.
        lines.append(Shown("My sources give no fax number for AIM; the routes they give:", core=True))
    if portals:
        online = " or ".join(
            f"{r.name} ({r.value}" + (f", {r.availability.split(';')[0]}" if r.availability else "") + ")"
            for r in portals
        )
        lines.append(Shown(f"Online: {online}.", tuple(portals), core=kind == "portal"))
    if len(phones) > 1:
        # The number depends on the plan: each one with its plan, on a line each, then the question.
        lines.append(Shown("By phone, the AIM number depends on the member's plan:", core=True))
        lines += [Shown(_phone_short(p, asks_hours(message)), (p,), core=True) for p in phones]
        lines.append(Shown(INFO_QUESTIONS["plan"]))
    else:
        lines += [Shown(f"Phone: {_phone_short(p)}.", (p,), core=True) for p in phones]
    lines += [Shown(_route_text(r), (r,), core=True) for r in emails]
    lines += [Shown(f.text, (f,)) for f in answer.facts]
    if id_card and kind is None:
        lines.append(Shown(ID_CARD_ROUTE, tuple(id_card)))
    if kind == "phone" and lines and not lines[0].core:
        lines.append(lines.pop(0))  # the number first when the number was asked
    people = [r for r in answer.contacts if r.kind == "person"]
    if people and (asks_who_to_contact(message) or REPRESENTATIVE.search(message or "")):
        # "Who can I talk to about …?": the people the sources name come first, with the ID-card number; the AIM
        # routes follow while they fit.
        people = sorted(people, key=lambda p: p.id != "network_representative")[:2]
        who = ", or ".join(_upper_first(p.value) if i == 0 else p.value for i, p in enumerate(people))
        card = "; or call the customer service number on the back of the patient's ID card" if id_card else ""
        head = Shown(f"For questions about how the program works: {who}{card}.", (*people, *id_card[:1]), True)
        lines = [head, *(Shown(s.text, s.items) for s in lines if s.items and all(r.kind == "portal" for r in s.items))]
    return lines or [Shown(HEADLINES[Status.UNKNOWN])]


def _phone_short(route: ContactRoute, with_hours: bool = True) -> str:
    hours = f"{route.days}, {route.hours}" + (f" {route.time_zone}" if route.time_zone else "")
    return f"{route.scope.plan_name or route.name}: {route.value}" + (f" ({hours})" if with_hours else "")


def asks_hours(message: str) -> bool:
    return bool(HOURS_CUE.search(message or ""))


def _route_text(route: ContactRoute) -> str:
    if route.kind == "phone":
        return f"AIM phone: {_phone_text(route)}."
    if route.kind == "portal":
        extra = f" ({route.availability})" if route.availability else ""
        return f"{route.name}: {route.value}{extra}."
    if route.kind == "email":
        return f"E-mail {route.value} ({route.note or route.name}; {route.scope.label()})."
    return f"{route.name}." if route.name else f"{route.value}."


def _short_list(answer: Answer) -> list[Shown]:
    programs = [f for f in answer.facts if f.kind == "program" and f.text != answer.program_name]
    procedures = [f for f in answer.facts if f.kind == "procedure"]
    # A long list (a whole program with its sub-programs) names the sub-programs; "More" lists every procedure.
    names = [f.text for f in (procedures if procedures and len(procedures) <= LIST_MOST else programs or procedures)]
    if answer.topic == "program_services" and not names:
        # A program the sources name without a list of procedures: what they say of it, with its source.
        first = answer.facts[0] if answer.facts else None
        source = first.citations[0] if first and first.citations else None
        where = f" (listed in the {source.short_title})" if source and source.short_title else ""
        examples = answer.data.get("examples") or []
        text = f"AIM reviews {answer.program_name or 'this program'}{where}"
        text += f", for example {', '.join(examples)}" if examples else ""
        if answer.data.get("effective_from"):
            text += f", effective {_long_date(answer.data['effective_from'])}"
        return [Shown(text + "; the sources list no procedures or codes for it.", (first,) if first else ())]
    if answer.topic == "programs":
        head = "AIM reviews these services: " + "; ".join(names) + "."
    else:
        head = f"{answer.program_name or 'The program'} — AIM reviews: " + "; ".join(names) + "."
    caveats = [f for f in answer.facts if f.kind == "caveat"]
    return [Shown(head, tuple(answer.facts[:1]))] + [Shown(f.text, (f,)) for f in caveats[:1]]


def _short_name(name: str) -> str:
    """A program's name without its parenthesis: "Joint surgery (including ... surgeries)" -> "Joint surgery"."""
    return re.sub(r"\s*\(.*?\)", "", name).strip()


def _long_date(iso: str) -> str:
    d = date.fromisoformat(iso)
    return f"{d:%B} {d.day}, {d.year}"


def _short_topic(answer: Answer, message: str, index: FactIndex | None, budget: int = PROVIDER_BUDGET) -> list[Shown]:
    pool = [Shown(f"{f.text}{_scope_suffix(f)}", (f,)) for f in answer.facts]
    for est in answer.data.get("estimates", []):
        pool.append(Shown(_estimate_text(est)))
    if not pool:  # nothing in the sources for this question: say so, never a guess (nor an empty reply)
        return [Shown(HEADLINES[Status.UNKNOWN]), Shown(ID_CARD_ROUTE)]
    # A program's topic: its name says what every fact is about, not which one answers ("rehab" in a rehab
    # question expands to the program's whole description).
    title = [answer.data["title"]] if answer.topic in PROGRAM_TOPICS and answer.data.get("title") else []
    picked = _chosen(message, [s.text for s in pool], index, keep=SUPPORTING_FACTS, background=title)
    if not picked:
        picked = list(range(min(len(pool), 2)))
    lob = answer.data.get("line_of_business_name") if answer.topic == "lines_of_business" else None
    named_lob = [i for i, f in enumerate(answer.facts) if lob and f.text.startswith(f"{lob}:")]
    if named_lob and picked[0] not in named_lob:
        # "HMO members — in or out?": the statement about that line of business answers; the rest supports it.
        picked = [named_lob[0], *(i for i in picked if i != named_lob[0])][:SUPPORTING_FACTS]
    if answer.topic == "rehabilitation" and asks_if_reviewed(message) and picked[0] != 0:
        # "OT/ST - AIM rehab?": what the program reviews (its first fact) answers, whatever else matches.
        picked = [0, *(i for i in picked if i != 0)][:SUPPORTING_FACTS]
    if (
        answer.topic in SEQUENCE_TOPICS
        and (STEPS_CUE.search(message or "") or picked[0] <= 1)
        and HOW_CUE.search(message or "")
    ):
        # The question is about the start of a process: the steps in their order are the answer.
        picked = list(range(len(pool)))
    elif sum(len(p.text) + 1 for p in pool) + SOURCE_ROOM <= budget:
        # A small topic that fits the budget whole: the best fact first, then the rest in their order.
        picked = [picked[0], *(i for i in range(len(pool)) if i != picked[0])]
    if picked and (OPTION.match(pool[picked[0]].text) or "two options" in pool[picked[0]].text):
        # One of a numbered set of options: the options are the answer, all of them in their order.
        picked = [*picked, *(i for i, s in enumerate(pool) if OPTION.match(s.text) and i not in picked)]
        picked = sorted(picked, key=lambda i: (not OPTION.match(pool[i].text) and "two options" not in pool[i].text, i))
    lines = [pool[i] for i in picked]
    # The options after a denial are one answer: none is dropped to fit a budget.
    lines = [Shown(s.text, s.items, core=True) if OPTION.match(s.text) else s for s in lines]
    if len(lines) > 2 and "two options" in lines[0].text and sum(len(s.text) + 1 for s in lines) + SOURCE_ROOM > budget:
        lines = lines[1:]  # the options say it themselves; the lead-in goes first when room is short
    lines += _other_side(answer, lines)
    if answer.topic == "validity" and answer.procedure_name and lines:
        lines[0] = Shown(f"{answer.procedure_name}: {lines[0].text}", lines[0].items)
    if answer.topic == "validity" and EXTEND_CUE.search(message or ""):
        # "can we extend it?": no source says how, or whether; say so first, then what they do say.
        lines.insert(0, Shown("My sources don't say whether an approval can be extended; what they say:", core=True))
    if answer.topic == "validity":
        # The estimate and the caveat that the notification's date governs travel together.
        lines += [s for s in pool if s.text.startswith("Approved on") and s not in lines]
    if answer.topic in TITLED_TOPICS and answer.data.get("title") and lines:
        lines[0] = Shown(f"{answer.data['title']}: {lines[0].text}", lines[0].items)
    if answer.status is Status.UNKNOWN and answer.topic == "effective_dates" and answer.program_name:
        lines.insert(
            0,
            Shown(
                f"The sources give no start date for the {_short_name(answer.program_name)} itself; "
                "the dates they give:"
            ),
        )
    elif answer.status is Status.UNKNOWN:
        lines.insert(0, Shown(HEADLINES[Status.UNKNOWN]))
    return lines


REPRESENTATIVE = re.compile(r"\b(representative|rep|network management)\b", re.I)
OPTION = re.compile(r"^Option \d+:")
SETTING_WORDS = re.compile(r"\b(inpatient|outpatient|emergency)\b", re.I)
OPPOSITE = {"exclusion": "inclusion", "inclusion": "exclusion"}


def _other_side(answer: Answer, lines: list[Shown]) -> list[Shown]:
    """Where one source excludes a setting that another includes, the first line's setting gets the other source's
    word too (both, each with its source; never a silent pick)."""
    first = lines[0].items[0] if lines and lines[0].items else None
    if not isinstance(first, Fact) or first.kind not in OPPOSITE:
        return []
    words = {w.lower() for w in SETTING_WORDS.findall(first.text)}
    shown = {f for s in lines for f in s.items}
    other = [
        f
        for f in answer.facts
        if f.kind == OPPOSITE[first.kind]
        and f not in shown
        and words & {w.lower() for w in SETTING_WORDS.findall(f.text)}
        and {c.source_id for c in f.citations} != {c.source_id for c in first.citations}
    ]
    return [Shown(f"{f.text}{_scope_suffix(f)}", (f,), core=True) for f in other[:1]]


def _estimate_text(est: dict) -> str:
    unit = est["unit"].replace("_", " ")
    skipped = ", US federal holidays skipped" if est["unit"] == "business_days" else ""
    return (
        f"Approved on {est['approval_date']}: about {est['days']} {unit} means through {est['last_day']} "
        f"(an estimate{skipped}; the approval notification's date governs)."
    )


# ---------------------------------------------------------------------- full replies (the "More" view)
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
        return f"with diagnosis {_or_list(when['diagnosis'])} (post-procedural pain): notification only."
    if "code" in when:
        return f"billed as CPT {' or '.join(when['code'])}: notification only."
    return str(case)


def _or_list(items) -> str:
    items = list(items)
    return ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else "".join(items)


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
        and fact.scope.plan is not None
        and not fact.scope.covers  # a plan's own scope, not "any Anthem plan" or "not specific to a plan"
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
        lines.append(f"- {_estimate_text(est)}")
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
