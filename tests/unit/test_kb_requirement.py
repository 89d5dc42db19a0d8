"""The central decision: review required / notification only / not required / outside / unknown."""

from __future__ import annotations

import datetime as dt

import pytest

from priorauth.kb.requirement import crd_coverage_information, review_requirement
from priorauth.kb.results import Status


@pytest.mark.parametrize(
    ("known", "status", "program"),
    [
        ({"code": "27447"}, Status.REVIEW_REQUIRED, "joint_surgery"),
        ({"procedure": "TKA"}, Status.REVIEW_REQUIRED, "joint_surgery"),
        ({"procedure": "total hip arthroplasty"}, Status.REVIEW_REQUIRED, "joint_surgery"),
        ({"code": "63030"}, Status.REVIEW_REQUIRED, "spine_surgery"),
        ({"procedure": "ESI"}, Status.REVIEW_REQUIRED, "interventional_pain"),
        ({"procedure": "hallux valgus correction"}, Status.REVIEW_REQUIRED, "small_joint_surgery"),
        ({"program": "imaging"}, Status.REVIEW_REQUIRED, "imaging"),
        # Musculoskeletal includes inpatient; the general AIM programs exclude it (source 000).
        ({"code": "27447", "setting": "inpatient"}, Status.REVIEW_REQUIRED, "joint_surgery"),
        (
            {"procedure": "bunionectomy", "setting": "inpatient admission"},
            Status.REVIEW_REQUIRED,
            "small_joint_surgery",
        ),
        ({"program": "imaging", "setting": "inpatient"}, Status.OUTSIDE_PROGRAM, "imaging"),
        ({"procedure": "echocardiogram", "setting": "ER"}, Status.OUTSIDE_PROGRAM, "cardiology"),
        ({"code": "22612", "setting": "emergency room"}, Status.NOT_REQUIRED, "spine_surgery"),
        # Notification only needs both the code and one of the diagnoses.
        ({"code": "62322", "diagnoses": ["G89.18"]}, Status.NOTIFICATION_ONLY, "interventional_pain"),
        ({"code": "62320", "diagnoses": ["g89.11"]}, Status.NOTIFICATION_ONLY, "interventional_pain"),
        ({"code": "62322"}, Status.CONDITIONAL, "interventional_pain"),
        ({"code": "62322", "diagnoses": ["M54.16"]}, Status.REVIEW_REQUIRED, "interventional_pain"),
        ({"code": "62321", "diagnoses": ["G89.18"]}, Status.REVIEW_REQUIRED, "interventional_pain"),
        ({"code": "64483", "diagnoses": ["G89.12"]}, Status.REVIEW_REQUIRED, "interventional_pain"),
        (
            {"procedure": "epidural steroid injection", "diagnoses": ["G89.18"]},
            Status.CONDITIONAL,
            "interventional_pain",
        ),
        # Lines of business out of scope of the Anthem Blue Cross notice.
        ({"code": "27447", "line_of_business": "HMO"}, Status.OUTSIDE_PROGRAM, "joint_surgery"),
        ({"code": "27447", "line_of_business": "FEP"}, Status.OUTSIDE_PROGRAM, "joint_surgery"),
        ({"code": "27447", "line_of_business": "ASO"}, Status.REVIEW_REQUIRED, "joint_surgery"),
        ({"code": "28296", "line_of_business": "fully insured"}, Status.REVIEW_REQUIRED, "small_joint_surgery"),
        # Small joint surgery starts with dates of service on Nov 1, 2020.
        ({"code": "27702", "date_of_service": dt.date(2020, 10, 30)}, Status.OUTSIDE_PROGRAM, "small_joint_surgery"),
        ({"code": "27702", "date_of_service": dt.date(2020, 11, 1)}, Status.REVIEW_REQUIRED, "small_joint_surgery"),
    ],
)
def test_review_requirement(session, known, status, program):
    answer = review_requirement(session, **known)
    assert answer.status is status, [f.text for f in answer.facts]
    assert answer.program == program
    assert answer.citations, "every decision cites its source"


