"""Finds knowledge-base entities in a message: phrases (spaCy PhraseMatcher on normalized words, and exact-case
abbreviations), CPT/HCPCS and ICD-10-CM codes (patterns), near-misses of long terms (typos, by edit similarity),
and generic words ("hip", "fusion") that name a family of procedures but never one procedure alone."""

from __future__ import annotations

import bisect
import difflib
import re

import spacy
from rapidfuzz import fuzz, process
from spacy.lang.en.stop_words import STOP_WORDS
from spacy.matcher import PhraseMatcher

from priorauth.codes import ICD10CM_CATEGORY, ICD10CM_EXTENSION, PROCEDURE

# Codes as the core's grammar defines them (priorauth/codes.py). A procedure code is read in capitals only; in free
# text a diagnosis needs its dot (G89.18), since without it a letter and 4 digits is also an HCPCS code.
CPT_RE = re.compile(rf"(?<![\w.-])({PROCEDURE})(?![\w-])")
# A full stop after the code ends the sentence ("dx G89.29."); one followed by more characters is another code form.
ICD_RE = re.compile(rf"(?<![\w.])({ICD10CM_CATEGORY})\.({ICD10CM_EXTENSION})(?!\w|\.\w)", re.I)
# Everyday words of the domain that are near some term ("medical" ~ "Medi-Cal") but never mean it.
COMMON_WORDS = {"medical", "surgical", "hospital", "physical", "clinical", "criteria", "surgery", "medicare"}
# Shorthand of providers' offices and contact-center agents, read as the word it stands for.
SHORTHAND = {
    "jt": "joint",
    "jnt": "joint",
    "jts": "joint",
    "inj": "injection",
    "injs": "injection",
    "injxn": "injection",
    "repl": "replacement",
    "stim": "stimulator",
    "decomp": "decompression",
    "cerv": "cervical",
    "lumb": "lumbar",
    "1st": "first",
    "&": "and",
}
# Labels that win when two matches overlap: the longer match wins, then this order.
PRIORITY = [
    "cpt_code",
    "diagnosis_code",
    "procedure",
    "program",
    "setting",
    "line_of_business",
    "plan",
    "state",
    "procedure_family",
]
# Similarity each word of a multi-word near-miss must have with the term's word ("of services" is not
# "OT services", "medical necessity" is not "medical assistance").
WORD_SIMILARITY = 0.75
# Indel similarity (rapidfuzz's fuzz.ratio / 100) a near-miss needs: to fill a gap (KBMatcher's fuzzy_threshold,
# 0.88 by default), and to replace a shorter exact match inside it. Indel is never below difflib's ratio, which
# these thresholds were first set with; on typo variants of every long term (1-3 edits) 0.88 gives difflib's
# entities on all but one, where it finds the term difflib missed; 0.86 and 0.89 each differ on ~100.
EXACT_OVERRIDE = 0.94


