"""Finds knowledge-base entities in a message: phrases (spaCy PhraseMatcher, lower-case and exact-case),
CPT/HCPCS and ICD-10-CM codes (patterns), and near-misses of long terms (typos, by edit similarity)."""

from __future__ import annotations

import difflib
import re

import spacy
from spacy.matcher import PhraseMatcher

CPT_RE = re.compile(r"(?<![\w.-])(\d{5}|\d{4}[FTU]|[A-V]\d{4})(?![\w-])")
ICD_RE = re.compile(r"(?<![\w.])([A-TV-Z]\d[0-9A-Z])\.([0-9A-Z]{1,4})(?![\w.])", re.I)
# Everyday words of the domain that are near some term ("medical" ~ "Medi-Cal") but never mean it.
COMMON_WORDS = {"medical", "surgical", "hospital", "physical", "clinical", "criteria", "surgery", "medicare"}
# Labels that win when two matches overlap: the longer match wins, then this order.
PRIORITY = ["cpt_code", "diagnosis_code", "procedure", "program", "setting", "line_of_business", "plan", "state"]


class KBMatcher:
    def __init__(self, vocabulary: dict, fuzzy_threshold: float = 0.88):
        self.nlp = spacy.blank("en")
        self.lower = PhraseMatcher(self.nlp.vocab, attr="LOWER")
        self.exact = PhraseMatcher(self.nlp.vocab, attr="ORTH")
        self.keys: dict[str, tuple[str, str]] = {}
        self.fuzzy_terms: dict[str, tuple[str, str]] = {}
        for i, t in enumerate(vocabulary["terms"]):
            key = f"t{i}"
            self.keys[key] = (t["entity"], t["value"])
            doc = self.nlp.make_doc(t["term"])
            (self.exact if t["case_sensitive"] else self.lower).add(key, [doc])
            if not t["case_sensitive"] and len(t["term"]) >= 8 and t["term"].replace(" ", "").isalpha():
                self.fuzzy_terms.setdefault(t["term"].lower(), (t["entity"], t["value"]))
        self.codes = vocabulary["codes"]
        self.diagnoses = {d.replace(".", ""): d for d in vocabulary["diagnoses"]}
        self.fuzzy_threshold = fuzzy_threshold

    def extract(self, text: str) -> list[dict]:
        if not text:
            return []
        doc = self.nlp.make_doc(text)
        found = []
        for matcher in (self.lower, self.exact):
            for key, start, end in matcher(doc):
                entity, value = self.keys[self.nlp.vocab.strings[key]]
                span = doc[start:end]
                found.append(_entity(entity, value, span.start_char, span.end_char, span.text))
        found += self._codes(text)
        found += self._fuzzy(doc, found)
        return _resolve_overlaps(found)

    def _codes(self, text: str) -> list[dict]:
        out = []
        for match in ICD_RE.finditer(text):
            code = f"{match.group(1)}.{match.group(2)}".upper()
            out.append(_entity("diagnosis_code", code, match.start(), match.end(), match.group(0)))
        for match in CPT_RE.finditer(text):
            raw = match.group(1).upper()
            if raw in self.diagnoses:  # e.g. G8918 written without its dot
                out.append(_entity("diagnosis_code", self.diagnoses[raw], match.start(), match.end(), raw))
            else:
                out.append(_entity("cpt_code", raw, match.start(), match.end(), match.group(1)))
        return out

    def _fuzzy(self, doc, found: list[dict]) -> list[dict]:
        """Near-misses of long terms; a fuzzy span only counts where it is longer than what it overlaps."""
        out: list[dict] = []
        for size in (3, 2, 1):
            for i in range(len(doc) - size + 1):
                span = doc[i : i + size]
                if len(span.text) < 7 or not all(t.is_alpha for t in span) or span.text.lower() in COMMON_WORDS:
                    continue
                overlapping = [e for e in found + out if _overlaps(e, span)]
                if any(e["end"] - e["start"] >= len(span.text) for e in overlapping):
                    continue
                # Replacing an exact match needs a closer likeness than filling a gap does.
                cutoff = max(self.fuzzy_threshold, 0.94) if overlapping else self.fuzzy_threshold
                best = difflib.get_close_matches(span.text.lower(), self.fuzzy_terms, n=1, cutoff=cutoff)
                if best:
                    entity, value = self.fuzzy_terms[best[0]]
                    out.append(_entity(entity, value, span.start_char, span.end_char, span.text))
        return out


def _overlaps(e: dict, span) -> bool:
    return not (e["end"] <= span.start_char or e["start"] >= span.end_char)


def _entity(entity: str, value: str, start: int, end: int, text: str) -> dict:
    return {"entity": entity, "value": value, "start": start, "end": end, "text": text}


def _resolve_overlaps(found: list[dict]) -> list[dict]:
    found.sort(key=lambda e: (-(e["end"] - e["start"]), PRIORITY.index(e["entity"]), e["start"]))
    kept: list[dict] = []
    for e in found:
        if all(e["end"] <= k["start"] or e["start"] >= k["end"] for k in kept):
            kept.append(e)
    return sorted(kept, key=lambda e: e["start"])
