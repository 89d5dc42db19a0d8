"""How much of each source the knowledge base cites, which paragraphs no record cites, and which of those
are left uncovered on purpose (data/authorization/uncovered.yml, each with its reason)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from priorauth.kb.reader import KBData, iter_cites, load_source_texts, normalize_text, parse_cites

# Paragraphs shorter than this (headings, "Learn more") are not expected to be cited.
MIN_PARAGRAPH = 40


def coverage(data: KBData, sources_dir: Path) -> dict:
    texts = load_source_texts(data, sources_dir)
    quotes = cited_quotes(data)
    facts = Counter()
    for _type, _rid, _record, value in iter_cites(data):
        for sid in {c.source_id for c in parse_cites(value)}:
            facts[sid] += 1
    deliberate = {}
    for r in data.get("uncovered"):
        deliberate.setdefault(str(r["source"]), []).append((normalize_text(r["passage"]), r["reason"]))
    report = {}
    for sid, text in sorted(texts.items()):
        paragraphs = [
            p.strip() for p in text.splitlines() if len(p.strip()) >= MIN_PARAGRAPH and not p.strip().endswith("?")
        ]
        uncited = [p for p in paragraphs if not _cited(normalize_text(p), quotes.get(sid, []))]
        on_purpose = {p: _reason(normalize_text(p), deliberate.get(sid, [])) for p in uncited}
        report[sid] = {
            "records_citing": facts[sid],
            "paragraphs": len(paragraphs),
            "uncited": [p for p in uncited if on_purpose[p] is None],
            "deliberately_uncovered": [(p, on_purpose[p]) for p in uncited if on_purpose[p] is not None],
        }
    return report


def cited_quotes(data: KBData) -> dict[str, list[str]]:
    quotes: dict[str, list[str]] = {}
    for _type, _rid, _record, value in iter_cites(data):
        for cite in parse_cites(value):
            quotes.setdefault(cite.source_id, []).append(normalize_text(cite.quote))
    return quotes


def carried(data: KBData, source_id: str, sentence: str) -> bool:
    """Whether some record's citation holds ``sentence`` (or the sentence holds the citation)."""
    wanted = normalize_text(sentence)
    return any(wanted in q or q in wanted for q in cited_quotes(data).get(source_id, []))


def _cited(paragraph: str, quotes: list[str]) -> bool:
    return any(q in paragraph or paragraph in q for q in quotes)


def _reason(paragraph: str, deliberate: list[tuple[str, str]]) -> str | None:
    return next((reason for passage, reason in deliberate if passage in paragraph), None)
