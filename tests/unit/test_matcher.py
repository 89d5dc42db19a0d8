"""The knowledge-base entity matcher: names, abbreviations, codes, typos, normalized to canonical ids."""

from __future__ import annotations

import random
import string

import pytest
from rapidfuzz import fuzz

from priorauth.nlu.matcher import EXACT_OVERRIDE, KBMatcher, NearMissIndex
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
        ("and for a hip?", {("procedure_family", "hip")}),  # a body part alone never decides the procedure
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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the most specific phrase wins over the generic word inside it
        ("auth needed for 1st MTP fusion?", ("procedure", "first_toe_arthrodesis")),
        ("SI jt fusion auth length", ("procedure", "sacroiliac_joint_fusion")),
        ("si joint fusion validity", ("procedure", "sacroiliac_joint_fusion")),
        ("shoulder scope PA req?", ("procedure", "shoulder_arthroscopy")),
        ("hip scope PA?", ("procedure", "hip_arthroscopy")),
        ("knee scope at the HOPD", ("procedure", "knee_arthroscopy")),
        # agent shorthand, lower-case abbreviations, plurals
        ("tka auth validity", ("procedure", "total_knee_replacement")),
        ("esi at the asc", ("procedure", "epidural_injection")),
        ("esi at the asc", ("setting", "ambulatory_surgery_center")),
        ("SI jt inj PA?", ("procedure", "sacroiliac_joint_injection")),
        ("does the review apply to shoulder scopes?", ("procedure", "shoulder_arthroscopy")),
        ("we do a lot of heart caths", ("procedure", "cardiac_catheterization")),
        ("does AIM review hip replacements", ("procedure", "total_hip_replacement")),
    ],
)
def test_specific_phrases_and_shorthand(matcher, text, expected):
    assert expected in {(e["entity"], e["value"]) for e in matcher.extract(text)}


@pytest.mark.parametrize(
    ("text", "family"),
    [("hip PA?", "hip"), ("knee?", "knee"), ("is a scope reviewed", "scope"), ("fusion auth?", "fusion")],
)
def test_a_generic_word_alone_is_a_family_not_a_procedure(matcher, text, family):
    found = {(e["entity"], e["value"]) for e in matcher.extract(text)}
    assert found == {("procedure_family", family)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bone stimulator for after the fusion", {("procedure", "bone_growth_stimulator")}),
        ("20610 knee inj PA?", {("cpt_code", "20610")}),
        (
            "total knee, or maybe a knee scope",
            {("procedure", "total_knee_replacement"), ("procedure", "knee_arthroscopy")},
        ),
    ],
)
def test_a_generic_word_never_overrides_a_named_procedure_or_code(matcher, text, expected):
    assert {(e["entity"], e["value"]) for e in matcher.extract(text)} == expected


def test_family_candidates_come_from_the_knowledge_base():
    families = build_vocabulary(KB_DIR)["families"]
    assert set(families["hip"]) == {"total_hip_replacement", "hip_arthroscopy"}
    assert set(families["scope"]) == {"hip_arthroscopy", "knee_arthroscopy", "shoulder_arthroscopy"}
    assert {"spinal_fusion", "sacroiliac_joint_fusion", "first_toe_arthrodesis"} <= set(families["fusion"])


@pytest.mark.parametrize(
    "text",
    [
        "who issues denials RN or MD",  # MD is a physician, not Maryland
        "surgeon was stuck in the OR all day",  # the operating room, not Oregon
        "OK thanks",
        "does it need medical necessity review",  # not Medi-Cal / medical assistance
        "including the appropriate duration of services",  # "of services" is not "OT services"
        "trigger pt inj - AIM?",  # not on the sources' lists: no procedure is made up
        "pt needs a procedure",  # "pt" is a patient, not physical therapy
    ],
)
def test_no_false_positives(matcher, text):
    assert matcher.extract(text) == []


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("doing a 62322, dx G89.29.", "G89.29"),  # a sentence's full stop after the code
        ("dx M17.11, then the DOS", "M17.11"),
        ("G89.18", "G89.18"),
    ],
)
def test_a_diagnosis_code_at_the_end_of_a_sentence_is_read(matcher, text, code):
    assert ("diagnosis_code", code) in {(e["entity"], e["value"]) for e in matcher.extract(text)}


def test_a_code_followed_by_more_characters_is_not_cut_short(matcher):
    assert ("diagnosis_code", "G89.2") not in {(e["entity"], e["value"]) for e in matcher.extract("G89.2.9")}


# ---------------------------------------------------------------------------------------------- near-miss index
def _scan(terms, text: str, cutoff: float) -> str | None:
    """What the index must find: the best of every term of a word count `_words_alike` accepts, by Indel
    similarity, the first of equal scores by word count, then length, then given order (an exhaustive scan)."""
    words = len(text.split())
    best, best_score = None, 0.0
    for term in sorted(terms, key=lambda t: (len(t.split()), len(t))):
        if words == 1 or len(term.split()) in (1, words):
            score = fuzz.ratio(text, term, score_cutoff=cutoff * 100)
            if score > best_score:
                best, best_score = term, score
    return best


