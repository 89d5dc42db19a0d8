"""Chooses the query for a topic and what is known, so that channels stay thin.

`INTENT_TOPICS` maps the assistant's question intents to topics; `answer_for` runs the query.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from priorauth.kb import queries as q
from priorauth.kb.requirement import review_requirement
from priorauth.kb.results import Answer
from priorauth.nlu.cues import asks_for_address, contact_kind, first_date

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
}


def topic_for(
    intent: str, last_topic: str | None, known: dict, text: str = "", new: frozenset | set = frozenset()
) -> str | None:
    """The topic to answer: the intent's, or for a follow-up the last one (review by default).

    ``new`` names the slots this message itself gave (a procedure carried from earlier turns is not "asked about").
    """
    if intent in INTENT_TOPICS:
        topic = INTENT_TOPICS[intent]
        if topic == "notification_only" and known.get("cpt_code"):
            return "review_requirement"  # a particular code: decide it, with the diagnosis if given
        if topic == "portal_features" and asks_for_address(text):
            return "contact"
        if topic == "site_of_care" and known.get("setting") and new & {"procedure", "cpt_code"}:
            return "review_requirement"  # a particular procedure in a particular setting: decide it
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
        if known.get("program"):
            return "program_services"
    return None


def needs_subject(topic: str, known: dict) -> bool:
    return topic == "review_requirement" and not any(known.get(k) for k in ("procedure", "cpt_code", "program"))


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
            line_of_business=known.get("line_of_business"),
            plan=known.get("plan"),
            state=known.get("state"),
            date_of_service=known.get("date_of_service"),
        )
    if topic == "validity":
        return q.validity(
            session,
            program=known.get("program"),
            procedure=known.get("procedure"),
            code=known.get("cpt_code"),
            approval_date=first_date(text),
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
    if topic == "exclusions":
        return q.exclusions(session, program=_program_of(session, known), setting=known.get("setting"))
    if topic == "notification_only":
        return q.notification_only(session)
    if topic == "effective_dates":
        return q.effective_dates(session, _program_of(session, known))
    if topic == "lines_of_business":
        return q.lines_of_business(session, known.get("line_of_business"), _program_of(session, known))
    if topic == "rehabilitation":
        return q.rehabilitation(session, state=known.get("state"), line_of_business=known.get("line_of_business"))
    if topic in PLAIN_TOPICS:
        return q.topic(session, topic)
    raise ValueError(f"unknown topic {topic!r}")


def _program_of(session: Session, known: dict) -> str | None:
    if known.get("program"):
        return q.resolve(session, "program", known["program"]) or known["program"]
    proc = q.find_procedure(session, known.get("procedure"), known.get("cpt_code"))
    return proc.program_id if proc else None
