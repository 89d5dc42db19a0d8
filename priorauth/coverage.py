"""How much of each source the knowledge base cites, and which source paragraphs no record cites."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from priorauth.kb.reader import KBData, iter_cites, load_source_texts, normalize_text, parse_cites

# Paragraphs shorter than this (headings, "Learn more") are not expected to be cited.
MIN_PARAGRAPH = 40


def coverage(data: KBData, sources_dir: Path) -> dict:
    texts = load_source_texts(data, sources_dir)
    quotes: dict[str, list[str]] = {sid: [] for sid in texts}
    facts = Counter()
    for _type, _rid, _record, value in iter_cites(data):
        cites = parse_cites(value)
        for cite in cites:
            quotes.setdefault(cite.source_id, []).append(normalize_text(cite.quote))
        for sid in {c.source_id for c in cites}:
            facts[sid] += 1
    report = {}
    for sid, text in sorted(texts.items()):
        paragraphs = [
            p.strip() for p in text.splitlines() if len(p.strip()) >= MIN_PARAGRAPH and not p.strip().endswith("?")
        ]
        uncited = [p for p in paragraphs if not _cited(normalize_text(p), quotes.get(sid, []))]
        report[sid] = {"records_citing": facts[sid], "paragraphs": len(paragraphs), "uncited": uncited}
    return report


def _cited(paragraph: str, quotes: list[str]) -> bool:
    return any(q in paragraph or paragraph in q for q in quotes)
