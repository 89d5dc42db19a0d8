"""Contacts stay in scope, approval periods and their estimated last day, topics, programs, dates."""

from __future__ import annotations

import datetime as dt

import pytest

from priorauth.kb import queries as q
from priorauth.kb.results import Status


def phones(answer):
    return {(c.value, c.scope.plan) for c in answer.contacts if c.kind == "phone"}


def test_without_a_plan_every_number_is_shown_with_its_own_plan_and_the_plan_is_asked(session):
    answer = q.contacts(session)
    assert phones(answer) == {
        ("1-877-291-0360", "anthem_blue_cross"),
        ("(866) 789-0158", "anthem_bcbs"),
        ("866-714-1107", "anthem_maine"),
    }
    assert "plan" in answer.info_needed
    portal = next(c for c in answer.contacts if c.id == "providerportal")
    assert "24 hours a day, 7 days a week" in portal.availability


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"state": "ME"}, {("866-714-1107", "anthem_maine")}),
        ({"plan": "anthem_maine"}, {("866-714-1107", "anthem_maine")}),
        ({"plan": "anthem_blue_cross"}, {("1-877-291-0360", "anthem_blue_cross")}),
        ({"plan": "anthem_bcbs"}, {("(866) 789-0158", "anthem_bcbs")}),
        ({"program": "imaging"}, {("1-877-291-0360", "anthem_blue_cross")}),
        ({"program": "imaging", "plan": "anthem_maine"}, set()),
    ],
)
def test_phone_numbers_never_cross_scope(session, kwargs, expected):
    assert phones(q.contacts(session, kind="phone", **kwargs)) == expected


def test_hours_and_time_zones_stay_with_their_number(session):
    by_value = {c.value: c for c in q.contacts(session, kind="phone").contacts}
    assert (by_value["1-877-291-0360"].hours, by_value["1-877-291-0360"].time_zone) == ("7:00 a.m.–5:00 p.m.", "PT")
    assert (by_value["(866) 789-0158"].hours, by_value["(866) 789-0158"].time_zone) == ("8:30 a.m.–7 p.m.", "ET")
    assert by_value["866-714-1107"].time_zone is None
    assert "does not state a time zone" in by_value["866-714-1107"].time_zone_note


def test_guideline_email_is_returned_when_asked(session):
    answer = q.contacts(session, kind="email")
    assert [c.value for c in answer.contacts] == ["aim.guidelines@aimspecialtyhealth.com"]


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"procedure": "TKA"}, "60 calendar days"),
        ({"code": "22612"}, "60 calendar days"),
        ({"program": "pain management"}, "10 business days"),
        ({"code": "64483"}, "10 business days"),
    ],
)
def test_validity_by_procedure_code_or_program(session, kwargs, text):
    answer = q.validity(session, **kwargs)
    facts = [f.text for f in answer.facts]
    assert any(text in f for f in facts)
    assert any("state law" in f for f in facts)
    assert any("approval notification" in f for f in facts)
    other = "10 business days" if text == "60 calendar days" else "60 calendar days"
    assert not any(other in f for f in facts)


def test_validity_is_unknown_for_programs_the_sources_give_no_period_for(session):
    answer = q.validity(session, program="sleep")
    assert answer.status is Status.UNKNOWN


@pytest.mark.parametrize(
    ("approved", "unit_program", "last"),
    [
        (dt.date(2026, 11, 23), "spine_surgery", dt.date(2027, 1, 21)),  # day 1 is the approval day
        (dt.date(2026, 11, 23), "interventional_pain", dt.date(2026, 12, 7)),  # 10 business days, Thanksgiving skipped
        (dt.date(2026, 11, 21), "interventional_pain", dt.date(2026, 12, 7)),  # a Saturday start
        (dt.date(2026, 11, 27), "interventional_pain", dt.date(2026, 12, 10)),  # a Friday start
    ],
)
def test_estimated_last_valid_day(session, approved, unit_program, last):
    answer = q.validity(session, program=unit_program, approval_date=approved)
    assert answer.data["estimates"][0]["last_day"] == last.isoformat()


