"""The central decision, table-driven over plan x line of business x setting x presentation x state x date.

Each row names the source sentence that decides it (a short quote, checked against the answer's citations):
a rule from one plan's notice never decides another plan's question, conflicts show both sources, and
"Yes"/"No" appear only where the sources settle the case for the scope given.
"""

from __future__ import annotations

import datetime as dt

import pytest

from priorauth.kb.requirement import crd_coverage_information, review_requirement
from priorauth.kb.results import Status
from priorauth.render import render

R, N, NR, OUT, C, NS, X = (
    Status.REVIEW_REQUIRED,
    Status.NOTIFICATION_ONLY,
    Status.NOT_REQUIRED,
    Status.OUTSIDE_PROGRAM,
    Status.CONDITIONAL,
    Status.NOT_STATED,
    Status.CONFLICT,
)
ABC, BCBS, ME = "anthem_blue_cross", "anthem_bcbs", "anthem_maine"
D = dt.date

# (request, status, per-plan statuses or None, the deciding passage "NNN: quote")
TABLE = [
    # --- Musculoskeletal listing: 002 is not plan-specific, so it decides for every plan ---
    ({"procedure": "total hip replacement"}, R, {ABC: R, BCBS: R, ME: R}, "002: following non-emergency modalities"),
    ({"procedure": "shoulder arthroscopy", "plan": "anthem maine"}, R, {ME: R}, "002: following non-emergency"),
    ({"procedure": "facet ablation", "plan": "anthem_bcbs"}, R, {BCBS: R}, "002: following non-emergency"),
    # --- Programs known only from Anthem Blue Cross's notice (000) ---
    ({"program": "imaging"}, C, {ABC: R, BCBS: NS, ME: NS}, "000: AIM reviews the following services"),
    ({"program": "medical oncology", "plan": "anthem blue cross"}, R, {ABC: R}, "000: AIM reviews the following"),
    ({"program": "imaging", "plan": "anthem_bcbs"}, NS, {BCBS: NS}, None),
    ({"procedure": "echocardiogram", "plan": "anthem maine"}, NS, {ME: NS}, None),
    # --- A test the notice names only by its category (advanced diagnostic imaging) ---
    ({"procedure": "mri"}, C, {ABC: R, BCBS: NS, ME: NS}, "000: Advanced diagnostic imaging"),
    ({"procedure": "ct scan", "plan": ABC, "line_of_business": "ppo"}, R, {ABC: R}, "000: Advanced diagnostic imaging"),
    ({"procedure": "mri", "plan": ABC, "setting": "inpatient"}, OUT, {ABC: OUT}, "000: emergency or inpatient"),
    ({"procedure": "pet scan", "plan": "anthem maine"}, NS, {ME: NS}, None),
    (
        {"program": "sleep testing", "plan": "anthem blue cross", "setting": "inpatient"},
        OUT,
        {ABC: OUT},
        "000: Services",
    ),
    ({"program": "imaging", "setting": "inpatient"}, C, {ABC: OUT, BCBS: NS, ME: NS}, "000: excluded from AIM"),
    ({"procedure": "echocardiogram", "setting": "ER", "plan": "anthem_blue_cross"}, OUT, {ABC: OUT}, "000: emergency"),
    # --- Lines of business: only 000 lists them, and only for Anthem Blue Cross ---
    ({"code": "27447", "line_of_business": "HMO"}, C, {ABC: OUT, BCBS: NS, ME: NS}, "000: It does not apply to HMO"),
    ({"code": "27447", "line_of_business": "HMO", "plan": "anthem blue cross"}, OUT, {ABC: OUT}, "000: It does not"),
    ({"code": "27447", "line_of_business": "HMO", "plan": "anthem maine"}, NS, {ME: NS}, None),
    ({"code": "27447", "line_of_business": "FEP", "plan": "abc"}, OUT, {ABC: OUT}, "000: Federal Employee Program"),
    ({"code": "27447", "line_of_business": "ASO", "plan": "abc"}, R, {ABC: R}, "000: self-insured (ASO)"),
    ({"code": "27447", "line_of_business": "medicare", "plan": "abc"}, NS, {ABC: NS}, "000: Medicare Advantage"),
    ({"program": "cardiology", "line_of_business": "medicaid"}, C, {ABC: OUT, BCBS: NS, ME: NS}, "000: Medicaid"),
    ({"code": "28296", "line_of_business": "fully insured", "plan": "anthem_bcbs"}, R, {BCBS: R}, "001: All fully"),
    # --- Inpatient: 000 excludes it for Anthem Blue Cross, 002 includes it: a conflict, shown ---
    ({"procedure": "total knee replacement", "setting": "inpatient", "plan": "abc"}, X, {ABC: X}, "002: inpatient or"),
    ({"procedure": "spinal fusion", "setting": "inpatient"}, C, {ABC: X, BCBS: R, ME: R}, "000: Services performed"),
    ({"procedure": "total knee replacement", "setting": "inpatient", "plan": "anthem maine"}, R, {ME: R}, "002: Yes"),
    ({"procedure": "total ankle replacement", "setting": "inpatient", "plan": "anthem_bcbs"}, R, {BCBS: R}, "001: Sur"),
    ({"procedure": "hammertoe repair", "setting": "inpatient", "plan": "abc"}, X, {ABC: X}, "000: Services performed"),
    # --- Emergency is a presentation: 002 says no preauthorization whatever the setting ---
    ({"code": "22612", "setting": "emergency room"}, NR, {ABC: NR, BCBS: NR, ME: NR}, "002: Acute fractures"),
    ({"procedure": "TKA", "setting": "inpatient", "presentation": "trauma patient"}, NR, None, "002: Acute fractures"),
    (
        {"procedure": "laminectomy", "setting": "inpatient", "presentation": "came through the ER", "plan": "abc"},
        NR,
        {ABC: NR},
        "002: present in the emergency room",
    ),
    ({"procedure": "ORIF", "presentation": "acute fracture"}, Status.UNKNOWN, None, None),
    (
        {"procedure": "laminectomy", "presentation": "elective", "plan": "anthem maine"},
        R,
        {ME: R},
        "002: non-emergency",
    ),
    # --- Notification only (002): the code and one of the diagnoses ---
    ({"code": "62322", "diagnoses": ["G89.18"]}, N, None, "002: notification purposes only"),
    ({"code": "62320", "diagnoses": ["g89.11"], "plan": "abc"}, N, {ABC: N}, "002: notification purposes only"),
    ({"code": "62322"}, C, None, "002: notification purposes only"),
    ({"code": "62322", "diagnoses": ["M54.16"]}, R, None, "002: Epidural injections"),
    ({"code": "62321", "diagnoses": ["G89.18"]}, R, None, "002: Epidural injections"),
    ({"procedure": "epidural steroid injection"}, C, None, "002: notification purposes only"),
    ({"procedure": "epidural steroid injection", "diagnoses": ["G89.18"]}, C, None, "002: notification purposes"),
    # --- Effective dates in their own plan's scope (001 is Anthem Blue Cross and Blue Shield's notice) ---
    (
        {"code": "27702", "date_of_service": D(2020, 10, 30), "plan": "anthem_bcbs"},
        OUT,
        {BCBS: OUT},
        "001: on and after",
    ),
    ({"code": "27702", "date_of_service": D(2020, 11, 1), "plan": "anthem_bcbs"}, R, {BCBS: R}, "001: on and after"),
    ({"code": "27702", "date_of_service": D(2020, 10, 30)}, C, {ABC: R, BCBS: OUT, ME: R}, "001: on and after"),
    # --- Rehabilitation (003) by line of business, state and date ---
    ({"procedure": "physical therapy"}, C, None, "003: Anthem Medicare membership is delayed"),
    (
        {"procedure": "PT", "line_of_business": "medicare", "state": "OH", "date_of_service": D(2020, 2, 10)},
        NR,
        None,
        "003: Pre-authorization will not be required for outpatient PT/OT/SLP services through March 2020.",
    ),
    (
        {"procedure": "PT", "line_of_business": "medicare", "state": "FL", "date_of_service": D(2020, 2, 10)},
        R,
        None,
        "003: FL, NJ and NY for whom prior authorization will still be required",
    ),
    (
        {"procedure": "OT", "line_of_business": "medicare", "date_of_service": D(2020, 2, 10)},
        C,
        None,
        "003: This does not apply to members in the states of FL, NJ and NY",
    ),
    (
        {"procedure": "PT", "line_of_business": "medicare", "state": "CT", "date_of_service": D(2020, 5, 1)},
        R,
        None,
        "003: delayed until April 2020",
    ),
    (
        {"procedure": "speech therapy", "line_of_business": "commercial", "state": "OH"},
        R,
        None,
        "003: scheduled to relaunch November 1st",
    ),
    (
        {"procedure": "PT", "line_of_business": "commercial", "state": "OH", "date_of_service": D(2020, 3, 1)},
        NS,
        None,
        "003: scheduled to relaunch November 1st",
    ),
    (
        {"procedure": "PT", "line_of_business": "commercial", "state": "OH", "date_of_service": D(2019, 6, 1)},
        OUT,
        None,
        "003: scheduled to relaunch November 1st",
    ),
    ({"procedure": "PT", "line_of_business": "commercial", "state": "TX"}, NS, None, "003: relaunch November 1st"),
    ({"procedure": "PT", "line_of_business": "commercial", "state": "CA"}, NS, None, "003: targeting first quarter"),
    ({"procedure": "PT", "line_of_business": "commercial"}, C, None, "003: relaunch November 1st"),
    ({"procedure": "PT", "line_of_business": "medicaid", "state": "OH"}, NS, None, None),
    (
        {"procedure": "PT", "line_of_business": "medicare advantage", "state": "OH", "date_of_service": D(2020, 2, 1)},
        NS,
        None,
        "003: Anthem Medicare membership",
    ),
    (
        {"procedure": "PT", "line_of_business": "medicare", "state": "OH", "setting": "inpatient"},
        OUT,
        None,
        "003: Our program reviews outpatient rehabilitative services",
    ),
    # --- Codes: only where the code is exactly the named procedure ---
    ({"code": "E0748"}, R, None, "002: Bone growth stimulators"),
    ({"code": "20974"}, Status.UNKNOWN, None, None),
    ({"code": "29870"}, Status.UNKNOWN, None, None),
    ({"code": "97161"}, Status.UNKNOWN, None, None),
    # --- A word that names several procedures or plans is asked about ---
    ({"procedure": "hip"}, Status.UNKNOWN, None, None),
    ({"procedure": "knee"}, Status.UNKNOWN, None, None),
    (
        {"procedure": "total knee replacement", "setting": "inpatient", "plan": "blue cross"},
        C,
        {ABC: X, BCBS: R, ME: R},
        "002: Yes, the program includes all procedures",
    ),
]


