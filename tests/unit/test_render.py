"""The short reply's shape over the real knowledge base (in-memory SQLite): direct answer first, the facts that
bear on the message, one Source line, the length budgets; the full answer and every fact kept in the payload."""

from __future__ import annotations

import re

import pytest

from priorauth.answering import answer_for
from priorauth.db import make_engine, make_session_factory
from priorauth.kb.loader import load_kb
from priorauth.render import (
    AGENT_BUDGET,
    HARD_LIMIT,
    PROVIDER_BUDGET,
    asker_of,
    for_widget,
    render,
    render_full,
)
from priorauth.schema import upgrade
from priorauth.selection import shared_index
from tests.conftest import KB_DIR, SOURCES_DIR

SOURCE_LINE = re.compile(r"^Source: [^\n]+ \(00\d_[0-9a-f]{16}\.txt\)(; [^\n]+ \(00\d_[0-9a-f]{16}\.txt\))*$")


@pytest.fixture(scope="module")
def session():
    engine = make_engine("sqlite://")
    upgrade(engine)
    load_kb(engine, KB_DIR, SOURCES_DIR)
    with make_session_factory(engine)() as s:
        yield s


def reply(session, topic, message, known=None, channel="rest", named=()):
    answer = answer_for(session, topic, known or {}, message)
    return render(answer, message, asker_of(channel, message), shared_index(str(KB_DIR)), set(named))


# (topic, known, message, what the first line must say, what must not be there)
CASES = [
    (
        "review_process",
        {},
        "who has the authority to deny one of our requests",
        "physician reviewer issues a denial",
        "Tax ID",
    ),
    (
        "site_of_care",
        {},
        "booked at a freestanding surgery center, any extra facility review?",
        "no additional",
        "grace",
    ),
    ("registration", {}, "what information will I need to register", "e-mail address", "denial"),
    ("reconsideration", {}, "what is the deadline to ask for a reconsideration", "within 10 days", "Step"),
    (
        "validity",
        {"procedure": "laminectomy"},
        "how long will the laminectomy approval last",
        "60 calendar days",
        "10 business",
    ),
    ("contact", {"plan": "anthem_maine"}, "Maine AIM number", "866-714-1107", "877-291-0360"),
    (
        "review_requirement",
        {"procedure": "total_shoulder_arthroplasty"},
        "shoulder replacement precert?",
        "Yes:",
        "No:",
    ),
    ("review_requirement", {"cpt_code": "62322"}, "62322 PA?", "It depends on the diagnosis", "Yes:"),
    (
        "review_requirement",
        {"procedure": "discectomy", "setting": "emergency"},
        "discectomy done through the ER",
        "No:",
        "Yes:",
    ),
]


@pytest.mark.parametrize(("topic", "known", "message", "first", "absent"), CASES, ids=[c[2][:30] for c in CASES])
def test_the_first_line_answers_and_another_subject_stays_out(session, topic, known, message, first, absent):
    text, payload = reply(session, topic, message, known)
    lines = text.split("\n")
    assert first in lines[0], text
    assert absent not in text, text
    assert SOURCE_LINE.match(lines[-1]) and text.count("Source:") == 1, text
    limit = AGENT_BUDGET if asker_of("rest", message) == "agent" else PROVIDER_BUDGET
    assert len(text) <= limit, (len(text), text)
    assert len(payload["full_text"]) >= len(text) - len(lines[-1]) and (payload["facts"] or payload["contacts"])


def test_a_follow_up_naming_only_a_setting_leads_with_what_it_changes(session):
    known = {"procedure": "knee_arthroscopy", "setting": "ambulatory_surgery_center"}
    text, _ = reply(session, "review_requirement", "what if it is done at a surgery center", known, named={"setting"})
    first, second = text.split("\n")[:2]
    assert "no additional site-of-care review" in first and not first.startswith("Yes")
    assert "still needs AIM pre-service review" in second