@pytest.mark.parametrize("code", ["99999", "27999", "0275T"])
def test_a_code_the_data_does_not_hold_is_unknown_never_review_required(session, code):
    answer = review_requirement(session, code=code)
    assert answer.status is Status.UNKNOWN
    text = " ".join(f.text for f in answer.facts)
    assert "not in my knowledge base" in text and "code list governs" in text
    assert any(c.id == "member_id_card" for c in answer.contacts)


def test_unknown_setting_and_line_of_business_are_said_not_guessed(session):
    answer = review_requirement(session, code="27447")
    assert "setting" in answer.info_needed and "line_of_business" in answer.info_needed
    emergency = [c for c in answer.cases if "emergency" in c["when"].get("setting", [])]
    assert emergency and emergency[0]["status"] == "not_required"
    assert any(c.get("site_of_care_review") for c in answer.cases)


def test_site_of_care_review_follows_the_setting(session):
    hospital = review_requirement(session, code="29881", setting="HOPD")
    assert hospital.data["site_of_care_review"] is True
    asc = review_requirement(session, code="29881", setting="ASC")
    assert asc.data["site_of_care_review"] is False
    assert "needs no additional site-of-care review" in " ".join(f.text for f in asc.facts)


def test_named_codes_carry_their_provenance(session):
    named = review_requirement(session, code="27447")
    assert named.data["code"]["provenance"] == "named_procedure"
    assert "standard code for the named procedure" in " ".join(f.text for f in named.facts)
    stated = review_requirement(session, code="62322", diagnoses=["G89.18"])
    assert stated.data["code"]["provenance"] == "source"


def test_contacts_of_a_decision_belong_to_its_program(session):
    imaging = review_requirement(session, program="imaging")
    phones = {c.value for c in imaging.contacts if c.kind == "phone"}
    assert phones == {"1-877-291-0360"}  # the musculoskeletal-only numbers never appear for imaging
    msk = review_requirement(session, code="27447", plan="anthem maine")
    assert {c.value for c in msk.contacts if c.kind == "phone"} == {"866-714-1107"}


@pytest.mark.parametrize(
    ("known", "pa_needed", "info"),
    [
        ({"code": "27447"}, "auth-needed", ["contract", "location"]),
        ({"code": "62322"}, "conditional", ["contract", "detail-code", "location"]),
        ({"code": "27447", "setting": "ER", "line_of_business": "ASO"}, "no-auth", []),
        ({"code": "99999"}, "conditional", []),
    ],
)
def test_crd_shape(session, known, pa_needed, info):
    crd = crd_coverage_information(review_requirement(session, **known))
    assert crd["pa-needed"] == pa_needed
    assert crd["info-needed"] == info
    assert crd["contact"]


@pytest.mark.parametrize(
    ("state", "dos", "status"),
    [
        ("CT", dt.date(2020, 2, 10), Status.NOT_REQUIRED),  # Medicare delay through March 2020
        ("FL", dt.date(2020, 2, 10), Status.REVIEW_REQUIRED),  # FL, NJ, NY still required
        ("CT", dt.date(2020, 5, 1), Status.REVIEW_REQUIRED),
    ],
)
def test_rehab_medicare_delay_by_state_and_date(session, state, dos, status):
    answer = review_requirement(
        session, procedure="physical therapy", line_of_business="medicare", state=state, date_of_service=dos
    )
    assert answer.status is status
    assert "FL, NJ and NY" in " ".join(f.text for f in answer.facts)


def test_a_state_picks_the_plan_whose_region_it_is_for_the_phone_number(session):
    answer = review_requirement(session, code="64483", state="ME")
    assert {c.value for c in answer.contacts if c.kind == "phone"} == {"866-714-1107"}
