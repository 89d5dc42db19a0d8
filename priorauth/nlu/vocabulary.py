"""The entity vocabulary: every name, synonym, abbreviation and code of the knowledge base,
with the canonical id it normalizes to. Built from the YAML data, so the matcher follows the data."""

from __future__ import annotations

from pathlib import Path

from priorauth.kb.reader import KBData, read_kb

# Upper-case state abbreviations that are also common words or acronyms in this domain.
AMBIGUOUS_STATE_CODES = {"PA", "OR", "OK", "IN", "ME", "ID", "HI"}
# "ME" is Maine in terse agent queries ("AIM phone ME"); keep it, but only written in capitals.
ALLOWED_AMBIGUOUS = {"ME", "IN", "OR", "OK"}


def build_vocabulary(kb_dir: Path) -> dict:
    return vocabulary_from(read_kb(Path(kb_dir)))


def vocabulary_from(data: KBData) -> dict:
    terms: list[dict] = []

    def add(label: str, value: str, names, case_sensitive: bool = False) -> None:
        for name in names:
            if name:
                terms.append({"entity": label, "value": value, "term": str(name), "case_sensitive": case_sensitive})

    for r in data.get("procedures"):
        add("procedure", r["id"], [r["name"], *r["synonyms"]])
        add("procedure", r["id"], r.get("abbreviations") or [], case_sensitive=True)
    for r in data.get("programs"):
        add("program", r["id"], [r["name"], *r["synonyms"]])
        add("program", r["id"], r.get("abbreviations") or [], case_sensitive=True)
    for r in data.get("settings"):
        short = [s for s in r["synonyms"] if len(s) <= 3]
        add("setting", r["id"], [r["name"], *[s for s in r["synonyms"] if len(s) > 3]])
        add("setting", r["id"], [s.upper() for s in short], case_sensitive=True)
    for r in data.get("lines_of_business"):
        short = [s for s in r["synonyms"] if len(s) <= 3]
        add("line_of_business", r["id"], [r["name"], *[s for s in r["synonyms"] if len(s) > 3]])
        add("line_of_business", r["id"], [s.upper() for s in short], case_sensitive=True)
        add("line_of_business", r["id"], [s for s in short if len(s) == 3])
    for r in data.get("plans"):
        add("plan", r["id"], [r["name"], *r["synonyms"]])
    for r in data.get("states"):
        add("state", r["id"], [r["name"]])
        if r["id"] not in AMBIGUOUS_STATE_CODES or r["id"] in ALLOWED_AMBIGUOUS:
            add("state", r["id"], [r["id"]], case_sensitive=True)
    codes = {}
    for r in data.get("procedures"):
        for code in [*(r.get("codes") or []), *(r.get("source_codes") or [])]:
            codes[str(code)] = r["id"]
    diagnoses = [str(r["code"]) for r in data.get("diagnoses")]
    return {"terms": terms, "codes": codes, "diagnoses": diagnoses}
