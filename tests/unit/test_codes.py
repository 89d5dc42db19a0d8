"""The one code grammar (priorauth/codes.py) and the three readers that use it: the knowledge base's reader, the NLU
matcher and the draft validators, which once had a grammar each and disagreed on these codes."""

from __future__ import annotations

import pytest

from priorauth.codes import is_procedure_code, kind_of, normalize, normalize_icd10cm
from priorauth.drafts.validators import FieldError, validate_diagnosis_codes, validate_procedure_codes
from priorauth.nlu.matcher import KBMatcher
from priorauth.nlu.vocabulary import build_vocabulary
from tests.conftest import KB_DIR


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("27447", "CPT"),
        ("0275T", "CPT"),  # Category III
        ("3008F", "CPT"),  # Category II
        ("0001U", "CPT"),  # proprietary laboratory analyses
        ("0004M", "CPT"),  # multianalyte assays
        ("3008f", "CPT"),
        ("2744A", None),  # no CPT code ends in A
        ("2744", None),
        ("274477", None),
        ("E0748", "HCPCS"),
        ("G0260", "HCPCS"),
        ("j1234", "HCPCS"),
        ("D0120", "HCPCS"),  # dental (CDT) codes are HCPCS Level II
        ("U0003", "HCPCS"),
        ("V2020", "HCPCS"),
        ("F1234", "ICD-10-CM"),  # no HCPCS code begins with F: only F12.34 written without its dot
        ("W1234", "ICD-10-CM"),
        ("M17.11", "ICD-10-CM"),
        ("R51", "ICD-10-CM"),
        ("S72.001A", "ICD-10-CM"),
        ("U07.1", "ICD-10-CM"),  # COVID-19: ICD-10-CM uses U since 2020
        ("M1A.0", "ICD-10-CM"),  # a letter in the third place
        ("M17.12345", None),
        ("17.11", None),
        ("MM7.1", None),
        ("M17..1", None),
        ("", None),
        (None, None),
    ],
)
def test_kind_of_names_the_code_system(code, kind):
    assert kind_of(code) == kind


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("g89.18", "G89.18"),
        ("s72001a", "S72.001A"),
        (" r51 ", "R51"),
        (" 27447 ", "27447"),
        ("0275t", "0275T"),
        ("g0260", "G0260"),  # a letter and 4 digits stays a procedure code
        ("2744A", None),
        ("X", None),
    ],
)
def test_normalize_gives_the_stored_form(code, expected):
    assert normalize(code) == expected


@pytest.mark.parametrize(
    ("code", "expected"),
    [("g8918", "G89.18"), ("M1711", "M17.11"), ("U07.1", "U07.1"), ("R51", "R51"), ("27447", None)],
)
def test_a_diagnosis_reader_adds_the_dot(code, expected):
    assert normalize_icd10cm(code) == expected


# Codes the copies read differently: the validators took any letter after 4 digits and any letter before 4 digits,
# the matcher took F, I, N and O as HCPCS letters but not M after 4 digits, nor U as a diagnosis's first letter.
@pytest.mark.parametrize(
    ("code", "procedure"),
    [("0004M", True), ("0001U", True), ("D0120", True), ("2744A", False), ("F1234", False), ("N1234", False)],
)
def test_the_validators_and_the_matcher_agree_on_procedure_codes(matcher, code, procedure):
    assert is_procedure_code(code) is procedure
    read = ("cpt_code", code) in {(e["entity"], e["value"]) for e in matcher.extract(f"is {code} reviewed?")}
    assert read is procedure
    if procedure:
        assert validate_procedure_codes(code).value == [code]
    else:
        with pytest.raises(FieldError):
            validate_procedure_codes(code)


def test_the_validators_read_a_u_diagnosis_without_its_dot():
    assert validate_diagnosis_codes("u071").value == ["U07.1"]


def test_the_matcher_reads_a_u_diagnosis(matcher):
    entities = {(e["entity"], e["value"]) for e in matcher.extract("dx U07.1, is 27447 reviewed?")}
    assert ("diagnosis_code", "U07.1") in entities


@pytest.fixture(scope="module")
def matcher():
    return KBMatcher(build_vocabulary(KB_DIR))
