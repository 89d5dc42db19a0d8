"""Export of a ready draft as a FHIR R4 Bundle shaped after the Da Vinci PAS prior-auth request.

The output is a plain dict (JSON-ready). It has the elements the PAS Request Bundle and PAS Claim profiles
require (tests/unit/test_draft_export.py holds their table); the X12 value-set bindings (careTeam.role,
for one) and US Core Patient's name and gender are not met: the draft does not collect them.
"""

from __future__ import annotations

import uuid
from typing import Any

from priorauth.config import Settings
from priorauth.drafts.models import Draft, missing_fields
from priorauth.kb.settings import place_of_service

NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
TAX_ID_SYSTEM = "urn:oid:2.16.840.1.113883.4.4"
ICD10CM_SYSTEM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT_SYSTEM = "http://www.ama-assn.org/go/cpt"
HCPCS_SYSTEM = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
POS_SYSTEM = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
CLAIM_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/claim-type"
PRIORITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/processpriority"
PAS_INFO_TYPE_SYSTEM = "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASSupportingInfoType"
CARE_TEAM_ROLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/claimcareteamrole"
IDENTIFIER_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"
PAYEE_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/payeetype"
DRAFT_REFERENCE_SYSTEM = "urn:priorauth:draft-reference"

# CMS place-of-service code and display of each setting, from the knowledge-base settings data.
PLACE_OF_SERVICE: dict[str, tuple[str, str]] = place_of_service()

# Stable ids: exporting the same draft twice gives the same bundle.
_NAMESPACE = uuid.UUID("6c1f0a52-3f4e-4d0b-9a51-2a3c7e0d9b10")


class DraftNotReady(ValueError):
    """A draft that still lacks fields cannot be exported."""

    def __init__(self, reference: str, missing: list[str]) -> None:
        super().__init__(
            f"draft request {reference} is not ready to export; missing: {', '.join(missing)}"
            if missing
            else f"draft request {reference} is not ready to export"
        )
        self.reference = reference
        self.missing = missing


def to_pas_bundle(draft: Draft, insurer_name: str | None = None) -> dict[str, Any]:
    """A FHIR R4 collection Bundle with the Claim first, then every resource it references; the insurer is
    ``insurer_name`` or the configured one (PRIORAUTH_INSURER_NAME)."""
    insurer_name = insurer_name or Settings.from_env().insurer_name
    if draft.status != "ready" or missing_fields(draft):
        raise DraftNotReady(draft.reference, missing_fields(draft))
    urls = {name: _url(draft, name) for name in _RESOURCE_NAMES}
    resources = {
        "claim": _claim(draft, urls),
        "patient": _patient(draft),
        "coverage": _coverage(draft, urls),
        "insurer": _organization(name=insurer_name),
        "practitioner": _practitioner(draft),
        "ordering_organization": _organization(identifier=_tax_identifier(draft)),
        "servicing_organization": _organization(
            name=draft.facility_name, identifier=_npi_identifier(draft.servicing_npi)
        ),
        "location": _location(draft, urls),
    }
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid5(_NAMESPACE, draft.reference)),
        "identifier": {"system": DRAFT_REFERENCE_SYSTEM, "value": draft.reference},
        "type": "collection",
        "timestamp": draft.updated_at.isoformat(),
        "entry": [_entry(urls[name], resources[name]) for name in _RESOURCE_NAMES],
    }


_RESOURCE_NAMES = (
    "claim",
    "patient",
    "coverage",
    "insurer",
    "practitioner",
    "ordering_organization",
    "servicing_organization",
    "location",
)


