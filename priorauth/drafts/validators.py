"""Validation and normalization of each draft-request field, one function per field.

Each function returns a ``Validated`` (normalized value plus warnings) or raises ``FieldError``
whose message names the field, the expected form and what was given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from stdnum import luhn
from stdnum.exceptions import ValidationError
from stdnum.us import ein

from priorauth.codes import is_procedure_code, normalize_icd10cm
from priorauth.dates import DATE_FORMS, DateRefused, add_years, read_birth_date, read_service_date
from priorauth.kb.settings import fold, requestable_settings, setting_synonyms

# The order in which the form asks for the fields.
FIELDS: tuple[str, ...] = (
    "member_id",
    "member_dob",
    "ordering_npi",
    "ordering_tax_id",
    "servicing_npi",
    "facility_name",
    "setting",
    "procedure_codes",
    "diagnosis_codes",
    "date_of_service",
    "site_of_care_reason",
)

FIELD_LABELS: dict[str, str] = {
    "member_id": "Member ID",
    "member_dob": "Date of birth",
    "ordering_npi": "Ordering provider NPI",
    "ordering_tax_id": "Ordering provider tax ID",
    "servicing_npi": "Servicing provider NPI",
    "facility_name": "Facility name",
    "setting": "Setting",
    "procedure_codes": "Procedure codes",
    "diagnosis_codes": "Diagnosis codes",
    "date_of_service": "Date of service",
    "site_of_care_reason": "Site-of-care reason",
}

# Fields whose values identify the member or describe their health: an error message echoing
# them is for the user's screen only, never for a log.
PHI_FIELDS = frozenset({"member_id", "member_dob", "site_of_care_reason"})

# Settings and their synonyms (with CMS place-of-service codes) come from the knowledge-base data, the one
# list the matcher and the FHIR export read too (data/authorization/settings.yml).
SETTINGS: tuple[str, ...] = requestable_settings()
SETTING_SYNONYMS: dict[str, str] = setting_synonyms()

KnownCode = Callable[[str], bool]

# Letters and digits with at least one digit; a 3-letter alpha prefix (e.g. ABC) is just letters.
_MEMBER_ID = re.compile(r"^[A-Z0-9]*[0-9][A-Z0-9]*$")
_CODE_SEPARATORS = re.compile(r"(?:[,;/&+\s]|\band\b)+", re.IGNORECASE)
# Words people type around codes ("CPT 27447", "ICD-10 M17.11"): dropped, not rejected.
_CODE_LABEL_WORDS = frozenset({"CPT", "HCPCS", "CODE", "CODES", "DX", "ICD", "ICD10", "ICD-10", "ICD-10-CM", "ICD10CM"})
_MAX_ECHO = 60


@dataclass(frozen=True)
class Validated:
    """A normalized field value and any warnings the user should see (the value is still kept)."""

    value: Any
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValidationContext:
    """What validation depends on besides the input: the date, the code list, a start date."""

    today: date
    known_code: KnownCode | None = None
    earliest_service_date: date | None = None


class FieldError(ValueError):
    """A field value that cannot be accepted; ``message`` is fit to show to the user."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass
class FieldResults:
    """Outcome of validating several fields at once."""

    valid: dict[str, Validated] = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)