@pytest.mark.parametrize(
    ("topic_id", "must_contain"),
    [
        ("peer_to_peer", "any time, before or after the determination"),
        ("reconsideration", "within 10 days of the denial"),
        ("document_upload", "document upload feature"),
        ("review_process", "order number"),
        ("site_of_care", "ambulatory surgery centers"),
        ("registration", "Register Now"),
        ("portal_features", "retrieve your order summary"),
        ("post_service", "letter or remit message"),
        ("guideline_changes", "dorsal root ganglion"),
        ("rehabilitation", "speech therapy"),
    ],
)
def test_topics_state_their_facts_with_citations(session, topic_id, must_contain):
    answer = q.topic(session, topic_id)
    assert must_contain in " ".join(f.text for f in answer.facts)
    assert all(f.citations for f in answer.facts)


def test_program_services_lists_the_procedures_of_a_program_and_its_sub_programs(session):
    names = [f.text for f in q.program_services(session, "joint surgery").facts if f.kind == "procedure"]
    assert "Total knee replacement" in names and "Hammertoe correction" in names
    assert "Cervical/lumbar spinal fusion" not in names
    top = [f.text for f in q.program_services(session).facts]
    assert len(top) == 9 and "Genetic testing" in top and "Musculoskeletal Program" in top


def test_exclusions_keep_each_rule_in_its_plans_scope(session):
    facts = q.exclusions(session).facts
    general = next(f for f in facts if "excluded from AIM programs" in f.text)
    # 000 lists musculoskeletal among its programs: its exclusion is Anthem Blue Cross's, for all of them.
    assert general.scope.plan == "anthem_blue_cross" and "musculoskeletal" in general.scope.programs
    inclusion = next(f for f in facts if f.kind == "inclusion" and "inpatient" in f.text)
    assert inclusion.scope.plan == "any_plan"
    maine = q.exclusions(session, program="musculoskeletal", setting="inpatient", plan="anthem_maine").facts
    assert not any("excluded from AIM programs" in f.text for f in maine)
    er = q.exclusions(session, program="spine surgery", setting="emergency").facts
    assert any("present in the emergency room" in f.text for f in er)


@pytest.mark.parametrize(
    ("lob", "fragment"),
    [("HMO", "not included"), ("medicaid", "not included"), ("ASO", "included"), ("fully insured", "included")],
)
def test_lines_of_business(session, lob, fragment):
    answer = q.lines_of_business(session, lob)
    assert fragment in answer.facts[0].text


def test_a_line_of_business_no_notice_mentions_is_unknown(session):
    assert q.lines_of_business(session, "medicare").status is Status.UNKNOWN


def test_rehab_medicare_delay_and_its_state_exceptions(session):
    answer = q.rehabilitation(session, state="FL", line_of_business="medicare")
    assert answer.data["medicare_state_exception"] is True
    assert "FL, NJ and NY" in " ".join(f.text for f in answer.facts)
    assert q.rehabilitation(session, state="CT", line_of_business="medicare").data["medicare_state_exception"] is False
    commercial = q.rehabilitation(session, state="NY", line_of_business="commercial")
    assert "October 21st" in " ".join(f.text for f in commercial.facts)


def test_effective_dates(session):
    text = " ".join(f.text for f in q.effective_dates(session).facts)
    for fragment in ("October 26, 2020", "November 1, 2020", "December 1, 2020", "August 16, 2020"):
        assert fragment in text


def test_a_program_without_a_date_of_its_own_is_unknown_with_the_dates_inside_it(session):
    # "When did the musculoskeletal program start for Anthem Blue Cross?": no source dates the program itself.
    msk = q.effective_dates(session, "musculoskeletal")
    assert msk.status is Status.UNKNOWN
    text = " ".join(f.text for f in msk.facts)
    assert "November 1, 2020" in text and "August 16, 2020" in text and "December 1, 2020" not in text
    small = next(f for f in msk.facts if "November 1, 2020" in f.text)
    assert small.scope.plan == "anthem_bcbs"  # the notice's own plan, shown with the date
    assert q.effective_dates(session, "small_joint_surgery").status is not Status.UNKNOWN
    imaging = q.effective_dates(session, "imaging")
    assert imaging.status is Status.UNKNOWN and imaging.facts == []


def test_the_notice_about_the_program_asked_comes_first_for_a_line_of_business(session):
    answer = q.lines_of_business(session, "aso", "small_joint_surgery")
    assert answer.facts[0].scope.plan == "anthem_bcbs" and "offered the program" in answer.facts[0].text
    assert any(f.scope.plan == "anthem_blue_cross" for f in answer.facts[1:])
