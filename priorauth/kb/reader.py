"""Reads and validates the knowledge-base YAML (data/authorization/) into plain records.

Errors name the file, the line and the record. Every citation ("ID: passage") is checked against
the source text, so each fact the assistant states traces to a passage of a source document.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from priorauth.codes import is_procedure_code, normalize, normalize_icd10cm

# section -> (required keys, optional keys, id key)
SCHEMA: dict[str, tuple[set[str], set[str], str | None]] = {
    "sources": ({"id", "file", "title", "short_title", "publisher", "plan"}, {"published"}, "id"),
    "plans": ({"id", "name", "synonyms"}, {"region", "short_name", "covers"}, "id"),
    "programs": (
        {"id", "name", "synonyms", "inpatient", "cite"},
        {"parent", "abbreviations", "examples", "effective_from", "requests_accepted_from"},
        "id",
    ),
    "procedures": (
        {"id", "name", "program", "synonyms", "codes", "cite"},
        {"abbreviations", "source_codes", "named_by_category"},
        "id",
    ),
    "diagnoses": ({"code", "name", "cite"}, set(), "code"),
    "settings": ({"id", "name", "synonyms", "pos"}, {"pos_name", "requestable"}, "id"),
    "presentations": ({"id", "name", "synonyms", "cite"}, set(), "id"),
    "ambiguous_terms": ({"term", "kind", "candidates"}, set(), "term"),
    "terms": ({"id", "name", "synonyms", "cite"}, set(), "id"),
    "lines_of_business": ({"id", "name", "synonyms"}, {"may_mean", "part_of"}, "id"),
    "line_of_business_scope": (
        {"id", "source", "plan", "programs", "included", "cite"},
        {"excluded", "offered", "note"},
        "id",
    ),
    "states": ({"id", "name"}, set(), "id"),
    "rules": (
        {"id", "kind", "programs", "plan", "text", "cite"},
        {
            "settings",
            "presentations",
            "codes",
            "diagnoses",
            "conditions",
            "effective_from",
            "requests_accepted_from",
            "answers",
        },
        "id",
    ),
    "rehab_schedule": (
        {"id", "program", "plan", "line_of_business", "states", "text", "cite"},
        {"except_states", "not_required_until", "starts", "possible_starts", "targeted", "answers"},
        "id",
    ),
    "contacts": (
        {"id", "kind", "name", "value", "plan", "programs", "cite"},
        {"availability", "days", "hours", "time_zone", "time_zone_note", "region", "note"},
        "id",
    ),
    "validity": ({"id", "programs", "days", "unit", "text", "cite"}, {"answers"}, "id"),
    "validity_caveats": ({"text", "cite"}, {"answers", "key"}, None),
    "topics": ({"id", "title", "plan", "programs", "facts"}, set(), "id"),
    # Caveats a decision adds to its answer, asked for by id; "{name}" in a text is filled in by the decision.
    "caveats": ({"id", "text", "cite"}, set(), "id"),
    # Provider shorthand ("p2p", "recon", "SOC") and what it means: vocabulary for ranking facts, not a fact.
    "shorthand": ({"term", "means"}, set(), "term"),
    "uncovered": ({"source", "passage", "reason"}, set(), None),
}
TOP_LEVEL_SCALARS = {"code_provenance"}
RULE_KINDS = {
    "listing",
    "exclusion",
    "inclusion",
    "notification_only",
    "site_of_care",
    "level_of_care",
    "effective_date",
}
RULE_CONDITIONS = {"no_additional_review"}
AMBIGUOUS_KINDS = {"plan": "plans", "procedure": "procedures", "program": "programs", "setting": "settings"}
CONTACT_KINDS = {"portal", "phone", "email", "id_card", "person"}
INPATIENT_VALUES = {"included", "excluded", "not_in_scope"}
VALIDITY_UNITS = {"calendar_days", "business_days"}
DATE_KEYS = {"published", "effective_from", "requests_accepted_from", "not_required_until", "starts"}


class KBDataError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("knowledge base data is invalid:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class Cite:
    source_id: str
    quote: str


@dataclass
class KBData:
    sections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    code_provenance: str = ""

    def get(self, section: str) -> list[dict[str, Any]]:
        return self.sections.get(section, [])

    def by_id(self, section: str) -> dict[str, dict[str, Any]]:
        key = SCHEMA[section][2]
        return {r[key]: r for r in self.get(section)}


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of each mapping as `__line__`."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def normalize_text(text: str) -> str:
    """Folds the forms in which a copied passage may differ: quotes, dashes, marks, spacing, case."""
    text = unicodedata.normalize("NFKC", text)
    for a, b in (("’", "'"), ("‘", "'"), ("“", '"'), ("”", '"'), ("–", "-"), ("—", "-"), ("®", "")):
        text = text.replace(a, b)
    return re.sub(r"\s+", " ", text).strip().lower()


def parse_cites(value: Any) -> list[Cite]:
    items = value if isinstance(value, list) else [value]
    cites = []
    for item in items:
        match = re.match(r"^\s*(\d{3})\s*:\s*(.+)$", str(item), re.S)
        if not match:
            raise ValueError(f"citation must read 'NNN: quoted passage', got {item!r}")
        cites.append(Cite(match.group(1), match.group(2).strip()))
    return cites


def read_kb(kb_dir: Path, sources_dir: Path | None = None) -> KBData:
    """Read every YAML file of ``kb_dir``; validate; raise KBDataError listing every problem."""
    data, problems = KBData(), []
    files = sorted(Path(kb_dir).glob("*.yml"))
    if not files:
        raise KBDataError([f"{kb_dir}: no .yml files"])
    for path in files:
        _read_file(path, data, problems)
    if not problems:
        _check_references(data, problems)
        _check_citations(data, problems, sources_dir)
    if problems:
        raise KBDataError(problems)
    return data


def _read_file(path: Path, data: KBData, problems: list[str]) -> None:
    try:
        content = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader) or {}
    except yaml.YAMLError as exc:
        problems.append(f"{path.name}: not valid YAML: {exc}")
        return
    content.pop("__line__", None)
    for section, records in content.items():
        if section in TOP_LEVEL_SCALARS:
            data.code_provenance = str(records)
            continue
        if section not in SCHEMA:
            problems.append(f"{path.name}: unknown section '{section}'")
            continue
        if not isinstance(records, list):
            problems.append(f"{path.name}: section '{section}' must be a list")
            continue
        for record in records:
            _check_record(path.name, section, record, problems)
            record["__file__"] = path.name
            data.sections.setdefault(section, []).append(record)


def where(record: dict) -> str:
    return f"{record.get('__file__', '?')}:{record.get('__line__', '?')}"


def _label(record: dict, section: str) -> str:
    key = SCHEMA[section][2]
    return f"{section[:-1] if section.endswith('s') else section} '{record.get(key, '?')}'" if key else section


def _check_record(file: str, section: str, record: Any, problems: list[str]) -> None:
    if not isinstance(record, dict):
        problems.append(f"{file}: {section}: each record must be a mapping, got {record!r}")
        return
    required, optional, _ = SCHEMA[section]
    here = f"{file}:{record.get('__line__', '?')} {_label(record, section)}"
    keys = set(record) - {"__line__"}
    for key in sorted(keys - required - optional):
        problems.append(f"{here}: unknown key '{key}'")
    for key in sorted(required - keys):
        problems.append(f"{here}: missing key '{key}'")
    for key in DATE_KEYS & keys:
        if record[key] is not None and not isinstance(record[key], dt.date):
            problems.append(f"{here}: '{key}' must be a date YYYY-MM-DD, got {record[key]!r}")
    for day in record.get("possible_starts") or []:
        if not isinstance(day, dt.date):
            problems.append(f"{here}: 'possible_starts' must list dates YYYY-MM-DD, got {day!r}")
    if section == "topics":
        fact_keys: set[str] = set()
        for fact in record.get("facts") or []:
            # `answers`: questions the fact answers, in the askers' words (for ranking facts, never shown);
            # `key`: what the fact says, for code that adds it to another answer.
            keys = set(fact) - {"__line__"} if isinstance(fact, dict) else set()
            if not {"text", "cite"} <= keys <= {"text", "cite", "answers", "key"}:
                problems.append(f"{here}: each fact needs 'text' and 'cite' (and may have 'answers' and 'key')")
            elif fact.get("key") in fact_keys:
                problems.append(f"{here}: two facts have the key '{fact['key']}'")
            elif "key" in fact:
                fact_keys.add(fact["key"])


def _check_references(data: KBData, problems: list[str]) -> None:
    ids = {s: set(data.by_id(s)) for s in SCHEMA if SCHEMA[s][2]}
    for section in SCHEMA:
        key = SCHEMA[section][2]
        if not key:
            continue
        seen: dict[str, str] = {}
        for record in data.get(section):
            rid = record[key]
            if rid in seen:
                problems.append(f"{where(record)} {_label(record, section)}: duplicate id (first at {seen[rid]})")
            seen[rid] = where(record)
    programs = ids["programs"] | {"all"}
    settings, plans = ids["settings"], ids["plans"]
    lobs, states, sources = ids["lines_of_business"], ids["states"], ids["sources"]
    diagnoses = ids["diagnoses"]

    def refs(record: dict, section: str, key: str, allowed: set[str]) -> None:
        values = record.get(key)
        values = values if isinstance(values, list) else ([] if values is None else [values])
        for value in values:
            if value not in allowed:
                problems.append(f"{where(record)} {_label(record, section)}: {key} '{value}' is not defined")

    for r in data.get("sources"):
        refs(r, "sources", "plan", plans)
    for r in data.get("plans"):
        refs(r, "plans", "covers", plans | {"all"})
    for r in data.get("programs"):
        refs(r, "programs", "parent", ids["programs"])
        if r["inpatient"] not in INPATIENT_VALUES:
            problems.append(f"{where(r)} {_label(r, 'programs')}: inpatient must be one of {sorted(INPATIENT_VALUES)}")
    codes_seen: dict[str, str] = {}
    for r in data.get("procedures"):
        refs(r, "procedures", "program", ids["programs"])
        for code in list(r.get("codes") or []) + list(r.get("source_codes") or []):
            code = str(code)
            if not is_procedure_code(code) or normalize(code) != code:
                problems.append(f"{where(r)} procedure '{r['id']}': code '{code}' is not a CPT/HCPCS code")
            if code in codes_seen:
                problems.append(f"{where(r)} procedure '{r['id']}': duplicate code '{code}' (also {codes_seen[code]})")
            codes_seen[code] = r["id"]
    for r in data.get("diagnoses"):
        if normalize_icd10cm(str(r["code"])) != str(r["code"]):
            problems.append(f"{where(r)} diagnosis '{r['code']}': not an ICD-10-CM code in capitals with its dot")
    for r in data.get("line_of_business_scope"):
        refs(r, "line_of_business_scope", "source", sources)
        refs(r, "line_of_business_scope", "plan", plans)
        refs(r, "line_of_business_scope", "programs", programs)
        for key in ("included", "excluded", "offered"):
            refs(r, "line_of_business_scope", key, lobs)
    for r in data.get("rules"):
        if r["kind"] not in RULE_KINDS:
            problems.append(f"{where(r)} rule '{r['id']}': kind must be one of {sorted(RULE_KINDS)}")
        refs(r, "rules", "programs", programs)
        refs(r, "rules", "settings", settings)
        refs(r, "rules", "plan", plans)
        refs(r, "rules", "diagnoses", diagnoses)
        refs(r, "rules", "presentations", ids["presentations"])
        refs(r, "rules", "conditions", RULE_CONDITIONS)
        for code in r.get("codes") or []:
            if str(code) not in codes_seen:
                problems.append(f"{where(r)} rule '{r['id']}': code '{code}' belongs to no procedure")
    for r in data.get("lines_of_business"):
        refs(r, "lines_of_business", "may_mean", lobs)
        refs(r, "lines_of_business", "part_of", lobs)
    for r in data.get("ambiguous_terms"):
        if r["kind"] not in AMBIGUOUS_KINDS:
            problems.append(f"{where(r)} ambiguous term '{r['term']}': kind must be one of {sorted(AMBIGUOUS_KINDS)}")
        else:
            refs(r, "ambiguous_terms", "candidates", ids[AMBIGUOUS_KINDS[r["kind"]]])
    for r in data.get("rehab_schedule"):
        refs(r, "rehab_schedule", "program", ids["programs"])
        refs(r, "rehab_schedule", "plan", plans)
        refs(r, "rehab_schedule", "line_of_business", lobs)
        refs(r, "rehab_schedule", "states", states)
        refs(r, "rehab_schedule", "except_states", states)
    for r in data.get("contacts"):
        if r["kind"] not in CONTACT_KINDS:
            problems.append(f"{where(r)} contact '{r['id']}': kind must be one of {sorted(CONTACT_KINDS)}")
        refs(r, "contacts", "plan", plans)
        refs(r, "contacts", "programs", programs)
        refs(r, "contacts", "region", states)
    for r in data.get("validity"):
        refs(r, "validity", "programs", programs)
        if r["unit"] not in VALIDITY_UNITS:
            problems.append(f"{where(r)} validity '{r['id']}': unit must be one of {sorted(VALIDITY_UNITS)}")
    for r in data.get("topics"):
        refs(r, "topics", "plan", plans)
        refs(r, "topics", "programs", programs)


def iter_cites(data: KBData):
    """Yield (record type, record id, record, cite value) for every citation in the data."""
    for section, records in data.sections.items():
        key = SCHEMA[section][2]
        for index, record in enumerate(records):
            rid = str(record[key]) if key else f"{section}-{index}"
            if "cite" in record:
                yield section, rid, record, record["cite"]
            for position, fact in enumerate(record.get("facts") or []):
                if isinstance(fact, dict) and "cite" in fact:
                    yield "topic_fact", f"{rid}#{position}", fact | {"__file__": record["__file__"]}, fact["cite"]


def load_source_texts(data: KBData, sources_dir: Path) -> dict[str, str]:
    return {
        s["id"]: (Path(sources_dir) / s["file"]).read_text(encoding="utf-8")
        for s in data.get("sources")
        if (Path(sources_dir) / s["file"]).exists()
    }


def _check_citations(data: KBData, problems: list[str], sources_dir: Path | None) -> None:
    texts = {k: normalize_text(v) for k, v in load_source_texts(data, sources_dir).items()} if sources_dir else {}
    known = set(data.by_id("sources"))
    for record in data.get("uncovered"):
        sid = str(record["source"])
        if sid not in known:
            problems.append(f"{where(record)} uncovered: source '{sid}' is not defined")
        elif sources_dir and sid in texts and normalize_text(record["passage"]) not in texts[sid]:
            problems.append(f"{where(record)} uncovered: passage not found in source {sid}: {record['passage']!r}")
    for _type, rid, record, value in iter_cites(data):
        try:
            cites = parse_cites(value)
        except ValueError as exc:
            problems.append(f"{where(record)} {rid}: {exc}")
            continue
        for cite in cites:
            if cite.source_id not in known:
                problems.append(f"{where(record)} {rid}: source '{cite.source_id}' is not defined")
            elif sources_dir and cite.source_id in texts and normalize_text(cite.quote) not in texts[cite.source_id]:
                problems.append(f"{where(record)} {rid}: passage not found in source {cite.source_id}: {cite.quote!r}")
