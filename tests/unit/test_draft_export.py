"""Structure of the PAS-shaped FHIR Bundle exported from a ready draft."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest

from priorauth.db import make_engine, make_session_factory
from priorauth.drafts.export import DraftNotReady, to_pas_bundle
from priorauth.drafts.models import Draft
from priorauth.drafts.repository import DraftRepository
from priorauth.schema import upgrade

NOW = datetime(2026, 1, 15, 15, 0, tzinfo=timezone.utc)
REASON = "Severe sleep apnea needs overnight monitoring"


def ready_draft(**changes) -> Draft:
    values = {
        "reference": "DR-7K3Q9P",
        "owner": "sender-42",
        "status": "ready",
        "member_id": "ABC123456789",
        "member_dob": date(1960, 3, 4),
        "ordering_npi": "1234567893",
        "ordering_tax_id": "123456789",
        "servicing_npi": "1245319599",
        "facility_name": "Mercy Hospital",
        "setting": "outpatient_hospital",
        "procedure_codes": ["27447", "J1234"],
        "diagnosis_codes": ["M17.11", "G89.18"],
        "date_of_service": date(2026, 12, 1),
        "site_of_care_reason": REASON,
        "warnings": {},
        "created_at": NOW,
        "updated_at": NOW,
        "version": 4,
    }
    return Draft(**{**values, **changes})


def resources(bundle: dict) -> dict[str, list[dict]]:
    by_type: dict[str, list[dict]] = {}
    for entry in bundle["entry"]:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return by_type


def resolve(bundle: dict, reference: dict) -> dict:
    matches = [e["resource"] for e in bundle["entry"] if e["fullUrl"] == reference["reference"]]
    assert len(matches) == 1, reference
    return matches[0]


def references_in(value) -> list[dict]:
    if isinstance(value, dict):
        found = [value] if set(value) == {"reference"} else []
        return found + [r for item in value.values() for r in references_in(item)]
    if isinstance(value, list):
        return [r for item in value for r in references_in(item)]
    return []


@pytest.fixture
def bundle():
    return to_pas_bundle(ready_draft())


@pytest.fixture
def claim(bundle):
    return bundle["entry"][0]["resource"]


def test_bundle_is_a_collection_with_the_claim_first(bundle, claim):
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "collection")
    assert bundle["identifier"]["value"] == "DR-7K3Q9P"
    assert claim["resourceType"] == "Claim"
    counts = {kind: len(found) for kind, found in resources(bundle).items()}
    assert counts == {
        "Claim": 1,
        "Patient": 1,
        "Coverage": 1,
        "Organization": 3,  # insurer, ordering provider (tax id), servicing facility (NPI)
        "Practitioner": 1,
        "Location": 1,
    }
    json.dumps(bundle)  # plain JSON-ready data


def test_every_reference_resolves_inside_the_bundle(bundle):
    references = references_in(bundle)
    assert len(references) >= 10
    for reference in references:
        resolve(bundle, reference)
    full_urls = [entry["fullUrl"] for entry in bundle["entry"]]
    assert len(set(full_urls)) == len(full_urls)


# What the Da Vinci PAS IG (STU 2) requires of a prior-authorization request, from its profiles
# PASRequestBundle (profile-pas-request-bundle) and PASClaim (profile-claim), with the minimum
# cardinalities they inherit from FHIR R4 Bundle and Claim. Written from the IG, not from export.py:
# (element path, min, max, rule); the rule is a fixed value ("fixed") or the resource types a
# reference may point at ("refers"). A nested path is counted once per instance of its parent.
PAS_REQUIRED = [
    ("Bundle.identifier", 1, 1, {}),  # PAS
    ("Bundle.type", 1, 1, {"fixed": "collection"}),  # PAS
    ("Bundle.timestamp", 1, 1, {}),  # PAS
    ("Bundle.entry", 1, None, {}),  # PAS
    ("Bundle.entry.fullUrl", 1, 1, {}),  # PAS
    ("Bundle.entry.resource", 1, 1, {}),  # PAS
    ("Bundle.entry.search", 0, 0, {}),  # PAS: prohibited
    ("Bundle.entry.request", 0, 0, {}),
    ("Bundle.entry.response", 0, 0, {}),
    ("Claim.identifier", 1, 1, {}),  # PAS
    ("Claim.status", 1, 1, {"fixed": "active"}),  # PAS fixed value
    ("Claim.type", 1, 1, {}),  # R4
    ("Claim.use", 1, 1, {"fixed": "preauthorization"}),  # PAS fixed value
    ("Claim.patient", 1, 1, {"refers": {"Patient"}}),  # R4; PASBeneficiary
    ("Claim.created", 1, 1, {}),  # R4
    ("Claim.insurer", 1, 1, {"refers": {"Organization"}}),  # PAS must-support; PASInsurer
    ("Claim.provider", 1, 1, {"refers": {"Organization"}}),  # R4; PASRequestor (an Organization)
    ("Claim.priority", 1, 1, {}),  # R4
    ("Claim.related", 0, 0, {}),  # PAS: prohibited
    ("Claim.careTeam.sequence", 1, 1, {}),  # R4
    ("Claim.careTeam.provider", 1, 1, {"refers": {"Practitioner", "Organization"}}),  # PAS
    ("Claim.diagnosis.sequence", 1, 1, {}),  # R4
    ("Claim.diagnosis.diagnosisCodeableConcept", 1, 1, {}),  # R4 1..1; PAS: CodeableConcept only
    ("Claim.diagnosis.diagnosisReference", 0, 0, {}),
    ("Claim.supportingInfo.sequence", 1, 1, {}),  # R4
    ("Claim.supportingInfo.category", 1, 1, {}),  # R4
    ("Claim.insurance", 1, None, {}),  # R4
    ("Claim.insurance.sequence", 1, 1, {}),  # R4
    ("Claim.insurance.focal", 1, 1, {"fixed": True}),  # PAS fixed value
    ("Claim.insurance.coverage", 1, 1, {"refers": {"Coverage"}}),  # R4; PASCoverage
    ("Claim.item", 1, None, {}),  # PAS
    ("Claim.item.sequence", 1, 1, {}),  # R4
    ("Claim.item.productOrService", 1, 1, {}),  # R4
    ("Claim.item.locationAddress", 0, 0, {}),  # PAS: location[x] only CodeableConcept
    ("Claim.item.locationReference", 0, 0, {}),
]
# PAS Claim's MessageText slice of supportingInfo: free text for the reviewer (the site-of-care reason).
PAS_MESSAGE_TEXT = {
    "system": "http://hl7.org/fhir/us/davinci-pas/CodeSystem/PASSupportingInfoType",
    "code": "freeFormMessage",
}


def at(node, path: list[str]) -> list:
    """The values at a path below ``node``, lists flattened."""
    found = [node]
    for name in path:
        step = []
        for item in found:
            value = item.get(name) if isinstance(item, dict) else None
            if value is not None:
                step.extend(value if isinstance(value, list) else [value])
        found = step
    return found


def pas_problems(bundle: dict) -> list[str]:
    """Every way ``bundle`` breaks the PAS_REQUIRED table, by element path."""
    claims = [e["resource"] for e in bundle.get("entry", []) if e.get("resource", {}).get("resourceType") == "Claim"]
    problems = [] if len(claims) == 1 else [f"Bundle: {len(claims)} Claim entries; PAS requires exactly 1"]
    roots = {"Bundle": bundle, "Claim": claims[0] if claims else {}}
    for path, low, high, rule in PAS_REQUIRED:
        root, *parents, name = path.split(".")
        for parent in at(roots[root], parents):
            values = at(parent, [name])
            if len(values) < low or (high is not None and len(values) > high):
                problems.append(f"{path}: {len(values)} found, profile allows {low}..{'*' if high is None else high}")
            for value in values:
                if "fixed" in rule and value != rule["fixed"]:
                    problems.append(f"{path}: {value!r}, profile fixes {rule['fixed']!r}")
                if "refers" in rule:
                    target = [e["resource"] for e in bundle["entry"] if e["fullUrl"] == value.get("reference")]
                    kind = target[0]["resourceType"] if len(target) == 1 else "nothing in the bundle"
                    if kind not in rule["refers"]:
                        problems.append(f"{path}: refers to {kind}, profile allows {sorted(rule['refers'])}")
    return problems


@pytest.mark.parametrize("setting", ["outpatient_hospital", "office"])  # with and without supportingInfo
def test_the_bundle_has_every_element_the_pas_profiles_require(setting):
    reason = REASON if setting == "outpatient_hospital" else None
    assert pas_problems(to_pas_bundle(ready_draft(setting=setting, site_of_care_reason=reason))) == []


@pytest.mark.parametrize(
    ("break_it", "problem"),
    [
        (lambda b: b.pop("timestamp"), "Bundle.timestamp: 0 found"),
        (lambda b: b["entry"][0]["resource"].update(use="claim"), "Claim.use: 'claim', profile fixes"),
        (lambda b: b["entry"][0]["resource"]["item"].clear(), "Claim.item: 0 found"),
        (lambda b: b["entry"][0]["resource"]["insurance"][0].update(focal=False), "Claim.insurance.focal: False"),
        (lambda b: b["entry"][0]["resource"].update(provider=b["entry"][0]["resource"]["careTeam"][0]["provider"]),
         "Claim.provider: refers to Practitioner"),
    ],
)  # fmt: skip
def test_the_pas_table_catches_a_broken_bundle(break_it, problem):
    broken = to_pas_bundle(ready_draft())
    break_it(broken)
    assert any(found.startswith(problem) for found in pas_problems(broken)), pas_problems(broken)


def test_claim_points_its_sequences_at_what_it_holds(claim):
    care_team = {member["sequence"] for member in claim["careTeam"]}
    diagnoses = {diagnosis["sequence"] for diagnosis in claim["diagnosis"]}
    information = {info["sequence"] for info in claim["supportingInfo"]}
    for item in claim["item"]:
        assert set(item["careTeamSequence"]) <= care_team
        assert set(item["diagnosisSequence"]) <= diagnoses and len(item["diagnosisSequence"]) <= 4
        assert set(item["informationSequence"]) <= information
    assert [item["sequence"] for item in claim["item"]] == list(range(1, len(claim["item"]) + 1))


def test_claim_header_names_the_draft_and_its_time(bundle, claim):
    assert claim["identifier"][0]["value"] == "DR-7K3Q9P"
    assert claim["created"] == NOW.isoformat()
    coverage = resolve(bundle, claim["insurance"][0]["coverage"])
    assert resolve(bundle, coverage["beneficiary"]) is resolve(bundle, claim["patient"])


def test_patient_carries_member_id_and_birth_date(bundle, claim):
    patient = resolve(bundle, claim["patient"])
    assert patient["resourceType"] == "Patient"
    assert patient["identifier"][0]["value"] == "ABC123456789"
    assert patient["identifier"][0]["type"]["coding"][0]["code"] == "MB"
    assert patient["birthDate"] == "1960-03-04"


def test_care_team_is_the_ordering_practitioner_by_npi(bundle, claim):
    practitioner = resolve(bundle, claim["careTeam"][0]["provider"])
    assert practitioner["resourceType"] == "Practitioner"
    assert practitioner["identifier"] == [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}]


def test_the_requesting_provider_is_the_ordering_organization_with_the_tax_id(bundle, claim):
    organization = resolve(bundle, claim["provider"])
    assert resolve(bundle, claim["payee"]["party"]) is organization
    assert organization["resourceType"] == "Organization"
    identifier = organization["identifier"][0]
    assert (identifier["system"], identifier["value"]) == (
        "urn:oid:2.16.840.1.113883.4.4",
        "123456789",
    )


def test_facility_is_the_servicing_organization_by_npi(bundle, claim):
    location = resolve(bundle, claim["facility"])
    assert (location["resourceType"], location["name"]) == ("Location", "Mercy Hospital")
    servicing = resolve(bundle, location["managingOrganization"])
    assert servicing["identifier"] == [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1245319599"}]


@pytest.mark.parametrize(
    "options, name",
    [
        ({}, "Anthem (via AIM Specialty Health)"),
        ({"insurer_name": "Example Health Plan"}, "Example Health Plan"),
    ],
)
def test_insurer_is_named(options, name):
    exported = to_pas_bundle(ready_draft(), **options)
    insurer = resolve(exported, exported["entry"][0]["resource"]["insurer"])
    assert (insurer["resourceType"], insurer["name"]) == ("Organization", name)


def test_insurer_comes_from_the_configuration(monkeypatch):
    monkeypatch.setenv("PRIORAUTH_INSURER_NAME", "Configured Health Plan")
    exported = to_pas_bundle(ready_draft())
    insurer = resolve(exported, exported["entry"][0]["resource"]["insurer"])
    assert insurer["name"] == "Configured Health Plan"


def test_diagnoses_are_icd10cm(claim):
    assert claim["diagnosis"] == [
        {
            "sequence": 1,
            "diagnosisCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M17.11"}]},
        },
        {
            "sequence": 2,
            "diagnosisCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "G89.18"}]},
        },
    ]


def test_items_carry_codes_date_and_diagnosis_pointers(claim):
    codings = [item["productOrService"]["coding"][0] for item in claim["item"]]
    assert codings == [
        {"system": "http://www.ama-assn.org/go/cpt", "code": "27447"},
        {"system": "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "code": "J1234"},
    ]
    for number, item in enumerate(claim["item"], start=1):
        assert item["sequence"] == number
        assert item["servicedDate"] == "2026-12-01"
        assert item["diagnosisSequence"] == [1, 2]
        assert item["careTeamSequence"] == [1]


@pytest.mark.parametrize(
    "setting, code",
    [
        ("outpatient_hospital", "22"),
        ("ambulatory_surgery_center", "24"),
        ("office", "11"),
        ("inpatient", "21"),
    ],
)
def test_place_of_service_follows_the_setting(setting, code):
    claim = to_pas_bundle(ready_draft(setting=setting))["entry"][0]["resource"]
    coding = claim["item"][0]["locationCodeableConcept"]["coding"][0]
    assert coding["code"] == code
    assert coding["system"] == ("https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set")


def test_site_of_care_reason_is_pas_message_text(claim):
    (info,) = claim["supportingInfo"]
    assert info["category"]["coding"] == [PAS_MESSAGE_TEXT]
    assert info["valueString"] == REASON and not any(key.startswith("timing") for key in info)  # value 1..1, no timing
    assert all(item["informationSequence"] == [info["sequence"]] for item in claim["item"])


def test_no_supporting_info_without_a_reason():
    claim = to_pas_bundle(ready_draft(setting="office", site_of_care_reason=None))["entry"][0]["resource"]
    assert "supportingInfo" not in claim
    assert "informationSequence" not in claim["item"][0]


def test_exporting_twice_gives_the_same_bundle():
    assert to_pas_bundle(ready_draft()) == to_pas_bundle(ready_draft())


@pytest.mark.parametrize(
    "changes, missing",
    [
        ({"status": "open", "date_of_service": None}, ["date_of_service"]),
        (
            {"status": "open", "site_of_care_reason": None, "member_id": None},
            ["member_id", "site_of_care_reason"],
        ),
        ({"status": "cancelled"}, []),
    ],
)
def test_only_ready_drafts_export(changes, missing):
    with pytest.raises(DraftNotReady) as caught:
        to_pas_bundle(ready_draft(**changes))
    assert caught.value.missing == missing
    assert "DR-7K3Q9P is not ready to export" in str(caught.value)
    for field in missing:
        assert field in str(caught.value)


def test_a_draft_completed_through_the_repository_exports(tmp_path):
    url = f"sqlite:///{tmp_path / 'drafts.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        repo = DraftRepository(make_session_factory(engine), lambda: NOW)
        draft = repo.open(
            "sender-42",
            {
                "member_id": "ABC123456789",
                "member_dob": "3/4/1960",
                "ordering_npi": "1234567893",
                "ordering_tax_id": "12-3456789",
                "servicing_npi": "1245319599",
                "facility_name": "Mercy ASC",
                "setting": "ASC",
                "procedure_codes": "29881",
                "diagnosis_codes": "m2351",
                "date_of_service": "tomorrow",
            },
        )
        claim = to_pas_bundle(repo.get(draft.reference, "sender-42"))["entry"][0]["resource"]
    finally:
        engine.dispose()
    assert claim["item"][0]["servicedDate"] == "2026-01-16"
    assert claim["item"][0]["locationCodeableConcept"]["coding"][0]["code"] == "24"
    assert claim["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["code"] == "M23.51"