def echo(raw: Any) -> str:
    """Render what the user gave for an error message, shortened when long."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return "nothing"
    if isinstance(raw, (list, tuple)):
        raw = ", ".join(str(item) for item in raw)
    text = " ".join(str(raw).split())
    return text if len(text) <= _MAX_ECHO else text[: _MAX_ECHO - 1] + "…"


def _fail(field_name: str, expected: str, raw: Any) -> FieldError:
    return FieldError(field_name, f"{FIELD_LABELS[field_name]} must be {expected}; got {echo(raw)}")


def _compact(raw: Any) -> str:
    return re.sub(r"[\s\-]", "", str(raw or "")).upper()


def validate_member_id(raw: Any) -> Validated:
    value = _compact(raw)
    if not 5 <= len(value) <= 20 or not _MEMBER_ID.match(value):
        expected = "5–20 letters and digits (an optional 3-letter prefix, then the number)"
        raise _fail("member_id", expected, raw)
    return Validated(value)


def validate_npi(raw: Any, field_name: str = "ordering_npi") -> Validated:
    value = _compact(raw)
    if not (len(value) == 10 and value.isdigit() and luhn.is_valid("80840" + value)):
        raise _fail(field_name, "10 digits with a valid check digit", raw)
    return Validated(value)


def validate_ordering_npi(raw: Any) -> Validated:
    return validate_npi(raw, "ordering_npi")


def validate_servicing_npi(raw: Any) -> Validated:
    return validate_npi(raw, "servicing_npi")


def validate_ordering_tax_id(raw: Any) -> Validated:
    text = re.sub(r"\s", "", str(raw or ""))
    try:
        value = ein.validate(text)
    except ValidationError as error:
        expected = "9 digits like 12-3456789 with a valid IRS prefix"
        raise _fail("ordering_tax_id", expected, raw) from error
    return Validated(value)


def validate_facility_name(raw: Any) -> Validated:
    value = " ".join(str(raw or "").split())
    if not 2 <= len(value) <= 120 or not value.isprintable():
        raise _fail("facility_name", "2–120 printable characters", raw)
    return Validated(value)


def normalize_setting(raw: Any) -> str | None:
    """Map a setting or one of its synonyms to its canonical id, or None when unknown."""
    text = re.sub(r"^(?:(?:the|an?|in|at|pos|place of service)\s+)+", "", fold(raw))
    if text.replace(" ", "_") in SETTINGS:
        return text.replace(" ", "_")
    return SETTING_SYNONYMS.get(text)


def validate_setting(raw: Any) -> Validated:
    value = normalize_setting(raw)
    if value is None:
        expected = "one of outpatient hospital (HOPD), ambulatory surgery center (ASC), office, inpatient"
        raise _fail("setting", expected, raw)
    return Validated(value)


def _split_codes(raw: Any) -> list[str]:
    items = raw if isinstance(raw, (list, tuple)) else [raw]
    tokens = [t for item in items for t in _CODE_SEPARATORS.split(str(item or "").upper()) if t]
    tokens = [t for t in (t.strip(".:#") for t in tokens) if t and t not in _CODE_LABEL_WORDS]
    return list(dict.fromkeys(tokens))


def _unknown_code_warnings(codes: Iterable[str], known_code: KnownCode | None) -> tuple[str, ...]:
    if known_code is None:
        return ()
    return tuple(
        f"{code} is not in the knowledge base: the plan's code list governs whether it needs review"
        for code in codes
        if not known_code(code)
    )


def validate_procedure_codes(raw: Any, known_code: KnownCode | None = None) -> Validated:
    codes = _split_codes(raw)
    bad = [code for code in codes if not is_procedure_code(code)]
    if not codes or bad:
        expected = (
            "CPT codes (5 digits, or 4 digits and F, M, T or U) or HCPCS codes (a letter from A to V other than F, "
            "I, N or O, then 4 digits), separated by commas"
        )
        raise _fail("procedure_codes", expected, bad or raw)
    return Validated(codes, _unknown_code_warnings(codes, known_code))


def validate_diagnosis_codes(raw: Any, known_code: KnownCode | None = None) -> Validated:
    """ICD-10-CM codes by their form only. The knowledge base lists procedure codes, not diagnoses
    (the sources use a diagnosis only in the notification-only rule), so ``known_code`` is ignored."""
    tokens = _split_codes(raw)
    codes = [normalize_icd10cm(token) for token in tokens]
    bad = [token for token, code in zip(tokens, codes, strict=True) if code is None]
    if not tokens or bad:
        expected = "ICD-10-CM codes like M17.11 (a letter, a digit, a letter or digit, then up to 4 more)"
        raise _fail("diagnosis_codes", expected, bad or raw)
    return Validated(list(dict.fromkeys(codes)))


def validate_member_dob(raw: Any, today: date) -> Validated:
    try:
        return Validated(read_birth_date(raw, today))
    except DateRefused as refused:
        raise _fail("member_dob", refused.expected, raw) from None


def validate_date_of_service(raw: Any, today: date, earliest: date | None = None) -> Validated:
    value = read_service_date(raw, today)
    if value is None:
        raise _fail("date_of_service", f"{DATE_FORMS}, or today or tomorrow", raw)
    if value < today:
        raise _fail("date_of_service", f"today ({today.isoformat()}) or later", raw)
    if value > add_years(today, 2):
        raise _fail("date_of_service", "within 2 years from today", raw)
    if earliest is not None and value < earliest:
        expected = f"on or after {earliest.isoformat()}, the earliest date the program accepts"
        raise _fail("date_of_service", expected, raw)
    return Validated(value)


def validate_site_of_care_reason(raw: Any) -> Validated:
    value = str(raw or "").strip()
    if not 10 <= len(value) <= 1000:
        raise _fail("site_of_care_reason", "a reason of 10–1000 characters", raw)
    return Validated(value)


def validate_field(field_name: str, raw: Any, context: ValidationContext) -> Validated:
    """Validate one field by name; unknown names raise ``KeyError``."""
    if field_name not in FIELD_LABELS:
        raise KeyError(f"unknown draft field {field_name!r}; expected one of {', '.join(FIELDS)}")
    if field_name == "member_dob":
        return validate_member_dob(raw, context.today)
    if field_name == "date_of_service":
        return validate_date_of_service(raw, context.today, context.earliest_service_date)
    if field_name in ("procedure_codes", "diagnosis_codes"):
        return _CODE_VALIDATORS[field_name](raw, context.known_code)
    return _PLAIN_VALIDATORS[field_name](raw)


def validate_fields(raw: Mapping[str, Any], context: ValidationContext) -> FieldResults:
    """Validate several fields, collecting every error instead of stopping at the first."""
    results = FieldResults()
    for field_name in sorted(raw, key=_field_order):
        try:
            results.valid[field_name] = validate_field(field_name, raw[field_name], context)
        except FieldError as error:
            results.errors.append(error)
    return results


def _field_order(field_name: str) -> int:
    return FIELDS.index(field_name) if field_name in FIELDS else len(FIELDS)


_CODE_VALIDATORS: dict[str, Callable[[Any, KnownCode | None], Validated]] = {
    "procedure_codes": validate_procedure_codes,
    "diagnosis_codes": validate_diagnosis_codes,
}

_PLAIN_VALIDATORS: dict[str, Callable[[Any], Validated]] = {
    "member_id": validate_member_id,
    "ordering_npi": validate_ordering_npi,
    "ordering_tax_id": validate_ordering_tax_id,
    "servicing_npi": validate_servicing_npi,
    "facility_name": validate_facility_name,
    "setting": validate_setting,
    "site_of_care_reason": validate_site_of_care_reason,
}