def _norm(text: str) -> str:
    return " ".join(text.replace("’", "'").replace("–", "-").split()).lower()


@pytest.mark.parametrize(("known", "status", "by_plan", "decided_by"), TABLE, ids=lambda v: None)
def test_decision_table(session, known, status, by_plan, decided_by):
    answer = review_requirement(session, **known)
    assert answer.status is status, (answer.data.get("headline"), [f.text for f in answer.facts])
    if by_plan is not None:
        assert answer.data["by_plan"] == {p: s.value for p, s in by_plan.items()}
    if decided_by:
        source, quote = decided_by.split(": ", 1)
        assert any(c.source_id == source and _norm(quote) in _norm(c.quote) for c in answer.citations), (
            decided_by,
            [(c.source_id, c.quote) for c in answer.citations],
        )
    headline = render(answer)[0].splitlines()[0]
    if status in (C, NS, X, Status.UNKNOWN):
        assert not headline.startswith(("Yes", "No")), headline


def test_a_conflict_shows_both_sources_and_routes_to_the_id_card(session):
    answer = review_requirement(session, procedure="total knee replacement", setting="inpatient", plan="abc")
    conflict = [f for f in answer.facts if f.kind == "conflict"]
    assert {c.source_id for f in conflict for c in f.citations} == {"000", "002"}
    text = render(answer)[0]
    assert "disagree" in text.splitlines()[0] and "ID card" in text.splitlines()[0]


