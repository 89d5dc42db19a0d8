"""Many phrasings of draft answers, labelled and unlabelled, and the raw fields pulled out."""

from __future__ import annotations

import pytest

from priorauth.drafts.parsing import extract_fields

FULL_MESSAGE = (
    "member id ABC123456789, dob 3/4/1960, NPI 1234567893, tax id 12-3456789, "
    "at Mercy Hospital outpatient department, CPT 27447, dx M17.11, DOS 12/1/2026"
)

LABELLED = [
    (
        FULL_MESSAGE,
        {
            "member_id": "ABC123456789",
            "member_dob": "3/4/1960",
            "ordering_npi": "1234567893",
            "ordering_tax_id": "12-3456789",
            "facility_name": "Mercy Hospital",
            "setting": "outpatient department",
            "procedure_codes": "27447",
            "diagnosis_codes": "M17.11",
            "date_of_service": "12/1/2026",
        },
    ),
    (
        "Member ID: XYZ987654321; DOB: 1960-03-04; procedure 27447 on 12/1/2026 at Mercy Surgery Center",
        {
            "member_id": "XYZ987654321",
            "member_dob": "1960-03-04",
            "facility_name": "Mercy Surgery Center",
            "procedure_codes": "27447",
            "date_of_service": "12/1/2026",
        },
    ),
    ("subscriber # W123-456-789", {"member_id": "W123-456-789"}),
    ("the member number is abc 123 456 789 thanks", {"member_id": "abc 123 456 789"}),
    ("ID ABC123456", {"member_id": "ABC123456"}),
    ("date of birth March 4, 1960", {"member_dob": "March 4, 1960"}),
    ("born on 4 Mar 1960", {"member_dob": "4 Mar 1960"}),
    ("D.O.B. 03/04/1960", {"member_dob": "03/04/1960"}),
    ("ordering provider NPI 1234567893", {"ordering_npi": "1234567893"}),
    (
        "ordering NPI 1234567893 servicing npi 1245319599",
        {"ordering_npi": "1234567893", "servicing_npi": "1245319599"},
    ),
    (
        "NPI 1234567893 and NPI 1245319599",
        {"ordering_npi": "1234567893", "servicing_npi": "1245319599"},
    ),
    ("facility NPI: 1245319599", {"servicing_npi": "1245319599"}),
    ("NPI 1234567893 for Dr Smith", {"ordering_npi": "1234567893"}),
    ("TIN 12-3456789", {"ordering_tax_id": "12-3456789"}),
    ("EIN is 123456789", {"ordering_tax_id": "123456789"}),
    ("federal tax ID number: 12-3456789", {"ordering_tax_id": "12-3456789"}),
    ("facility: St. Luke's Medical Center", {"facility_name": "St. Luke's Medical Center"}),
    ("at Mercy Hospital (HOPD)", {"facility_name": "Mercy Hospital", "setting": "HOPD"}),
    ("at the ASC", {"setting": "the ASC"}),
    ("setting: physician office", {"setting": "physician office"}),
    ("place of service 22", {"setting": "22"}),
    ("POS 24", {"setting": "24"}),
    ("it will be done as an inpatient admission", {"setting": "inpatient admission"}),
    ("CPT 27447 and 29881 for the right knee", {"procedure_codes": "27447, 29881"}),
    ("CPT codes: 27447, 29881", {"procedure_codes": "27447, 29881"}),
    ("HCPCS J1234", {"procedure_codes": "J1234"}),
    ("CPT 27447, CPT 0275T", {"procedure_codes": "27447, 0275T"}),
    ("dx m17.11 and g8918", {"diagnosis_codes": "m17.11, g8918"}),
    ("ICD-10 M17.11", {"diagnosis_codes": "M17.11"}),
    ("diagnosis codes M17.11, G89.18", {"diagnosis_codes": "M17.11, G89.18"}),
    ("DOS tomorrow", {"date_of_service": "tomorrow"}),
    ("scheduled for March 4, 2026", {"date_of_service": "March 4, 2026"}),
    ("date of service: 2026-12-01", {"date_of_service": "2026-12-01"}),
    ("surgery date 12/1/2026", {"date_of_service": "12/1/2026"}),
    ("DOS next week", {"date_of_service": "next week"}),
    (
        "setting: HOPD because the patient has severe sleep apnea at Mercy",
        {"setting": "HOPD", "site_of_care_reason": "the patient has severe sleep apnea at Mercy"},
    ),
    (
        "reason: needs overnight monitoring; dx G47.33",
        {"site_of_care_reason": "needs overnight monitoring", "diagnosis_codes": "G47.33"},
    ),
    ("nothing useful here", {}),
    ("", {}),
]


@pytest.mark.parametrize("text, expected", LABELLED)
def test_labelled_fields(text, expected):
    assert extract_fields(text) == expected


OSA_REASON = "Patient has severe OSA, dx G47.33, needs inpatient-level monitoring"

UNLABELLED = [
    ("3/4/1960", "member_dob", {"member_dob": "3/4/1960"}),
    ("it's ABC 123 456 789", "member_id", {"member_id": "ABC 123 456 789"}),
    ("1245319599", "servicing_npi", {"servicing_npi": "1245319599"}),
    ("NPI 1245319599", "servicing_npi", {"servicing_npi": "1245319599"}),
    ("12-3456789", "ordering_tax_id", {"ordering_tax_id": "12-3456789"}),
    ("Mercy Hospital", "facility_name", {"facility_name": "Mercy Hospital"}),
    (
        "Mercy Hospital outpatient department",
        "facility_name",
        {"facility_name": "Mercy Hospital", "setting": "outpatient department"},
    ),
    ("hospital outpatient", "setting", {"setting": "hospital outpatient"}),
    ("27447, 29881", "procedure_codes", {"procedure_codes": "27447, 29881"}),
    ("M17.11 and g8918", "diagnosis_codes", {"diagnosis_codes": "M17.11, g8918"}),
    ("tomorrow", "date_of_service", {"date_of_service": "tomorrow"}),
    ("sure, 12/1/2026", "date_of_service", {"date_of_service": "12/1/2026"}),
    (
        "3/4/1960, member id ABC123",
        "member_dob",
        {"member_dob": "3/4/1960", "member_id": "ABC123"},
    ),
    ("hello there", "member_id", {"member_id": "hello there"}),
    (
        "the patient's member id is XYZ12345",
        "member_dob",
        {"member_id": "XYZ12345"},
    ),
    (
        OSA_REASON,
        "site_of_care_reason",
        {"site_of_care_reason": OSA_REASON},
    ),
    (
        "reason: needs monitoring after surgery",
        "site_of_care_reason",
        {"site_of_care_reason": "needs monitoring after surgery"},
    ),
]


@pytest.mark.parametrize("text, expected_field, expected", UNLABELLED)
def test_unlabelled_input_goes_to_the_expected_field(text, expected_field, expected):
    assert extract_fields(text, expected=expected_field) == expected


def test_result_is_in_form_order():
    found = extract_fields("DOS 12/1/2026, CPT 27447, member id ABC12345")
    assert list(found) == ["member_id", "procedure_codes", "date_of_service"]


def test_unknown_expected_field_is_an_error():
    with pytest.raises(ValueError, match="unknown draft field 'colour'"):
        extract_fields("blue", expected="colour")
