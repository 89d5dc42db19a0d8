"""Finds knowledge-base entities in a message: phrases (spaCy PhraseMatcher on normalized words, and exact-case
abbreviations), CPT/HCPCS and ICD-10-CM codes (patterns), near-misses of long terms (typos, by edit similarity),
and generic words ("hip", "fusion") that name a family of procedures but never one procedure alone."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from functools import lru_cache
from itertools import chain, combinations

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
# Near-miss search (NearMissIndex): the most first characters of a term and of a span whose subsequences are
# compared, and the most of them left out.
PREFIX = 8
MAX_DELETIONS = 3


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
        self.near_misses = NearMissIndex(self.fuzzy_terms, fuzzy_threshold)

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
                term = self.near_misses.closest(text.lower(), cutoff)
                if term and _words_alike(text.lower(), term):
                    entity, value = self.fuzzy_terms[term]
                    out.append(_entity(entity, value, start, end, text))
        return out


class NearMissIndex:
    """Long terms by the subsequences of their first characters, for the term most like a span (symmetric
    deletion on a prefix, as SymSpell does).

    If a common subsequence of x and y has at least L characters, its first L are a subsequence of x[:L + i] and
    of y[:L + j], where i and j count the characters of x and of y that an alignment along it leaves out before
    them. A span of n characters is looked up by the L-character subsequences of x[:L + i], with i the most
    characters that an alignment with a term of a ratio passing the cutoff leaves out of the span, j the most an
    alignment passing the threshold leaves out of the term (both at most MAX_DELETIONS) and L = min(n - i,
    PREFIX - max(i, j)) for the threshold's i (a stricter cutoff leaves fewer out). Each term is stored by its
    own for every L that spans it may resemble are looked up by, from y[:L + j] (j for the term's own length).
    So a span meets every term it passes with that leaves at most 3 characters out of either, whatever their
    length: any typo of 1 to 3 edits, and more where they lie past the first letters. The lookup costs the same
    whatever the number of terms: the span's subsequences (56 at most) and the terms that begin alike.
    """

    def __init__(self, terms, threshold: float):
        # The order in which a tie goes to the first term: by word count, then length, then as given.
        self.terms = sorted(terms, key=lambda t: (len(t.split()), len(t)))
        self.words = [len(t.split()) for t in self.terms]
        self.sizes = [len(t) for t in self.terms]
        self.threshold = threshold
        self.lengths = {len(t) for t in self.terms}
        self.plans: dict[tuple[int, float | None], tuple[int, int] | None] = {}
        keys: dict[str, list[int]] = {}
        for i, term in enumerate(self.terms):
            low, high = _length_window(len(term), threshold)
            heads = set()
            for n in range(low, high + 1):  # the lengths of the spans that may resemble the term
                plan, left_out = self._plan(n), _left_out(n, len(term), threshold)
                if plan and left_out:
                    heads.add((plan[0], plan[0] + min(left_out[1], MAX_DELETIONS)))
            for length, head in heads:
                for key in _subsequences(term[:head], length):
                    keys.setdefault(key, []).append(i)
        self.keys = {key: tuple(ids) for key, ids in keys.items()}

    def _plan(self, n: int, cutoff: float | None = None) -> tuple[int, int] | None:
        """How a span of n characters is looked up for the terms whose ratio with it may reach `cutoff` (the
        threshold by default): the length of the subsequences, and of the prefix they are taken from; None if no
        term is of a length that may pass. The length is the threshold's, which the terms are stored by; a stricter
        cutoff leaves fewer characters out of the span, so its subsequences come from a shorter prefix: 6 to 21
        instead of 56 for a span of 14 characters or more replacing an exact match."""
        key = (n, cutoff if cutoff is not None and cutoff > self.threshold else None)  # the threshold's plan: None
        if key not in self.plans:
            self.plans[key] = self._make_plan(*key)
        return self.plans[key]

    def _make_plan(self, n: int, stricter_cutoff: float | None) -> tuple[int, int] | None:
        left_out = self._left_out(n, self.threshold)
        if left_out is None:
            return None
        i, j = left_out
        length = min(PREFIX - max(i, j), n - i)
        if stricter_cutoff is not None:
            stricter = self._left_out(n, stricter_cutoff)
            if stricter is None:
                return None
            i = stricter[0]
        return length, length + i

    def _left_out(self, n: int, cutoff: float) -> tuple[int, int] | None:
        """The most characters (at most MAX_DELETIONS) that an alignment of a span of n characters with a term
        whose ratio reaches `cutoff` leaves out of the span and out of the term; None if no term's length allows."""
        low, high = _length_window(n, cutoff)
        pairs = [pair for m in self.lengths if low <= m <= high if (pair := _left_out(n, m, cutoff))]
        if not pairs:
            return None
        return min(max(x for x, _ in pairs), MAX_DELETIONS), min(max(y for _, y in pairs), MAX_DELETIONS)

    def closest(self, text: str, cutoff: float) -> str | None:
        """The term most like `text` by Indel similarity of all those of a word count `_words_alike` accepts, or
        None below `cutoff` (at least the threshold the index was built for). A tie goes to the first term."""
        plan = self._plan(len(text), cutoff)
        if not plan:
            return None
        keys = _subsequences(text[: plan[1]], plan[0])
        found = set(chain.from_iterable(filter(None, map(self.keys.get, keys))))
        # Only terms of a length the cutoff allows can pass (the index finds a term for every span length its
        # own window holds, and others that begin alike): most candidates end here, before any comparison.
        low, high = _length_window(len(text), cutoff)
        words, sizes = len(text.split()), self.sizes
        found = [
            i for i in found if low <= sizes[i] <= high and (words == 1 or self.words[i] == 1 or self.words[i] == words)
        ]
        if len(found) > 4:  # one call into rapidfuzz (it keeps the first of equal scores too)
            match = process.extractOne(
                text, [self.terms[i] for i in sorted(found)], scorer=fuzz.ratio, score_cutoff=cutoff * 100
            )
            return match[0] if match else None
        best, best_score = None, 0.0
        for i in sorted(found):
            score = fuzz.ratio(text, self.terms[i], score_cutoff=cutoff * 100)
            if score > best_score:
                best, best_score = self.terms[i], score
        return best


def _subsequences(text: str, length: int) -> Iterable[str]:
    """The subsequences of `text` of `length` characters (the text itself if not longer)."""
    return map("".join, combinations(text, length)) if length < len(text) else (text,)


@lru_cache(maxsize=4096)
def _length_window(n: int, cutoff: float) -> tuple[int, int]:
    """The lengths of the strings whose Indel ratio with one of n characters may reach `cutoff`."""
    low, high = n * cutoff / (2 - cutoff), n * (2 - cutoff) / cutoff
    return int(low - 1e-9), int(high + 1e-9)


@lru_cache(maxsize=4096)
def _left_out(n: int, m: int, cutoff: float) -> tuple[int, int] | None:
    """The most characters an alignment of strings of n and m characters whose Indel ratio reaches `cutoff`
    leaves out of each (None if none does)."""
    common = int(-(-(cutoff * (n + m) - 1e-9) // 2))  # the shortest common subsequence that passes
    return (n - common, m - common) if common <= min(n, m) else None


def _words_alike(text: str, term: str) -> bool:
    """Each word of a near-miss resembles the term's word in its place (a typo, not another word)."""
    a, b = text.split(), term.split()
    if len(a) != len(b):
        return len(a) == 1 or len(b) == 1  # "hammer toe" ~ "hammertoe"
    return all(difflib.SequenceMatcher(None, x, y).ratio() >= WORD_SIMILARITY for x, y in zip(a, b, strict=True))


def _entity(entity: str, value: str, start: int, end: int, text: str) -> dict:
    return {"entity": entity, "value": value, "start": start, "end": end, "text": text}


def _resolve_overlaps(found: list[dict]) -> list[dict]:
    found.sort(key=lambda e: (-(e["end"] - e["start"]), PRIORITY.index(e["entity"]), e["start"]))
    kept: list[dict] = []
    for e in found:
        if all(e["end"] <= k["start"] or e["start"] >= k["end"] for k in kept):
            kept.append(e)
    return sorted(kept, key=lambda e: e["start"])