class KBMatcher:
    def __init__(self, vocabulary: dict, fuzzy_threshold: float = 0.88):
        self.nlp = spacy.blank("en")
        self.words = {w for t in vocabulary["terms"] for w in re.findall(r"[a-z0-9]+", t["term"].lower())}
        self.lower = PhraseMatcher(self.nlp.vocab, attr="NORM")
        self.exact = PhraseMatcher(self.nlp.vocab, attr="ORTH")
        self.keys: dict[str, tuple[str, str]] = {}
        self.fuzzy_terms: dict[str, tuple[str, str]] = {}
        for i, t in enumerate(vocabulary["terms"]):
            key = f"t{i}"
            self.keys[key] = (t["entity"], t["value"])
            doc = self._doc(t["term"])
            (self.exact if t["case_sensitive"] else self.lower).add(key, [doc])
            if not t["case_sensitive"] and len(t["term"]) >= 8 and t["term"].replace(" ", "").isalpha():
                self.fuzzy_terms.setdefault(t["term"].lower(), (t["entity"], t["value"]))
        self.families = vocabulary.get("families") or {}
        self.codes = vocabulary["codes"]
        self.diagnoses = {d.replace(".", ""): d for d in vocabulary["diagnoses"]}
        self.fuzzy_threshold = fuzzy_threshold
        self.fuzzy_index = _length_index(self.fuzzy_terms)

    def norm(self, word: str) -> str:
        """A word as the vocabulary spells it: lower case, shorthand expanded, a plural made singular."""
        w = word.lower()
        w = SHORTHAND.get(w, w)
        if w in self.words or len(w) < 4:
            return w
        for suffix, replacement in (("ies", "y"), ("es", ""), ("s", "")):
            if w.endswith(suffix) and w[: -len(suffix)] + replacement in self.words:
                return w[: -len(suffix)] + replacement
        return w

    def _doc(self, text: str):
        doc = self.nlp.make_doc(text)
        for token in doc:
            token.norm_ = self.norm(token.text)
        return doc

    def extract(self, text: str) -> list[dict]:
        if not text:
            return []
        doc = self._doc(text)
        found = []
        for matcher in (self.lower, self.exact):
            for key, start, end in matcher(doc):
                entity, value = self.keys[self.nlp.vocab.strings[key]]
                span = doc[start:end]
                found.append(_entity(entity, value, span.start_char, span.end_char, span.text))
        found += self._codes(text)
        found += self._fuzzy(doc, found)
        found += self._families(doc)
        kept = _resolve_overlaps(found)
        if any(e["entity"] in ("procedure", "cpt_code") for e in kept):
            # A generic word never overrides the procedure or code the message names.
            kept = [e for e in kept if e["entity"] != "procedure_family"]
        return kept

    def _families(self, doc) -> list[dict]:
        return [
            _entity("procedure_family", token.norm_, token.idx, token.idx + len(token.text), token.text)
            for token in doc
            if token.norm_ in self.families
        ]

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
        # Plain tuples, not spaCy Spans: this loop visits every 1-3-token span of the message.
        tokens = [(t.idx, t.idx + len(t.text), t.is_alpha, t.lower_ in STOP_WORDS) for t in doc]
        message = doc.text
        out: list[dict] = []
        for size in (3, 2, 1):
            for i in range(len(tokens) - size + 1):
                span = tokens[i : i + size]
                start, end = span[0][0], span[-1][1]
                text = message[start:end]
                if (
                    len(text) < 7
                    or not all(alpha for _, _, alpha, _ in span)
                    or span[0][3]
                    or span[-1][3]
                    or text.lower() in COMMON_WORDS
                ):
                    continue
                overlapping = [e for e in found + out if e["start"] < end and e["end"] > start]
                if any(e["end"] - e["start"] >= len(text) for e in overlapping):
                    continue
                # Replacing an exact match needs a closer likeness than filling a gap does.
                cutoff = max(self.fuzzy_threshold, EXACT_OVERRIDE) if overlapping else self.fuzzy_threshold
                term = self._closest_term(text.lower(), cutoff)
                if term and _words_alike(text.lower(), term):
                    entity, value = self.fuzzy_terms[term]
                    out.append(_entity(entity, value, start, end, text))
        return out

    def _closest_term(self, text: str, cutoff: float) -> str | None:
        """The long term most like `text` by Indel similarity (rapidfuzz, in C++), or None below `cutoff`. Only the
        terms that could pass are compared: those of a word count `_words_alike` accepts, and of a length near
        `text`'s (2 * min(a, b) / (a + b) >= cutoff bounds the ratio of the two lengths)."""
        words = len(text.split())
        low, high = len(text) * cutoff / (2 - cutoff) - 1e-9, len(text) * (2 - cutoff) / cutoff + 1e-9
        best, best_score = None, 0.0
        for count, (terms, lengths) in self.fuzzy_index.items():
            if words > 1 and count not in (1, words):
                continue
            lo, hi = bisect.bisect_left(lengths, low), bisect.bisect_right(lengths, high)
            if lo < hi:
                scores = process.cdist([text], terms[lo:hi], scorer=fuzz.ratio, score_cutoff=cutoff * 100)[0]
                i = int(scores.argmax())
                if scores[i] > best_score:
                    best, best_score = terms[lo + i], scores[i]
        return best


def _words_alike(text: str, term: str) -> bool:
    """Each word of a near-miss resembles the term's word in its place (a typo, not another word)."""
    a, b = text.split(), term.split()
    if len(a) != len(b):
        return len(a) == 1 or len(b) == 1  # "hammer toe" ~ "hammertoe"
    return all(difflib.SequenceMatcher(None, x, y).ratio() >= WORD_SIMILARITY for x, y in zip(a, b, strict=True))


def _length_index(terms) -> dict[int, tuple[list[str], list[int]]]:
    """Terms by word count, each group sorted by length (with the lengths, for bisect)."""
    groups: dict[int, list[str]] = {}
    for term in terms:
        groups.setdefault(len(term.split()), []).append(term)
    return {n: (sorted(g, key=len), sorted(len(t) for t in g)) for n, g in sorted(groups.items())}


def _entity(entity: str, value: str, start: int, end: int, text: str) -> dict:
    return {"entity": entity, "value": value, "start": start, "end": end, "text": text}


def _resolve_overlaps(found: list[dict]) -> list[dict]:
    found.sort(key=lambda e: (-(e["end"] - e["start"]), PRIORITY.index(e["entity"]), e["start"]))
    kept: list[dict] = []
    for e in found:
        if all(e["end"] <= k["start"] or e["start"] >= k["end"] for k in kept):
            kept.append(e)
    return sorted(kept, key=lambda e: e["start"])
