"""Which topic answers a message: the intent's, a follow-up's, and the cues that refine them."""

from __future__ import annotations

import datetime as dt

import pytest

from priorauth.answering import answer_for, topic_for
from priorauth.dates import find_service_date


@pytest.mark.parametrize(
    ("intent", "last", "known", "text", "topic"),
    [
        ("ask_validity", None, {}, "", "validity"),
        ("inform", "validity", {"procedure": "x"}, "", "validity"),
        ("inform", None, {"cpt_code": "27447"}, "", "review_requirement"),
        ("inform", None, {"program": "interventional_pain"}, "", "program_services"),
        ("inform", None, {"program": "rehabilitation"}, "", "rehabilitation"),
        ("inform", None, {}, "", None),
        ("inform", "peer_to_peer", {"setting": "office"}, "", None),  # not a topic a detail changes
        ("ask_notification_only", None, {"cpt_code": "62322"}, "", "review_requirement"),
        ("ask_notification_only", None, {}, "", "notification_only"),
        ("ask_portal_features", None, {}, "and the portal address?", "contact"),
        ("ask_portal_features", None, {}, "what can I do in the portal", "portal_features"),
        ("ask_review_required", None, {"program": "rehabilitation"}, "", "rehabilitation"),
        ("ask_site_of_care", None, {}, "", "site_of_care"),
        ("ask_site_of_care", None, {"setting": "ambulatory_surgery_center"}, "", "site_of_care"),
        ("greet", None, {}, "", None),
    ],
)
def test_topic_for(intent, last, known, text, topic):
    assert topic_for(intent, last, known, text) == topic


@pytest.mark.parametrize(
    ("new", "topic"),
    [
        ({"cpt_code", "setting"}, "review_requirement"),  # "does 27447 at the office need site-of-care review?"
        # The code was named turns ago; "I don't have privileges at an ASC" asks the site-of-care FAQ, not a decision.
        ({"setting"}, "site_of_care"),
    ],
)
def test_a_site_of_care_question_is_a_decision_only_when_it_names_the_procedure(new, topic):
    known = {"cpt_code": "27447", "setting": "office"}
    assert topic_for("ask_site_of_care", None, known, "", new) == topic


@pytest.mark.parametrize(
    ("new", "text", "topic"),
    [
        (
            {"program", "plan"},
            "is prior authorization required for imaging for an Anthem Maine member?",
            "review_requirement",
        ),
        ({"plan"}, "what changed in the pain management guidelines for Anthem Maine?", "guideline_changes"),
        ({"program"}, "what changed for interventional pain in August 2020?", "guideline_changes"),
    ],
)
def test_a_guideline_question_that_names_a_program_and_asks_if_reviewed_is_a_review_question(new, text, topic):
    known = {k: "x" for k in new}
    assert topic_for("ask_guideline_changes", None, known, text, new) == topic


@pytest.mark.parametrize(
    ("intent", "last", "text", "topic"),
    [
        (
            "ask_review_required",
            None,
            "facet rhizotomy for someone fused at L4-5, is that reviewed?",
            "guideline_changes",
        ),
        ("inform", "guideline_changes", "and a medial branch block instead?", "guideline_changes"),
        ("ask_review_required", None, "does a facet injection need review?", "review_requirement"),
        ("ask_review_required", None, "does a spinal fusion need review?", "review_requirement"),
        ("ask_contact", None, "who do I call about an RFA after fusion", "contact"),
    ],
)
def test_a_facet_procedure_after_a_fusion_is_the_guideline_question(intent, last, text, topic):
    known = {"procedure": "facet_radiofrequency_ablation"}
    assert topic_for(intent, last, known, text, {"procedure"}) == topic


@pytest.mark.parametrize(
    ("intent", "new", "text", "topic"),
    [
        (
            "ask_lines_of_business",
            {"program"},
            "which codes does the MSK site of care review apply to?",
            "site_of_care",
        ),
        ("ask_program_services", set(), "what procedures get the site-of-care review", "site_of_care"),
        (
            "ask_lines_of_business",
            {"line_of_business"},
            "is site of care review for ASO members too?",
            "lines_of_business",
        ),
        ("ask_lines_of_business", set(), "which members does it apply to", "lines_of_business"),
    ],
)
def test_a_site_of_care_question_read_as_another_topic_is_the_site_of_care_question(intent, new, text, topic):
    assert topic_for(intent, None, {k: "x" for k in new}, text, new) == topic


@pytest.mark.parametrize(("new", "topic"), [({"program"}, "review_requirement"), ({"setting"}, "site_of_care")])
def test_the_surgical_site_of_care_program_decides_only_when_this_message_names_it(new, topic):
    known = {"program": "surgical_site_of_care", "setting": "ambulatory_surgery_center"}
    assert topic_for("ask_site_of_care", None, known, "the nearest ASC is far away, what then?", new) == topic


def test_validity_reads_an_approval_date_from_the_message(session):
    answer = answer_for(session, "validity", {"program": "interventional_pain"}, "approved on 11/23/2026")
    assert answer.data["estimates"][0]["last_day"] == "2026-12-07"  # Thanksgiving (Nov 26) is not a business day


def test_contact_reads_the_kind_asked_for(session):
    answer = answer_for(session, "contact", {}, "what's the e-mail for guideline questions")
    assert [c.kind for c in answer.contacts] == ["email"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("outpatient PT in Feb 2020", dt.date(2020, 2, 1)),  # a month alone: its first day
        ("surgery on March 3, 2020", dt.date(2020, 3, 3)),
        ("DOS 4/15/2020, or in May 2020", dt.date(2020, 4, 15)),  # a full date wins
        ("sometime in the spring", None),
    ],
)
def test_service_date_reads_a_month_or_a_full_date(text, expected):
    assert find_service_date(text) == expected


@pytest.mark.parametrize(
    ("text", "status"),
    [
        # 003: "delayed until April 2020 ... This does not apply to members in the states of FL, NJ and NY."
        ("Medicare member in Ohio, outpatient PT in Feb 2020", "not_required"),
        ("Medicare member in Florida, outpatient PT in Feb 2020", "review_required"),
    ],
)
def test_a_month_of_service_decides_the_medicare_rehab_delay(session, text, status):
    known = {
        "procedure": "physical_therapy",
        "line_of_business": "medicare",
        "state": "FL" if "Florida" in text else "OH",
    }
    assert answer_for(session, "review_requirement", known, text).status.value == status