def test_anthem_blue_cross_exclusions_never_decide_another_plans_question(session):
    maine = review_requirement(session, code="27447", line_of_business="HMO", plan="anthem maine")
    text = render(maine)[0]
    assert "1-877-291-0360" not in text and "(866) 789-0158" not in text
    assert not any(f.scope and f.scope.plan == "anthem_blue_cross" for f in maine.facts)
    assert maine.data["headline"].startswith("The sources don't say for HMO members of Anthem Maine")


def test_plan_unknown_and_plans_differ_asks_which_plan(session):
    answer = review_requirement(session, program="imaging")
    assert answer.info_needed[0] == "plan"
    assert answer.data["plan_choices"] == ["anthem_blue_cross", "anthem_bcbs", "anthem_maine"]
    assert answer.data["headline"].startswith("For Anthem Blue Cross members, yes: AIM reviews advanced")
    assert "the sources don't say for Anthem Blue Cross and Blue Shield or Anthem Maine" in answer.data["headline"]
    # The answer for the plan once given has no plan question and no other plan's rule.
    given = review_requirement(session, program="imaging", plan="anthem_blue_cross")
    assert "plan" not in given.info_needed and given.status is R


def test_plan_unknown_but_all_plans_agree_says_yes_with_one_caveat(session):
    answer = review_requirement(session, procedure="total hip replacement")
    text = render(answer)[0]
    assert text.startswith("Yes")
    assert answer.data.get("plan_caveat") is True
    assert "plan" not in answer.info_needed


