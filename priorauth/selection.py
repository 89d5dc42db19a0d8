"""Chooses what answers *this* message: ranks facts against it, within one topic or across all topics.

The ranking is scikit-learn's TF-IDF (word and character n-grams, cosine similarity), fitted once per process
on the knowledge base's own statements and the questions each fact says it answers (`answers:` in the data).
The message and every fact are first expanded with the knowledge base's vocabulary (procedure abbreviations,
setting and line-of-business synonyms, provider shorthand), so "p2p" meets "peer-to-peer" and "ASC" meets
"ambulatory surgery center".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from priorauth.kb.reader import KBData, read_kb

# Words the stop list would drop but that decide which fact answers a question ("after a denial",
# "not required", "before the surgery", "how long", "who decides").
KEEP_WORDS = {"after", "before", "not", "no", "within", "without", "how", "long", "who", "when", "first", "call", "all"}
STOP_WORDS = sorted(ENGLISH_STOP_WORDS - KEEP_WORDS)
# Rule kinds and record types, by the topic whose answer states them.
RULE_TOPICS = {
    "exclusion": "exclusions",
    "inclusion": "exclusions",
    "notification_only": "notification_only",
    "site_of_care": "site_of_care",
    "effective_date": "effective_dates",
}
TOPIC_ALIASES = {"guideline_effective": "effective_dates", "program_overview": "program_services"}
_ALNUM = re.compile(r"[a-z0-9]+")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9.'/-]*[A-Za-z0-9]|[A-Za-z0-9]")


@lru_cache(maxsize=1024)
def _alternation_of(phrases: tuple[str, ...]) -> re.Pattern:
    return re.compile(r"\b(" + "|".join(re.escape(p) for p in phrases) + r")\b", re.I)


def _alternation(phrases: list[str]) -> re.Pattern:
    """`\b(p1|p2|...)\b`, case-insensitive; the first phrase that matches at a position wins."""
    return _alternation_of(tuple(phrases))


@dataclass(frozen=True)
class Doc:
    """One statement of the knowledge base: the topic that states it, its text, the questions it answers."""

    topic: str
    text: str
    answers: tuple[str, ...] = ()


@dataclass(frozen=True)
class TopicScore:
    topic: str
    score: float


def norm_text(text: str) -> str:
    return " ".join(str(text).lower().split())


class Expander:
    """Adds each known term's meaning after it: "p2p" -> "p2p peer-to-peer discussion".

    Terms of three letters or fewer written in capitals in the data (TKA, ASC, PT) match only in capitals, as
    in the entity matcher: "PT" is physical therapy, "pt" a patient.
    """

    def __init__(self, vocabulary: dict[str, str]):
        self.exact: dict[str, str] = {}
        self.folded: dict[str, str] = {}
        multi: dict[str, str] = {}
        for term, meaning in vocabulary.items():
            term = term.strip()
            if not term or not meaning or norm_text(term) == norm_text(meaning):
                continue
            if " " in term:
                multi[term.lower()] = meaning
            elif term.isupper() and len(term) <= 3:
                self.exact[term] = meaning
            else:
                self.folded.setdefault(term.lower(), meaning)
        # Longest phrases first, so "total knee" expands before "knee".
        self.phrases = sorted(multi.items(), key=lambda kv: -len(kv[0]))
        self._meanings = dict(self.phrases)
        self._phrase_re = _alternation([p for p, _ in self.phrases]) if multi else None
        # Phrases by their first word: a phrase can only occur in a text that has its first word, so a turn builds
        # the alternation of those few (one over every phrase grows with the vocabulary). Phrases that do not
        # start with a letter or digit are always tried.
        self._order = {p: i for i, (p, _) in enumerate(self.phrases)}
        self._by_first_word: dict[str, list[str]] = {}
        for phrase, _ in self.phrases:
            first = _ALNUM.match(phrase)
            self._by_first_word.setdefault(first.group(0) if first else "", []).append(phrase)

    def __call__(self, text: str) -> str:
        out = []
        for word in _WORD.findall(text or ""):
            out.append(word)
            meaning = self.exact.get(word) or self.folded.get(word.lower())
            if meaning is None and "/" in word:
                meaning = " ".join(self.folded.get(w.lower(), w) for w in word.split("/"))
            if meaning:
                out.append(meaning)
        expanded = " ".join(out)
        phrases = self._phrases_in(text or "")
        if phrases is not None:
            extra = [self._meanings[m.group(1).lower()] for m in phrases.finditer(text or "")]
            expanded += " " + " ".join(extra) if extra else ""
        return expanded.lower()

    def _phrases_in(self, text: str) -> re.Pattern | None:
        """The alternation of the phrases whose first word the text has, in the full alternation's order (None: no
        phrase can occur). Only for ASCII text: case folding beyond ASCII (the Kelvin sign matches "k") could hide
        a first word."""
        if self._phrase_re is None or not text.isascii():
            return self._phrase_re
        words = {"", *_ALNUM.findall(text.lower())}
        candidates = [p for w in words for p in self._by_first_word.get(w, ())]
        return _alternation(sorted(candidates, key=self._order.__getitem__)) if candidates else None


class FactIndex:
    """TF-IDF over the knowledge base's statements, fitted once; ranks any facts against a message."""

    def __init__(self, docs: Sequence[Doc], vocabulary: dict[str, str] | None = None):
        if not docs:
            raise ValueError("a fact index needs at least one statement")
        self.expand = Expander(vocabulary or {})
        self.docs = list(docs)
        self._answers: dict[str, tuple[str, ...]] = {}
        for d in self.docs:
            self._answers[norm_text(d.text)] = self._answers.get(norm_text(d.text), ()) + tuple(d.answers)
        corpus = [self.expand(v) for d in self.docs for v in (d.text, *d.answers)]
        self.words = TfidfVectorizer(stop_words=STOP_WORDS, ngram_range=(1, 2), sublinear_tf=True).fit(corpus)
        # Character n-grams within words: plurals, typos and run-together shorthand still meet ("authorizaton").
        self.chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True).fit(corpus)
        self._views: list[tuple[int, str]] = [(i, v) for i, d in enumerate(self.docs) for v in (d.text, *d.answers)]
        self._matrix = self._vectors([v for _, v in self._views])
        # The row of each statement and question in the fitted matrices: the facts a reply ranks are the knowledge
        # base's own, so a turn takes their vectors from here instead of expanding and transforming them again.
        self._row: dict[str, int] = {}
        for row, (_doc, view) in enumerate(self._views):
            self._row.setdefault(view, row)
        # The same vectors as dicts (feature -> weight), for ranking a handful of facts a turn: sparse matrices
        # cost a fixed ~0.1 ms an operation whatever their size, a dict only what it holds (bench/README.md).
        self._spaces = (_Space(self.words), _Space(self.chars))
        self._rows = [tuple(_Space.row(m, row) for m in self._matrix) for row in range(len(self._views))]

    # ------------------------------------------------------------------ scoring
    def _vectors(self, texts: Sequence[str]):
        """The texts' sparse word and character vectors (the fitted matrices at start; a message in `topics`)."""
        expanded = [self.expand(t) for t in texts]
        return self.words.transform(expanded), self.chars.transform(expanded)

    def _similarity(self, message: str, vectors) -> np.ndarray:
        """The message's likeness to every row of `vectors` (for all the knowledge base's statements at once)."""
        mw, mc = self._vectors([message])
        words, chars = vectors
        # Word matches carry the meaning; character n-grams catch what spelling hides.
        return 0.65 * (words @ mw.T).toarray().ravel() + 0.35 * (chars @ mc.T).toarray().ravel()

    def answers_of(self, text: str) -> tuple[str, ...]:
        return self._answers.get(norm_text(text), ())

    def scores(self, message: str, texts: Sequence[str], background: Sequence[str] = ()) -> list[float]:
        """Each text's relevance to the message: the best of the text itself and the questions it answers.

        Terms that most of the texts share say what the answer is about, not which fact answers: they do not count;
        nor do the terms of the ``background`` (e.g. the headline already stated)."""
        if not texts:
            return []
        views = [[self._vector(view) for view in (text, *self.answers_of(text))] for text in texts]
        # Left out of the message: with four texts or more, what half of them share; with two or three, what all
        # of them share; and what the background states.
        left_out: list[set[int]] = [set(), set()]
        if len(texts) >= 2:
            share = 0.5 if len(texts) >= 4 else 1.0
            for space in (0, 1):
                df = Counter(f for fact in views for f in set().union(*(v[space] for v in fact)))
                left_out[space] = {f for f, n in df.items() if n >= share * len(texts)}
        for space in (0, 1):
            for text in background:
                left_out[space].update(self._vector(text)[space])
        message_vector = self._message_vector(message)
        mw, mc = ({f: w for f, w in m.items() if f not in out} for m, out in zip(message_vector, left_out, strict=True))
        # Word matches carry the meaning; character n-grams catch what spelling hides.
        return [max(0.65 * _dot(mw, words) + 0.35 * _dot(mc, chars) for words, chars in fact) for fact in views]

    def _vector(self, text: str) -> tuple[dict[int, float], dict[int, float]]:
        row = self._row.get(text)
        if row is not None:
            return self._rows[row]
        return self._message_vector(text)

    @lru_cache(maxsize=256)  # noqa: B019 - one index per process (shared_index); a turn ranks one message often
    def _message_vector(self, text: str) -> tuple[dict[int, float], dict[int, float]]:
        expanded = self.expand(text)
        return self._spaces[0].vector(expanded), self._spaces[1].vector(expanded)

    def select(
        self,
        message: str,
        texts: Sequence[str],
        keep: int = 3,
        relative: float = 0.35,
        floor: float = 0.08,
        background: Sequence[str] = (),
    ) -> list[int]:
        """Indices of the texts that answer the message, best first: at most ``keep``, each scoring at least
        ``relative`` of the best one. Empty when nothing reaches ``floor`` (the message asks none of them)."""
        scores = self.scores(message, texts, background)
        if not scores or max(scores) < floor:
            return []
        best = max(scores)
        ranked = sorted(range(len(texts)), key=lambda i: (-scores[i], i))
        # Once the best fact bears on the message, the others only need to bear on it too (not to reach the floor).
        return [i for i in ranked if scores[i] >= max(floor / 3, relative * best)][:keep]

    def topics(self, message: str) -> list[TopicScore]:
        """Every topic's best statement score for the message, best first."""
        sims = self._similarity(message, self._matrix)
        best: dict[str, float] = {}
        for (doc, _view), s in zip(self._views, sims, strict=True):
            topic = self.docs[doc].topic
            best[topic] = max(best.get(topic, 0.0), float(s))
        return sorted((TopicScore(t, s) for t, s in best.items()), key=lambda ts: -ts.score)

    def best_topic(self, message: str, min_score: float = 0.25, margin: float = 1.25) -> str | None:
        """The topic that clearly answers the message, or None: its best statement must reach ``min_score``
        and beat the next topic's by ``margin``."""
        ranked = self.topics(message)
        if not ranked or ranked[0].score < min_score:
            return None
        if len(ranked) > 1 and ranked[0].score < margin * ranked[1].score:
            return None
        return ranked[0].topic


