"""The knowledge-base entity matcher: names, abbreviations, codes, typos, normalized to canonical ids."""

from __future__ import annotations

import pytest

from priorauth.nlu.matcher import KBMatcher
from priorauth.nlu.vocabulary import build_vocabulary
from tests.conftest import KB_DIR


@pytest.fixture(scope="module")
def matcher():
    return KBMatcher(build_vocabulary(KB_DIR))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "does 27447 need PA for BCBS ASO?",
            {("cpt_code", "27447"), ("line_of_business", "aso")},  # "BCBS" alone names two plans (ambiguous_terms)
        ),
        ("TKA auth validity", {("procedure", "total_knee_replacement")}),
        ("AIM phone ME", {("state", "ME")}),
        ("what about inpatient?", {("setting", "inpatient")}),
        ("and for a hip?", set()),  # a bare body part never decides a procedure (ambiguous_terms)
        (
            "62322 with g89.18 in the ER",
            {("cpt_code", "62322"), ("diagnosis_code", "G89.18"), ("setting", "emergency")},
        ),
        ("G8918", {("diagnosis_code", "G89.18")}),
        (
            "total knee arthroplsty at the HOPD",
            {("procedure", "total_knee_replacement"), ("setting", "outpatient_hospital")},
        ),
        (
            "knee scope at an ambulatory surgery center",
            {("procedure", "knee_arthroscopy"), ("setting", "ambulatory_surgery_center")},
        ),
        (
            "lumbar fusion for medicare advantage",
            {("procedure", "spinal_fusion"), ("line_of_business", "medicare_advantage")},
        ),
        ("is a medial branch block reviewed", {("procedure", "facet_joint_injection")}),
        ("RFA in Maine", {("procedure", "facet_radiofrequency_ablation"), ("state", "ME")}),
        ("pain management program", {("program", "interventional_pain")}),
        ("Anthem Blue Cross phone", {("plan", "anthem_blue_cross")}),
        ("bone growth stimulator E0748", {("procedure", "bone_growth_stimulator"), ("cpt_code", "E0748")}),
        ("does PA apply in pa", set()),
        ("does it need medical necessity review", set()),  # "medical" is not Medi-Cal
        ("Medi-Cal members", {("line_of_business", "medicaid")}),  # "PA" is prior authorization, never Pennsylvania
        ("sacroilliac joint fusion", {("procedure", "sacroiliac_joint_fusion")}),
    ],
)
def test_entities(matcher, text, expected):
    assert {(e["entity"], e["value"]) for e in matcher.extract(text)} == expected


def test_offsets_point_at_the_matched_text(matcher):
    text = "Is a total knee replacement at the hospital reviewed?"
    for e in matcher.extract(text):
        assert text[e["start"] : e["end"]] == e["text"]


def test_longer_match_wins_over_its_parts(matcher):
    found = matcher.extract("sacroiliac joint injections")
    assert [(e["entity"], e["value"]) for e in found] == [("procedure", "sacroiliac_joint_injection")]
