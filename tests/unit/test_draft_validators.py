"""Tables of accepted and rejected values for each draft field, with a fake today."""

from __future__ import annotations

from datetime import date

import pytest
from stdnum import luhn

from priorauth.drafts.validators import (
    FIELDS,
    FieldError,
    ValidationContext,
    validate_date_of_service,
    validate_diagnosis_codes,
    validate_facility_name,
    validate_field,
    validate_fields,
    validate_member_dob,
    validate_member_id,
    validate_npi,
    validate_ordering_tax_id,
    validate_procedure_codes,
    validate_setting,
    validate_site_of_care_reason,
)

TODAY = date(2026, 1, 15)


def npi(base: str) -> str:
    """A real-format NPI: 9 digits plus the Luhn check digit over the 80840 prefix."""
    return base + luhn.calc_check_digit("80840" + base)


def wrong_check_digit(base: str) -> str:
    good = npi(base)
    return good[:-1] + str((int(good[-1]) + 1) % 10)


@pytest.mark.parametrize(
    "raw, expected",
    [
        (npi("123456789"), "1234567893"),
        (npi("124531959"), "1245319599"),
        (npi("299999999"), npi("299999999")),
        ("1234 567 893", "1234567893"),
        ("1234-567-893", "1234567893"),
        (1234567893, "1234567893"),
    ],
)
def test_npi_accepts_valid_check_digits(raw, expected):
    assert validate_npi(raw).value == expected


@pytest.mark.parametrize(
    "raw",
    [
        wrong_check_digit("123456789"),
        wrong_check_digit("124531959"),
        "123456789",
        "12345678933",
        "12345A7893",
        "",
        None,
    ],
)
def test_npi_rejects_bad_numbers(raw):
    with pytest.raises(FieldError) as caught:
        validate_npi(raw, "servicing_npi")
    assert caught.value.field == "servicing_npi"
    assert caught.value.message.startswith("Servicing provider NPI must be 10 digits")


def test_npi_message_names_field_form_and_input():
    with pytest.raises(FieldError) as caught:
        validate_field("ordering_npi", "1234567890", ValidationContext(TODAY))
    assert str(caught.value) == ("Ordering provider NPI must be 10 digits with a valid check digit; got 1234567890")


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("ABC123456789", "ABC123456789"),
        ("abc 1234 5678", "ABC12345678"),
        ("W123-456-789", "W123456789"),
        ("12345", "12345"),
        ("A" * 19 + "1", "A" * 19 + "1"),
    ],
)
def test_member_id_normalizes(raw, expected):
    assert validate_member_id(raw).value == expected


@pytest.mark.parametrize("raw", ["1234", "ABCDEFGH", "ABC#1234", "A" * 20 + "1", "", None])
def test_member_id_rejects(raw):
    with pytest.raises(FieldError, match=r"^Member ID must be 5–20 letters and digits.*; got "):
        validate_member_id(raw)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("12-3456789", "123456789"),
        ("123456789", "123456789"),
        (" 12 3456789 ", "123456789"),
        ("04-2103594", "042103594"),
    ],
)
def test_tax_id_accepts_eins(raw, expected):
    assert validate_ordering_tax_id(raw).value == expected


@pytest.mark.parametrize("raw", ["00-0000000", "000000000", "07-1234567", "1234", "12-345678A", ""])
def test_tax_id_rejects_bad_form_or_prefix(raw):
    with pytest.raises(FieldError) as caught:
        validate_ordering_tax_id(raw)
    assert caught.value.field == "ordering_tax_id"
    assert "9 digits like 12-3456789" in caught.value.message


DOB_FORMS = [
    "3/4/1960",
    "03/04/1960",
    "3-4-1960",
    "1960-03-04",
    "March 4 1960",
    "March 4, 1960",
    "Mar. 4th, 1960",
    "4 Mar 1960",
    "4 March 1960",
    "4th of March 1960",
    date(1960, 3, 4),
]


@pytest.mark.parametrize("raw", DOB_FORMS)
def test_dob_accepts_us_forms(raw):
    assert validate_member_dob(raw, TODAY).value == date(1960, 3, 4)