def _url(draft: Draft, name: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{draft.reference}/{name}')}"


def _entry(full_url: str, resource: dict[str, Any]) -> dict[str, Any]:
    resource_id = full_url.rsplit(":", 1)[1]
    return {
        "fullUrl": full_url,
        "resource": {"resourceType": resource["resourceType"], "id": resource_id, **resource},
    }


def _ref(urls: dict[str, str], name: str) -> dict[str, str]:
    return {"reference": urls[name]}


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _claim(draft: Draft, urls: dict[str, str]) -> dict[str, Any]:
    claim = {
        "resourceType": "Claim",
        "identifier": [{"system": DRAFT_REFERENCE_SYSTEM, "value": draft.reference}],
        "status": "active",
        "type": _coding(CLAIM_TYPE_SYSTEM, "professional", "Professional"),
        "use": "preauthorization",
        "patient": _ref(urls, "patient"),
        "created": draft.updated_at.isoformat(),
        "insurer": _ref(urls, "insurer"),
        "provider": _ref(urls, "ordering_organization"),  # PAS: the requesting organization (PASRequestor)
        "priority": _coding(PRIORITY_SYSTEM, "normal"),
        "payee": {
            "type": _coding(PAYEE_TYPE_SYSTEM, "provider"),
            "party": _ref(urls, "ordering_organization"),
        },
        "facility": _ref(urls, "location"),
        "careTeam": [
            {
                "sequence": 1,
                "provider": _ref(urls, "practitioner"),
                "role": _coding(CARE_TEAM_ROLE_SYSTEM, "primary", "Primary provider"),
            }
        ],
        "diagnosis": _diagnoses(draft),
        "insurance": [{"sequence": 1, "focal": True, "coverage": _ref(urls, "coverage")}],
        "item": _items(draft),
    }
    if draft.site_of_care_reason:
        claim["supportingInfo"] = [_site_of_care_info(draft)]
    return claim


def _diagnoses(draft: Draft) -> list[dict[str, Any]]:
    return [
        {"sequence": number, "diagnosisCodeableConcept": _coding(ICD10CM_SYSTEM, code)}
        for number, code in enumerate(draft.diagnosis_codes, start=1)
    ]


def _items(draft: Draft) -> list[dict[str, Any]]:
    pos_code, pos_display = PLACE_OF_SERVICE[draft.setting]
    pointers = list(range(1, min(len(draft.diagnosis_codes), 4) + 1))  # a claim line points at ≤ 4
    items = []
    for number, code in enumerate(draft.procedure_codes, start=1):
        item = {
            "sequence": number,
            "careTeamSequence": [1],
            "diagnosisSequence": pointers,
            "productOrService": _coding(procedure_system(code), code),
            "servicedDate": draft.date_of_service.isoformat(),
            "locationCodeableConcept": _coding(POS_SYSTEM, pos_code, pos_display),
            "quantity": {"value": 1},
        }
        if draft.site_of_care_reason:
            item["informationSequence"] = [1]
        items.append(item)
    return items


def procedure_system(code: str) -> str:
    """CPT codes start with a digit; HCPCS Level II codes with a letter."""
    return CPT_SYSTEM if code[:1].isdigit() else HCPCS_SYSTEM


def _site_of_care_info(draft: Draft) -> dict[str, Any]:
    return {
        "sequence": 1,
        "category": _coding(PAS_INFO_TYPE_SYSTEM, "freeFormMessage"),  # PAS Claim's MessageText slice
        "code": {"text": "Medical necessity of the outpatient hospital setting"},
        "valueString": draft.site_of_care_reason,
    }


def _patient(draft: Draft) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [
            {
                "type": _coding(IDENTIFIER_TYPE_SYSTEM, "MB", "Member Number"),
                "value": draft.member_id,
            }
        ],
        "birthDate": draft.member_dob.isoformat(),
    }


def _coverage(draft: Draft, urls: dict[str, str]) -> dict[str, Any]:
    return {
        "resourceType": "Coverage",
        "status": "active",
        "subscriberId": draft.member_id,
        "beneficiary": _ref(urls, "patient"),
        "payor": [_ref(urls, "insurer")],
    }


def _practitioner(draft: Draft) -> dict[str, Any]:
    return {"resourceType": "Practitioner", "identifier": [_npi_identifier(draft.ordering_npi)]}


def _npi_identifier(npi: str) -> dict[str, Any]:
    return {"system": NPI_SYSTEM, "value": npi}


def _tax_identifier(draft: Draft) -> dict[str, Any]:
    return {
        "type": _coding(IDENTIFIER_TYPE_SYSTEM, "TAX", "Tax ID number"),
        "system": TAX_ID_SYSTEM,
        "value": draft.ordering_tax_id,
    }


def _organization(name: str | None = None, identifier: dict | None = None) -> dict[str, Any]:
    organization: dict[str, Any] = {"resourceType": "Organization", "active": True}
    if identifier:
        organization["identifier"] = [identifier]
    if name:
        organization["name"] = name
    return organization


def _location(draft: Draft, urls: dict[str, str]) -> dict[str, Any]:
    pos_code, pos_display = PLACE_OF_SERVICE[draft.setting]
    return {
        "resourceType": "Location",
        "name": draft.facility_name,
        "type": [_coding(POS_SYSTEM, pos_code, pos_display)],
        "managingOrganization": _ref(urls, "servicing_organization"),
    }