# ---------------------------------------------------------------------- built from the knowledge base
def docs_from(data: KBData) -> list[Doc]:
    """Every statement the answers can make, tagged with the topic that makes it."""
    docs: list[Doc] = []

    def add(topic: str, text: str, answers: Iterable[str] = ()) -> None:
        if text:
            docs.append(Doc(topic, " ".join(str(text).split()), tuple(str(a) for a in answers or ())))

    for t in data.get("topics"):
        for fact in t["facts"]:
            add(TOPIC_ALIASES.get(t["id"], t["id"]), fact["text"], fact.get("answers") or ())
    for r in data.get("validity_caveats"):
        add("validity", r["text"], r.get("answers") or ())
    for r in data.get("validity"):
        add("validity", r["text"], r.get("answers") or ())
    for r in data.get("rules"):
        add(RULE_TOPICS.get(r["kind"], r["kind"]), r["text"], r.get("answers") or ())
    for r in data.get("rehab_schedule"):
        add("rehabilitation", r["text"], r.get("answers") or ())
    for r in data.get("contacts"):
        add("contact", f"{r['name']}: {r['value']}. {r.get('note') or ''} {r.get('hours') or ''}", r.get("answers"))
    for r in data.get("line_of_business_scope"):
        add("lines_of_business", f"{r.get('note') or ''} members included excluded", r.get("answers") or ())
    # Procedure and program names are not statements: the entity matcher finds them, and a named procedure makes
    # a review question (actions/fallback.py), so they stay out of the ranking.
    return docs


