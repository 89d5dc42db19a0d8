"""Chooses the query for a topic and what is known, so that channels stay thin.

`INTENT_TOPICS` maps the assistant's question intents to topics; `answer_for` runs the query.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from priorauth.dates import find_date, find_service_date
from priorauth.kb import models as m
from priorauth.kb import queries as q
from priorauth.kb.requirement import review_requirement
from priorauth.kb.results import Answer
from priorauth.nlu.cues import (
    asks_for_address,
    asks_how_early,
    asks_if_required,
    asks_if_reviewed,
    asks_options_after_denial,
    asks_validity,
    asks_what_to_prepare,
    asks_who_to_contact,
    contact_kind,
    denial_topic_named,
    facet_after_fusion,
)

INTENT_TOPICS = {
    "ask_review_required": "review_requirement",
    "ask_program_services": "program_services",
    "ask_exclusions": "exclusions",
    "ask_notification_only": "notification_only",
    "ask_contact": "contact",
    "ask_guidelines": "guidelines",
    "ask_validity": "validity",
    "ask_reconsideration": "reconsideration",
    "ask_peer_to_peer": "peer_to_peer",
    "ask_document_upload": "document_upload",
    "ask_review_process": "review_process",
    "ask_site_of_care": "site_of_care",
    "ask_registration": "registration",
    "ask_portal_features": "portal_features",
    "ask_effective_dates": "effective_dates",
    "ask_lines_of_business": "lines_of_business",
    "ask_rehab": "rehabilitation",
    "ask_guideline_changes": "guideline_changes",
    "ask_post_service": "post_service",
}
PLAIN_TOPICS = {
    "guidelines",
    "reconsideration",
    "peer_to_peer",
    "document_upload",
    "review_process",
    "site_of_care",
    "registration",
    "portal_features",
    "guideline_changes",
    "post_service",
}
# Topics a classifier may pick for a message that names a procedure and asks whether it needs review.
SITE_OF_CARE_CUE = re.compile(r"\bsite[- ]of[- ]care\b|\bSOC\b")
# Topics a clinical question may be read as: a guideline that decides it answers it instead.
CLINICAL_TOPICS = {"review_requirement", "guideline_changes", "guidelines", "review_process", "exclusions"}
WORD = re.compile(r"[a-z0-9]+")
HOW_ROUTE_WORKS = re.compile(r"\bhow\s+(does|do|would|can|should)\b(?!.*\bwhat\s+happens\b)", re.I | re.S)
REVIEW_SHAPED = {"guideline_changes", "review_process", "exclusions", "rehabilitation", "program_services"}
# Topics whose answer changes with a procedure/program/setting/plan: a follow-up re-asks them.
FOLLOW_UP_TOPICS = {
    "review_requirement",
    "validity",
    "contact",
    "program_services",
    "exclusions",
    "effective_dates",
    "lines_of_business",
    "rehabilitation",
    "site_of_care",
    "guideline_changes",
    "notification_only",
}
# After a denial, "how long do we have?" asks for that topic's deadline, not an approval's validity.
DENIAL_TOPICS = {"reconsideration", "peer_to_peer"}
SUBJECTS = ("procedure", "cpt_code", "program")
# Topics that answer for one procedure: a generic word ("hip") is not enough to answer them.
PROCEDURE_TOPICS = {"review_requirement", "validity"}


def topic_for(
    intent: str, last_topic: str | None, known: dict, text: str = "", new: set[str] | frozenset = frozenset()
) -> str | None:
    """The topic to answer: the intent's, or for a follow-up the last one (review by default).

    ``new`` names what the latest message itself said (entity types); ``known`` is everything known so far.
    """
    has_subject = any(known.get(k) for k in SUBJECTS)
    if INTENT_TOPICS.get(intent, "review_requirement") in CLINICAL_TOPICS and facet_after_fusion(
        text, last_topic == "guideline_changes"
    ):
        return "guideline_changes"  # 004: MBB or RFN after a spinal fusion is not medically necessary
    if intent in INTENT_TOPICS:
        topic = INTENT_TOPICS[intent]
        if topic == "notification_only" and known.get("cpt_code"):
            return "review_requirement"  # a particular code: decide it, with the diagnosis if given
        if topic == "portal_features" and asks_for_address(text):
            return "contact"
        if topic == "site_of_care" and known.get("setting") and new & {"procedure", "cpt_code"}:
            return "review_requirement"  # a particular procedure in a particular setting: decide it
        if topic in PLAIN_TOPICS and asks_who_to_contact(text):
            return "contact"  # "who can I talk to about the site of care review?"
        if topic == "review_requirement" and asks_validity(text) and has_subject:
            return "validity"  # "hip replacement approved Sept 1, surgery got pushed: redo the auth?"
        if topic == "review_requirement" and asks_how_early(text) and has_subject:
            return "effective_dates"  # "booked for 11/4/2020: how early can we send it?"
        named = any(known.get(k) for k in ("procedure", "cpt_code")) and new & {"procedure", "cpt_code"}
        if topic in REVIEW_SHAPED and named and asks_if_reviewed(text) and known.get("program") != "rehabilitation":
            return "review_requirement"  # a named procedure and "does it need review?" is a review question
        if (
            topic in ("lines_of_business", "program_services")
            and SITE_OF_CARE_CUE.search(text)
            and not new & {"line_of_business"}
        ):
            return "site_of_care"  # "which codes are subject to the MSK site of care review?"
        if topic == "site_of_care" and known.get("program") == "surgical_site_of_care" and "program" in new:
            return "review_requirement"  # 000's Surgical Site of Care program (GI), not the musculoskeletal FAQ's
        if topic == "guideline_changes" and "program" in new and asks_if_reviewed(text):
            return "review_requirement"  # "is prior auth required for advanced imaging (Anthem Maine)?"
        if topic == "validity" and denial_topic_named(text):
            return denial_topic_named(text)  # "is the reconsideration deadline 10 business days?"
        if topic == "validity" and last_topic in DENIAL_TOPICS and not new & {*SUBJECTS, "procedure_family"}:
            return last_topic  # "how long do we have?" after a denial: that deadline
        if topic in ("peer_to_peer", "review_process") and asks_options_after_denial(text):
            return "reconsideration"  # "if the p2p doesn't go our way, what are our options?"
        if topic == "review_process" and denial_topic_named(text) and HOW_ROUTE_WORKS.search(text):
            # "requesting a P2P on a denied facet RFA, how does that work?" (but "missed the p2p call, what
            # happens to the request?" is the review process's)
            return denial_topic_named(text)
        if topic == "validity" and named and asks_if_reviewed(text) and not asks_validity(text):
            return "review_requirement"  # "cheilectomies for hallux rigidus, do those need approval?"
        if topic == "program_services" and "line_of_business" in new:
            return "lines_of_business"  # "ASO small jt - in?": whether those members are in the program
        if topic == "contact" and asks_what_to_prepare(text):
            return "review_process"  # "what info do I need to have ready before I call AIM?": the interview
        if topic == "contact" and named and asks_if_reviewed(text) and not contact_kind(text):
            return "review_requirement"  # "CT of the abdomen for a PPO member, do we go thru AIM?"
        if topic == "contact" and asks_if_required(text) and has_subject and last_topic == "review_requirement":
            return "review_requirement"  # "so we don't have to contact AIM at all?"
        if (
            topic == "review_requirement"
            and known.get("program") == "rehabilitation"
            and not (known.get("procedure") or known.get("cpt_code"))
        ):
            return "rehabilitation"
        return topic
    if intent == "inform":
        if last_topic in FOLLOW_UP_TOPICS:
            return last_topic
        if any(known.get(k) for k in ("procedure", "cpt_code")):
            return "review_requirement"
        if known.get("program") == "rehabilitation":
            return "rehabilitation"
        if "line_of_business" in new:
            return "lines_of_business"  # "ASO small jt - in?": whether those members are in
        if known.get("program"):
            return "program_services"
    return None


def needs_subject(topic: str, known: dict) -> bool:
    return topic == "review_requirement" and not any(known.get(k) for k in SUBJECTS)


def needs_choice(topic: str, known: dict, families: list[str]) -> bool:
    """A generic word ("hip", "fusion") and no procedure: ask which procedure before answering."""
    return topic in PROCEDURE_TOPICS and bool(families) and not any(known.get(k) for k in SUBJECTS)


def family_candidates(session: Session, families: list[str]) -> list[tuple[str, str]]:
    """(id, name) of the procedures a generic word may mean, from the knowledge base's own names and synonyms;
    for two words ("ankle fusion") the procedures both fit, else those either fits."""
    sets = []
    for word in families:
        # Only the aliases that hold the word (SQL filters them; the word test below decides), each split once.
        aliases = session.execute(
            select(m.Alias.target_id, m.Alias.term).where(
                m.Alias.kind == "procedure", m.Alias.term.contains(word, autoescape=True)
            )
        ).all()
        sets.append({target for target, term in aliases if {word, word + "s"} & set(WORD.findall(term))})
    both = set.intersection(*sets) if sets else set()
    chosen = both or set().union(*sets)
    rows = session.execute(select(m.Procedure.id, m.Procedure.name).where(m.Procedure.id.in_(chosen))).all()
    return sorted(((r.id, r.name) for r in rows), key=lambda r: r[1])


def answer_for(session: Session, topic: str, known: dict, text: str = "") -> Answer:
    """Run the query layer for ``topic`` with the known values (procedure, cpt_code, program, ...)."""
    if topic == "review_requirement":
        return review_requirement(
            session,
            procedure=known.get("procedure"),
            code=known.get("cpt_code"),
            program=known.get("program"),
            diagnoses=known.get("diagnosis_code") or [],
            setting=known.get("setting"),
            presentation=known.get("presentation") or q.presentation_in(session, text),
            line_of_business=known.get("line_of_business"),
            plan=known.get("plan"),
            state=known.get("state"),
            date_of_service=known.get("date_of_service") or find_service_date(text),
        )
    if topic == "validity":
        return q.validity(
            session,
            program=known.get("program"),
            procedure=known.get("procedure"),
            code=known.get("cpt_code"),
            approval_date=find_date(text),
        )
    if topic == "contact":
        return q.contacts(
            session,
            program=_program_of(session, known),
            plan=known.get("plan"),
            kind=contact_kind(text),
            state=known.get("state"),
        )
    if topic == "program_services":
        return q.program_services(session, _program_of(session, known))
    if topic == "exclusions" and (known.get("procedure") or known.get("cpt_code")):
        # "Is this procedure exempt when ...?" is the decision for that procedure, in its plan's scope.
        return answer_for(session, "review_requirement", known, text)
    if topic == "exclusions":
        return q.exclusions(
            session, program=_program_of(session, known), setting=known.get("setting"), plan=known.get("plan")
        )
    if topic == "notification_only":
        return q.notification_only(session)
    if topic == "effective_dates":
        return q.effective_dates(session, _program_of(session, known))
    if topic == "lines_of_business":
        return q.lines_of_business(session, known.get("line_of_business"), _program_of(session, known))
    if topic == "rehabilitation":
        if known.get("line_of_business") or known.get("state") or find_service_date(text):
            # A member's line of business, state or date makes it a decision (003's schedule), not an overview.
            return answer_for(session, "review_requirement", {**known, "program": "rehabilitation"}, text)
        return q.rehabilitation(session, state=known.get("state"), line_of_business=known.get("line_of_business"))
    if topic in PLAIN_TOPICS:
        return q.topic(session, topic)
    raise ValueError(f"unknown topic {topic!r}")


def _program_of(session: Session, known: dict) -> str | None:
    if known.get("program"):
        return q.resolve(session, "program", known["program"]) or known["program"]
    proc = q.find_procedure(session, known.get("procedure"), known.get("cpt_code"))
    return proc.program_id if proc else None