def _typo(term: str, edits: int, rng: random.Random) -> str:
    for _ in range(edits):
        i = rng.randrange(len(term) - 1)
        letter = rng.choice(string.ascii_lowercase)
        term = rng.choice(
            [
                term[:i] + letter + term[i + 1 :],  # substitution
                term[:i] + term[i + 1 :],  # deletion
                term[:i] + letter + term[i:],  # insertion
                term[:i] + term[i + 1] + term[i] + term[i + 2 :],  # transposition
            ]
        )
    return term


def test_the_index_finds_what_a_scan_of_every_term_finds(matcher):
    terms = list(matcher.fuzzy_terms)
    rng = random.Random(16)
    texts = [_typo(term, edits, rng) for term in terms for edits in (1, 2, 3)]
    texts += [" ".join(pair) for pair in zip(terms, terms[1:], strict=False)][:100]  # neighbours, not typos
    found = 0
    for text in texts:
        for cutoff in (0.88, EXACT_OVERRIDE):
            expected = _scan(terms, text, cutoff)
            assert matcher.near_misses.closest(text, cutoff) == expected, (text, cutoff)
            found += expected is not None
    assert found > len(texts)  # most typos pass at 0.88 and many at 0.94: the agreement is not all "None"


def test_a_typo_is_found_and_another_word_is_not():
    index = NearMissIndex(["sacroiliac joint fusion", "radiofrequency ablation"], 0.88)
    assert index.closest("sacroilliac joint fusion", 0.88) == "sacroiliac joint fusion"
    assert index.closest("radiofrequncy ablaton", 0.88) == "radiofrequency ablation"
    assert index.closest("sacral nerve stimulation", 0.88) is None
    assert index.closest("radiology authorization", 0.88) is None


def test_deletions_and_transpositions_in_the_first_letters_are_found():
    index = NearMissIndex(["sacroiliac joint fusion"], 0.88)
    assert index.closest("sacrilac joint fusion", 0.88) == "sacroiliac joint fusion"  # 2 letters missing
    assert index.closest("scaroilaic joint fusion", 0.88) == "sacroiliac joint fusion"  # 2 transpositions
    assert index.closest("xsacroiliacx joint fusion", 0.88) == "sacroiliac joint fusion"  # 2 letters added


def test_more_edits_are_found_past_the_first_letters():
    # 4 letters missing (beyond the 3 the first letters are searched with): the ratio still passes (0.93).
    index = NearMissIndex(["radiofrequency nerve ablation"], 0.88)
    assert index.closest("radiofrequency nerve abla", 0.88) == "radiofrequency nerve ablation"


def test_a_stricter_cutoff_is_kept():
    index = NearMissIndex(["radiofrequency ablation"], 0.88)
    assert 88 < fuzz.ratio("radiofrequncy abalton", "radiofrequency ablation") < EXACT_OVERRIDE * 100
    assert index.closest("radiofrequncy abalton", 0.88) == "radiofrequency ablation"
    assert index.closest("radiofrequncy abalton", EXACT_OVERRIDE) is None


def test_a_stricter_cutoff_looks_up_fewer_subsequences():
    # A span replacing an exact match needs 0.94: fewer characters can be left out of it, so fewer of its
    # subsequences are looked up (6 instead of 56 here), and the term is found all the same.
    class Counting(dict):
        looked_up = 0

        def get(self, key, default=None):
            Counting.looked_up += 1
            return super().get(key, default)

    index = NearMissIndex(["radiofrequency ablation", "sacroiliac joint fusion", "lumbar spinal fusion"], 0.88)
    index.keys = Counting(index.keys)
    counts = {}
    for cutoff in (0.88, EXACT_OVERRIDE):
        Counting.looked_up = 0
        assert index.closest("radiofrequency ablations", cutoff) == "radiofrequency ablation"
        counts[cutoff] = Counting.looked_up
    assert counts[EXACT_OVERRIDE] < counts[0.88] / 4, counts


@pytest.mark.parametrize("extra", [0, 4])  # few candidates are scored one by one, more in one rapidfuzz call
def test_a_tie_goes_to_the_fewer_words_then_the_term_given_first(extra):
    others = [f"kalomive{c}" for c in "abcd"[:extra]]  # as like "kalomivex" as the two tied terms below
    assert NearMissIndex(["kalomivez", "kalomivey", *others], 0.88).closest("kalomivex", 0.88) == "kalomivez"
    assert NearMissIndex(["kalomivey", "kalomivez", *others], 0.88).closest("kalomivex", 0.88) == "kalomivey"
    # "kalomive zantor" and "kalomivezantorx" are as like "kalomivezantor": the one word wins, though given later
    tied = ["kalomive zantor", "kalomivezantorx"]
    assert NearMissIndex([*tied, *others], 0.88).closest("kalomivezantor", 0.88) == "kalomivezantorx"