@pytest.mark.parametrize(
    "raw, problem",
    [
        ("3/4/60", "a date like"),
        ("2/30/1960", "a date like"),
        ("13/1/1960", "a date like"),
        ("today", "a date like"),
        ("sometime in 1960", "a date like"),
        ("1/16/2026", "not in the future"),
        ("1/14/1906", "within the last 120 years"),
    ],
)
def test_dob_rejects(raw, problem):
    with pytest.raises(FieldError) as caught:
        validate_member_dob(raw, TODAY)
    assert caught.value.message.startswith("Date of birth must be")
    assert problem in caught.value.message
    assert caught.value.message.endswith(f"; got {raw}")


@pytest.mark.parametrize("raw, expected", [("1/15/1906", date(1906, 1, 15)), ("1/15/2026", TODAY)])
def test_dob_edges_are_inclusive(raw, expected):
    assert validate_member_dob(raw, TODAY).value == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("today", TODAY),
        ("Tomorrow", date(2026, 1, 16)),
        ("1/15/2026", TODAY),
        ("12/1/2026", date(2026, 12, 1)),
        ("2028-01-15", date(2028, 1, 15)),
        ("December 1, 2026", date(2026, 12, 1)),
        ("12/1/26", date(2026, 12, 1)),  # a 2-digit year is this century, as the form's conversation reads it
        ("3/4", date(2026, 3, 4)),  # a year-less date is its next occurrence
        ("1/14", date(2027, 1, 14)),
    ],
)
def test_date_of_service_accepts(raw, expected):
    assert validate_date_of_service(raw, TODAY).value == expected


@pytest.mark.parametrize(
    "raw, problem",
    [
        ("1/14/2026", "today (2026-01-15) or later"),
        ("yesterday", "a date like"),
        ("2028-01-16", "within 2 years"),
        ("12/1/25", "today (2026-01-15) or later"),
        ("2/30", "a date like"),
    ],
)
def test_date_of_service_rejects(raw, problem):
    with pytest.raises(FieldError) as caught:
        validate_date_of_service(raw, TODAY)
    assert caught.value.field == "date_of_service"
    assert caught.value.message.startswith("Date of service must be")
    assert problem in caught.value.message


def test_date_of_service_before_earliest_names_that_date():
    earliest = date(2026, 3, 1)
    with pytest.raises(FieldError, match="on or after 2026-03-01.*; got 2/28/2026$"):
        validate_date_of_service("2/28/2026", TODAY, earliest)
    assert validate_date_of_service("3/1/2026", TODAY, earliest).value == earliest


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("outpatient_hospital", "outpatient_hospital"),
        ("HOPD", "outpatient_hospital"),
        ("hospital outpatient", "outpatient_hospital"),
        ("Outpatient Hospital", "outpatient_hospital"),
        ("outpatient department", "outpatient_hospital"),
        ("POS 22", "outpatient_hospital"),
        ("ASC", "ambulatory_surgery_center"),
        ("surgery center", "ambulatory_surgery_center"),
        ("at the ambulatory surgical center", "ambulatory_surgery_center"),
        ("24", "ambulatory_surgery_center"),
        ("physician office", "office"),
        ("Doctor's office", "office"),
        ("in office", "office"),
        ("IP", "inpatient"),
        ("inpatient admission", "inpatient"),
        ("Inpatient", "inpatient"),
    ],
)
def test_setting_synonyms(raw, expected):
    assert validate_setting(raw).value == expected


# "outpatient" alone may be a hospital, an ASC or an office: the settings data does not map it.
@pytest.mark.parametrize("raw", ["clinic", "outpatient", "home", "emergency room", "", "99"])
def test_setting_rejects_unknown(raw):
    with pytest.raises(FieldError, match=r"^Setting must be one of outpatient hospital"):
        validate_setting(raw)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("27447", ["27447"]),
        ("27447, 29881", ["27447", "29881"]),
        ("27447 29881", ["27447", "29881"]),
        ("27447 and 29881; 27447", ["27447", "29881"]),
        ("CPT 27447", ["27447"]),
        ("0275T", ["0275T"]),
        ("3008f", ["3008F"]),
        ("j1234", ["J1234"]),
        (["27447", "G0283"], ["27447", "G0283"]),
    ],
)
def test_procedure_codes_accept_cpt_and_hcpcs(raw, expected):
    assert validate_procedure_codes(raw).value == expected