def test_a_code_the_sources_do_not_name_is_never_a_bare_yes(session):
    answer = review_requirement(session, code="27447")
    assert answer.data["headline"].startswith("The sources name the procedure, not the code: 27447")
    named = review_requirement(session, code="62322", diagnoses=["G89.18"])
    assert named.data["code"]["provenance"] == "source"
    assert not named.data.get("headline", "").startswith("The sources name the procedure")


@pytest.mark.parametrize("code", ["99999", "27999", "0275T"])
def test_a_code_the_data_does_not_hold_is_unknown_never_review_required(session, code):
    answer = review_requirement(session, code=code)
    assert answer.status is Status.UNKNOWN
    text = " ".join(f.text for f in answer.facts)
    assert "not in my knowledge base" in text and "code list governs" in text
    assert any(c.id == "member_id_card" for c in answer.contacts)


@pytest.mark.parametrize(
    ("term", "choices"),
    [
        ("hip", {"total_hip_replacement", "hip_arthroscopy"}),
        ("fusion", {"spinal_fusion", "sacroiliac_joint_fusion", "first_toe_arthrodesis"}),
    ],
)
def test_a_bare_body_part_or_generic_word_is_asked_about(session, term, choices):
    answer = review_requirement(session, procedure=term)
    assert set(answer.data["choices"]["procedure"]) == choices
    assert answer.info_needed == ["procedure"]
    assert answer.data["headline"].startswith(f"“{term}” alone doesn't say which procedure")


def test_site_of_care_applies_to_certain_procedures_only(session):
    hospital = review_requirement(session, code="29881", setting="HOPD")
    assert hospital.data["site_of_care_review"] == "certain"  # "certain" procedures: may apply, not does
    assert any("See Resources" in c.quote for c in hospital.citations)
    asc = review_requirement(session, code="29881", setting="ASC")
    assert asc.data["site_of_care_review"] is False
    assert "needs no additional site-of-care review" in " ".join(f.text for f in asc.facts)


def test_small_joint_setting_is_reviewed_for_anthem_bcbs_as_level_of_care(session):
    answer = review_requirement(session, procedure="total ankle replacement", setting="inpatient", plan="anthem_bcbs")
    texts = " ".join(f.text for f in answer.facts)
    assert answer.data["level_of_care_review"] is True and "level of care" in texts
    assert "no additional site-of-care review" not in texts
    other = review_requirement(session, procedure="total ankle replacement", setting="ASC", plan="anthem maine")
    assert "level_of_care_review" not in other.data