def vocabulary_from(data: KBData) -> dict[str, str]:
    """Term -> meaning: abbreviations and synonyms of procedures, programs, settings and lines of business,
    and the provider shorthand of `shorthand.yml`."""
    vocab: dict[str, str] = {}
    for section in ("procedures", "programs"):
        for r in data.get(section):
            for term in [*(r.get("abbreviations") or []), *r["synonyms"]]:
                vocab.setdefault(str(term), r["name"])
    for section in ("settings", "lines_of_business"):
        for r in data.get(section):
            for term in r["synonyms"]:
                term = str(term)
                vocab.setdefault(term.upper() if len(term) <= 3 else term, r["name"])
    for r in data.get("shorthand"):
        vocab[str(r["term"])] = str(r["means"])
    return vocab


def index_from(data: KBData) -> FactIndex:
    return FactIndex(docs_from(data), vocabulary_from(data))


@lru_cache(maxsize=4)
def shared_index(kb_dir: str) -> FactIndex:
    """One index per process and knowledge-base directory (fitting takes a fraction of a second)."""
    return index_from(read_kb(Path(kb_dir)))


class _Space:
    """One fitted vectorizer, applied to one text at a time as a dict: the same weights as its `transform`
    (sublinear tf, idf, l2 norm) without a sparse matrix's fixed cost."""

    def __init__(self, vectorizer: TfidfVectorizer):
        self.analyze = vectorizer.build_analyzer()
        self.vocabulary = vectorizer.vocabulary_
        self.idf = vectorizer.idf_.tolist()

    def vector(self, text: str) -> dict[int, float]:
        counts = Counter(i for i in map(self.vocabulary.get, self.analyze(text)) if i is not None)
        weights = {i: (1.0 + math.log(n)) * self.idf[i] for i, n in counts.items()}
        norm = math.sqrt(sum(w * w for w in weights.values()))
        return {i: w / norm for i, w in weights.items()} if norm else {}

    @staticmethod
    def row(matrix, row: int) -> dict[int, float]:
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        return dict(zip(matrix.indices[start:end].tolist(), matrix.data[start:end].tolist(), strict=True))


def _dot(a: dict[int, float], b: dict[int, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(w * b[f] for f, w in a.items() if f in b)