@pytest.mark.parametrize(
    "raw, echoed",
    [
        ("2744", "2744"),
        ("274477", "274477"),
        ("27447, ABCDE", "ABCDE"),
        ("J123", "J123"),
        ("2744A", "2744A"),  # CPT's letters are F, M, T and U
        ("F1234", "F1234"),  # no HCPCS code begins with F
        ("", "nothing"),
    ],
)
def test_procedure_codes_reject_and_echo_the_bad_code(raw, echoed):
    with pytest.raises(FieldError) as caught:
        validate_procedure_codes(raw)
    assert caught.value.message.startswith("Procedure codes must be CPT codes")
    assert caught.value.message.endswith(f"; got {echoed}")


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("g8918", ["G89.18"]),
        ("G89.18", ["G89.18"]),
        ("m1711", ["M17.11"]),
        ("R51", ["R51"]),
        ("S72.001A", ["S72.001A"]),
        ("M17.11, g89.18 M17.11", ["M17.11", "G89.18"]),
        ("ICD-10 M17.11", ["M17.11"]),
        ("u07.1", ["U07.1"]),
    ],
)
def test_diagnosis_codes_normalize(raw, expected):
    assert validate_diagnosis_codes(raw).value == expected


@pytest.mark.parametrize("raw", ["17.11", "M1", "M17.12345", "MM7.1", "M17..1", ""])
def test_diagnosis_codes_reject(raw):
    with pytest.raises(FieldError, match=r"^Diagnosis codes must be ICD-10-CM codes"):
        validate_diagnosis_codes(raw)


def test_unknown_codes_are_accepted_with_a_warning():
    known = {"27447", "M17.11"}.__contains__
    procedures = validate_procedure_codes("27447, 27999", known)
    diagnoses = validate_diagnosis_codes("M17.11", known)
    assert procedures.value == ["27447", "27999"]
    assert procedures.warnings == (
        "27999 is not in the knowledge base: the plan's code list governs whether it needs review",
    )
    assert diagnoses.warnings == ()


@pytest.mark.parametrize(
    "raw, expected",
    [("Mercy Hospital", "Mercy Hospital"), ("  Mercy \n Hospital ", "Mercy Hospital")],
)
def test_facility_name_collapses_spaces(raw, expected):
    assert validate_facility_name(raw).value == expected


@pytest.mark.parametrize("raw", ["M", "x" * 121, "Mercy\x00Hospital", ""])
def test_facility_name_rejects(raw):
    with pytest.raises(FieldError, match=r"^Facility name must be 2–120 printable characters"):
        validate_facility_name(raw)


def test_long_input_is_shortened_in_the_message():
    with pytest.raises(FieldError) as caught:
        validate_site_of_care_reason("x" * 1001)
    assert caught.value.message.endswith("; got " + "x" * 59 + "…")


@pytest.mark.parametrize("raw, ok", [("too short", False), ("needs monitoring", True), ("y" * 1000, True)])
def test_site_of_care_reason_length(raw, ok):
    if ok:
        assert validate_site_of_care_reason(raw).value == raw
    else:
        with pytest.raises(FieldError, match="^Site-of-care reason must be a reason of 10–1000"):
            validate_site_of_care_reason(raw)


GOOD_RAW = {
    "member_id": "abc 123456789",
    "member_dob": "March 4, 1960",
    "ordering_npi": "1234-567-893",
    "ordering_tax_id": "12-3456789",
    "servicing_npi": "1245319599",
    "facility_name": "Mercy Hospital",
    "setting": "HOPD",
    "procedure_codes": "27447 29881",
    "diagnosis_codes": "m1711",
    "date_of_service": "tomorrow",
    "site_of_care_reason": "Severe sleep apnea needs overnight monitoring",
}


@pytest.mark.parametrize("field", FIELDS)
def test_validating_a_normalized_value_gives_it_back(field):
    context = ValidationContext(TODAY)
    normalized = validate_field(field, GOOD_RAW[field], context).value
    assert validate_field(field, normalized, context).value == normalized


def test_validate_fields_collects_every_error_in_form_order():
    raw = {**GOOD_RAW, "setting": "garage", "member_id": "x"}
    results = validate_fields(raw, ValidationContext(TODAY))
    assert [error.field for error in results.errors] == ["member_id", "setting"]
    assert set(results.valid) == set(FIELDS) - {"member_id", "setting"}


def test_validate_field_rejects_unknown_names():
    with pytest.raises(KeyError, match="unknown draft field 'colour'"):
        validate_field("colour", "blue", ValidationContext(TODAY))