def test_emergency_presentation_is_a_case_when_unknown(session):
    answer = review_requirement(session, procedure="laminectomy", setting="inpatient", plan="anthem maine")
    assert "presentation" in answer.info_needed
    assert any(c["when"].get("presentation") == ["emergency"] for c in answer.cases)


def test_contacts_of_a_decision_belong_to_its_program_and_plan(session):
    imaging = review_requirement(session, program="imaging")
    assert {c.value for c in imaging.contacts if c.kind == "phone"} == {"1-877-291-0360"}
    msk = review_requirement(session, code="27447", plan="anthem maine")
    assert {c.value for c in msk.contacts if c.kind == "phone"} == {"866-714-1107"}
    state = review_requirement(session, code="64483", state="ME")
    assert {c.value for c in state.contacts if c.kind == "phone"} == {"866-714-1107"}


@pytest.mark.parametrize(
    ("known", "pa_needed", "info"),
    [
        ({"code": "27447", "plan": "anthem maine"}, "auth-needed", ["location"]),
        ({"code": "62322"}, "conditional", ["contract", "detail-code", "location"]),
        ({"code": "27447", "setting": "ER", "line_of_business": "ASO", "plan": "abc"}, "no-auth", []),
        ({"program": "imaging"}, "conditional", ["contract", "location"]),
        ({"code": "99999"}, "conditional", []),
    ],
)
def test_crd_shape(session, known, pa_needed, info):
    crd = crd_coverage_information(review_requirement(session, **known))
    assert crd["pa-needed"] == pa_needed
    assert crd["info-needed"] == info
    assert crd["contact"]


def test_a_diagnosis_outside_the_notification_rule_is_said_to_get_the_full_review(session):
    # 002: notification only for 62320/62322 with G89.11, G89.12 or G89.18; another diagnosis is not one of them.
    answer = review_requirement(session, code="62322", diagnoses=["G89.29"])
    assert answer.status is Status.REVIEW_REQUIRED
    said = [f.text for f in answer.facts if f.text.startswith("Not notification only")]
    assert said and "G89.29" in said[0] and "full medical-necessity review" in said[0], said
    assert all(f.citations for f in answer.facts if f.text.startswith("Not notification only"))


def test_a_notification_diagnosis_says_nothing_of_a_full_review(session):
    answer = review_requirement(session, code="62322", diagnoses=["G89.18"])
    assert answer.status is Status.NOTIFICATION_ONLY
    assert not [f for f in answer.facts if f.text.startswith("Not notification only")]


@pytest.mark.parametrize("procedure", ["mri", "ct_scan", "pet_scan"])
def test_a_test_named_only_by_its_category_says_so_in_the_answer(session, procedure):
    answer = review_requirement(session, procedure=procedure, plan=ABC, line_of_business="commercial")
    assert answer.status is R and answer.data["named_by_category"] == "advanced diagnostic imaging"
    text, _ = render(answer, "does it need review?", "provider")
    first, second = text.split("\n")[:2]
    assert first.startswith("Yes") and second.startswith("The notice names the category (Advanced diagnostic imaging)")


def test_another_code_of_a_notification_procedure_is_told_why_it_gets_the_full_review(session):
    # 002 names 62320 and 62322 only; 62321 is the same epidural, billed with another code.
    answer = review_requirement(session, code="62321", diagnoses=["G89.18"])
    assert answer.status is R
    text, _ = render(answer, "62321 w/ G89.18 notif?", "agent")
    assert "names CPT 62320 and 62322" in text and "not 62321" in text
    assert review_requirement(session, code="62322", diagnoses=["G89.18"]).status is N


@pytest.mark.parametrize("lob", ["fep", "hmo", "medicaid"])
def test_a_member_outside_the_notice_is_told_why_right_after_the_no(session, lob):
    answer = review_requirement(session, procedure="total knee replacement", plan=ABC, line_of_business=lob)
    assert answer.status is OUT
    text, _ = render(answer, "knee replacement for an Anthem Blue Cross member, AIM or not?", "provider")
    assert text.split("\n")[1].split(":")[0] in ("Federal Employee Program (FEP)", "HMO", "Medicaid")
    assert ": not included —" in text.split("\n")[1]