def test_every_topic_keeps_to_the_hard_limit_and_the_payload_keeps_every_fact(session):
    for topic, known in [
        ("review_requirement", {"procedure": "total_knee_replacement"}),
        ("program_services", {"program": "musculoskeletal"}),
        ("program_services", {}),
        ("guideline_changes", {}),
        ("contact", {}),
        ("rehabilitation", {}),
        ("effective_dates", {}),
        ("exclusions", {}),
        ("lines_of_business", {}),
    ]:
        answer = answer_for(session, topic, known, "")
        text, payload = render(answer, "tell me about it", "provider", shared_index(str(KB_DIR)))
        assert len(text) <= HARD_LIMIT, (topic, len(text))
        assert len(payload["facts"]) == len(answer.facts)
        full, full_payload = render_full(answer)
        assert full == payload["full_text"] and not full_payload["shortened"]


@pytest.mark.parametrize(
    "known, first",
    [
        ({"program": "musculoskeletal"}, "The sources give no start date for the Musculoskeletal Program itself"),
        ({"program": "imaging"}, "I don't know that from my sources."),
    ],
)
def test_a_question_the_sources_do_not_date_says_so_first(session, known, first):
    text, _ = render(answer_for(session, "effective_dates", known, ""), "when did it start?", "provider")
    assert text.startswith(first)
    assert "ID card" in text or "November 1, 2020" in text


def test_a_fax_number_the_sources_do_not_give_is_said_to_be_missing_never_made_up(session):
    text, _ = render(answer_for(session, "contact", {}, ""), "what's the fax number for AIM?", "provider")
    assert text.startswith("My sources give no fax number for AIM")
    assert not re.search(r"fax[^\n]*\d{3}\D{0,3}\d{4}", text, re.I)
    plain, _ = render(answer_for(session, "contact", {}, ""), "what's the phone number for AIM?", "provider")
    assert "fax" not in plain


def test_a_program_asked_about_as_a_whole_is_named_once_in_the_headline(session):
    answer = answer_for(session, "review_requirement", {"program": "rehabilitation", "state": "FL"}, "")
    first = render(answer, "does AIM review rehab in FL?", "provider")[0].split("\n")[0]
    assert first.count("Rehabilitation Program") == 1


def test_an_extension_the_sources_do_not_describe_is_said_to_be_unknown_first(session):
    answer = answer_for(session, "validity", {"procedure": "total_knee_replacement"}, "")
    text, _ = render(answer, "the TKA auth runs out next week, can we extend it?", "provider")
    assert text.startswith("My sources don't say whether an approval can be extended") and "60 calendar days" in text
    assert "extended" not in render(answer, "how long is the TKA auth good for?", "provider")[0]


@pytest.mark.parametrize(
    ("known", "skipped"), [({"program": "interventional_pain"}, True), ({"procedure": "total_knee_replacement"}, False)]
)
def test_an_estimated_last_day_says_the_notice_governs_and_whether_holidays_are_skipped(session, known, skipped):
    text, _ = render_full(answer_for(session, "validity", known, "approved on 11/23/2026"))
    assert "Approved on 2026-11-23" in text and "the approval notification's date governs" in text
    assert ("US federal holidays skipped" in text) is skipped


@pytest.mark.parametrize("asker", ["agent", "provider"])
def test_both_options_after_a_denial_are_given_within_the_askers_budget(session, asker):
    text, _ = render(answer_for(session, "reconsideration", {}, ""), "and if it gets denied?", asker)
    assert "Option 1:" in text and "Option 2:" in text
    assert len(text) <= (400 if asker == "agent" else 600)


@pytest.mark.parametrize("lob, name", [("hmo", "HMO"), ("medicaid", "Medicaid"), ("fep", "Federal Employee Program")])
def test_a_line_of_business_asked_about_is_answered_first_in_its_notices_scope(session, lob, name):
    answer = answer_for(session, "lines_of_business", {"line_of_business": lob}, "")
    first = render(answer, f"{lob} members — in or out?", "agent")[0].split("\n")[0]
    assert first.startswith(name) and "not included" in first and "[scope: Anthem Blue Cross]" in first


def test_a_terse_query_is_an_agents(session):
    assert asker_of("rest", "p2p window") == "agent"
    assert asker_of("agent", "how long is a total knee replacement approval valid for") == "agent"
    assert asker_of("socketio", "how long is a total knee replacement approval valid for") == "provider"


def test_the_widget_gets_hard_line_breaks_and_no_list_to_run_the_source_into(session):
    text, payload = reply(session, "validity", "how long", {})
    widget = for_widget(payload["full_text"])
    assert "\n\n" not in widget and "\n- " not in widget and "  \nSource: " in widget
    assert "• " in widget
