"""The entity vocabulary: every name, synonym, abbreviation and code of the knowledge base,
with the canonical id it normalizes to. Built from the YAML data, so the matcher follows the data."""

from __future__ import annotations

import re
from pathlib import Path

from priorauth.kb.reader import KBData, read_kb

# Upper-case state abbreviations that are also common words or acronyms in this domain
# ("PA" prior auth, "MD" physician, "OR" operating room, "MA" Medicare Advantage, "OK", "IN", "ID", "HI").
AMBIGUOUS_STATE_CODES = {"PA", "OR", "OK", "IN", "ME", "ID", "HI", "MD", "DO", "MA"}
# "ME" is Maine in terse agent queries ("AIM phone ME"); keep it, but only written in capitals.
ALLOWED_AMBIGUOUS = {"ME"}
# Words that name a kind of procedure or a body part, not one procedure: alone they never decide which
# procedure is meant ("hip" is a hip replacement or a hip arthroscopy); the assistant asks which one.
GENERIC_WORDS = ("hip", "knee", "shoulder", "ankle", "fusion", "scope", "arthroscopy", "stimulator")
# Abbreviations that are also everyday lower-case words: matched only as written (capitals).
LOWERCASE_WORDS = {"tar", "pt", "ot", "st", "echo", "slp", "pet"}


def build_vocabulary(kb_dir: Path) -> dict:
    return vocabulary_from(read_kb(Path(kb_dir)))


def vocabulary_from(data: KBData) -> dict:
    terms: list[dict] = []

    def add(label: str, value: str, names, case_sensitive: bool = False) -> None:
        for name in names:
            if name:
                terms.append({"entity": label, "value": value, "term": str(name), "case_sensitive": case_sensitive})

    def abbreviations(label: str, value: str, names) -> None:
        """As written, and in lower case where that is not an everyday word ("tka auth validity")."""
        names = list(names or [])
        add(label, value, names, case_sensitive=True)
        add(label, value, [n for n in names if len(n) >= 3 and n.lower() not in LOWERCASE_WORDS])

    for r in data.get("procedures"):
        # A generic word listed as a synonym would decide a procedure alone: it is matched as a family instead.
        add("procedure", r["id"], [n for n in [r["name"], *r["synonyms"]] if str(n).lower() not in GENERIC_WORDS])
        abbreviations("procedure", r["id"], r.get("abbreviations"))
    for r in data.get("programs"):
        add("program", r["id"], [r["name"], *r["synonyms"]])
        abbreviations("program", r["id"], r.get("abbreviations"))
    for r in data.get("settings"):
        short = [s for s in r["synonyms"] if len(s) <= 3]
        add("setting", r["id"], [r["name"], *[s for s in r["synonyms"] if len(s) > 3]])
        add("setting", r["id"], [s.upper() for s in short], case_sensitive=True)
        add("setting", r["id"], [s for s in short if len(s) == 3])
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
    return {"terms": terms, "codes": codes, "diagnoses": diagnoses, "families": families(data)}


def families(data: KBData) -> dict[str, list[str]]:
    """For each generic word, the procedures one of whose names holds it: the candidates to ask about."""
    out: dict[str, list[str]] = {}
    for word in GENERIC_WORDS:
        for r in data.get("procedures"):
            names = [r["name"], *r["synonyms"]]
            if any(word in _words(n) for n in names) and r["id"] not in out.get(word, []):
                out.setdefault(word, []).append(r["id"])
    return out


def _words(name: str) -> set[str]:
    words = set(re.findall(r"[a-z0-9]+", str(name).lower()))
    return words | {w[:-1] for w in words if w.endswith("s")}
