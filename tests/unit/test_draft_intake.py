"""The draft intake as plain Python (no Rasa): one message in, what was saved and what to say out.

The clock and the session factory are passed in; tables go over the field types.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from priorauth.db import make_engine, make_session_factory
from priorauth.drafts.intake import (
    asks_whats_left,
    codes_in,
    draft_repository,
    named_procedure,
    read_fields,
    setting_in_name,
    start_draft_buttons,
    take_answer,
)
from priorauth.drafts.texts import confirmation_value, missing_line
from priorauth.kb.loader import load_kb
from priorauth.kb.results import Answer, Status
from priorauth.schema import upgrade
from tests.conftest import KB_DIR, SOURCES_DIR

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)  # an injected clock: 10:00 in New York
TODAY = NOW.date()
OWNER = "conversation-1"
FIRST_FIVE = (
    "member id ABC123456789, dob 3/4/1960, ordering NPI 1234567893, tax id 12-3456789, servicing NPI 1245319599"
)


@pytest.fixture(scope="module")
def factory():
    engine = make_engine("sqlite://")
    upgrade(engine)
    load_kb(engine, KB_DIR, SOURCES_DIR)
    return make_session_factory(engine)


def repo(factory, codes=()):
    return draft_repository(factory, lambda: NOW, codes)


def intake(factory, draft, text, expected=None, last=None):
    raw = read_fields(text, TODAY, expected)
    return take_answer(repo(factory, codes_in(raw, draft)), draft, OWNER, text, expected, last)


def filled(factory):
    draft = repo(factory).open(OWNER)
    return intake(factory, draft, FIRST_FIVE, "member_id").draft


# ---------------------------------------------------------------- answers, corrections, unasked fields
CORRECTIONS = [
    # (message, expected field, field, saved value, confirmation line)
    ("change the dob to 03/05/1961", "facility_name", "member_dob", date(1961, 3, 5),
     "Date of birth updated (**/05/1961)."),
    ("the member id is actually XYZ55555", "facility_name", "member_id", "XYZ55555", "Member ID updated (****5555)."),
    ("the ordering NPI is now 1245319599", "facility_name", "ordering_npi", "1245319599",
     "Ordering provider NPI updated (1245319599)."),
    ("TIN should read 98-7654321", "facility_name", "ordering_tax_id", "987654321",
     "Ordering provider tax ID updated (987654321)."),
    ("servicing npi is wrong, use 1234567893", "facility_name", "servicing_npi", "1234567893",
     "Servicing provider NPI updated (1234567893)."),
    ("setting is office", "facility_name", "setting", "office", "Setting saved (office)."),
    ("CPT 27130", "facility_name", "procedure_codes", ["27130"], "Procedure codes saved (27130)."),
    ("dx M17.11", "facility_name", "diagnosis_codes", ["M17.11"], "Diagnosis codes saved (M17.11)."),
    ("actually the DOS is 1/20/2027", "facility_name", "date_of_service", date(2027, 1, 20),
     "Date of service saved (01/20/2027)."),
    ("facility is Lakeview Ortho", "setting", "facility_name", "Lakeview Ortho",
     "Facility name saved (Lakeview Ortho)."),
]  # fmt: skip


@pytest.mark.parametrize("text, expected, field, value, line", CORRECTIONS)
def test_a_correction_or_an_unasked_field_is_saved_and_confirmed_in_one_line(
    factory, text, expected, field, value, line
):
    draft = filled(factory)
    result = intake(factory, draft, text, expected)
    assert getattr(result.draft, field) == value
    assert result.confirmation() == line and result.errors == []
    assert repo(factory).get(draft.reference, OWNER).member_dob is not None  # the rest stays


def test_the_field_asked_is_not_confirmed_but_the_next_one_is_asked(factory):
    draft = repo(factory).open(OWNER)
    result = intake(factory, draft, "ABC123456789", "member_id")
    assert result.saved == ["member_id"] and result.confirm == [] and result.confirmation() == ""
    assert result.next_field() == "member_dob"


@pytest.mark.parametrize(
    "text, expected, last, field, value",
    [
        # a strong cue ("I meant", "make that") corrects the last answer when the value fits it
        ("I meant 5/16/1971", "facility_name", "member_dob", "member_dob", date(1971, 5, 16)),
        ("make that 27130", "facility_name", "procedure_codes", "procedure_codes", ["27130"]),
        # a weak cue ("sorry", "actually") only when the value does not fit the question asked
        ("sorry, 1245319599", "ordering_tax_id", "ordering_npi", "ordering_npi", "1245319599"),
        ("sorry, 98-7654321", "ordering_tax_id", "ordering_npi", "ordering_tax_id", "987654321"),
        # no cue: the answer to the question asked
        ("1245319599", "servicing_npi", "ordering_npi", "servicing_npi", "1245319599"),
    ],
)
def test_i_meant_corrects_the_last_answer_only_when_it_fits_it(factory, text, expected, last, field, value):
    draft = intake(factory, filled(factory), "CPT 27447, dob 5/6/1971", "facility_name").draft
    draft = repo(factory).set_fields(draft.reference, OWNER, {"ordering_npi": "1234567893"})
    result = intake(factory, draft, text, expected, last)
    assert getattr(result.draft, field) == value and result.errors == []
    assert result.saved == [field]


def test_an_invalid_value_is_an_error_and_nothing_is_stored(factory):
    draft = filled(factory)
    result = intake(factory, draft, "dx 17.11", "facility_name")
    assert [e.field for e in result.errors] == ["diagnosis_codes"] and result.saved == []
    assert result.draft.diagnosis_codes is None and result.next_field() == "diagnosis_codes"


def test_a_diagnosis_has_no_knowledge_base_warning(factory):
    draft = filled(factory)
    result = intake(factory, draft, "dx M54.16, CPT 99999", "facility_name")
    assert result.draft.diagnosis_codes == ["M54.16"]
    assert result.warnings == [
        "99999 is not in the knowledge base: the plan's code list governs whether it needs review"
    ]


# ---------------------------------------------------------------- facility names and settings
@pytest.mark.parametrize(
    "name, kind",
    [
        ("Springfield Orthopedic Surgery Center", "ambulatory_surgery_center"),
        ("Lakeside Surgical Centre", "ambulatory_surgery_center"),
        ("Northside ASC", "ambulatory_surgery_center"),
        ("Riverside Community Hospital", "hospital"),
        ("St. Luke's Medical Center", "hospital"),
        ("Northgate Clinic", None),
    ],
)
def test_the_setting_a_facility_name_says(name, kind):
    assert setting_in_name(name) == kind


@pytest.mark.parametrize(
    "text, setting, facility, note",
    [
        ("Springfield Orthopedic Surgery Center", "ambulatory_surgery_center", "Springfield Orthopedic Surgery Center",
         "Springfield Orthopedic Surgery Center is an ambulatory surgery center, so I've saved that as the setting."),
        ("it's at Riverside Community Hospital", None, "Riverside Community Hospital",
         "Riverside Community Hospital is a hospital, so the setting is either outpatient hospital or inpatient."),
        ("ASC", "ambulatory_surgery_center", "Mercy", None),
    ],
)  # fmt: skip
def test_a_facility_name_where_the_setting_is_asked(factory, text, setting, facility, note):
    draft = intake(factory, filled(factory), "Mercy", "facility_name").draft
    result = intake(factory, draft, text, "setting")
    assert result.draft.setting == setting and result.draft.facility_name == facility
    assert result.notes == ([note] if note else []) and result.errors == []


@pytest.mark.parametrize(
    "facility, setting", [("Riverside Community Hospital", "outpatient_hospital"), ("Mercy", None)]
)
def test_outpatient_alone_is_the_outpatient_hospital_only_at_a_hospital(factory, facility, setting):
    draft = intake(factory, filled(factory), facility, "facility_name").draft
    result = intake(factory, draft, "outpatient", "setting")
    assert result.draft.setting == setting
    assert bool(result.errors) is (setting is None)  # elsewhere "outpatient" may be an ASC or an office: asked again


@pytest.mark.parametrize(
    "text, setting",
    [("Springfield Orthopedic Surgery Center", "ambulatory_surgery_center"), ("Riverside Community Hospital", None)],
)
def test_a_facility_given_where_another_field_is_asked_is_saved_as_the_facility(factory, text, setting):
    draft = repo(factory).open(OWNER)
    result = intake(factory, draft, text, "ordering_tax_id")
    assert result.draft.facility_name == text and result.draft.setting == setting
    assert result.errors == [] and result.draft.ordering_tax_id is None and result.next_field() == "member_id"
    assert "facility_name" in result.confirm
    # a name that says no setting is still an answer to the question asked, refused as such
    assert intake(factory, repo(factory).open(OWNER), "Mercy", "ordering_tax_id").errors[0].field == "ordering_tax_id"


def test_a_surgery_center_given_as_the_facility_leaves_the_setting_to_its_question(factory):
    result = intake(factory, filled(factory), "Lakeside Surgery Center", "facility_name")
    assert result.draft.facility_name == "Lakeside Surgery Center" and result.draft.setting is None
    assert result.next_field() == "setting"


# ---------------------------------------------------------------- what's left, dates, the review button
def test_what_is_left_lists_the_missing_fields_in_order_with_a_correct_plural(factory):
    draft = filled(factory)
    assert missing_line(draft) == (
        f"Draft request {draft.reference} still needs 5 fields: Facility name, Setting, Procedure codes, "
        "Diagnosis codes, Date of service."
    )
    draft = intake(factory, draft, "facility Mercy, setting office, CPT 27447, dx M17.11", "facility_name").draft
    assert missing_line(draft) == f"Draft request {draft.reference} still needs 1 field: Date of service."


@pytest.mark.parametrize("days", [0, 1, 40, 300])
def test_a_yearless_date_of_service_is_its_next_occurrence_from_the_injected_today(factory, days):
    day = TODAY + timedelta(days=days)
    result = intake(factory, filled(factory), f"DOS {day.month}/{day.day}", "facility_name")
    assert result.draft.date_of_service == day


@pytest.mark.parametrize(
    "name, value, shown",
    [
        ("member_id", "ABC123456789", "****6789"),
        ("member_dob", date(1961, 3, 5), "**/05/1961"),
        ("site_of_care_reason", "needs overnight monitoring", "26 characters"),
        ("setting", "outpatient_hospital", "outpatient hospital"),
        ("date_of_service", date(2027, 1, 20), "01/20/2027"),
        ("procedure_codes", ["27447", "27486"], "27447, 27486"),
    ],
)
def test_a_confirmation_masks_phi(name, value, shown):
    assert confirmation_value(name, value) == shown


def test_a_procedure_named_in_words_has_its_codes(factory):
    knee = named_procedure(factory, "total_knee_replacement")
    assert knee.name == "Total knee replacement" and knee.codes == ("27447", "27486", "27487")
    assert named_procedure(factory, "no_such_procedure") is None


@pytest.mark.parametrize(
    "status, data, procedure, buttons",
    [
        (Status.REVIEW_REQUIRED, {"code": {"code": "27447"}}, "Total knee replacement",
         [{"title": "Start a draft request for 27447", "payload": "/request_draft"}]),
        (Status.REVIEW_REQUIRED, {}, "Total knee replacement",
         [{"title": "Start a draft request for Total knee replacement", "payload": "/request_draft"}]),
        (Status.NOTIFICATION_ONLY, {"code": {"code": "62322"}}, "Epidural injections", []),
        (Status.CONDITIONAL, {"code": {"code": "62322"}}, "Epidural injections", []),
    ],
)  # fmt: skip
def test_only_a_review_required_answer_offers_a_draft(status, data, procedure, buttons):
    answer = Answer(topic="review_requirement", status=status, data=data, procedure_name=procedure)
    assert start_draft_buttons(answer) == buttons


@pytest.mark.parametrize(
    "text, asks",
    [
        ("what's left", True),
        ("ok, what more do you need for this one?", True),
        ("what do you still need from me", True),
        ("is there anything left?", True),
        ("anything missing", True),
        ("what documents do you need for a peer to peer?", False),
        ("what's left out of the program?", False),
        ("left knee", False),
    ],
)
def test_what_counts_as_asking_what_is_left(text, asks):
    assert asks_whats_left(text) is asks
